#!/usr/bin/env bash
# The dependency rule of ARCHITECTURE.md: domain modules own their state and never reach up
# to the engine facade. Fails, naming each offending line, when one of them imports
# `crate::engine` or the `Engine` re-exported at the crate root.
set -euo pipefail
cd "$(dirname "$0")/.."
DOMAIN=(deploy router model registry monitor scenario report auth store audit approval notify mlflow capture drift)
paths=()
for m in "${DOMAIN[@]}"; do
  [ -d "src/$m" ] && paths+=("src/$m")
  [ -f "src/$m.rs" ] && paths+=("src/$m.rs")
done
if offending=$(grep -rnE 'crate::engine\b|crate::(\{[^}]*\b)?Engine\b|\bsuper::super::engine\b' "${paths[@]}"); then
  echo "Domain modules must not import the engine facade (ARCHITECTURE.md, Invariants):" >&2
  echo "$offending" >&2
  exit 1
fi
echo "layers: no domain module imports crate::engine (${paths[*]})"
