"""What is said and shown about an order, in both languages (no Qt involved)."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest

from notifier.core import wording
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.settings import Settings

ZH, EN = "zh_CN", "en"


def order(kind=OrderKind.NEW_ORDER, number="1234", amount="56.50", **extra) -> OrderEvent:
    return OrderEvent(kind=kind, order_id=extra.pop("order_id", "9001"), source="test",
                      order_number=number, amount=Decimal(amount) if amount else None, **extra)


def test_the_issue_sentences_in_both_languages():
    settings = Settings()
    assert wording.announcement(order(), settings, ZH) == "您有新的订单，订单号 1234，金额 56 元 5 角"
    assert wording.announcement(order(), settings, EN) == "New order 1234, 56 yuan 50"
    assert wording.notification_title(order(), ZH) == "新订单 #1234"
    assert wording.notification_title(order(OrderKind.REMINDER), ZH) == "顾客催单 #1234"
    assert wording.notification_title(order(), EN) == "New order #1234"
    assert wording.notification_title(order(OrderKind.REMINDER), EN) == "Reminder #1234"
    assert wording.summary_announcement(12, OrderKind.NEW_ORDER, ZH) == "您有 12 个新订单"
    assert wording.summary_title(12, "new_order", ZH) == "12 个新订单"
    assert wording.summary_announcement(12, OrderKind.NEW_ORDER, EN) == "12 new orders"
    assert wording.connection_lost_announcement(ZH) == "订单服务器连接已断开"
    assert wording.connection_back_announcement(EN)


def test_sky_take_out_numbers_are_read_by_their_last_four_digits():
    assert wording.speakable_number("1798241234567") == "4567"
    assert wording.speakable_number("1234") == "1234"
    assert wording.speakable_number("A-2024-0012") == "0012"
    event = order(number=None, amount=None, order_id="1798241234567")
    assert wording.announcement(event, Settings(), ZH) == "您有新的订单，订单号 4567"
    assert wording.notification_title(event, ZH) == "新订单 #1798241234567"  # shown whole


@pytest.mark.parametrize(("amount", "zh", "en"), [
    ("56.5", "56 元 5 角", "56 yuan 50"),
    ("56", "56 元", "56 yuan"),
    ("56.05", "56 元 零 5 分", "56 yuan 05"),
    ("56.55", "56 元 5 角 5 分", "56 yuan 55"),
    ("0.5", "5 角", "0 yuan 50"),
    ("0", "0 元", "0 yuan"),
    ("-3", "负 3 元", "minus 3 yuan"),
])
def test_amounts_are_read_as_money(amount, zh, en):
    assert wording.speakable_amount(Decimal(amount), ZH) == zh
    assert wording.speakable_amount(Decimal(amount), EN) == en


def test_missing_values_drop_their_clause_instead_of_dangling():
    assert wording.announcement(order(amount=None), Settings(), ZH) == "您有新的订单，订单号 1234"
    assert wording.speakable_amount(None, ZH) == ""


def test_the_owners_template_is_used_and_a_broken_one_falls_back():
    mine = Settings({"voice.template_new_order_zh": "{customer} 下单了，{amount}"})
    assert wording.announcement(order(customer="张三"), mine, ZH) == "张三 下单了，56 元 5 角"
    for broken in ("新单 {nope}", "新单 {number", "{number.__class__}", "{amount:>99999999}"):
        settings = Settings({"voice.template_new_order_zh": broken})
        assert wording.announcement(order(), settings, ZH) == "您有新的订单，订单号 1234，金额 56 元 5 角"


def test_huge_and_hostile_text_is_cut_and_plain():
    event = order(customer="<b>x</b>\x00\x1b[31m" + "客" * 5000, text="line1\nline2\x07" + "y" * 10_000)
    spoken = wording.announcement(
        event, Settings({"voice.template_new_order_en": "{customer} {text}"}), EN)
    assert len(spoken) <= wording.SPOKEN_MAX_CHARS
    assert "\x00" not in spoken and "\x1b" not in spoken and "\x07" not in spoken
    body = wording.notification_body(event, ZH)
    assert body.startswith("金额：56.50 元\n顾客：<b>x</b>")  # literal markup; notify.py escapes it
    assert all(len(line) <= wording.BODY_FIELD_CHARS + 5 for line in body.split("\n"))


def test_effective_language(monkeypatch):
    assert wording.effective_language(Settings({"general.language": "zh_CN"})) == ZH
    monkeypatch.setenv("LC_ALL", "zh_CN.UTF-8")
    assert wording.effective_language(Settings()) == ZH
    monkeypatch.setenv("LC_ALL", "en_US.UTF-8")
    assert wording.effective_language(Settings()) == EN


def test_wording_does_not_import_qt():
    code = "import sys, notifier.core.wording; sys.exit(any(m.startswith('PySide6') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
