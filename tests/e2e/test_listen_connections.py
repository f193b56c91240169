"""`notifier listen` with the settings file's list of connections: every connection at once (one
of them dead), each order line and connection line naming its connection, or only the ones
chosen by name."""

from __future__ import annotations

import os
import subprocess
import sys

from notifier.core.connections import Connection, with_connections
from notifier.core.settings import Settings
from notifier.core.settings_file import save
from tests.fakes.listener_process import PROXY_VARS, REPO, ListenerProcess
from tests.fakes.skytakeout_server import SkyTakeOutDouble
from tests.fakes.util import free_port, wait_until


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
