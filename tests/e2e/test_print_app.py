"""The app prints kitchen tickets: `python -m notifier` (console mode, no display) connected to
the sky-take-out double, printing on the recording ESC/POS printer on 127.0.0.1. When the
printer goes away the app says "printer offline — N tickets waiting" (once aloud), and prints
the waiting tickets in order when it is back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.escpos_server import EscposPrinterServer
from tests.fakes.skytakeout_server import SkyTakeOutDouble
from tests.fakes.util import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


class ConsoleApp:
    def __init__(self, home: Path, *args: str):
        env = {k: v for k, v in os.environ.items()
               if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
        if env.get("NOTIFIER_TEST_SESSION") != "1":
            env["NOTIFIER_TTS_ENGINE"] = "mock"  # no speech service outside the harness session
        env["NOTIFIER_HOME"] = str(home)
        self.log_path = home / "app-output.log"
        home.mkdir(parents=True, exist_ok=True)
        self.log_file = self.log_path.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "notifier", *args], cwd=ROOT, env=env,
                                     stdout=self.log_file, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_output(self, text: str, timeout: float = 15.0) -> None:
        def seen() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"app exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            return text in self.output()

        wait_until(seen, timeout, message=f"{text!r} in the app's output")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        return self.proc.returncode


def test_the_app_prints_new_orders_and_tells_when_the_printer_is_offline(tmp_path):
    printer = EscposPrinterServer().start()
    with SkyTakeOutDouble() as double:
        app = ConsoleApp(tmp_path / "home", "--protocol", "skytakeout", "--url", double.ws_url,
                         "--set", "general.language=zh_CN", "--set", "printer.print_on=new_order",
                         "--set", f"printer.address={printer.address}", "--set", "printer.timeout=1",
                         "--set", "alerts.repeat_interval=0")
        try:
            app.wait_output("connection: ")
            double.wait_for_clients()
            first = double.pay()
            (ticket,) = printer.wait_for_tickets(1, timeout=15)
            assert f"#{first['number']}" in ticket.lines
            address = printer.address
            printer.refuse()
            later = [double.pay(), double.pay()]
            app.wait_output("printer: 打印机离线 — 2 张小票等待打印", timeout=20)
            app.wait_output("announced: 打印机离线，有", timeout=20)
            printer.port = int(address.rsplit(":", 1)[1])
            printer.come_back()
            tickets = printer.wait_for_tickets(3, timeout=30)
            assert [next(x for x in t.lines if x.startswith("#")) for t in tickets[1:]] == \
                [f"#{order['number']}" for order in later]
            output = app.output()
            assert output.count("announced: 打印机离线") == 1  # said once per outage
            assert "Traceback" not in output
        finally:
            assert app.stop() == 0
            printer.stop()
