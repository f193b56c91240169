"""The shop's counter end to end: 营业 / 打烊 clicked on the tray's menu reaches the back end (the
sky-take-out double on 127.0.0.1, the reference server) and a second app process — another PC of
the shop, its secrets handed over as systemd credentials — sees the change; auto-accept against
the double with a real ESC/POS peer on a socket: paused while the printer is offline, back when
it prints, never while the shop is closed. The first PC is the app's own parts in this process
(tray, alert centre, decisions, printing, ShopCounter wired as app.py wires them), so the test
can click its menu; speech on Qt's mock engine (what is said is read from `started`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_desktop_e2e import SHOP, App, reference_server  # noqa: E402, F401 - a fixture

from notifier.core.intake import OrderIntake  # noqa: E402
from notifier.core.ledger import Ending, Ledger  # noqa: E402
from notifier.core.print_queue import PrintQueue  # noqa: E402
from notifier.core.secrets import MemorySecrets  # noqa: E402
from notifier.core.settings import Settings  # noqa: E402
from tests.fakes.escpos_server import EscposPrinterServer  # noqa: E402
from tests.fakes.skytakeout_server import ACCEPTED, WAITING, SkyTakeOutDouble  # noqa: E402

pytestmark = [pytest.mark.needs_session, pytest.mark.e2e, pytest.mark.timeout(120)]
POLL_S = 2  # the status poll (and with it the shop state's read): the setting's smallest value


@pytest.fixture(autouse=True)
def _mock_speech(monkeypatch):
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "mock")


class Counter:
    """One PC of the shop as app.py wires it: intake → bridge → (auto-accept) → alert centre,
    decisions, printing and the shop counter on the tray."""

    def __init__(self, tmp_path: Path, values: dict, secrets: dict, connections: tuple = ()):
        from notifier.desktop.alerts import AlertCentre
        from notifier.desktop.bridge import CoreBridge
        from notifier.desktop.decisions import OrderDecisions
        from notifier.desktop.notify import Notifier
        from notifier.desktop.printing import PrintDesk
        from notifier.desktop.shop_counter import ShopCounter
        from notifier.desktop.tray import Tray
        from notifier.desktop.voice import Announcer

        self.settings = Settings({"general.language": "en", "alerts.chime": False,
                                  "alerts.repeat_interval": 60, **values})
        if connections:  # several connections (core.connections), each with its own values
            from notifier.core.connections import with_connections

            self.settings = with_connections(self.settings, connections)
        self.ledger = Ledger(tmp_path / "ledger.sqlite3")
        self.print_queue = PrintQueue(self.ledger.path)
        self.print_queue.configure(self.settings)
        self.tray = Tray()
        self.notifier = Notifier()
        self.announcer = Announcer(self.settings)
        self.spoken: list[str] = []
        self.announcer.started.connect(self.spoken.append)
        self.alerts = AlertCentre(self.settings, self.ledger, self.notifier, self.announcer)
        self.printing = PrintDesk(self.print_queue, self.settings)
        self.bridge = CoreBridge()
        self.intake = OrderIntake(self.ledger, MemorySecrets(secrets))
        self.intake.on_order(self.bridge.push_order)
        self.intake.start(self.settings)
        self.decisions = OrderDecisions(self.ledger, self.intake, self.notifier, self.alerts)
        self.decisions.refresh()
        self.counter = ShopCounter(self.settings, self.intake, self.decisions, self.ledger, self.print_queue,
                                   self.notifier, self.announcer, ring=self.alerts.on_orders,
                                   waiting=lambda: self.alerts.badge)
        self.counter.state_changed.connect(self.tray.set_shop_states)
        self.counter.auto_accept_line.connect(self.tray.set_auto_accept_line)
        self.tray.shop_open_wanted.connect(self.counter.want_open)
        self.tray.connection_open_wanted.connect(self.counter.want_open_on)
        self.printing.problem_changed.connect(self.counter.set_printer_problem)
        self.bridge.orders.connect(lambda events: self.alerts.on_orders(self.counter.take_auto_accepted(events)))
        self.bridge.orders.connect(self.printing.wake)
        self.counter.refresh()

    def close(self) -> None:
        self.decisions.stop()
        self.alerts.stop()
        self.announcer.shutdown()
        self.intake.stop()
        self.printing.stop()
        self.notifier.close()
        self.tray.hide()
        self.ledger.close()


_KEPT: list = []  # Qt objects of finished tests stay alive: a queued signal may still be on its way


@pytest.fixture
def counter(tmp_path):
    made = []

    def make(values: dict, secrets: dict, connections: tuple = ()) -> Counter:
        made.append(Counter(tmp_path, values, secrets, connections))
        return made[-1]

    yield make
    for scene in made:
        scene.close()
    _KEPT.extend(made)


@pytest.fixture
def double():
    with SkyTakeOutDouble() as running:
        yield running


def skytakeout_values(double, **more) -> dict:
    return {"connection.protocol": "skytakeout", "connection.url": double.ws_url,
            "skytakeout.admin_url": double.admin_url, "skytakeout.admin_user": double.username,
            "skytakeout.status_poll_interval": POLL_S, **more}


def second_pc(tmp_path: Path, secret_name: str, secret: str, *args: str) -> App:
    """Another PC of the shop: the app as a process, its secret handed over like a systemd
    credential (the keyring is not what this test is about)."""
    import os

    home = tmp_path / "second-pc"
    home.mkdir()
    credentials = home / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / secret_name).write_text(secret)
    return App(home, *args, "--set", "general.language=en", "--log-level", "INFO",
               env={**os.environ, "CREDENTIALS_DIRECTORY": str(credentials), "NOTIFIER_TTS_ENGINE": "mock"})


def shop_requests(double) -> list[tuple]:
    return [r for r in double.state.requests if r[1].startswith("/admin/shop/") and r[0] == "PUT"]


def test_closing_and_opening_from_the_tray_reach_sky_take_out_and_another_pc(qtbot, counter, double, tmp_path):
    other = second_pc(tmp_path, "skytakeout_admin_password", double.password,
                      "--protocol", "skytakeout", "--url", double.ws_url, "--admin-url", double.admin_url,
                      "--admin-user", double.username, "--set", f"skytakeout.status_poll_interval={POLL_S}")
    try:
        scene = counter(skytakeout_values(double), {"skytakeout_admin_password": double.password})
        qtbot.waitUntil(lambda: scene.tray.shop_open is True, timeout=10_000)
        assert scene.tray.action_shop.isVisible() and scene.tray.action_shop.isChecked()
        assert "Shop open" in scene.tray.icon.toolTip()
        other.wait_output("shop state on 127.0.0.1", timeout=20)

        # An order waits: closing asks first, and "no" sends nothing.
        double.pay(amount="56.00")
        qtbot.waitUntil(lambda: scene.alerts.badge == 1, timeout=10_000)
        asked: list[int] = []
        scene.counter.closing_asker = lambda waiting: asked.append(waiting) or False
        scene.tray.action_shop.trigger()
        assert asked == [1] and shop_requests(double) == [] and scene.tray.action_shop.isChecked()

        scene.counter.closing_asker = lambda waiting: asked.append(waiting) or True
        scene.tray.action_shop.trigger()
        qtbot.waitUntil(lambda: scene.tray.shop_open is False, timeout=10_000)
        assert shop_requests(double) == [("PUT", "/admin/shop/0", None)] and double.shop_status == 0
        assert not scene.tray.action_shop.isChecked() and "Shop closed" in scene.tray.icon.toolTip()
        other.wait_output(": closed", timeout=POLL_S + 10)

        scene.tray.action_shop.trigger()  # opening asks nothing
        qtbot.waitUntil(lambda: scene.tray.shop_open is True, timeout=10_000)
        assert shop_requests(double)[-1] == ("PUT", "/admin/shop/1", None) and double.shop_status == 1
        wait_until(lambda: other.output().count(": open") >= 2, POLL_S + 10, message="the other PC saw it open again")
    finally:
        other.stop()


def test_an_unreachable_back_end_is_a_sentence_and_the_state_stays(qtbot, counter, double):
    from helpers import NotificationLog

    log = NotificationLog()
    scene = counter(skytakeout_values(double), {"skytakeout_admin_password": double.password})
    qtbot.waitUntil(lambda: scene.tray.shop_open is True, timeout=10_000)
    log.mark()
    double.stop()
    scene.counter.closing_asker = lambda _waiting: True
    scene.tray.action_shop.trigger()
    title = "The shop was not closed"
    qtbot.waitUntil(lambda: any(e["summary"] == title for e in log.entries()), timeout=30_000)
    told = log.wait_for(lambda e: e["summary"] == title)
    assert "could not be reached" in told["body"] and "Traceback" not in told["body"]
    assert scene.tray.shop_open is True


def test_closing_from_the_tray_reaches_the_reference_server_and_another_pc(qtbot, counter, reference_server, tmp_path):  # noqa: F811
    other = second_pc(tmp_path, "notifier_token", reference_server.token,
                      "--protocol", "notifier", "--url", reference_server.url, "--shop", SHOP)
    try:
        scene = counter({"connection.protocol": "notifier", "connection.url": reference_server.url,
                         "connection.shop": SHOP}, {"notifier_token": reference_server.token})
        qtbot.waitUntil(lambda: scene.tray.shop_open is True, timeout=10_000)  # from the hello
        other.wait_output("connection: connected", timeout=20)
        scene.tray.action_shop.trigger()  # nothing waits: no question
        qtbot.waitUntil(lambda: scene.tray.shop_open is False, timeout=10_000)
        assert [e["kind"] for e in reference_server.events()][-1] == "shop_closed"
        other.wait_output(": closed", timeout=10)
        scene.tray.action_shop.trigger()
        qtbot.waitUntil(lambda: scene.tray.shop_open is True, timeout=10_000)
        wait_until(lambda: ": open" in other.output().split(": closed", 1)[1], 10,
                   message="the other PC saw it open again")
    finally:
        other.stop()


# -- auto-accept ------------------------------------------------------------------------------


def confirms(double) -> list:
    return [body["id"] for method, path, body in double.state.requests if path == "/admin/order/confirm"]


def test_auto_accept_pauses_while_the_printer_is_offline_and_resumes_when_it_prints(qtbot, counter, double):
    printer = EscposPrinterServer().start()
    printer.refuse()
    try:
        scene = counter(skytakeout_values(double, **{
            "connection.auto_accept": True, "printer.print_on": "new_order",
            "printer.kind": "escpos_network", "printer.address": printer.address}),
            {"skytakeout_admin_password": double.password})
        qtbot.waitUntil(lambda: scene.tray.shop_open is True, timeout=10_000)

        # Its ticket cannot print: the order rings instead of accepting itself, and the tray says why.
        first = double.pay(amount="56.00")
        qtbot.waitUntil(lambda: len(scene.alerts.repeating) == 1, timeout=15_000)
        assert scene.tray.action_auto_accept.isVisible()
        assert scene.tray.action_auto_accept.text().startswith("Auto-accept paused: the printer does not print")
        assert "Auto-accept paused" in scene.tray.icon.toolTip()
        second = double.pay(amount="12.50")
        qtbot.waitUntil(lambda: len(scene.alerts.repeating) == 2, timeout=10_000)
        assert confirms(double) == [] and double.status(first["id"]) == WAITING == double.status(second["id"])

        # The printer is back: the waiting tickets print, the pause ends, the next order accepts itself.
        printer.come_back()
        printer.wait_for_tickets(2, timeout=20)
        qtbot.waitUntil(lambda: not scene.tray.action_auto_accept.isVisible(), timeout=15_000)
        third = double.pay(amount="88.00")
        qtbot.waitUntil(lambda: double.status(third["id"]) == ACCEPTED, timeout=15_000)
        assert confirms(double) == [third["id"]], "only the order paid while the printer prints"
        assert any(third["number"] in t.text for t in printer.wait_for_tickets(3, timeout=10))
        said = f"Auto-accepted order {third['number'][-4:]}"
        qtbot.waitUntil(lambda: any(line.startswith(said) for line in scene.spoken), timeout=10_000)
        entry = scene.ledger.find(f"skytakeout|{scene.intake.source.server_label()}|new_order|{third['id']}")
        assert entry.ended_how == Ending.ACCEPTED_HERE
        assert len(scene.alerts.repeating) == 2, "the two earlier orders still ring"
    finally:
        printer.stop()


def test_no_auto_accept_while_the_shop_is_closed(qtbot, counter, double):
    double.shop_status = 0
    scene = counter(skytakeout_values(double, **{"connection.auto_accept": True}),
                    {"skytakeout_admin_password": double.password})
    qtbot.waitUntil(lambda: scene.tray.shop_open is False, timeout=10_000)
    assert scene.tray.action_auto_accept.text() == "Auto-accept is off while the shop is closed."
    closed = double.pay(amount="20.00")
    qtbot.waitUntil(lambda: len(scene.alerts.repeating) == 1, timeout=10_000)
    assert confirms(double) == [] and double.status(closed["id"]) == WAITING
    # Opened on the admin page: the status poll sees it, and the next order accepts itself.
    double.shop_status = 1
    qtbot.waitUntil(lambda: scene.tray.shop_open is True, timeout=(POLL_S + 5) * 1000)
    opened = double.pay(amount="30.00")
    qtbot.waitUntil(lambda: double.status(opened["id"]) == ACCEPTED, timeout=10_000)
    assert confirms(double) == [opened["id"]]
