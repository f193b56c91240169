"""Thread count of the idle tray app: one sky-take-out source with an admin account, printing on
a network ESC/POS printer, voice on. Run it inside the harness session (run_all.py starts one):

    dbus-run-session -- tests/harness/desktop-session python tests/benchmarks/bench_threads.py

The app runs in a child process of this script (the same `notifier` entry, plus a SIGUSR1
handler that writes `threading.enumerate()` to a file). After one order has been paid, told,
fetched in detail and printed, and the app has been idle for `--idle` seconds, the script
prints the Python threads by name, and the process's OS threads (/proc/PID/task, which also
counts Qt's and the libraries' native threads). Run several times (`--runs`) for the range.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CHILD = """
import json, signal, sys, threading
DUMP = sys.argv[1]
def dump(*_):
    with open(DUMP, "w") as out:
        json.dump([t.name for t in threading.enumerate()], out)
signal.signal(signal.SIGUSR1, dump)
sys.argv = ["notifier", *sys.argv[2:]]
from notifier.cli import main
raise SystemExit(main())
"""


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def one_run(idle_s: float) -> tuple[list[str], int]:
    from notifier.core.secrets import SecretStore
    from tests.fakes.escpos_server import EscposPrinterServer
    from tests.fakes.skytakeout_server import SkyTakeOutDouble

    with tempfile.TemporaryDirectory() as tmp, SkyTakeOutDouble() as double:
        home = Path(tmp)
        env = {**os.environ, "NOTIFIER_HOME": str(home)}
        printer = EscposPrinterServer().start()
        os.environ["NOTIFIER_HOME"] = str(home)
        SecretStore().set("skytakeout_admin_password", "123456")
        dump = home / "threads.json"
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(dump), "--protocol", "skytakeout", "--url", double.ws_url,
             "--admin-url", double.admin_url, "--admin-user", "admin",
             "--set", "printer.kind=escpos_network", "--set", f"printer.address=127.0.0.1:{printer.port}",
             "--set", "printer.print_on=new_order", "--set", "alerts.voice_new_order=true",
             "--log-level", "INFO"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=(home / "stderr.log").open("w"))
        try:
            double.wait_for_clients(timeout=30)
            double.pay(amount="18.00", consignee="测试")
            printer.wait_for_tickets(1, timeout=30)
            time.sleep(idle_s)  # idle: the printer connection closes, the voice line is said
            proc.send_signal(signal.SIGUSR1)
            try:
                names = wait(lambda: dump.exists() and json.loads(dump.read_text() or "null"), 10,
                             "the thread list")
            except SystemExit:
                print((home / "stderr.log").read_text(errors="replace")[-3000:], file=sys.stderr)
                raise
            os_threads = len(os.listdir(f"/proc/{proc.pid}/task"))
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
            printer.stop()
        return names, os_threads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=5.0, help="idle seconds before counting")
    args = parser.parse_args()
    counts, native = [], []
    names: list[str] = []
    for _ in range(args.runs):
        names, os_threads = one_run(args.idle)
        counts.append(len(names))
        native.append(os_threads)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"python threads of the idle tray app: median {statistics.median(counts):g}, "
          f"range {min(counts)}-{max(counts)} over {args.runs} runs")
    print("  named (last run): " + ", ".join(sorted(names)))
    print(f"OS threads of the process (Qt and libraries included): median "
          f"{statistics.median(native):g}, range {min(native)}-{max(native)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
