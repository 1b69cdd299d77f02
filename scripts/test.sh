#!/usr/bin/env bash
# The whole test suite: lints, UI unit tests, engine unit and integration tests, bounded
# fuzzing (scripts/fuzz.sh), the end-to-end tests that drive the real desktop window, and the
# release packages built, installed, run and removed (scripts/package-test.sh).
# Run scripts/install-deps.sh first (.ci/run does both).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard/target}"
export CARGO_TERM_COLOR=never

echo "==> UI: type check, unit tests (vitest), build"
(cd ui && npm run check)
(cd ui && npm test)
(cd ui && npm run build)

echo "==> UI: the generated engine types match the engine's OpenAPI document (ui/src/lib/generated)"
cargo build --locked --bin switchyard
(cd ui && SWITCHYARD_BIN="$CARGO_TARGET_DIR/debug/switchyard" npm run check:types)

echo "==> Rust: format, lints and the dependency rule (domain modules never import the engine)"
cargo fmt --all --check
scripts/check-layers.sh
cargo clippy --workspace --all-targets --locked -- -D warnings

# The servers this run starts are stopped when it ends, however it ends; servers that were
# already running are reused and left running.
STOP=()
stop_servers() { for s in "${STOP[@]}"; do $s stop || true; done; }
trap stop_servers EXIT

echo "==> PostgreSQL on loopback (shared-registry tests); stopped at exit if started here"
if [ "$(scripts/postgres.sh)" = started ]; then
  STOP+=(scripts/postgres.sh)
fi
export SWITCHYARD_TEST_POSTGRES="${SWITCHYARD_TEST_POSTGRES:-postgres://switchyard:switchyard@127.0.0.1:5432/postgres}"

echo "==> SeaweedFS S3 server on loopback (artifact-store tests); stopped at exit if started here"
if [ "$(scripts/seaweedfs.sh)" = started ]; then
  STOP+=(scripts/seaweedfs.sh)
fi
export SWITCHYARD_TEST_S3="${SWITCHYARD_TEST_S3:-http://switchyard:switchyard-secret@127.0.0.1:8333/switchyard-test}"
export SWITCHYARD_TEST_WEED="${SWITCHYARD_TEST_WEED:-${SWITCHYARD_PYENV:-$HOME/.cache/switchyard/pyenv}/bin/weed}"

echo "==> MLflow tracking servers on loopback (MLflow import tests); stopped at exit if started here"
export SWITCHYARD_TEST_MLFLOW_AUTH_PASSWORD="${SWITCHYARD_TEST_MLFLOW_AUTH_PASSWORD:-switchyard-test-admin}"
if [ "$(scripts/mlflow.sh)" = started ]; then
  STOP+=(scripts/mlflow.sh)
fi
export SWITCHYARD_TEST_MLFLOW="${SWITCHYARD_TEST_MLFLOW:-http://127.0.0.1:5056}"
export SWITCHYARD_TEST_MLFLOW_AUTH="${SWITCHYARD_TEST_MLFLOW_AUTH:-http://127.0.0.1:5057}"
export SWITCHYARD_TEST_MLFLOW_PYTHON="${SWITCHYARD_TEST_MLFLOW_PYTHON:-${SWITCHYARD_MLFLOW_ENV:-$HOME/.cache/switchyard/mlflowenv}/bin/python}"

echo "==> Rust: engine and shell tests (registry on SQLite)"
cargo test --workspace --locked

echo "==> Rust: the integration tests again with the registry on PostgreSQL (the binary the pass above built)"
# Asked of cargo with the same package selection, so nothing is rebuilt (`cargo test --test it`
# selects one package, resolves features differently and compiles the crate again); run from the
# package root as cargo runs it.
IT="$(cargo test --workspace --locked --no-run --message-format=json 2>/dev/null |
  jq -r 'select(.reason == "compiler-artifact" and .target.name == "it" and .profile.test) | .executable')"
[ -x "$IT" ] || { echo "test.sh: the integration-test binary was not found ($IT)" >&2; exit 1; }
SWITCHYARD_TEST_BACKEND=postgres "$IT"

echo "==> Protocol clients: tritonclient against a real node (pytest; uses the binary cargo test built)"
"${SWITCHYARD_PYENV:-$HOME/.cache/switchyard/pyenv}/bin/python" -m pytest -q tests/python

echo "==> Fuzzing: request decoding and mapping parsing, ${FUZZ_SECONDS:-60}s per target (own target dir)"
scripts/fuzz.sh

if [ -x e2e/run.sh ]; then
  echo "==> End to end: the desktop window under Xvfb through tauri-driver"
  e2e/run.sh
fi

echo "==> Packages: build dist/ (release, own cached target dir), install, run, upgrade and remove them"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo --preserve-env=PATH,HOME,SWITCHYARD_RELEASE_TARGET_DIR"
$SUDO scripts/package-test.sh
