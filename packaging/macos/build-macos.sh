#!/usr/bin/env bash
# Build the macOS app and disk image (runs on macOS 14+, e.g. the release workflow's runner):
#
#   packaging/macos/build-macos.sh [OUT_DIR]      -> OUT_DIR/OrderNotifier-<version>.dmg
#
# 1. PyInstaller (packaging/notifier.spec) makes "Order Notifier.app" with LSUIElement set: a
#    menu-bar (tray) app without a Dock icon.
# 2. If MACOS_SIGN_IDENTITY is set: the certificate (MACOS_CERTIFICATE_P12, base64, with
#    MACOS_CERTIFICATE_PASSWORD) goes into a throwaway keychain, the app is signed with the
#    hardened runtime, the .dmg is signed, sent to Apple's notary service (APPLE_ID,
#    APPLE_TEAM_ID, APPLE_APP_PASSWORD: an app-specific password) and the ticket stapled.
#    Without it the .dmg is unsigned (fine for testing; Gatekeeper will warn users).
# Secrets come only from the environment (CI secrets) and are never echoed: no `set -x` here.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$(mkdir -p "${1:-$REPO/dist}" && cd "${1:-$REPO/dist}" && pwd)
PYTHON=${PYTHON:-python3}
VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$REPO/notifier/__init__.py")
APP="$OUT/Order Notifier.app"
DMG="$OUT/OrderNotifier-$VERSION.dmg"

"$PYTHON" -m PyInstaller --noconfirm --clean --distpath "$OUT" --workpath "$OUT/.work" \
    "$REPO/packaging/notifier.spec"
/usr/libexec/PlistBuddy -c "Print :LSUIElement" "$APP/Contents/Info.plist" | grep -q true

TMP=${RUNNER_TEMP:-$(mktemp -d)}
if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
    KEYCHAIN="$TMP/notifier-signing.keychain-db"
    KEYCHAIN_PASSWORD=$(uuidgen)
    security create-keychain -p "$KEYCHAIN_PASSWORD" "$KEYCHAIN"
    security set-keychain-settings -lut 3600 "$KEYCHAIN"
    security unlock-keychain -p "$KEYCHAIN_PASSWORD" "$KEYCHAIN"
    echo "$MACOS_CERTIFICATE_P12" | base64 --decode >"$TMP/cert.p12"
    security import "$TMP/cert.p12" -k "$KEYCHAIN" -P "$MACOS_CERTIFICATE_PASSWORD" -T /usr/bin/codesign
    rm -f "$TMP/cert.p12"
    security set-key-partition-list -S apple-tool:,apple: -s -k "$KEYCHAIN_PASSWORD" "$KEYCHAIN" >/dev/null
    security list-keychains -d user -s "$KEYCHAIN" $(security list-keychains -d user | tr -d '"')

    codesign --force --deep --timestamp --options runtime \
        --entitlements "$REPO/packaging/macos/entitlements.plist" \
        --sign "$MACOS_SIGN_IDENTITY" "$APP"
    codesign --verify --deep --strict "$APP"
fi

STAGE=$(mktemp -d)
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"  # drag-to-install
rm -f "$DMG"
hdiutil create -volname "Order Notifier" -srcfolder "$STAGE" -format UDZO -ov "$DMG"
rm -rf "$STAGE"

if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
    codesign --timestamp --sign "$MACOS_SIGN_IDENTITY" "$DMG"
    xcrun notarytool submit "$DMG" --apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" \
        --password "$APPLE_APP_PASSWORD" --wait
    xcrun stapler staple "$DMG"
fi
echo "$DMG"
