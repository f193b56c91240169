#!/usr/bin/env bash
# Build the Debian package from a PyInstaller bundle (packaging/notifier.spec).
#
#   packaging/linux/build-deb.sh [BUNDLE_DIR [OUT_DIR]]
#       BUNDLE_DIR  default dist/order-notifier     OUT_DIR  default dist
#   -> OUT_DIR/notifier_<version>_amd64.deb  (package name: order-notifier)
#
# Layout: the bundle under /opt/order-notifier, the `notifier` command in /usr/bin, the menu entry
# in /usr/share/applications, icons in the hicolor theme. No maintainer scripts: the icon cache
# and the menu database are refreshed by the file triggers of the packages that own them, and
# the program writes nothing under /opt, so `apt remove` leaves nothing behind.
#
# Depends is worked out from the bundle itself: every library an ELF file in it links (NEEDED)
# that the bundle does not carry is looked up with ldconfig and `dpkg -S`, so the list always
# matches what was built (the spec leaves system libraries out on Linux). Libraries missing on the
# build machine stop the build with their names. Needs: dpkg-deb, objdump (binutils), xz.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUNDLE=$(realpath "${1:-$REPO/dist/order-notifier}")
OUT=$(mkdir -p "${2:-$REPO/dist}" && realpath "${2:-$REPO/dist}")
PACKAGE=order-notifier
PREFIX=/opt/order-notifier
ARCH=$(dpkg --print-architecture)
VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$REPO/notifier/__init__.py")
DEB="$OUT/notifier_${VERSION}_${ARCH}.deb"

say() { echo "build-deb: $*" >&2; }
[ -x "$BUNDLE/notifier" ] || { say "no bundle at $BUNDLE (run pyinstaller packaging/notifier.spec)"; exit 1; }
[ -n "$VERSION" ] || { say "no __version__ in notifier/__init__.py"; exit 1; }

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
umask 022

# --- files ------------------------------------------------------------------------------------
mkdir -p "$STAGE$PREFIX" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
    "$STAGE/usr/share/doc/$PACKAGE" "$STAGE/DEBIAN"
cp -a "$BUNDLE/." "$STAGE$PREFIX/"
# A wrapper rather than a symlink, so the program always sees its real folder and a user's
# shell can call `notifier --self-test` from anywhere.
cat >"$STAGE/usr/bin/notifier" <<EOF
#!/bin/sh
exec $PREFIX/notifier "\$@"
EOF
chmod 0755 "$STAGE/usr/bin/notifier"
cp "$REPO/resources/notifier.desktop" "$STAGE/usr/share/applications/$PACKAGE.desktop"
for png in "$REPO"/resources/icons/order-notifier-*.png; do
    size=$(basename "$png" .png); size=${size##*-}
    install -D -m 0644 "$png" "$STAGE/usr/share/icons/hicolor/${size}x${size}/apps/$PACKAGE.png"
done
install -D -m 0644 "$REPO/resources/icons/order-notifier.svg" \
    "$STAGE/usr/share/icons/hicolor/scalable/apps/$PACKAGE.svg"
# The systemd unit for a headless `notifier listen`, as an example to copy (not enabled).
install -D -m 0644 "$REPO/packaging/linux/notifier-listen.service" \
    "$STAGE/usr/share/doc/$PACKAGE/examples/notifier-listen.service"
cat >"$STAGE/usr/share/doc/$PACKAGE/copyright" <<EOF
Order Notifier $VERSION. License: MIT.
The folder $PREFIX also holds Python, Qt for Python (PySide6, LGPLv3) and the other
libraries the program is built from, each under its own license.
EOF
# Files readable by all, programs and libraries executable; no group/other write bits.
find "$STAGE" -type d -exec chmod 0755 {} +
find "$STAGE$PREFIX" -type f -exec chmod go-w,a+r {} +

# --- Depends ----------------------------------------------------------------------------------
is_elf() { [ "$(head -c4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }
declare -A have=() needed=()
while IFS= read -r -d '' f; do have[$(basename "$f")]=1; done \
    < <(find "$STAGE$PREFIX" \( -type f -o -type l \) -print0)
while IFS= read -r -d '' f; do
    is_elf "$f" || continue
    while read -r lib; do needed[$lib]=1; done < <(objdump -p "$f" | awk '/^ *NEEDED/ {print $2}')
done < <(find "$STAGE$PREFIX" -type f -print0)

packages=()
missing=()
# Read once: `ldconfig -p | awk '...exit'` would end ldconfig with SIGPIPE, fatal under pipefail.
ld_cache=$(ldconfig -p)
for lib in "${!needed[@]}"; do
    [ -n "${have[$lib]:-}" ] && continue
    path=$(awk -v l="$lib" '$1 == l && /x86-64|x32|AArch64|64bit/ {print $NF; exit}' <<<"$ld_cache")
    [ -n "$path" ] || path=$(awk -v l="$lib" '$1 == l {print $NF; exit}' <<<"$ld_cache")
    if [ -z "$path" ]; then missing+=("$lib"); continue; fi
    # dpkg knows a file by the path it installed (/lib vs /usr/lib on merged-/usr systems).
    pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(realpath "$path")" 2>/dev/null \
        || dpkg -S "${path#/usr}" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null || true)
    pkg=${pkg%%:*}
    if [ -z "$pkg" ]; then missing+=("$lib ($path, no package)"); continue; fi
    packages+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "libraries the bundle links but this machine lacks (install them to build): ${missing[*]}"
    exit 1
fi
# Not linked but needed: the speech service libspeechd talks to (the voice), and Chinese fonts
# and the espeak-ng voices as recommendations (a shop may use English only).
depends=$( { printf '%s\n' "${packages[@]}"; echo speech-dispatcher; } | sort -u \
    | sed 's/^libc6$/libc6 (>= 2.34)/' | paste -sd, | sed 's/,/, /g')

# --- control ----------------------------------------------------------------------------------
installed_kb=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat >"$STAGE/DEBIAN/control" <<EOF
Package: $PACKAGE
Version: $VERSION
Architecture: $ARCH
Maintainer: Order Notifier <maintainers@order-notifier.invalid>
Installed-Size: $installed_kb
Depends: $depends
Recommends: speech-dispatcher-espeak-ng, fonts-noto-cjk
Suggests: gnome-keyring
Section: misc
Priority: optional
Homepage: https://github.com/order-notifier/order-notifier
Description: tray app that announces new shop orders aloud
 Order Notifier connects to a shop's order push server (sky-take-out,
 a JSON WebSocket feed or its own server), shows a desktop notification for
 each new order and reminder, and says it aloud until someone acknowledges it.
EOF

say "Depends: $depends"
dpkg-deb --root-owner-group -Zxz -z${DEB_XZ_LEVEL:-6} --threads-max="$(nproc)" --build "$STAGE" "$DEB" >/dev/null
say "built $DEB ($(du -h "$DEB" | cut -f1), installed $((installed_kb / 1024)) MB)"
echo "$DEB"
