"""The printing library: loaded for a USB printer only, from a cache kept between starts.

Issue 27: python-escpos costs ~15 MB for as long as the app runs, so a network or serial printer
gets its tickets from notifier.core.escpos_commands and the library is never loaded for it; a
USB printer loads it when the print worker starts, as below.

python-escpos parses its printer database (a 1 MB YAML file, 0.2-0.3 s of interpreter time) when
it is imported. Before: the import happened at the first ticket, holding the interpreter while
that order's popup was being shown (py-spy on the running app: the print thread held the
interpreter for half the samples of the first orders), and the parsed database was pickled into
a new temporary folder per process, so every start parsed it again. Each test runs a fresh
Python process: the import happens once per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from notifier.core import paths
from tests.fakes.escpos_server import EscposPrinterServer

ROOT = Path(__file__).resolve().parents[2]

# A print worker started the way the app starts it, printing one ticket on a network printer:
# the library stays out of memory.
WORKER_STARTS = """
import sys, time
from notifier.core.ledger import Ledger
from notifier.core.print_queue import PrintQueue
from notifier.core.print_worker import PrintWorker, network_driver
from notifier.core.settings import Settings
settings = Settings({"printer.print_on": "new_order", "printer.kind": "escpos_network",
                     "printer.address": sys.argv[1]})
ledger = Ledger(sys.argv[2])
queue = PrintQueue(sys.argv[2])
queue.configure(settings)
worker = PrintWorker(settings, queue, network_driver(settings))
worker.start()
queue.enqueue_test_page(settings)
deadline = time.monotonic() + 20
while not worker.printed and time.monotonic() < deadline:
    time.sleep(0.01)
print("loaded" if "escpos" in sys.modules else "not loaded", worker.printed, flush=True)
worker.stop()
queue.close()
ledger.close()
"""

# A USB printer's print worker starting: it loads python-escpos (its `Usb` reaches the printer).
RENDERS = """
from notifier.core.escpos_printer import UsbPrinter
UsbPrinter("0416:5011").prepare()
"""


def run_python(code: str, *args: str, home: Path, tmp: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ESCPOS_CAPABILITIES_PICKLE_DIR"}
    env.update(NOTIFIER_HOME=str(home), TMPDIR=str(tmp), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_a_network_printer_prints_without_loading_the_printer_library(tmp_path, notifier_home):
    printer = EscposPrinterServer().start()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    try:
        out = run_python(WORKER_STARTS, printer.address, str(tmp_path / "ledger.sqlite3"),
                         home=notifier_home, tmp=tmp)
    finally:
        printer.stop()
    assert out.split() == ["not", "loaded", "1"], "a ticket printed, python-escpos not loaded"
    assert len(printer.tickets()) == 1


def test_the_printer_database_is_parsed_at_the_first_start_only(tmp_path, notifier_home):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    cache = notifier_home / "cache" / "escpos"
    pickle = cache / f"{sys.version.split()[0]}.capabilities.pickle"
    run_python(RENDERS, home=notifier_home, tmp=tmp)
    assert pickle.is_file(), "the parsed database is kept in the app's cache folder"
    parsed_at = pickle.stat().st_mtime_ns
    run_python(RENDERS, home=notifier_home, tmp=tmp)
    assert pickle.stat().st_mtime_ns == parsed_at, "the second start read it, not parsed it again"
    if os.name == "posix":
        assert cache.stat().st_mode & 0o077 == 0, "the cache folder is the owner's only"
    assert paths.cache_dir() == notifier_home / "cache"
