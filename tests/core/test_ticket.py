"""The kitchen ticket's content (core, no printer): what the shop's template settings put on it."""

from __future__ import annotations

import json
from decimal import Decimal

from notifier.core.events import OrderEvent, OrderKind
from notifier.core.settings import Settings
from notifier.core.ticket import (
    HUGE,
    build_ticket,
    display_width,
    mask_phone,
    order_items,
    split_number,
)


def order(**message) -> OrderEvent:
    return OrderEvent(OrderKind.NEW_ORDER, "42", "json", "shop", order_number="1798241234567",
                      amount=Decimal("56.5"), customer="Zhang San",
                      raw=json.dumps(message, ensure_ascii=False))


def settings(**values) -> Settings:
    return Settings({f"printer.{k}": v for k, v in values.items()})


def test_the_last_four_digits_of_the_number_are_the_biggest():
    ticket = build_ticket(order(), settings())
    (number_line,) = [line for line in ticket.lines if line.tail]
    assert (number_line.text, number_line.tail, number_line.tail_size) == ("#179824123", "4567", HUGE)
    assert split_number("123") == ("", "123")


def test_items_with_quantities_remark_and_masked_phone():
    ticket = build_ticket(order(items=[{"name": "Noodles", "quantity": 2, "price": "12.50"},
                                       {"name": "Tea", "qty": "1"}, "Napkins", {"qty": 3}],
                                remark="no chilli", phone="13812345678"), settings())
    text = ticket.text()
    lines = text.splitlines()
    assert any(line.startswith("Noodles") and "x2  " in line and "12.50" in line for line in lines)
    assert any(line.startswith("Tea") and line.rstrip().endswith("x1") for line in lines)
    assert "Napkins" in lines
    assert "Remark: no chilli" in lines and "Phone: 138****5678" in lines
    assert "13812345678" not in text
    assert all(display_width(line) <= ticket.columns for line in lines)


def test_fields_switched_off_are_not_printed():
    event = order(items=[{"name": "Noodles", "quantity": 2}], remark="no chilli", phone="13812345678")
    text = build_ticket(event, settings(show_items=False, show_remark=False, show_amount=False,
                                        show_customer=False, show_phone=False, show_time=False)).text()
    for absent in ("Noodles", "no chilli", "138", "56.50", "Zhang", "Ordered"):
        assert absent not in text
    assert "#179824123" in text


def test_the_phone_is_shown_whole_only_when_the_shop_says_so():
    text = build_ticket(order(phone="13812345678"), settings(mask_phone=False)).text()
    assert "Phone: 13812345678" in text
    assert mask_phone("12345") == "1***5"


def test_reprint_copies_and_qr_code():
    event = order()
    ticket = build_ticket(event, Settings({"alerts.order_url": "http://a.example/o?id={order_id}"}),
                          reprint=True, copy=2, copies=2)
    assert "(REPRINT)" in ticket.text() and "Copy 2 of 2" in ticket.text()
    assert ticket.qr == "http://a.example/o?id=42"
    assert build_ticket(event, settings(show_qr=False)).qr == ""
    assert build_ticket(event, settings()).qr == ""  # no order address configured


def test_server_text_cannot_smuggle_printer_commands_or_flood_the_paper():
    event = order(items=[{"name": "Tea\x1bd\x09\x1dV\x00", "quantity": 1}] * 500,
                  remark="x" * 10_000 + "\x1b@")
    ticket = build_ticket(event, settings(paper="58mm"))
    text = ticket.text()
    assert "\x1b" not in text and "\x1d" not in text and "\x00" not in text
    assert len(order_items(event)) == 100
    assert all(display_width(line.text) <= 400 for line in ticket.lines)


def test_a_message_that_is_not_json_still_makes_a_ticket():
    event = OrderEvent(OrderKind.NEW_ORDER, "9", "skytakeout", "shop", raw="订单号：9")
    ticket = build_ticket(event, settings())
    assert order_items(event) == [] and "#" in ticket.text()


def test_a_sky_take_out_ticket_lists_the_items_its_details_brought():
    # The type-1 frame carries only the order id; the admin API's details, kept in the ledger,
    # bring the dishes, the remark and the phone.
    frame_only = OrderEvent(OrderKind.NEW_ORDER, "1001", "skytakeout", "shop", order_number="11305848",
                            raw='{"type": 1, "orderId": 1001, "content": "订单号：11305848"}')
    details = {"items": [{"name": "宫保鸡丁", "number": 2, "amount": "28.00"}],
               "remark": "少辣", "phone": "13812345678"}
    assert order_items(frame_only) == []
    lines = build_ticket(frame_only, settings(), language="zh_CN", details=details).text().splitlines()
    assert any(line.startswith("宫保鸡丁") and "x2" in line for line in lines), lines
    assert any("少辣" in line for line in lines) and any("138****5678" in line for line in lines)
