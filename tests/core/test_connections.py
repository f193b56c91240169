"""Several connections in one app: the settings file's list (and the upgrade of a file from before
it), and the intake running each connection on its own against real push servers."""

from __future__ import annotations

import time
import tomllib
from dataclasses import replace
from decimal import Decimal

import pytest

from notifier.core import i18n
from notifier.core.connection import ConnState
from notifier.core.connections import (
    UPGRADED_ID,
    Connection,
    ConnectionSecrets,
    connections_of,
    with_connections,
)
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.intake import OrderIntake
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import CONNECTION_GROUPS, SETTINGS, Settings, SettingsError
from notifier.core.settings_file import load, save
from tests.fakes.skytakeout_server import SkyTakeOutDouble
from tests.fakes.util import free_port, wait_until


def _changed(setting) -> object:
    """A value of `setting` that is not its default (and fits its bounds and the others')."""
    if setting.key == "connection.protocol":
        return "json"
    if setting.key == "connection.url":
        return "wss://orders.example:8443/push"
    if setting.type is bool:
        return not setting.default
    if setting.type is int:
        return setting.default + 1 if setting.key != "connection.ping_timeout" else setting.default - 1
    if setting.type is float:
        return setting.default + 0.5
    if setting.choices:
        return next(c for c in setting.choices if c != setting.default)
    return f"{setting.name}-值"


CONNECTION_SETTINGS = [s for s in SETTINGS if s.group in CONNECTION_GROUPS]


def legacy_file_text() -> str:
    """A settings file as the app wrote it before the list: one table per group, every setting of
    the connection groups changed, and some others."""
    lines = []
    for group in CONNECTION_GROUPS:
        lines.append(f"[{group}]")
        for setting in (s for s in CONNECTION_SETTINGS if s.group == group):
            value = _changed(setting)
            text = ("true" if value else "false") if isinstance(value, bool) else \
                repr(value).replace("'", '"') if isinstance(value, str) else str(value)
            lines.append(f"{setting.name} = {text}")
    lines += ["[alerts]", 'quiet_start = "22:30"', "[voice]", "volume = 0.25"]
    return "\n".join(lines) + "\n"


def test_a_single_connection_file_is_upgraded_in_place_keeping_every_value(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text(legacy_file_text(), "utf-8")
    path.chmod(0o600)
    before = {s.key: _changed(s) for s in CONNECTION_SETTINGS}

    settings = load(path)

    assert {key: settings[key] for key in before} == before, "every connection value kept"
    assert (settings["alerts.quiet_start"], settings["voice.volume"]) == ("22:30", 0.25)
    tables = tomllib.loads(path.read_text("utf-8"))
    assert "connection" not in tables and len(tables["connections"]) == 1, "written back as the list"
    (connection,) = connections_of(settings)
    assert (connection.id, connection.enabled) == (UPGRADED_ID, True)
    assert connection.name, "named (after its kind of server) so the shop can rename it"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    # Read again: the same values, and the file is not rewritten once it holds the list.
    written = path.read_bytes()
    again = load(path)
    assert dict(again) == dict(settings) and connections_of(again) == connections_of(settings)
    assert path.read_bytes() == written


def test_the_upgraded_connection_still_finds_its_secrets_and_a_new_one_has_its_own():
    store = MemorySecrets({"notifier_token": "old-token", "skytakeout_admin_password": "old-pw"})
    upgraded = Connection(UPGRADED_ID, "总店")
    added = Connection("c1a2b3", "分店")
    assert ConnectionSecrets(store, upgraded).get("notifier_token") == ("old-token", None)
    assert ConnectionSecrets(store, upgraded).get("skytakeout_admin_password") == ("old-pw", None)
    value, problem = ConnectionSecrets(store, added).get("notifier_token")
    assert value is None and problem is not None, "another connection never borrows its token"
    # The new connection's entry says which connection it is, and leaves the other's alone.
    assert ConnectionSecrets(store, added).set("notifier_token", "branch-token") is None
    assert store.get("c1a2b3_notifier_token") == ("branch-token", None)
    assert ConnectionSecrets(store, upgraded).get("notifier_token") == ("old-token", None)
    ConnectionSecrets(store, added).clear("notifier_token")
    assert store.get("notifier_token") == ("old-token", None)


def test_a_list_round_trips_and_bad_lists_are_refused_with_a_sentence(tmp_path):
    path = tmp_path / "settings.toml"
    first = Connection(UPGRADED_ID, "小程序", "#1f77b4").with_values(
        {"connection.protocol": "skytakeout", "connection.url": "ws://shop:8080/ws/"})
    second = Connection("c00001", "美团", "#e4572e", enabled=False).with_values(
        {"connection.protocol": "amqp", "connection.url": "amqp://shop@mq:5672/", "amqp.queue": "mt"})
    settings = with_connections(Settings({"voice.volume": 0.5}), (first, second))
    save(settings, path)
    loaded = load(path)
    assert connections_of(loaded) == (first, second)
    assert loaded["connection.protocol"] == "skytakeout", "the flat keys are the first connection's"

    for connections, key in (((first, Connection("c00002", "小程序")), "connections[2].name"),
                             ((first, Connection("c00002", "")), "connections[2].name"),
                             ((first, Connection("C-2", "x")), "connections[2].id"),
                             ((first, Connection("c00002", "x", "red")), "connections[2].color")):
        with pytest.raises(SettingsError) as refused:
            with_connections(Settings(), connections)
        assert refused.value.key == key and refused.value.problem
    path.write_text('[[connections]]\nid = "c1"\nname = "美团"\n[connections.connection]\n'
                    'protocol = "amqp"\nurl = "ws://not-amqp"\n', "utf-8")
    with pytest.raises(SettingsError) as refused:
        load(path)
    assert "美团" in str(refused.value) and "amqp://" in refused.value.problem


def test_the_same_order_id_on_two_connections_is_two_orders(ledger):
    intake = OrderIntake(ledger, MemorySecrets())
    told: list[OrderEvent] = []
    intake.on_order(told.append)
    from notifier.core.intake import ConnectionHost

    for connection in (Connection("c1", "美团"), Connection("c2", "饿了么")):
        host = ConnectionHost(intake, connection, named=True)
        assert host.store(OrderEvent(OrderKind.NEW_ORDER, "1234", "json", "orders.example",
                                     amount=Decimal("9.90")))
    assert [(e.connection, e.order_id) for e in told] == [("美团", "1234"), ("饿了么", "1234")]
    assert {e.event.connection for e in ledger.recent(10)} == {"美团", "饿了么"}, "kept in the ledger"


def _json(double: SkyTakeOutDouble) -> dict:
    return {"connection.protocol": "json", "connection.url": double.ws_url + "mt"}


def test_each_connection_runs_on_its_own_and_a_broken_one_delays_no_other(ledger):
    """Three connections: a JSON server, a sky-take-out server and one whose server is down
    (reconnecting in a tight loop). Orders on both live ones arrive named; only the dead one is
    down; changing one connection restarts only that one."""
    i18n.set_language("en")
    dead_port = free_port()
    with SkyTakeOutDouble() as json_server, SkyTakeOutDouble() as sky:
        connections = (
            Connection("c1", "美团").with_values(_json(json_server)),
            Connection("c2", "小程序").with_values({"connection.protocol": "skytakeout",
                                                    "connection.url": sky.ws_url}),
            Connection("c3", "总店").with_values({"connection.protocol": "json",
                                                  "connection.url": f"ws://127.0.0.1:{dead_port}/x",
                                                  "connection.connect_timeout": 2}),
        )
        settings = with_connections(Settings(), connections)
        intake = OrderIntake(ledger, MemorySecrets())
        told: list[OrderEvent] = []
        statuses = []
        intake.on_order(told.append)
        intake.on_status(statuses.append)
        intake.start(settings)
        try:
            json_server.wait_for_clients()
            sky.wait_for_clients()
            wait_until(lambda: statuses and statuses[-1].down == ("总店",), 10,
                       message="the dead connection is named as the one down")
            assert statuses[-1].state is not ConnState.CONNECTED, "the icon shows the worst"
            assert "总店" in statuses[-1].sentence() and "美团" in statuses[-1].sentence()

            started = time.monotonic()
            json_server.send_text('{"order_id": 77, "order_amount": 12.5}')
            sky.pay(order_id=77)
            wait_until(lambda: len(told) >= 2, 10, message="both live connections' orders arrive")
            assert time.monotonic() - started < 5, "the dead connection delays nobody"
            assert sorted((e.connection, e.order_id) for e in told) == [("小程序", "77"), ("美团", "77")]

            # The dead one is switched off: the others keep their sources (no reconnect).
            kept = intake.sources()
            intake.start(with_connections(settings, (*connections[:2],
                                                     Connection("c3", "总店", enabled=False)
                                                     .with_values(connections[2].values))))
            assert intake.sources() == {k: v for k, v in kept.items() if k != "c3"}
            wait_until(lambda: statuses[-1].down == (), 10, message="nobody is down any more")
            assert json_server.client_count == 1 and sky.client_count == 1
        finally:
            intake.stop()


def test_the_popup_and_the_voice_name_the_connection_only_when_there_are_several():
    from notifier.core import wording

    order = OrderEvent(OrderKind.NEW_ORDER, "1234", "json", "mt.example", order_number="1234",
                       amount=Decimal("56.50"))
    named = replace(order, connection="美团")
    settings = Settings()
    assert wording.announcement(order, settings, "zh_CN") == "您有新的订单，订单号 1234，金额 56 元 5 角"
    assert wording.announcement(named, settings, "zh_CN") == "美团新订单，订单号 1234，金额 56 元 5 角"
    assert wording.announcement(named, settings, "en").startswith("美团 new order 1234")
    assert wording.notification_title(named, "zh_CN") == "美团 · 新订单 #1234"
    assert wording.notification_title(order, "zh_CN") == "新订单 #1234"
    # The owner's own template: the name in front, or where the template puts it.
    own = settings.updated({"voice.template_new_order_zh": "新单 {number}"})
    assert wording.announcement(named, own, "zh_CN") == "美团：新单 1234"
    placed = settings.updated({"voice.template_new_order_zh": "新单 {number}，来自{connection}"})
    assert wording.announcement(named, placed, "zh_CN") == "新单 1234，来自美团"


def test_the_ticket_header_names_the_connection():
    from notifier.core.ticket import build_ticket

    order = OrderEvent(OrderKind.NEW_ORDER, "1234", "json", "mt.example", order_number="1234")
    named = build_ticket(replace(order, connection="美团"), Settings(), language="zh_CN").text()
    assert "美团" in named.splitlines()[0]
    assert "美团" not in build_ticket(order, Settings(), language="zh_CN").text()
