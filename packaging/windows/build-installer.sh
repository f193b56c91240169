#!/usr/bin/env bash
# Compile the Windows installer (packaging/windows/notifier.nsi) with makensis.
#
#   packaging/windows/build-installer.sh [BUNDLE_DIR [OUT_DIR]]
#       BUNDLE_DIR  the PyInstaller folder built on Windows (notifier.exe + _internal\)
#       OUT_DIR     default dist
#   -> OUT_DIR/OrderNotifier-<version>-setup.exe
#
# Without BUNDLE_DIR (Linux, where no Windows bundle can be built) it compiles around a stand-in
# payload with the bundle's layout, which proves the script compiles and packs what it should;
# that installer is not for users (its notifier.exe is a text file). Needs makensis (Debian:
# `apt-get install nsis`; Windows: `choco install nsis`).

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$(mkdir -p "${2:-$REPO/dist}" && cd "${2:-$REPO/dist}" && pwd)
VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$REPO/notifier/__init__.py")
# Windows version resources take four numbers: 1.2.3rc1 -> 1.2.3.0
read -r -a nums <<<"$(echo "$VERSION" | grep -oE '^[0-9]+(\.[0-9]+)*' | tr '.' ' ')"
while [ ${#nums[@]} -lt 4 ]; do nums+=(0); done
VERSION4="${nums[0]}.${nums[1]}.${nums[2]}.${nums[3]}"

say() { echo "build-installer: $*" >&2; }
command -v makensis >/dev/null || { say "makensis not found (apt-get install nsis)"; exit 1; }

if [ -n "${1:-}" ]; then
    BUNDLE=$(cd "$1" && pwd)
    [ -f "$BUNDLE/notifier.exe" ] || { say "$BUNDLE has no notifier.exe"; exit 1; }
    SUFFIX=""
else
    BUNDLE=$(mktemp -d)/order-notifier
    trap 'rm -rf "$(dirname "$BUNDLE")"' EXIT
    mkdir -p "$BUNDLE/_internal/PySide6/plugins/platforms" "$BUNDLE/_internal/PySide6/plugins/texttospeech"
    echo "stand-in for the PyInstaller program built on Windows" >"$BUNDLE/notifier.exe"
    for f in python311.dll base_library.zip PySide6/Qt6Core.dll PySide6/Qt6Gui.dll \
        PySide6/Qt6Widgets.dll PySide6/plugins/platforms/qwindows.dll \
        PySide6/plugins/texttospeech/qtexttospeech_winrt.dll; do
        echo "stand-in" >"$BUNDLE/_internal/$f"
    done
    cp -r "$REPO/resources" "$BUNDLE/_internal/resources"
    SUFFIX="-standin"
    say "no Windows bundle given: compiling around a stand-in payload"
fi

OUTFILE="$OUT/OrderNotifier-${VERSION}${SUFFIX}-setup.exe"
# Git Bash on Windows: makensis.exe wants Windows paths.
native() { if command -v cygpath >/dev/null; then cygpath -w "$1"; else echo "$1"; fi; }
makensis "-V${NSIS_VERBOSITY:-2}" -INPUTCHARSET UTF8 \
    "-DVERSION=$VERSION" "-DVERSION4=$VERSION4" "-DBUNDLE=$(native "$BUNDLE")" \
    "-DOUTFILE=$(native "$OUTFILE")" "$(native "$REPO/packaging/windows/notifier.nsi")" >&2
say "built $OUTFILE ($(du -h "$OUTFILE" | cut -f1))"
echo "$OUTFILE"
