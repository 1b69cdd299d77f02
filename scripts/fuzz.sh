#!/usr/bin/env bash
# Fuzzes the hostile-input paths (fuzz/fuzz_targets: predict and OIP infer request decoding,
# mapping and deployment-config parsing) for a bounded time per target, starting from the
# committed corpus (fuzz/corpus/<target>). Fails on any crash or broken invariant; the input
# is then in fuzz/artifacts/<target>/ (replay: cargo fuzz run <target> <file>).
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   space-separated targets (default: all)
#   FUZZ_MERGE=1   afterwards, add the new inputs that reach new coverage to the committed
#                  corpus (libFuzzer -merge=1), for a long local run
#
# cargo-fuzz needs nightly flags: RUSTC_BOOTSTRAP=1 lets the stable toolchain take them.
# No sanitizer (-s none): the engine forbids unsafe code, so ASan would mostly slow every
# run down; panics, aborts, overflows (debug assertions are on), timeouts and memory blow-ups
# are what is looked for. New inputs go to a scratch dir, not into the committed corpus
# (unless FUZZ_MERGE=1).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
unset CARGO_TARGET_DIR # the fuzz build has its own flags, so its own target dir
export CARGO_TERM_COLOR=never
TARGET_DIR="${SWITCHYARD_FUZZ_TARGET_DIR:-$HOME/.cache/switchyard/target-fuzz}"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
FLAGS=(-s none --codegen-units 16 --target-dir "$TARGET_DIR")

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> cargo: installing cargo-fuzz 0.13"
  cargo install cargo-fuzz --version '^0.13' --locked
fi

cd fuzz
targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
echo "==> Fuzz: building the targets ($TARGET_DIR)"
cargo fuzz build "${FLAGS[@]}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in $targets; do
  echo "==> Fuzz: $t for ${SECONDS_PER_TARGET}s"
  mkdir -p "$scratch/$t"
  if ! cargo fuzz run "${FLAGS[@]}" "$t" "$scratch/$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -dict=json.dict -print_final_stats=1; then
    failed+=("$t")
  elif [ "${FUZZ_MERGE:-0}" = 1 ]; then
    cargo fuzz run "${FLAGS[@]}" "$t" "corpus/$t" "$scratch/$t" -- -merge=1
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
