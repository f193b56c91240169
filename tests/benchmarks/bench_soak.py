"""Soak benchmark: the real tray app fed one order a second for a long time (issue 6: "a 30-minute
soak with an order every second: RSS growth (goal: flat) and nothing missed"). Run it inside the
harness session:

    NOTIFIER_PYTHON=.venv/bin/python dbus-run-session -- tests/harness/desktop-session \\
        .venv/bin/python tests/benchmarks/bench_soak.py --minutes 30

The reference server runs in this process (its own thread); the app runs as a separate process,
`python -m notifier --protocol notifier --url ws://127.0.0.1:PORT --shop soak`, with its own
NOTIFIER_HOME and its token in the session's real keyring (gnome-keyring), the way a shop's PC
runs it and the way tests/e2e/test_desktop_e2e.py starts it. Orders are published through the
signed ingest API on a fixed schedule (order i at start + i seconds, so a slow publish does not
make the run drift). The app's RSS is read from /proc/PID/status every 10 s.

At the end every published order must be in the app's ledger exactly once, and each must have
produced one notification on the session bus (the harness's notification recorder). The RSS trend
is a least-squares slope over the samples after the warm-up (the first minute), so a single
spike (a garbage collection, a repeat round) does not decide it. The app runs with its default
alert settings unless `--set` says otherwise: unacknowledged orders are announced again every
60 s, up to 10 times, as in a shop where nobody clicks the orders away.

The last lines are "name: value unit", picked out by run_all.py (`--only soak`).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

SHOP = "soak"
FIRST_ORDER = 100_000  # order ids and numbers: FIRST_ORDER + i, so notifications map back
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ws_proxy", "wss_proxy",
              "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
MAX_MINUTES = 240.0  # bounded: the run always ends by itself


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope dy/dx; 0.0 with fewer than two distinct x."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def plot_rss(samples: list[tuple[float, float]], path: Path, title: str, marks: dict[str, float]) -> None:
    """RSS (MB) over minutes as a line, drawn with QPainter off screen (no plotting library);
    `marks` are labelled vertical lines (seconds), e.g. where the repeat window is full."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QPointF, QRectF, Qt
    from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPen

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - fonts need it
    width, height, left, right, top, bottom = 900, 420, 70, 20, 40, 50
    image = QImage(width, height, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    t_max = max(t for t, _ in samples) or 1.0
    lo = min(0.0, min(mb for _, mb in samples))
    hi = max(mb for _, mb in samples) * 1.15
    plot_w, plot_h = width - left - right, height - top - bottom

    def point(t: float, mb: float) -> QPointF:
        return QPointF(left + plot_w * t / t_max, top + plot_h * (1 - (mb - lo) / (hi - lo)))

    p.drawText(QRectF(left, 8, plot_w, 24), Qt.AlignmentFlag.AlignLeft, title)
    for i in range(6):
        mb = lo + (hi - lo) * i / 5
        y = point(0, mb).y()
        p.setPen(QColor("#bbb"))
        p.drawLine(QPointF(left, y), QPointF(width - right, y))
        p.setPen(QColor("#444"))
        p.drawText(QRectF(0, y - 9, left - 8, 18), Qt.AlignmentFlag.AlignRight, f"{mb:.0f} MB")
    for minute in range(0, int(t_max // 60) + 1, 5):
        x = point(minute * 60, lo).x()
        p.drawText(QRectF(x - 30, height - bottom + 6, 60, 18), Qt.AlignmentFlag.AlignHCenter, f"{minute} min")
    for label, t in marks.items():
        if t <= t_max:
            p.setPen(QPen(QColor("#888"), 1, Qt.PenStyle.DashLine))
            x = point(t, lo).x()
            p.drawLine(QPointF(x, top), QPointF(x, top + plot_h))
            p.drawText(QRectF(x + 4, top + 2, 300, 18), Qt.AlignmentFlag.AlignLeft, label)
    p.setPen(QPen(QColor("#4f7fc0"), 2))
    for (t0, a), (t1, b) in zip(samples, samples[1:], strict=False):
        p.drawLine(point(t0, a), point(t1, b))
    p.end()
    if not image.save(str(path), "PNG"):
        raise RuntimeError(f"could not write {path}")


def ledger_counts(path: Path) -> dict[str, int]:
    """{order_id: rows} of new-order events in the app's ledger, read without writing to it."""
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute(
            "SELECT order_id, COUNT(*) FROM events WHERE kind = 'new_order' GROUP BY order_id"
        ).fetchall()
    except sqlite3.OperationalError:  # the app has not created the table yet
        return {}
    finally:
        db.close()
    return dict(rows)


class App:
    """The tray app as a subprocess; its output (INFO log) in a file we read for its state."""

    def __init__(self, home: Path, url: str, extra: list[str]):
        self.log_path = home / "app-output.log"
        self._log = self.log_path.open("w")
        env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
        env["NOTIFIER_HOME"] = str(home)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "notifier", "--protocol", "notifier", "--url", url, "--shop", SHOP,
             "--set", "general.language=zh_CN", "--log-level", "INFO", *extra],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_connected(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while "connection: connected" not in self.output():
            if self.proc.poll() is not None:
                raise SystemExit(f"the app exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise SystemExit(f"the app did not connect within {timeout:g} s:\n{self.output()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def publish(server_url: str, secret: str, i: int) -> bool:
    """Publish order i; retried (same idempotency key) so a hiccup is not counted as a loss."""
    from notifier.core.protocol import PublishError, publish_order

    number = str(FIRST_ORDER + i)
    for attempt in range(3):
        try:
            publish_order(server_url, SHOP, secret, order_id=number, order_number=number,
                          amount=f"{10 + i % 90}.50", customer="张三", text="牛肉面 加辣",
                          idempotency_key=f"soak-{number}", timeout=5)
            return True
        except PublishError as exc:
            print(f"  publish {number} attempt {attempt + 1} failed: {exc}", flush=True)
            time.sleep(0.1)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help=f"length of the soak (max {MAX_MINUTES:g})")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between orders")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--warmup", type=float, default=60.0,
                        help="seconds before the RSS trend starts (at most half the run)")
    parser.add_argument("--steady-after", type=float, default=660.0,
                        help="seconds after which the app holds all it ever holds (default: the "
                             "default repeat window, 10 x 60 s, plus a minute); a second trend starts there")
    parser.add_argument("--plot", type=Path, help="draw the app's RSS over time into this PNG")
    parser.add_argument("--app-log", type=Path, help="keep a copy of the app's output (its INFO log) here")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an app setting, passed on as --set (repeatable)")
    args = parser.parse_args()
    if not 0 < args.minutes <= MAX_MINUTES or args.interval < 0.05 or args.sample < 1:
        parser.error(f"--minutes must be in (0, {MAX_MINUTES:g}], --interval >= 0.05, --sample >= 1")
    if os.environ.get("NOTIFIER_TEST_SESSION") != "1":
        print("run inside the harness session (tests/harness/desktop-session)", file=sys.stderr)
        return 2
    for name in PROXY_VARS:
        os.environ.pop(name, None)

    from helpers import NotificationLog, keyring_env

    from notifier.core.secrets import SecretStore
    from notifier.server.config import ServerConfig
    from notifier.server.runner import ServerThread
    from notifier.server.store import EventStore

    duration = args.minutes * 60
    orders = max(1, int(duration / args.interval))
    warmup = min(args.warmup, duration / 2)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True)
    print(f"soak: {orders} orders over {args.minutes:g} min, one every {args.interval:g} s; app RSS every "
          f"{args.sample:g} s, trend after {warmup:g} s; app settings: {' '.join(args.set) or 'defaults'}",
          flush=True)

    with tempfile.TemporaryDirectory(prefix="notifier-soak-") as tmp, keyring_env():
        tmp_path = Path(tmp)
        home = tmp_path / "home"
        home.mkdir()
        store = EventStore(tmp_path / "server")
        creds = store.add_shop(SHOP)
        server = ServerThread(ServerConfig(data_dir=tmp_path / "server", port=0), store=store)
        port = server.start()
        http_url = f"http://127.0.0.1:{port}"
        problem = SecretStore().set("notifier_token", creds.client_token)
        if problem is not None:
            raise SystemExit(f"could not store the token in the keyring: {problem.sentence()}")

        extra = [item for pair in args.set for item in ("--set", pair)]
        app = App(home, f"ws://127.0.0.1:{port}", extra)
        notifications = NotificationLog()
        samples: list[tuple[float, int]] = []  # (seconds since the first order, RSS bytes)
        published: dict[int, float] = {}  # i -> wall time just before the publish
        failed: list[int] = []
        exit_code = None
        try:
            app.wait_connected(20)
            notifications.mark()
            ledger_path = home / "data" / "ledger.sqlite3"
            start = time.monotonic()
            cpu_start = cpu_seconds(app.proc.pid)
            next_sample = 0.0
            next_report = 60.0
            for i in range(orders):
                slot = i * args.interval
                # Take every RSS sample that falls due before this order's slot, then wait for it.
                while (now := time.monotonic() - start) < slot or now >= next_sample:
                    if app.proc.poll() is not None:
                        break
                    if now >= next_sample:
                        samples.append((now, rss_bytes(app.proc.pid)))
                        next_sample += args.sample
                        if now >= next_report:
                            print(f"  [{now / 60:5.1f} min] published {len(published)}, in ledger "
                                  f"{len(ledger_counts(ledger_path))}, RSS {samples[-1][1] / 1e6:.1f} MB",
                                  flush=True)
                            next_report += 60.0
                        continue
                    time.sleep(min(slot, next_sample) - now)
                if app.proc.poll() is not None:
                    print(f"the app exited with {app.proc.returncode} after {now:.0f} s", flush=True)
                    break
                published[i] = time.time()
                if not publish(http_url, creds.ingest_secret, i):
                    failed.append(i)
                    del published[i]
            ran = time.monotonic() - start

            # Everything published must reach the ledger; give the app a bounded time to catch up.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and app.proc.poll() is None:
                counts = ledger_counts(ledger_path)
                if all(str(FIRST_ORDER + i) in counts for i in published):
                    break
                time.sleep(0.2)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and len(notifications.entries()) < len(published):
                time.sleep(0.2)
            alive = app.proc.poll() is None
            if alive:
                samples.append((time.monotonic() - start, rss_bytes(app.proc.pid)))
                cpu = cpu_seconds(app.proc.pid) - cpu_start
            else:
                cpu = float("nan")
            counts = ledger_counts(ledger_path)
            entries = notifications.entries()
        finally:
            exit_code = app.stop()
            server.stop()
            store.close()
        output = app.output()
        if args.app_log:
            args.app_log.write_text(output, encoding="utf-8")

    # -- the numbers -------------------------------------------------------------------------
    wanted = {str(FIRST_ORDER + i) for i in published}
    in_ledger = sum(1 for order_id in wanted if order_id in counts)
    missing = len(wanted) - in_ledger
    duplicates = sum(n - 1 for order_id, n in counts.items() if order_id in wanted and n > 1)
    unexpected = sum(n for order_id, n in counts.items() if order_id not in wanted)
    notified: dict[int, int] = {}
    latencies = []
    for entry in entries:
        match = re.search(r"#(\d+)\s*$", entry["summary"])
        if match:
            i = int(match.group(1)) - FIRST_ORDER
            notified[i] = notified.get(i, 0) + 1
            if notified[i] == 1 and i in published:
                latencies.append((entry["t"] - published[i]) * 1000)
    notified_orders = sum(1 for i in published if i in notified)
    notified_twice = sum(1 for i, n in notified.items() if n > 1)

    trend = [(t, rss) for t, rss in samples if t >= warmup] or samples
    growth = slope([(t, rss / 1e6) for t, rss in trend]) * 600  # MB per 10 minutes
    # Unacknowledged orders are announced again for 10 minutes (the default repeat window), so
    # until then the app rightly holds more with every order; after it, growth means a leak.
    steady = [(t, rss) for t, rss in samples if t >= args.steady_after]
    steady_growth = slope([(t, rss / 1e6) for t, rss in steady]) * 600 if len(steady) >= 10 else None
    problems = [line for line in output.splitlines()
                if re.search(r" (?:WARNING|ERROR|CRITICAL) |Traceback", line)]

    print(f"ran {ran / 60:.1f} min; app alive at the end: {alive}; app exit code {exit_code}; "
          f"{output.count('alerts: announce:')} announcements and {output.count('alerts: notify:')} "
          f"notifications in its log; {len(problems)} warnings/errors in its log; "
          f"publish failures {len(failed)}", flush=True)
    # Each different message once (without its time stamp): what went wrong, not how often.
    distinct = dict.fromkeys(re.sub(r"^[0-9-]+ [0-9:,]+ ", "", line)[:300] for line in problems)
    for message in list(distinct)[:10]:
        print(f"  app log: {message}")
    if latencies:
        print(f"publish -> notification over the soak: p50 {percentile(latencies, 50):.1f} ms, "
              f"p99 {percentile(latencies, 99):.1f} ms, max {max(latencies):.1f} ms")
    print(f"RSS samples (MB, every {args.sample:g} s): "
          + " ".join(f"{rss / 1e6:.1f}" for _t, rss in samples))
    print(f"orders published: {len(published)} orders")
    print(f"orders in ledger: {in_ledger} orders")
    print(f"orders missing: {missing} orders")
    print(f"orders duplicated: {duplicates} orders")
    if unexpected:
        print(f"unexpected ledger rows: {unexpected} rows")
    print(f"notifications seen: {len(entries)} notifications")
    print(f"orders notified: {notified_orders} orders")
    print(f"orders notified twice: {notified_twice} orders")
    print(f"RSS at start: {trend[0][1] / 1e6:.1f} MB (at {trend[0][0]:.0f} s)")
    print(f"RSS at end: {samples[-1][1] / 1e6:.1f} MB")
    print(f"RSS max: {max(rss for _t, rss in samples) / 1e6:.1f} MB")
    print(f"RSS growth: {growth:+.2f} MB/10 min")
    if steady_growth is not None:
        print(f"RSS growth after {args.steady_after / 60:g} min: {steady_growth:+.2f} MB/10 min "
              f"(from {steady[0][1] / 1e6:.1f} MB to {steady[-1][1] / 1e6:.1f} MB)")
    else:
        print(f"RSS growth after {args.steady_after / 60:g} min: n/a (run longer than that)")
    print(f"app CPU: {100 * cpu / ran:.2f} % of one core")
    if args.plot:
        plot_rss([(t, rss / 1e6) for t, rss in samples], args.plot,
                 f"Tray app RSS, one order every {args.interval:g} s for {args.minutes:g} min "
                 f"({len(published)} orders, none acknowledged)",
                 {"repeat window full": args.steady_after})
        print(f"wrote {args.plot}")
    ok = alive and not failed and missing == 0 and duplicates == 0 and notified_orders == len(published)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
