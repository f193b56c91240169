"""What the kitchen gets from the reference server: an order system publishes an order with its
dishes, remark, phone and address (signed, like every event), `notifier listen` prints them in
its line and its kitchen ticket comes out of the recording ESC/POS printer on 127.0.0.1 with
them on it, in the commands a Chinese receipt printer honours.

Real parts: the reference server (its own thread, SQLite store), `notifier listen` as a process
with the shop token handed over as a systemd credential, the ESC/POS peer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from server_helpers import Client, client_settings, start_server  # noqa: E402

from notifier.core.protocol import PublishError, ingest_path, signed_headers  # noqa: E402
from tests.fakes.escpos_server import EscposPrinterServer, strip_commands  # noqa: E402
from tests.fakes.listener_process import PROXY_VARS, ListenerProcess  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

ITEMS = [
    {"name": "🌶️🌶️🌶️ 特辣水煮鱼", "quantity": 1, "price": "58.00", "notes": "大份，鱼片要嫩"},
    {"name": "米饭", "quantity": 3, "price": "2.00"},
    {"name": "Slow braised beef brisket with radish and star anise, the family recipe", "quantity": 2},
]
REMARK = "不要香菜，多放葱，送到楼下打电话 🙏 " + "谢谢老板" * 60  # 261 characters: printed whole


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path / "server", shops=("alpha",))
    yield running
    running.thread.stop()
    running.store.close()


@pytest.fixture
def printer():
    peer = EscposPrinterServer().start()
    yield peer
    peer.stop()


def post_signed(server, event: dict) -> tuple[int, dict]:
    """What an order system sends: the event as JSON, signed with the shop's ingest secret."""
    body = json.dumps(event, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(server.http_url + ingest_path("alpha"), data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              **signed_headers(server.shops["alpha"].ingest_secret, body)})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def listen(server, printer, home: Path) -> ListenerProcess:
    credentials = home / "credentials"
    credentials.mkdir(parents=True)
    (credentials / "notifier_token").write_text(server.shops["alpha"].client_token)
    args = ["--protocol", "notifier", "--url", server.url, "--shop", "alpha",
            "--set", "printer.print_on=new_order", "--set", f"printer.address={printer.address}",
            "--set", "general.language=zh_CN"]
    return ListenerProcess(args, home=home, env={"CREDENTIALS_DIRECTORY": str(credentials)})


def test_an_order_with_dishes_and_remark_reaches_the_listen_line_and_the_ticket(server, printer, tmp_path):
    with listen(server, printer, tmp_path / "home") as listener:
        listener.wait_state("connected", 15)
        status, answer = post_signed(server, {
            "order_id": "3001", "order_number": "B-20261205-3001", "amount": "125.00",
            "customer": "张三", "items": ITEMS, "remark": REMARK, "phone": "13812345678",
            "address": "幸福路 8 号 3 单元 502"})
        assert status == 201, answer
        (line,) = listener.wait_orders(1, 15)
        (ticket,) = printer.wait_for_tickets(1, timeout=20)
        assert listener.terminate() == 0
    assert line["items"] == [
        {"name": "🌶️🌶️🌶️ 特辣水煮鱼", "quantity": 1, "price": "58.00", "notes": "大份，鱼片要嫩"},
        {"name": "米饭", "quantity": 3, "price": "2.00"},
        {"name": ITEMS[2]["name"], "quantity": 2}]
    assert (line["remark"], line["phone"], line["address"]) == (REMARK.strip(), "13812345678",
                                                                 "幸福路 8 号 3 单元 502")
    text = "".join(ticket.lines)
    assert "[辣椒×3] 特辣水煮鱼" in text and "(大份，鱼片要嫩)" in text
    assert any(line.startswith("米饭") and "x3" in line for line in ticket.lines)
    assert ITEMS[2]["name"].replace(" ", "") in text.replace(" ", "").replace("x2", "", 1)
    assert REMARK.replace("🙏", "[拜托]").replace(" ", "") in text.replace(" ", "")
    assert "地址：幸福路 8 号 3 单元 502".replace(" ", "") in text.replace(" ", "")
    assert "电话：138****5678" in ticket.lines and "13812345678" not in text
    # Enlarged lines in the sizes Chinese printers apply to Chinese (GS ! and FS !), never
    # ESC !, which enlarges only letters and digits there.
    assert b"\x1b!" not in ticket.raw
    remark_at = ticket.raw.index("备注".encode("gb18030"))
    assert ticket.raw[:remark_at].endswith(b"\x1d!\x11\x1c!\x0c")
    # Nothing the printer's two-byte font lacks goes out as a four-byte GB18030 sequence.
    printed = strip_commands(ticket.raw).decode("gb18030")
    assert all(len(char.encode("gb18030")) <= 2 for char in printed)


def test_the_server_refuses_a_malformed_item_with_a_sentence_naming_it(server):
    with pytest.raises(PublishError) as refused:
        server.publish(order_id="3002", items=[{"name": "米饭", "quantity": 1}, {"quantity": 2}])
    assert refused.value.status == 400 and refused.value.field == "items.1.name"
    with pytest.raises(PublishError) as too_many:
        server.publish(order_id="3003", items=[{"name": "饺子"}] * 201)
    assert too_many.value.status == 400 and "at most 200 items" in str(too_many.value)


def test_notifier_send_publishes_dishes_for_a_test_ticket(server, tmp_path):
    client = Client(client_settings(server.url, "alpha"), tmp_path / "ledger.sqlite3",
                    server.shops["alpha"].client_token)
    try:
        env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
        env["NOTIFIER_INGEST_SECRET"] = server.shops["alpha"].ingest_secret
        done = subprocess.run(
            [sys.executable, "-m", "notifier", "send", "--url", server.http_url, "--shop", "alpha",
             "--order-id", "77", "--item", "宫保鸡丁*2@28", "--item", "米饭", "--remark", "少辣",
             "--address", "幸福路 8 号"], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        (event,) = client.wait_orders(1)
    finally:
        client.stop()
    assert [(i.name, i.quantity, str(i.price)) for i in event.details.items] == [
        ("宫保鸡丁", 2, "28.00"), ("米饭", None, "None")]
    assert (event.details.remark, event.details.address) == ("少辣", "幸福路 8 号")
