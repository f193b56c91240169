"""`notifier listen` with the settings file's list of connections: every connection at once (one
of them dead), each order line, connection line and "ended" line naming its connection, or only
the ones chosen by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from notifier.core.connections import Connection, with_connections
from notifier.core.settings import Settings
from notifier.core.settings_file import save
from tests.fakes.listener_process import PROXY_VARS, REPO, ListenerProcess
from tests.fakes.skytakeout_server import SkyTakeOutDouble
from tests.fakes.util import free_port, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_two_pcs_two_shops import OTHER_SHOP, SHOP, two_shops  # noqa: E402, F401 - the server fixture


def write_settings(path, json_server, sky, dead_port) -> None:
    save(with_connections(Settings(), (
        Connection("c1", "美团").with_values({"connection.protocol": "json",
                                              "connection.url": json_server.ws_url + "mt"}),
        Connection("c2", "小程序", "#e4572e").with_values({"connection.protocol": "skytakeout",
                                                          "connection.url": sky.ws_url}),
        Connection("c3", "总店", "#2a9d8f").with_values({"connection.protocol": "json",
                                                        "connection.url": f"ws://127.0.0.1:{dead_port}/x"}),
    )), path)


def test_listen_runs_every_connection_and_names_each_line(tmp_path):
    config = tmp_path / "settings.toml"
    with SkyTakeOutDouble() as json_server, SkyTakeOutDouble() as sky:
        write_settings(config, json_server, sky, free_port())
        with ListenerProcess(["--config", str(config)], home=tmp_path / "home") as listener:
            json_server.wait_for_clients()
            sky.wait_for_clients()
            listener.wait_for(lambda o: o.get("event") == "connection" and o["connection"] == "总店"
                              and o["state"] in ("waiting", "unreachable"), 15)
            json_server.send_text('{"order_id": 5, "order_amount": 3}')
            sky.pay(order_id=5)
            orders = listener.wait_orders(2)
            assert sorted((o["connection"], o["order_id"]) for o in orders) == [("小程序", "5"), ("美团", "5")]
            named = {o["connection"] for o in listener.events("connection") if o["state"] == "connected"}
            assert named == {"美团", "小程序"}, "the dead one never says connected"

        # Only the chosen one: the other server never sees this listener.
        wait_until(lambda: json_server.client_count == 0, 10, message="the first listener left")
        with ListenerProcess(["--config", str(config), "--connection", "小程序"],
                             home=tmp_path / "home2") as listener:
            listener.wait_for(lambda o: o.get("event") == "connection" and o["state"] == "connected", 15)
            sky.wait_for_clients()
            assert {o["connection"] for o in listener.events("connection")} == {"小程序"}
            assert json_server.client_count == 0


def test_listen_names_the_connections_there_are_for_an_unknown_one(tmp_path):
    config = tmp_path / "settings.toml"
    with SkyTakeOutDouble() as json_server, SkyTakeOutDouble() as sky:
        write_settings(config, json_server, sky, free_port())
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env.update(NOTIFIER_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO), LC_ALL="C.UTF-8", LANG="en_US.UTF-8")
    done = subprocess.run([sys.executable, "-m", "notifier", "listen", "--config", str(config),
                           "--connection", "饿了么"], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "饿了么" in done.stderr and "美团、小程序、总店" in done.stderr


def test_listen_says_whose_order_1001_ended_when_two_shops_both_have_one(tmp_path, two_shops):  # noqa: F811
    from notifier.core import protocol

    shops = {"a": ("面馆", SHOP), "b": ("茶馆", OTHER_SHOP)}
    tokens = tmp_path / "credentials"  # a unit's credentials: no keyring needed
    tokens.mkdir(mode=0o700)
    for cid, (_name, shop) in shops.items():
        (tokens / f"{cid}_notifier_token").write_text(two_shops.token(shop), encoding="utf-8")
    config = tmp_path / "settings.toml"
    save(with_connections(Settings(), tuple(
        Connection(cid, name).with_values({"connection.protocol": "notifier", "connection.shop": shop,
                                           "connection.url": f"ws://127.0.0.1:{two_shops.port}"})
        for cid, (name, shop) in shops.items())), config)
    with ListenerProcess(["--config", str(config)], home=tmp_path / "home",
                         env={"CREDENTIALS_DIRECTORY": str(tokens)}) as listener:
        wait_until(lambda: {e["connection"] for e in listener.events("connection")
                            if e["state"] == "connected"} == {"面馆", "茶馆"}, 15, message="both connected")
        for _name, shop in shops.values():
            two_shops.publish(shop, "1001")
        assert sorted(o["connection"] for o in listener.wait_orders(2)) == ["茶馆", "面馆"]
        protocol.send_order_action(two_shops.http_url, OTHER_SHOP, two_shops.token(OTHER_SHOP), "1001",
                                   "accept", timeout=5)  # another PC of 茶馆
        _at, ended = listener.wait_for(lambda o: o.get("event") == "ended", 10)
        assert (ended["order_id"], ended["how"], ended["connection"]) == ("1001", "accepted_elsewhere", "茶馆")
