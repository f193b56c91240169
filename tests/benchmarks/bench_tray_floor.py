"""The floor under the tray app's idle RSS: a bare PySide6 tray icon with a menu, holding the
libraries the app holds on a plain ws:// connection (sqlite3, jeepney, libpulse-simple, decimal,
logging.handlers, platformdirs, socket/select; no OpenSSL since the WebSocket transport is ours)
and no code of ours. What the app measures above it
(`bench_desktop.py`: idle RSS after 100 orders and a burst) is its own code and state.

    dbus-run-session -- tests/harness/desktop-session .venv/bin/python tests/benchmarks/bench_tray_floor.py [--runs 3]

Each run is a fresh process in the harness session (a real display, tray host and session bus),
read 5 s after its tray icon is shown, as VmRSS in MB (10^6 bytes, as bench_desktop.py reports).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

# The libraries come before PySide6: PySide reads the source of every module imported after it
# into `linecache` (3-4 MB), which the app clears once started (desktop/app.py, settle_memory).
TRAY = """
import ctypes, ctypes.util, gc, re, sqlite3, sys
import decimal, json, logging.handlers, jeepney, jeepney.io.blocking, platformdirs, select, socket  # noqa
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon
app = QApplication(sys.argv[:1])
pixmap = QPixmap(64, 64)
pixmap.fill(QColor("red"))
tray, menu = QSystemTrayIcon(QIcon(pixmap)), QMenu()
for n in range(15):
    menu.addAction(f"item {n}")
tray.setContextMenu(menu)
tray.show()
ctypes.CDLL(ctypes.util.find_library("pulse-simple") or "libpulse-simple.so.0")
db = sqlite3.connect(":memory:")
def measure():
    gc.collect()
    kb = int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
    print(kb * 1024 / 1e6, flush=True)
    app.quit()
QTimer.singleShot(5000, measure)
app.exec()
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not os.environ.get("NOTIFIER_TEST_SESSION"):
        print("run inside the harness session (tests/harness/desktop-session)", file=sys.stderr)
        return 2
    print(f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    values = []
    for _ in range(args.runs):
        done = subprocess.run([sys.executable, "-c", TRAY], capture_output=True, text=True, timeout=60, check=True)
        values.append(float(done.stdout.split()[-1]))
    print(f"bare PySide6 tray with the app's libraries: idle RSS {statistics.median(values):.1f} MB "
          f"({min(values):.1f}-{max(values):.1f}) over {args.runs} runs")
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
