"""What a network receipt printer costs the tray in memory: our ESC/POS commands against python-escpos.

    .venv/bin/python tests/benchmarks/bench_print_memory.py [--runs 3]

Each run is a fresh interpreter holding Qt (offscreen) and the tray's modules, as the app does;
it reads VmRSS around a network printer's `prepare()` and first rendered ticket (what the print
worker does now), then around `UsbPrinter.prepare()`, which loads python-escpos as `prepare()` did
for every printer before issue 27 (the baseline, measured in the same run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import re
from PySide6.QtWidgets import QApplication
def rss():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024
app = QApplication([])
import notifier.desktop.app  # noqa: F401 - the tray's modules, loaded as in the app
from notifier.core.escpos_printer import NetworkPrinter, UsbPrinter
from notifier.core.ticket import Ticket, TicketLine
a = rss()
printer = NetworkPrinter("127.0.0.1:9100")
printer.prepare()
printer.render(Ticket((TicketLine("宫保鸡丁 x2"),), qr="https://shop.example/o/1"))
b = rss()
UsbPrinter("0416:5011").prepare()
print(f"{b - a:.2f} {rss() - b:.2f}")
"""


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} MB ({min(values):.1f}-{max(values):.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    ours, library = [], []
    print(f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for _ in range(args.runs):
        done = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=120, check=True)
        first, second = done.stdout.split()[-2:]
        ours.append(float(first))
        library.append(float(second))
    print(f"network printer, prepare + first ticket: ours +{summary(ours)}; "
          f"python-escpos loaded: +{summary(library)} more, over {args.runs} runs")
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
