"""Writes the app icon files in resources/icons/ from the same drawing the tray uses.

Run from the repo root: `python packaging/tools/make_icons.py`. The output is committed, so
packaging does not need a display or this script. Files: order-notifier-<size>.png (16–512),
order-notifier.ico (Windows, several sizes), order-notifier.svg (Linux menus; the same bell drawn
as vector paths) and the per-state tray PNGs used in the docs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

SVG = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 100 100">
  <title>Order Notifier</title>
  <circle cx="50" cy="50" r="48" fill="#2e9d57"/>
  <path fill="#ffffff" d="M22 68 C30 60 30 50 31 42 C32 27 40 22 50 22 C60 22 68 27 69 42
    C70 50 70 60 78 68 Z"/>
  <circle cx="50" cy="74" r="7.5" fill="#ffffff"/>
  <circle cx="50" cy="20" r="4.5" fill="#ffffff"/>
</svg>
"""


def main() -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication, QImageWriter

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - needed to paint
    from notifier.desktop.tray import Look, paint_icon

    out = ROOT / "resources" / "icons"
    out.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        paint_icon(size, Look.CONNECTED).save(str(out / f"order-notifier-{size}.png"))
    for look in Look:
        paint_icon(64, look, 3 if look is Look.CONNECTED else 0).save(str(out / f"tray-{look}.png"))
    # Qt's ICO writer stores one image per write; the largest useful Windows size is 256.
    writer = QImageWriter(str(out / "order-notifier.ico"), b"ico")
    if not writer.write(paint_icon(256, Look.CONNECTED).toImage()):
        print("could not write the .ico:", writer.errorString(), file=sys.stderr)
        return 1
    (out / "order-notifier.svg").write_text(SVG, encoding="utf-8")
    print(f"icons written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
