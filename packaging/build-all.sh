#!/usr/bin/env bash
# Build what can be built on this machine: the PyInstaller bundle, then
#   Linux:   the .deb (packaging/linux/build-deb.sh) and, if makensis is installed, the Windows
#            installer around a stand-in payload (packaging/windows/build-installer.sh);
#   Windows: the bundle only (the workflow then runs makensis on it);
#   macOS:   use packaging/macos/build-macos.sh.
#
#   packaging/build-all.sh [OUT_DIR]         (default: dist)
#   PYTHON=/path/to/python                   the interpreter whose packages are frozen
#                                            (default: .venv/bin/python, else python3); it needs
#                                            `pip install -e '.[build]'` (PyInstaller)
#
# Prints one summary line per artifact with its size and how long it took, and writes the same
# as OUT_DIR/build-times.txt.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$(mkdir -p "${1:-$REPO/dist}" && cd "${1:-$REPO/dist}" && pwd)
WORK="$OUT/.work"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi

say() { echo "build-all: $*" >&2; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { local ms=$(( $(now_ms) - $1 )); printf '%d.%01d' $(( ms / 1000 )) $(( ms % 1000 / 100 )); }
report() { echo "$*" | tee -a "$OUT/build-times.txt" >&2; }

"$PYTHON" -c "import PyInstaller" 2>/dev/null \
    || { say "$PYTHON has no PyInstaller: pip install -e '.[build]'"; exit 1; }
: >"$OUT/build-times.txt"

t0=$(now_ms)
rm -rf "$OUT/order-notifier"
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$OUT" --workpath "$WORK" "$REPO/packaging/notifier.spec" >&2
report "bundle: $OUT/order-notifier $(du -sh "$OUT/order-notifier" | cut -f1) in $(secs "$t0") s"

case "$(uname -s)" in
Linux)
    if command -v dpkg-deb >/dev/null; then
        t0=$(now_ms)
        deb=$("$REPO/packaging/linux/build-deb.sh" "$OUT/order-notifier" "$OUT")
        report "deb: $deb $(du -h "$deb" | cut -f1) in $(secs "$t0") s"
    fi
    if command -v makensis >/dev/null; then
        t0=$(now_ms)
        exe=$("$REPO/packaging/windows/build-installer.sh" "" "$OUT")
        report "nsis (stand-in payload): $exe $(du -h "$exe" | cut -f1) in $(secs "$t0") s"
    fi
    ;;
esac
