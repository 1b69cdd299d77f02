#!/usr/bin/env bash
# End-to-end tests: builds the desktop app, opens it under Xvfb through tauri-driver
# (WebKitWebDriver), and runs e2e/tests/*.test.js with Node's test runner. Each test file
# starts the app on a fresh temporary registry. Works from any directory, and in CI.
#
#   e2e/run.sh                               # every test file
#   e2e/run.sh tests/services.test.js        # some files (paths relative to e2e/)
#   SWITCHYARD_E2E_APP=/usr/bin/switchyard-desktop e2e/run.sh packaged/installed.test.js
#                                            # an app built elsewhere (the installed package):
#                                            # nothing is built
#
# Needs: Xvfb and WebKitWebDriver (scripts/install-deps.sh installs both), Node 20, cargo.
# Environment: CARGO_TARGET_DIR (default ~/.cache/switchyard/target), TAURI_DRIVER_PORT (4444).
set -euo pipefail

E2E="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$E2E")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard/target}"
PORT="${TAURI_DRIVER_PORT:-4444}"
NATIVE_PORT="$((PORT + 1))"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/switchyard-e2e-run.XXXXXX")"
XVFB_PID=""
DRIVER_PID=""
TESTS_PID=""
cleanup() {
  local status=$?
  if [ -n "$TESTS_PID" ] && kill -0 "$TESTS_PID" 2>/dev/null; then
    kill "$TESTS_PID" 2>/dev/null || true
    wait "$TESTS_PID" 2>/dev/null || true
  fi
  if [ -n "$DRIVER_PID" ]; then
    kill "$DRIVER_PID" 2>/dev/null || true
    wait "$DRIVER_PID" 2>/dev/null || true
  fi
  if [ -n "$XVFB_PID" ]; then
    kill "$XVFB_PID" 2>/dev/null || true
    wait "$XVFB_PID" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$WORK/tauri-driver.log" ]; then
    echo "==> e2e: last lines of the tauri-driver log" >&2
    tail -n 60 "$WORK/tauri-driver.log" >&2
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

APP="${SWITCHYARD_E2E_APP:-}"
NODE_BIN="${SWITCHYARD_E2E_NODE:-}"
if [ -z "$APP" ]; then
  echo "==> e2e: build"
  if [ ! -f "$ROOT/ui/dist/index.html" ]; then
    if [ ! -d "$ROOT/ui/node_modules" ]; then
      npm --prefix "$ROOT/ui" ci --no-audit --no-fund
    fi
    npm --prefix "$ROOT/ui" run build
  fi
  cargo build --manifest-path "$ROOT/Cargo.toml" -p switchyard-desktop --locked
  # The headless node (remote-infrastructure tests start one), with the features the Rust tests
  # build it with: a no-op after `cargo test --workspace`, and never a node of another checkout
  # sharing the target dir.
  cargo build --manifest-path "$ROOT/Cargo.toml" -p switchyard --bin switchyard --features testing --locked
  # The run uses copies: a build in another checkout sharing CARGO_TARGET_DIR cannot swap the
  # binaries under the tests.
  mkdir -p "$WORK/bin"
  cp "$CARGO_TARGET_DIR/debug/switchyard-desktop" "$CARGO_TARGET_DIR/debug/switchyard" "$WORK/bin/"
  APP="$WORK/bin/switchyard-desktop"
  NODE_BIN="$WORK/bin/switchyard"
fi
test -x "$APP"
[ -z "$NODE_BIN" ] || test -x "$NODE_BIN"
echo "==> e2e: app $APP"

if [ ! -d "$E2E/node_modules/selenium-webdriver" ]; then
  npm --prefix "$E2E" ci --no-audit --no-fund
fi
if ! command -v tauri-driver >/dev/null 2>&1; then
  cargo install tauri-driver --version '^2' --locked
fi
command -v WebKitWebDriver >/dev/null
command -v Xvfb >/dev/null

echo "==> e2e: Xvfb"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$WORK/display" </dev/null >"$WORK/xvfb.log" 2>&1 &
XVFB_PID=$!
for _ in $(seq 100); do
  [ -s "$WORK/display" ] && break
  kill -0 "$XVFB_PID" 2>/dev/null || { cat "$WORK/xvfb.log" >&2; exit 1; }
  sleep 0.1
done
test -s "$WORK/display"
export DISPLAY=":$(tr -d '[:space:]' <"$WORK/display")"
echo "    DISPLAY=$DISPLAY"

echo "==> e2e: tauri-driver on port $PORT"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "port $PORT is taken (another tauri-driver?): set TAURI_DRIVER_PORT" >&2
  exit 1
fi
tauri-driver --port "$PORT" --native-port "$NATIVE_PORT" </dev/null >"$WORK/tauri-driver.log" 2>&1 &
DRIVER_PID=$!
for _ in $(seq 150); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 "$DRIVER_PID" 2>/dev/null || { cat "$WORK/tauri-driver.log" >&2; exit 1; }
  sleep 0.2
done
(exec 3<>"/dev/tcp/127.0.0.1/$PORT")

echo "==> e2e: tests"
export SWITCHYARD_E2E_APP="$APP"
export SWITCHYARD_E2E_NODE="$NODE_BIN"
export SWITCHYARD_E2E_WEBDRIVER="http://127.0.0.1:$PORT"
cd "$E2E"
if [ "$#" -eq 0 ]; then
  set -- tests/*.test.js
fi
# In the background so that a signal reaches the trap at once. The tests' temporary data dirs
# go under $WORK: an interrupted run leaves nothing behind.
TMPDIR="$WORK" node --test --test-concurrency=1 --test-reporter=spec "$@" </dev/null &
TESTS_PID=$!
wait "$TESTS_PID"
