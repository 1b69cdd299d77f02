#!/usr/bin/env bash
# The whole test suite: lints, UI unit tests, engine unit and integration tests, bounded
# fuzzing (scripts/fuzz.sh), and the end-to-end tests that drive the real desktop window.
# Run scripts/install-deps.sh first (.ci/run does both).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard/target}"
export CARGO_TERM_COLOR=never

echo "==> UI: type check, unit tests (vitest), build"
(cd ui && npm run check)
(cd ui && npm test)
(cd ui && npm run build)

echo "==> Rust: format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> Rust: engine and shell tests"
cargo test --workspace --locked

echo "==> Protocol clients: tritonclient against a real node (pytest; uses the binary cargo test built)"
"${SWITCHYARD_PYENV:-$HOME/.cache/switchyard/pyenv}/bin/python" -m pytest -q tests/python

echo "==> Fuzzing: request decoding and mapping parsing, ${FUZZ_SECONDS:-60}s per target (own target dir)"
scripts/fuzz.sh

if [ -x e2e/run.sh ]; then
  echo "==> End to end: the desktop window under Xvfb through tauri-driver"
  e2e/run.sh
fi
