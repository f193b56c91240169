"""The tray app end to end, as a shop owner's PC runs it: the reference server on 127.0.0.1,
the app as a separate process in the harness desktop session (Xvfb, session bus with the
notification recorder, gnome-keyring, PulseAudio null sink, speech-dispatcher, tray host).

Also the console mode: `python -m notifier --demo` with no display prints what it notifies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import AudioRecorder, NotificationLog, rms, wait_until

ROOT = Path(__file__).resolve().parents[2]
SHOP = "e2e-shop"
SPEECH_RMS = 0.01  # silence on the null sink measures 0.000000


class App:
    """`python -m notifier ...` in the background, its log in a file we can wait on."""

    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None):
        """`env`: the whole environment for the app (default: this one), NOTIFIER_HOME added."""
        self.log_path = home / "app-output.log"
        self.log_file = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "notifier", *args], cwd=ROOT,
            env={**(os.environ if env is None else env), "NOTIFIER_HOME": str(home)},
            stdout=self.log_file, stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_output(self, text: str, timeout: float = 10.0) -> None:
        def seen() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"app exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            return text in self.output()

        wait_until(seen, timeout, message=f"{text!r} in the app's output")

    def count(self, text: str) -> int:
        return self.output().count(text)

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


@pytest.fixture
def reference_server(tmp_path):
    from notifier.server.config import ServerConfig
    from notifier.server.runner import ServerThread
    from notifier.server.store import EventStore

    store = EventStore(tmp_path / "server")
    creds = store.add_shop(SHOP)
    server = ServerThread(ServerConfig(data_dir=tmp_path / "server", port=0), store=store)
    port = server.start()

    class Ref:
        url = f"ws://127.0.0.1:{port}"
        http_url = f"http://127.0.0.1:{port}"
        token = creds.client_token
        secret = creds.ingest_secret

        def publish(self, order_id: str, **fields) -> None:
            from notifier.core.protocol import publish_order

            publish_order(self.http_url, SHOP, self.secret, order_id=order_id, timeout=5, **fields)

        @staticmethod
        def events() -> list[dict]:
            """Every event the server logged for the shop (orders and decisions), oldest first."""
            return [body for _seq, _at, body in store.events_after(SHOP, 0)]

    yield Ref()
    server.stop()
    store.close()


@pytest.fixture
def app_factory(notifier_home, reference_server, fresh_keyring):
    from notifier.core.secrets import SecretStore

    assert SecretStore().set("notifier_token", reference_server.token) is None
    apps: list[App] = []

    def start(*extra: str) -> App:
        app = App(
            notifier_home,
            "--protocol", "notifier", "--url", reference_server.url, "--shop", SHOP,
            "--set", "general.language=zh_CN", "--log-level", "INFO", *extra,
        )
        apps.append(app)
        app.wait_output("connection: connected", timeout=15)
        return app

    yield start
    for app in apps:
        app.stop()


@pytest.mark.needs_session
@pytest.mark.e2e
def test_published_order_is_notified_and_spoken_within_a_second(app_factory, reference_server, tmp_path):
    app = app_factory("--set", "alerts.repeat_interval=0")
    notifications = NotificationLog()
    notifications.mark()
    recorder = AudioRecorder(tmp_path).start()
    try:
        sent = time.time()
        reference_server.publish("900001", order_number="1234", amount="56.50", customer="张三",
                                 text="牛肉面 <b>加辣</b> & 多放葱")
        shown = notifications.wait_for(lambda e: "1234" in e["summary"], timeout=5)
        assert shown["t"] - sent < 1.0
        assert shown["summary"] == "新订单 #1234"
        # Markup in the order text is shown literally: escaped for the freedesktop server.
        assert "&lt;b&gt;加辣&lt;/b&gt;" in shown["body"] and "<b>" not in shown["body"]
        assert "张三" in shown["body"]
        app.wait_output("announce:", timeout=5)
        wait_until(lambda: recorder.seconds_recorded() > 4.0, timeout=10)
    finally:
        wav = recorder.stop()
    assert rms(wav) > SPEECH_RMS, "the announcement should be audible on the sink"


@pytest.mark.needs_session
@pytest.mark.e2e
def test_acknowledging_stops_the_repeats(app_factory, reference_server, notifier_home):
    from notifier.core.ledger import Ledger

    app = app_factory("--set", "alerts.repeat_interval=1", "--set", "alerts.repeat_limit=50")
    reference_server.publish("900002", order_number="5678", amount="12.00")
    wait_until(lambda: app.count("announce:") >= 3, timeout=15, message="first announcement and two repeats")

    ledger = Ledger(notifier_home / "data" / "ledger.sqlite3")
    assert ledger.acknowledge_all() == 1
    ledger.close()
    said = app.output().count("订单号 5678")
    # Another order, said and repeated twice: two repeat intervals passed with the timers running
    # (instead of sleeping and hoping), and order 5678 was not said again (one repeat that read
    # the history just before the acknowledgement may still begin).
    reference_server.publish("900003", order_number="6789", amount="1.00")
    wait_until(lambda: app.output().count("订单号 6789") >= 3, timeout=15, message="the next order and two repeats")
    assert app.output().count("订单号 5678") <= said + 1


@pytest.mark.needs_session
@pytest.mark.e2e
def test_second_launch_hands_over_and_exits_0(app_factory, notifier_home):
    app_factory()
    second = subprocess.run(
        [sys.executable, "-m", "notifier"], cwd=ROOT, env={**os.environ, "NOTIFIER_HOME": str(notifier_home)},
        capture_output=True, text=True, timeout=20,
    )
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stderr


@pytest.mark.needs_session
@pytest.mark.e2e
def test_sigterm_quits_the_app_while_its_orders_window_is_open(app_factory, notifier_home):
    """The orders window refuses to close (it hides to the tray), and Qt 6's quit() gives up
    when a window refuses: with the window open, SIGTERM (a logout, a service manager, an
    installer's upgrade) was ignored and the tray's Quit only hid the window."""
    app = app_factory()
    shown = subprocess.run(  # a second launch brings the running app's window up
        [sys.executable, "-m", "notifier"], cwd=ROOT, env={**os.environ, "NOTIFIER_HOME": str(notifier_home)},
        capture_output=True, text=True, timeout=20,
    )
    assert "already running" in shown.stderr
    wait_until(lambda: subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^订单 — 订单提醒$"],
                                      capture_output=True).returncode == 0,
               10, message="the orders window on screen")
    app.proc.send_signal(signal.SIGTERM)
    assert app.proc.wait(10) == 0
    assert "quitting" in app.output()


@pytest.mark.e2e
def test_demo_without_a_display_prints_each_order(tmp_path):
    """The README's run command: `python -m notifier --demo` on a machine with no display."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    if env.get("NOTIFIER_TEST_SESSION") != "1":
        env["NOTIFIER_TTS_ENGINE"] = "mock"  # no speech service outside the harness session
    app = App(tmp_path, "--demo", env=env)
    try:
        app.wait_output("notified: ", timeout=15)
        line = next(ln for ln in app.output().splitlines() if "notified: " in ln)
        assert "#" in line  # "新订单 #…" / "New order #…"
    finally:
        app.stop()
