#!/usr/bin/env bash
# The packages, built and installed for real (as root: it installs and removes packages).
#
# 1. scripts/package.sh builds dist/ (skipped with PACKAGE_TEST_SKIP_BUILD=1 when dist/ is
#    current), then the headless .deb once more with a higher Debian revision (the upgrade).
# 2. Headless: tests/packaging/headless.py installs switchyard_*.deb, checks the layout, man
#    pages and completions, runs `switchyard serve` as the unit does, predicts, upgrades,
#    removes and purges.
# 3. Desktop: `apt-get install ./dist/switchyard-desktop_*.deb`, the menu entry and icons, the
#    INSTALLED /usr/bin/switchyard-desktop under Xvfb through tauri-driver
#    (e2e/packaged/installed.test.js: demo services, run and test, version and commit), then
#    `apt-get purge` and nothing of it left in /usr.
#
# Whatever happens, the packages are purged, the processes stopped and a system user this run
# created is deleted again.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export CARGO_TARGET_DIR="${SWITCHYARD_RELEASE_TARGET_DIR:-$HOME/.cache/switchyard/target-release}"
[ "$(id -u)" -eq 0 ] || { echo "run as root: this test installs and removes packages" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/switchyard-package-test.XXXXXX")"
USER_EXISTED=0
getent passwd switchyard >/dev/null && USER_EXISTED=1
for p in switchyard switchyard-desktop; do
  if dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^[ir]'; then
    echo "$p is installed on this machine: remove it first (this test installs its own)" >&2
    exit 1
  fi
done

cleanup() {
  local status=$?
  for p in switchyard-desktop switchyard; do
    if dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^[ir]'; then
      DEBIAN_FRONTEND=noninteractive apt-get -y -q purge "$p" >/dev/null 2>&1 || dpkg --purge "$p" >/dev/null 2>&1 || true
    fi
  done
  if [ "$USER_EXISTED" -eq 0 ] && getent passwd switchyard >/dev/null; then
    deluser --system switchyard >/dev/null 2>&1 || true
    getent group switchyard >/dev/null && { delgroup --system switchyard >/dev/null 2>&1 || true; }
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "${PACKAGE_TEST_SKIP_BUILD:-0}" != 1 ]; then
  scripts/package.sh
fi
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
COMMIT="$("$CARGO_TARGET_DIR/release/switchyard" --version | sed -n 's/.*(commit \(.*\))$/\1/p')"
HEADLESS="$(ls dist/switchyard_"$VERSION"-*_amd64.deb | head -n 1)"
DESKTOP="$(ls dist/switchyard-desktop_"$VERSION"_amd64.deb)"
# The binaries must be this checkout's: the commit they name is HEAD.
if command -v git >/dev/null && git rev-parse HEAD >/dev/null 2>&1; then
  test "$COMMIT" = "$(git rev-parse --short=10 HEAD)" || {
    echo "dist/ was built from commit $COMMIT, not HEAD: run scripts/package.sh" >&2; exit 1; }
fi

echo "==> package test: the upgrade, the headless .deb rebuilt with a higher revision"
UPGRADE="$(SWITCHYARD_DEB_REVISION=2 scripts/package.sh --headless-only --out "$WORK/upgrade" | tail -n 1)"

echo "==> package test: headless node ($HEADLESS -> $(basename "$UPGRADE"))"
python3 tests/packaging/headless.py --deb "$HEADLESS" --upgrade-deb "$UPGRADE" \
  --version "$VERSION" --commit "$COMMIT" --work "$WORK/headless"

echo "==> package test: desktop console ($DESKTOP)"
DEBIAN_FRONTEND=noninteractive apt-get -y -q install "$ROOT/$DESKTOP"
dpkg -L switchyard-desktop >"$WORK/desktop.files"
test -x /usr/bin/switchyard-desktop
ENTRY=/usr/share/applications/switchyard-desktop.desktop
grep -qx 'Name=Switchyard' "$ENTRY"
grep -qx 'Exec=switchyard-desktop' "$ENTRY"
grep -qx 'Icon=switchyard-desktop' "$ENTRY"
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$ENTRY"; fi
for size in 16x16 24x24 32x32 48x48 64x64 128x128 256x256 512x512; do
  test -f "/usr/share/icons/hicolor/$size/apps/switchyard-desktop.png" || { echo "no $size icon" >&2; exit 1; }
done
# Runtime libraries, never development packages.
DEPENDS="$(dpkg-query -W -f='${Depends}' switchyard-desktop)"
echo "    Depends: $DEPENDS"
echo "$DEPENDS" | grep -q 'libwebkit2gtk-4.1-0'
if echo "$DEPENDS" | grep -q -- '-dev'; then echo "the desktop package depends on a -dev package" >&2; exit 1; fi

SWITCHYARD_E2E_APP=/usr/bin/switchyard-desktop \
SWITCHYARD_E2E_EXPECT_VERSION="$VERSION" SWITCHYARD_E2E_EXPECT_COMMIT="$COMMIT" \
  e2e/run.sh packaged/installed.test.js

DEBIAN_FRONTEND=noninteractive apt-get -y -q purge switchyard-desktop
left=()
while read -r path; do
  case "$path" in /usr/*) ;; *) continue ;; esac
  [ -e "$path" ] || continue
  # A directory another package owns too (/usr/share/icons/hicolor/...) stays, rightly.
  if [ -d "$path" ] && dpkg -S "$path" >/dev/null 2>&1; then continue; fi
  left+=("$path")
done <"$WORK/desktop.files"
if [ "${#left[@]}" -gt 0 ]; then
  echo "left in /usr after purging switchyard-desktop: ${left[*]}" >&2
  exit 1
fi
echo "==> package test: passed"
