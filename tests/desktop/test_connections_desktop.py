"""Several connections on screen: the settings dialog's Connections page, the orders window's
connection column and filter, and the tray naming each connection and which one is down."""

from __future__ import annotations

from decimal import Decimal

import pytest
import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from notifier.core import paths
from notifier.core import settings_file as core_settings
from notifier.core.connection import ConnectionStatus, ConnState, combined
from notifier.core.connections import Connection, connections_of, with_connections
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from notifier.desktop.i18n import install_translators
from notifier.desktop.orders_window import OrdersModel, OrdersWindow
from notifier.desktop.settings_dialog import SettingsDialog
from notifier.desktop.tray import Look, Tray

pytestmark = pytest.mark.timeout(60)

FIRST = Connection("main", "小程序").with_values({"connection.protocol": "skytakeout",
                                                 "connection.url": "ws://shop:8080/ws/"})
SECOND = Connection("c00002", "美团", "#e4572e").with_values(
    {"connection.protocol": "amqp", "connection.url": "amqp://shop@mq:5672/"})


@pytest.fixture(autouse=True)
def english(qapp):
    install_translators(qapp, "en")
    yield
    install_translators(qapp, "en")


@pytest.fixture
def dialog(qtbot):
    made = []

    def make(settings: Settings, secrets) -> SettingsDialog:
        shown = SettingsDialog(settings, secrets)
        shown.show()
        qtbot.waitExposed(shown)
        made.append(shown)
        return shown

    yield make
    for shown in made:
        if shiboken6.isValid(shown):
            shiboken6.delete(shown)


def answer_editor(fill) -> None:
    """Answer the next connection editor the page opens: `fill(editor)`, then OK."""
    def answer():
        editor = QApplication.activeModalWidget()
        fill(editor)
        editor._accept()

    QTimer.singleShot(0, answer)


def test_the_connections_page_adds_edits_turns_off_and_removes(qtbot, dialog):
    secrets = MemorySecrets({"skytakeout_admin_password": "pw-of-the-first"})
    shown = dialog(with_connections(Settings(), (FIRST, SECOND)), secrets)
    page = shown.connections_page
    assert [page.list.item(i).text() for i in range(page.list.count())] == [
        "小程序 — Sky-take-out · shop:8080", "美团 — RabbitMQ · mq:5672"]

    # Add a third: a JSON server with its own token.
    def fill(editor):
        editor.name.setText("总店")
        editor.protocol.setCurrentIndex(editor.protocol.findData("json"))
        editor.editors["connection.url"].put("wss://hq.example/push")
        editor.secret_edits["json_token"].setText("hq-token")
    answer_editor(fill)
    assert page.add()
    # A second one may not take a name already used: the editor says so and stays open.
    refused = []

    def same_name(editor):
        editor.name.setText("美团")
        editor.protocol.setCurrentIndex(editor.protocol.findData("json"))
        editor.editors["connection.url"].put("wss://x.example/push")
        editor._accept()
        refused.append((editor.error.text(), editor.isVisible()))
        editor.reject()
    QTimer.singleShot(0, lambda: same_name(QApplication.activeModalWidget()))
    assert not page.add()
    assert "美团" in refused[0][0] and refused[0][1]

    page.toggle(1)  # 美团 off
    page.list.setCurrentRow(0)
    assert not page.remove_button.isEnabled(), "the first connection is turned off, not removed"

    with qtbot.waitSignal(shown.saved, timeout=2000) as saved:
        assert shown.save()
    listed = connections_of(saved.args[0])
    assert [(c.name, c.enabled, c.protocol) for c in listed] == [
        ("小程序", True, "skytakeout"), ("美团", False, "amqp"), ("总店", True, "json")]
    assert connections_of(core_settings.load()) == listed, "on disk as shown"
    third = listed[2]
    assert secrets.get(f"{third.id}_json_token") == ("hq-token", None)
    assert shown.restart_connections == {third.id}
    assert "hq-token" not in paths.config_file().read_text("utf-8")
    assert secrets.get("skytakeout_admin_password") == ("pw-of-the-first", None)



def test_the_connections_page_tests_the_chosen_connection_as_entered(qtbot, dialog):
    """Each connection's own "Test": its settings and its typed (unsaved) token, off the main
    thread, the answer in a sentence beside the list, kept per connection."""
    import time

    from fakes.ws_token_server import WsServer
    from PySide6.QtCore import Qt

    with WsServer(token="first-token") as first_server, WsServer(token="hq-typed") as hq_server:
        first = Connection("main", "小程序").with_values({
            "connection.protocol": "json", "connection.url": f"ws://127.0.0.1:{first_server.port}/ws"})
        secrets = MemorySecrets({"json_token": "first-token"})
        shown = dialog(with_connections(Settings(), (first,)), secrets)
        page = shown.connections_page

        def fill(editor):
            editor.name.setText("总店")
            editor.protocol.setCurrentIndex(editor.protocol.findData("json"))
            editor.editors["connection.url"].put(f"ws://127.0.0.1:{hq_server.port}/ws")
            editor.secret_edits["json_token"].setText("hq-typed")
        answer_editor(fill)
        assert page.add()
        hq = page.connections()[1]
        assert page.list.currentRow() == 1 and page.test_result.text() == ""

        started = time.perf_counter()
        qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
        assert time.perf_counter() - started < 0.2, "the click returns at once"
        assert not page.test_button.isEnabled() and page.test_result.text() == "总店: connecting…"
        qtbot.waitUntil(page.test_button.isEnabled, timeout=5000)
        assert page.test_result.text() == f"✓ 总店: Connected to 127.0.0.1:{hq_server.port}."
        assert (hq_server.accepted, first_server.accepted) == (1, 0), "总店's own server, with its typed token"

        # The first connection: its own server and saved token; each one keeps its answer.
        page.list.setCurrentRow(0)
        assert page.test_result.text() == ""
        assert page.test()
        qtbot.waitUntil(page.test_button.isEnabled, timeout=5000)
        assert page.test_result.text() == f"✓ 小程序: Connected to 127.0.0.1:{first_server.port}."
        assert first_server.accepted == 1
        page.list.setCurrentRow(1)
        assert page.test_answer(hq.id) == page.test_result.text() and page.test_result.text().startswith("✓ 总店")

        # A wrong token typed for 总店 is said for 总店; nothing typed was saved by testing.
        def wrong(editor):
            editor.secret_edits["json_token"].setText("wrong")
        answer_editor(wrong)
        assert page.edit(1)
        assert page.test()
        qtbot.waitUntil(page.test_button.isEnabled, timeout=5000)
        assert page.test_result.text().startswith("✗ 总店: ") and "Wrong password or token" in page.test_result.text()
        assert secrets.get(f"{hq.id}_json_token")[0] is None

def test_the_orders_window_shows_and_filters_by_connection(qtbot, tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    settings = with_connections(Settings(), (FIRST, SECOND))
    for name, cid, order in (("小程序", "", "1"), ("美团", "c00002", "1"), ("美团", "c00002", "2")):
        ledger.record(OrderEvent(OrderKind.NEW_ORDER, order, "json", "x", amount=Decimal("5"),
                                 connection=name, connection_id=cid))
    window = OrdersWindow(ledger, lambda: settings)
    window.show()
    qtbot.waitExposed(window)
    try:
        window.set_filter("all")
        column = OrdersModel.COLUMNS.index("connection")
        assert not window.table.isColumnHidden(column) and window.connection_filter.isVisible()
        names = [window.model.index(r, column).data() for r in range(window.model.rowCount())]
        assert sorted(names) == ["小程序", "美团", "美团"]
        window.connection_filter.choose("美团")
        assert [window.model.entry(r).event.order_id for r in range(window.model.rowCount())] == ["2", "1"]
        assert {window.model.entry(r).event.connection for r in range(window.model.rowCount())} == {"美团"}
        # One connection: nothing to tell apart, no column, no filter.
        settings = Settings()
        window.reload()
        assert window.table.isColumnHidden(column) and not window.connection_filter.isVisible()
        assert window.model.rowCount() == 3
    finally:
        shiboken6.delete(window)
        ledger.close()


def test_the_tray_names_each_connection_and_which_is_down(qapp):
    tray = Tray()
    up = ConnectionStatus(ConnState.CONNECTED, "shop:8080")
    down = ConnectionStatus(ConnState.WAITING, "mq:5672", retry_in=2, reason=ConnState.UNREACHABLE)
    tray.set_status(combined([("小程序", up), ("美团", down), ("总店", up)]))
    assert tray.look is Look.CONNECTING, "the icon shows the worst"
    assert tray.action_status.text() == "Not connected: 美团"
    lines = tray.connection_lines()
    assert [line.split(":")[0] for line in lines] == ["✓ 小程序", "✕ 美团", "✓ 总店"]
    assert "Cannot reach mq:5672" in lines[1]
    tray.set_status(combined([("小程序", up), ("美团", up)]))
    assert tray.look is Look.CONNECTED and tray.action_status.text() == "All 2 connections are up"
    tray.set_status(up)  # back to one connection: one sentence, no lines
    assert tray.connection_lines() == [] and tray.action_status.text() == "Connected to shop:8080."
    tray.hide()
