"""`notifier shop …` (a PC's calls from a terminal) and `notifier server shop-state / today` (the
operator's view of the store), run in-process against a real server on both stores: answers as
JSON, every mistake and refusal one sentence, never a traceback."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass

import pytest
from helpers import free_port

from notifier.cli import main
from notifier.core import i18n

BOTH_STORES = True


@dataclass
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def notifier(capsys, monkeypatch):
    for name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):  # CI sets LC_ALL, which outranks LANG
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("NOTIFIER_CLIENT_TOKEN", raising=False)

    def run(*argv: str, token: str | None = None, stdin: str = "") -> Ran:
        if token is None:
            monkeypatch.delenv("NOTIFIER_CLIENT_TOKEN", raising=False)
        else:
            monkeypatch.setenv("NOTIFIER_CLIENT_TOKEN", token)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    yield run
    i18n.set_language("en")


def one_sentence(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def test_an_order_from_accept_to_complete_and_the_shop_closed_from_a_terminal(server, notifier):
    token = server.shops["alpha"].client_token
    where = ("--url", server.http_url, "--shop", "alpha")
    server.publish(order_id="41", amount="25.00")
    for action in ("accept", "deliver", "complete"):
        ran = notifier("shop", action, "41", *where, token=token)
        assert ran.code == 0 and json.loads(ran.out)["duplicate"] is False, ran.err
    ran = notifier("shop", "close", *where, stdin=token + "\n")  # the token on stdin works too
    assert (ran.code, json.loads(ran.out)["status"]) == (0, "closed")
    assert json.loads(notifier("shop", "status", *where, token=token).out)["status"] == "closed"
    day = json.loads(notifier("shop", "today", *where, "--tz", "UTC", token=token).out)
    assert (day["orders"], day["valid_orders"], day["takings"], day["by_state"]["completed"]) == (1, 1, "25.00", 1)
    # The operator sees the same from the store, without a token.
    ran = notifier("server", *server.store_args, "shop-state", "alpha")
    assert ran.code == 0 and one_sentence(ran.out).startswith("alpha is closed since event ")
    ran = notifier("server", *server.store_args, "today", "alpha", "--tz", "UTC")
    assert ran.code == 0 and json.loads(ran.out)["takings"] == "25.00"
    ran = notifier("server", *server.store_args, "shop-state", "beta")
    assert one_sentence(ran.out) == "beta is open: it was never closed."


def test_refusals_and_mistakes_are_one_sentence(server, notifier):
    token = server.shops["alpha"].client_token
    where = ("--url", server.http_url, "--shop", "alpha")
    server.publish(order_id="42")
    ran = notifier("shop", "complete", "42", *where, token=token)
    assert ran.code == 1
    assert one_sentence(ran.err) == "Order 42 cannot be changed that way: it is waiting to be accepted."
    ran = notifier("shop", "accept", "42", *where, token=server.shops["beta"].client_token)
    assert ran.code == 1 and "refused the token for shop alpha" in one_sentence(ran.err)
    ran = notifier("shop", "cancel", "42", *where, token=token)
    assert ran.code == 2 and "needs --reason" in one_sentence(ran.err)
    ran = notifier("shop", "accept", *where, token=token)
    assert ran.code == 2 and one_sentence(ran.err) == "notifier shop accept needs the order id."
    ran = notifier("shop", "today", *where, "--tz", "Mars/Olympus", token=token)
    assert ran.code == 1 and "unknown time zone" in one_sentence(ran.err)
    ran = notifier("shop", "status", "--url", f"http://127.0.0.1:{free_port()}", "--shop", "alpha", token=token)
    assert ran.code == 1 and one_sentence(ran.err).startswith("Cannot reach http://127.0.0.1:")
    ran = notifier("shop", "status", *where)
    assert ran.code == 2 and "No client token" in one_sentence(ran.err)
    ran = notifier("server", *server.store_args, "today", "nowhere")
    assert ran.code == 1 and one_sentence(ran.err) == "There is no shop named nowhere on this server."
    ran = notifier("server", *server.store_args, "today", "alpha", "--date", "2026-02-30")
    assert ran.code == 2 and one_sentence(ran.err) == "The date 2026-02-30 is not a day written YYYY-MM-DD."


def test_in_chinese(server, notifier, monkeypatch):
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    server.publish(order_id="43")
    ran = notifier("shop", "deliver", "43", "--url", server.http_url, "--shop", "alpha",
                   token=server.shops["alpha"].client_token)
    assert ran.code == 1 and one_sentence(ran.err) == "订单 43 不能这样操作：它现在是待接单。"
