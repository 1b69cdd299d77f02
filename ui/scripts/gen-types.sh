#!/usr/bin/env bash
# The UI's engine types, generated from the node's OpenAPI document, never written by hand:
#   src/lib/generated/openapi.json  `switchyard openapi` (what a node serves at /openapi.json)
#   src/lib/generated/api.ts        openapi-typescript of it (types, and enum values as arrays)
# src/lib/types.ts names them for the components.
#
#   scripts/gen-types.sh           regenerate both files (npm run gen:types)
#   scripts/gen-types.sh --check   regenerate into a temporary folder and fail if the committed
#                                  files differ (npm run check:types; scripts/test.sh runs it)
#
# SWITCHYARD_BIN names the switchyard binary to ask; without it the script builds one with
# `cargo build --locked --bin switchyard` (in CARGO_TARGET_DIR, as scripts/test.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."

committed=src/lib/generated
check=false
case "${1:-}" in
  --check) check=true ;;
  '') ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

bin="${SWITCHYARD_BIN:-}"
if [ -z "$bin" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard/target}"
  (cd .. && cargo build --locked --quiet --bin switchyard)
  bin="$CARGO_TARGET_DIR/debug/switchyard"
fi

out="$committed"
if $check; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

"$bin" openapi > "$out/openapi.json"
npx --no-install openapi-typescript "$out/openapi.json" --output "$out/api.ts" --enum-values --silent

if $check; then
  status=0
  for f in openapi.json api.ts; do
    if ! diff -u "$committed/$f" "$out/$f" > "$out/$f.diff"; then
      status=1
      echo "ui/$committed/$f is not what the engine's OpenAPI document generates:" >&2
      head -n 40 "$out/$f.diff" >&2
    fi
  done
  if [ "$status" -ne 0 ]; then
    echo "The engine's types changed: run 'npm run gen:types' in ui/ and commit ui/$committed." >&2
    exit 1
  fi
  echo "ui/$committed is up to date with the engine's OpenAPI document"
fi
