"""Two PCs of one shop decide the same order at once, on the real reference server, while a
second shop's PC rings its own orders: issues 21 and 22 met end to end.

Real parts only: the reference server (SQLite store, its one-decision-per-order rule and its 409
with `outcome`), three app processes (each its own NOTIFIER_HOME) in the harness session (the
notification recorder, PulseAudio, speech-dispatcher, gnome-keyring), the reject dialog answered
on the X display with xdotool, and `notifier listen` on the same shop. The two deciding PCs reach
the server through a relay (tests/fakes/held_link.py) that holds what the server streams to them
while they decide: neither hears the other's decision first, so both requests reach the server
and the server alone picks the winner (before issue 21: both got 201).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import NotificationLog, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_accept_e2e import ending_in  # noqa: E402
from test_desktop_e2e import ROOT, App  # noqa: E402

from notifier.core.ledger import Ending  # noqa: E402
from tests.fakes.held_link import HeldLink  # noqa: E402

SHOP, OTHER_SHOP = "noodle-bar", "tea-house"
DECIDED_HERE = {Ending.ACCEPTED_HERE: Ending.ACCEPTED_ELSEWHERE, Ending.REJECTED_HERE: Ending.REJECTED_ELSEWHERE}
# What the losing PC reads, by the winner's outcome (zh_CN).
LOSER_SAYS = {Ending.ACCEPTED_ELSEWHERE: ("订单 4321 未能拒单", "该订单已在别处接单。"),
              Ending.REJECTED_ELSEWHERE: ("订单 4321 未能接单", "该订单已在别处拒单。")}


@pytest.fixture
def two_shops(tmp_path):
    from notifier.server.config import ServerConfig
    from notifier.server.runner import ServerThread
    from notifier.server.store import EventStore

    store = EventStore(tmp_path / "server")
    creds = {shop: store.add_shop(shop) for shop in (SHOP, OTHER_SHOP)}
    server = ServerThread(ServerConfig(data_dir=tmp_path / "server", port=0), store=store)
    port = server.start()

    class Shops:
        http_url = f"http://127.0.0.1:{port}"

        @staticmethod
        def token(shop: str) -> str:
            return creds[shop].client_token

        def publish(self, shop: str, order_id: str, **fields) -> None:
            from notifier.core.protocol import publish_order

            publish_order(self.http_url, shop, creds[shop].ingest_secret, order_id=order_id, timeout=5, **fields)

        @staticmethod
        def decisions(shop: str) -> list[str]:
            return [body["kind"] for _seq, _at, body in store.events_after(shop, 0)
                    if body.get("kind") in ("accepted", "rejected")]

    shops = Shops()
    shops.port = port
    yield shops
    server.stop()
    store.close()


def handed_token(home: Path, token: str) -> dict[str, str]:
    """The environment of a PC handed its shop's token as a systemd credential: the PCs of two
    shops share this session's one keyring, whose `notifier_token` only one shop can have."""
    folder = home / "credentials"
    folder.mkdir(mode=0o700)
    (folder / "notifier_token").write_text(token, encoding="utf-8")
    return {**os.environ, "CREDENTIALS_DIRECTORY": str(folder)}


def start_pc(home: Path, port: int, shop: str, token: str, *extra: str) -> App:
    home.mkdir()
    return App(home, "--protocol", "notifier", "--url", f"ws://127.0.0.1:{port}", "--shop", shop,
               "--set", "general.language=zh_CN", "--log-level", "INFO", *extra, env=handed_token(home, token))


def in_reject_dialog(*keys: str) -> str:
    """Focus the reject dialog of order 4321 on the display (found by its title) and type there
    (`xdotool` keys through XTEST, as a keyboard would); returns what xdotool said. (A key that
    closes the dialog may make xdotool complain about the window it had: what the key did is
    checked on the server and in the PCs' histories.)"""
    done = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", "^拒单 4321$",
                           "windowfocus", "--sync", *keys], capture_output=True, text=True, timeout=10)
    return done.stderr


class Listener:
    """`notifier listen` on the shop, its JSON lines read from a file."""

    def __init__(self, home: Path, port: int, token: str):
        home.mkdir()
        self.out = home / "listen.jsonl"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "notifier", "listen", "--protocol", "notifier", "--url",
             f"ws://127.0.0.1:{port}", "--shop", SHOP],
            cwd=ROOT, env={**handed_token(home, token), "NOTIFIER_HOME": str(home)},
            stdout=self.out.open("w"), stderr=subprocess.DEVNULL)

    def lines(self) -> list[dict]:
        text = self.out.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.split("\n")[:-1] if line]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.mark.needs_session
@pytest.mark.e2e
def test_two_pcs_decide_one_order_at_once_and_the_other_shop_keeps_ringing(tmp_path, two_shops):
    link = HeldLink(two_shops.port)
    pcs = [start_pc(tmp_path / name, link.port, SHOP, two_shops.token(SHOP), "--set", "alerts.repeat_interval=60")
           for name in ("pc-a", "pc-b")]
    tea = start_pc(tmp_path / "tea", two_shops.port, OTHER_SHOP, two_shops.token(OTHER_SHOP),
                   "--set", "alerts.repeat_interval=1", "--set", "alerts.repeat_limit=200")
    listener = Listener(tmp_path / "listen", two_shops.port, two_shops.token(SHOP))
    notifications = NotificationLog()
    try:
        for app in (*pcs, tea):
            app.wait_output("connection: connected", timeout=20)
        wait_until(lambda: any(line.get("state") == "connected" for line in listener.lines()), 20)
        notifications.mark()
        two_shops.publish(OTHER_SHOP, "880001", order_number="8801", amount="12.00")
        two_shops.publish(SHOP, "700010", order_number="4321", amount="88.00")

        def popups(summary: str) -> list[dict]:
            return [e for e in notifications.entries() if e["summary"] == summary]

        shown = wait_until(lambda: (lambda p: p if len(p) == 2 else None)(popups("新订单 #4321")), 10,
                           message="both PCs of the shop notified")
        assert all(e["actions"][2:] == ["accept", "接单", "reject", "拒单…"] for e in shown)
        wait_until(lambda: tea.count("announce:") >= 2, 10, message="the tea house rings its order")

        # Neither PC hears the server while they decide.
        link.hold()
        notifications.invoke_action(shown[1]["id"], "reject")
        assert in_reject_dialog("type", "--delay", "20", "busy") == ""
        tea_said = tea.count("announce:")
        notifications.invoke_action(shown[0]["id"], "accept")
        said = in_reject_dialog("key", "Return")
        # The tea house's next order, while the noodle bar's PCs race.
        two_shops.publish(OTHER_SHOP, "880002", order_number="8802", amount="9.00")
        popup = notifications.wait_for(lambda e: e["summary"] == "新订单 #8802", timeout=5)
        assert popup["actions"][2:] == ["accept", "接单", "reject", "拒单…"]

        # Exactly one decision counted; the other PC got the 409 with the outcome.
        wait_until(lambda: len(two_shops.decisions(SHOP)) == 1, 10, message=f"a decision (xdotool: {said})")
        homes = [tmp_path / "pc-a", tmp_path / "pc-b"]

        def settled() -> list[str] | None:
            """Both histories, once one PC says "here" and the other what the 409 told it (each
            wrote "here" when clicked; the loser's is rewritten when its refusal comes back)."""
            endings = [ending_in(home, "700010") for home in homes]
            here = [how for how in endings if how in DECIDED_HERE]
            return endings if len(here) == 1 and DECIDED_HERE[here[0]] in endings else None

        try:
            endings = wait_until(settled, 20, message=f"one PC won, the other was told (xdotool: {said})")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; histories now: {[ending_in(home, '700010') for home in homes]}") from None
        link.release()
        winner = next(i for i, how in enumerate(endings) if how in DECIDED_HERE)
        loser = 1 - winner
        assert two_shops.decisions(SHOP) == ["accepted" if endings[winner] == Ending.ACCEPTED_HERE else "rejected"]
        title, body = LOSER_SAYS[endings[loser]]
        told = notifications.wait_for(lambda e: e["summary"] == title, timeout=5)
        assert told["body"] == body and "accept" not in told["actions"] and "reject" not in told["actions"]
        # No later popup of order 4321 offers the buttons.
        assert not [e for e in notifications.entries() if "4321" in e["summary"] and e not in shown
                    and "accept" in e["actions"]]

        wait_until(lambda: tea.count("announce:") >= tea_said + 2, 10, message="the tea house kept ringing")
        assert ending_in(tmp_path / "tea", "880001") is None, "the other shop's order still waits"

        # An order after the decision, so the streams' held news has been heard: it changed
        # nothing, the loser kept the true outcome.
        two_shops.publish(SHOP, "700011", order_number="4322", amount="5.00")
        wait_until(lambda: len(popups("新订单 #4322")) == 2, 10, message="both PCs got the next order")
        assert [ending_in(home, "700010") for home in homes] == endings
        assert pcs[loser].count("of order 700010 not done") == 1

        # The customer cancels after the accept: every PC of the shop is told once (and its
        # history says cancelled: the kitchen must stop cooking).
        accepted = endings[winner] == Ending.ACCEPTED_HERE
        notifications.mark()
        two_shops.publish(SHOP, "700010", kind="cancelled", text="不想要了")
        if accepted:
            wait_until(lambda: [ending_in(home, "700010") for home in homes] == [Ending.CANCELLED] * 2, 10)
        two_shops.publish(SHOP, "700012", order_number="4323", amount="6.00")
        wait_until(lambda: len(popups("新订单 #4323")) == 2, 10, message="both PCs got the order after it")
        cancelled = popups("订单 4321 已被顾客取消")
        if accepted:
            assert len(cancelled) == 2, [(e["summary"], e["body"]) for e in notifications.entries()]
            assert all(e["body"] == "不想要了" and "accept" not in e["actions"] for e in cancelled)
            assert [pc.count("announce: 订单 4321 已取消") for pc in pcs] == [1, 1]
        else:  # a rejected order cannot be cancelled: the server keeps the fact, the PCs say nothing
            assert cancelled == [] and [ending_in(home, "700010") for home in homes] == endings
        # Each shop's orders on its own PCs only.
        assert not [pc for pc in pcs if "880001" in pc.output() or "#880" in pc.output()]
        assert "4321" not in tea.output()

        # `notifier listen` on the same shop printed the order, who decided, and the cancellation.
        wait_until(lambda: any(line.get("order_id") == "700012" for line in listener.lines()), 10)
        about = [line for line in listener.lines() if line.get("order_id") == "700010"]
        assert [(line["event"], line.get("kind") or line.get("how")) for line in about] == [
            ("order", "new_order"), ("ended", DECIDED_HERE[endings[winner]]),
            ("order", "cancelled"), *([("ended", Ending.CANCELLED)] if accepted else [])]
    finally:
        for app in (*pcs, tea):
            app.stop()
        listener.stop()
        link.close()
