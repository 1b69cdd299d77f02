#!/usr/bin/env bash
# Installs what is missing, builds the console and opens it on the embedded SQLite registry
# (in the user data dir; pre-loaded with demo services on first start).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard/target}"
./scripts/install-deps.sh --console
(cd ui && npm run build)
cargo build -p switchyard-desktop --locked
exec "$CARGO_TARGET_DIR/debug/switchyard-desktop" "$@"
