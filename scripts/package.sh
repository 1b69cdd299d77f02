#!/usr/bin/env bash
# Builds the release packages into dist/:
#   switchyard_<version>_amd64.deb                 the headless node (cargo-deb): the binary, a
#                                                  hardened systemd unit, its settings file, man
#                                                  pages and bash/zsh/fish completions
#   switchyard-desktop_<version>_amd64.deb         the desktop console (Tauri's bundler)
#   switchyard-desktop-<version>-1.x86_64.rpm
# and, beside each, what `dpkg-deb --info/--contents` and lintian (or `rpm -qip`/`-qlpv`/`-qpR`)
# say about it (dist/*.txt). A lintian error fails the build.
#
# The release binaries are built once, by one cargo run, into their own cached target dir
# (SWITCHYARD_RELEASE_TARGET_DIR, default ~/.cache/switchyard/target-release); cargo-deb and
# the Tauri bundler package those binaries without building again. ui/dist is rebuilt only
# when a UI source is newer. Needs what scripts/install-deps.sh installs (cargo-deb, lintian,
# rpm, the UI's npm packages with the Tauri CLI).
#
#   scripts/package.sh
#   SWITCHYARD_DEB_REVISION=2 scripts/package.sh --headless-only --out DIR
#                        # the headless .deb again with another Debian revision, into DIR,
#                        # from the binaries already built (the upgrade test's "new release")
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export CARGO_TARGET_DIR="${SWITCHYARD_RELEASE_TARGET_DIR:-$HOME/.cache/switchyard/target-release}"
export CARGO_TERM_COLOR=never
REL="$CARGO_TARGET_DIR/release"
DIST="$ROOT/dist"
HEADLESS_ONLY=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    --headless-only) HEADLESS_ONLY=1 ;;
    --out) DIST="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
START=$SECONDS
elapsed() { echo "$((SECONDS - START)) s"; }

for tool in cargo-deb lintian rpm dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: run scripts/install-deps.sh" >&2; exit 1; }
done
mkdir -p "$DIST"
if [ "$HEADLESS_ONLY" -eq 0 ]; then
  rm -f "$DIST"/*.deb "$DIST"/*.rpm "$DIST"/*.txt
fi

if [ "$HEADLESS_ONLY" -eq 0 ]; then
  echo "==> package: UI (ui/dist; rebuilt only when a source is newer)"
  newer=""
  if [ -f ui/dist/index.html ]; then
    newer="$(find ui/src ui/index.html ui/package-lock.json ui/vite.config.ts ui/public \
      -newer ui/dist/index.html -print -quit 2>/dev/null || true)"
  fi
  if [ ! -f ui/dist/index.html ] || [ -n "$newer" ]; then
    npm --prefix ui run build
  fi

  echo "==> package: release binaries (switchyard, switchyard-desktop) into $CARGO_TARGET_DIR [$(elapsed)]"
  cargo build --release --locked -p switchyard -p switchyard-desktop --bin switchyard --bin switchyard-desktop

  echo "==> package: man pages and completions, generated from the CLI [$(elapsed)]"
  rm -rf "$REL/package"
  "$REL/switchyard" generate man "$REL/package/man"
  gzip -9n "$REL/package/man/"*.1
  "$REL/switchyard" generate completions "$REL/package/completions"
else
  test -x "$REL/switchyard" && test -d "$REL/package/man" || { echo "build the packages once first" >&2; exit 1; }
fi

echo "==> package: headless .deb (cargo-deb) [$(elapsed)]"
deb_args=(--no-build --locked -p switchyard --output "$DIST")
if [ -n "${SWITCHYARD_DEB_REVISION:-}" ]; then
  deb_args+=(--deb-revision "$SWITCHYARD_DEB_REVISION")
fi
HEADLESS="$(cargo deb "${deb_args[@]}" | tail -n 1)"
test -f "$HEADLESS"

if [ "$HEADLESS_ONLY" -eq 1 ]; then
  echo "$HEADLESS"
  exit 0
fi

echo "==> package: desktop .deb and .rpm (Tauri's bundler, from the binary built above) [$(elapsed)]"
rm -rf "$REL/bundle"
ui/node_modules/.bin/tauri bundle --bundles deb,rpm --ci
for f in "$REL"/bundle/deb/*.deb "$REL"/bundle/rpm/*.rpm; do
  cp "$f" "$DIST/"
done

echo "==> package: inspect (dpkg-deb, lintian, rpm) [$(elapsed)]"
status=0
for deb in "$HEADLESS" "$DIST"/switchyard-desktop_*.deb; do
  name="$(basename "$deb" .deb)"
  dpkg-deb --info "$deb" >"$DIST/$name.info.txt"
  dpkg-deb --contents "$deb" >"$DIST/$name.contents.txt"
  # Tags explained in README.md (release notes) are overridden there, not here; an error fails.
  if ! lintian --allow-root --tag-display-limit 0 --display-info "$deb" >"$DIST/$name.lintian.txt" 2>&1; then
    status=1
  fi
  if grep -q '^E: ' "$DIST/$name.lintian.txt"; then
    echo "lintian errors in $name:" >&2
    grep '^E: ' "$DIST/$name.lintian.txt" >&2
    status=1
  fi
  echo "    $name: $(grep -c '^W: ' "$DIST/$name.lintian.txt" || true) lintian warning(s), see dist/$name.lintian.txt"
done
for rpm in "$DIST"/*.rpm; do
  name="$(basename "$rpm" .rpm)"
  { rpm -qip "$rpm"; echo; echo "Requires:"; rpm -qpR "$rpm"; echo; echo "Files:"; rpm -qlpv "$rpm"; } >"$DIST/$name.info.txt" 2>&1
done

echo "==> package: done in $(elapsed)"
ls -l "$DIST"/*.deb "$DIST"/*.rpm
exit "$status"
