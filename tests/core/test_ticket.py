"""The kitchen ticket's content (core, no printer): what the shop's template settings put on it,
from the order's details as its source decoded them."""

from __future__ import annotations

from decimal import Decimal

from notifier.core.events import OrderEvent, OrderKind
from notifier.core.order_details import MAX_ITEMS, OrderDetails, OrderItem
from notifier.core.settings import Settings
from notifier.core.ticket import (
    BIG,
    HUGE,
    NORMAL,
    WIDTH_FACTOR,
    build_ticket,
    display_width,
    mask_phone,
    split_number,
)


def order(items=(), **fields) -> OrderEvent:
    details = OrderDetails.of((OrderItem.of(**item) if isinstance(item, dict) else OrderItem.of(item)
                               for item in items), **fields)
    return OrderEvent(OrderKind.NEW_ORDER, "42", "json", "shop", order_number="1798241234567",
                      amount=Decimal("56.5"), customer="Zhang San", details=details)


def settings(**values) -> Settings:
    return Settings({f"printer.{k}": v for k, v in values.items()})


def fits_the_paper(ticket) -> bool:
    return all(display_width(line.text) * WIDTH_FACTOR[line.size] <= ticket.columns
               for line in ticket.lines if not line.tail)


def test_the_last_four_digits_of_the_number_are_the_biggest():
    ticket = build_ticket(order(), settings())
    (number_line,) = [line for line in ticket.lines if line.tail]
    assert (number_line.text, number_line.tail, number_line.tail_size) == ("#179824123", "4567", HUGE)
    assert split_number("123") == ("", "123")


def test_items_with_quantities_notes_remark_address_and_masked_phone():
    ticket = build_ticket(order([{"name": "Noodles", "quantity": 2, "price": "12.50", "notes": "large"},
                                 {"name": "Tea", "quantity": "1"}, "Napkins"],
                                remark="no chilli", phone="13812345678", address="8 Happy Road"),
                          settings())
    lines = ticket.text().splitlines()
    assert any(line.startswith("Noodles") and "x2  " in line and "12.50" in line for line in lines)
    assert "  (large)" in lines
    assert any(line.startswith("Tea") and line.rstrip().endswith("x1") for line in lines)
    assert "Napkins" in lines
    assert "Remark: no chilli" in lines and "Phone: 138****5678" in lines
    assert "Address: 8 Happy Road" in lines
    assert "13812345678" not in ticket.text()
    assert fits_the_paper(ticket)


def test_fields_switched_off_are_not_printed():
    event = order([{"name": "Noodles", "quantity": 2}], remark="no chilli", phone="13812345678",
                  address="8 Happy Road")
    text = build_ticket(event, settings(show_items=False, show_remark=False, show_amount=False,
                                        show_customer=False, show_phone=False, show_time=False,
                                        show_address=False)).text()
    for absent in ("Noodles", "no chilli", "138", "56.50", "Zhang", "Ordered", "Happy"):
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


def test_every_item_of_a_200_item_order_is_printed():
    event = order([{"name": f"Dish {n}", "quantity": 1, "price": "5"} for n in range(MAX_ITEMS)])
    lines = build_ticket(event, settings()).text().splitlines()
    assert [line.split()[1] for line in lines if line.startswith("Dish ")] == \
        [str(n) for n in range(MAX_ITEMS)]
    assert not any("more items" in line for line in lines)


def test_items_beyond_the_bound_are_counted_on_the_ticket_never_dropped_silently():
    event = order([{"name": f"Dish {n}", "quantity": 1} for n in range(MAX_ITEMS + 37)])
    lines = build_ticket(event, settings()).text().splitlines()
    assert sum(1 for line in lines if line.startswith("Dish ")) == MAX_ITEMS
    assert "…and 37 more items (see the screen)" in lines


def test_long_names_and_remarks_wrap_onto_more_lines_and_nothing_is_cut():
    name = "Slow braised beef brisket with radish, star anise and a little rock sugar, extra large"
    remark = "请" + "不要放香菜和葱，" * 30 + "谢谢"  # 242 characters: was cut at 200 with no mark
    ticket = build_ticket(order([{"name": name, "quantity": 3}], remark=remark), settings(paper="58mm"))
    text = "".join(line.text.strip() for line in ticket.lines)
    assert name.replace(" ", "") in text.replace(" ", "").replace("x3", "", 1)
    assert remark in text.replace(" ", "")
    remark_lines = [line for line in ticket.lines if line.size == BIG and "香菜" in line.text]
    assert len(remark_lines) > 10, "the remark is enlarged and wrapped at half the columns"
    assert fits_the_paper(ticket)


def test_text_cut_by_a_source_bound_is_marked():
    event = order([{"name": "x" * 500}], remark="y" * 5000)
    text = "".join(line.text.strip() for line in build_ticket(event, settings()).lines)
    assert "x" * 99 + "…" in text and "x" * 100 not in text
    assert "y" * 499 + "…" in text and "y" * 500 not in text


def test_emoji_become_words_the_kitchen_can_read():
    event = order([{"name": "🌶️🌶️🌶️ 特辣 水煮鱼", "quantity": 1, "notes": "🚫🧅"}],
                  remark="少放盐🧂，多加🧊，谢谢🙏🦄")
    text = build_ticket(event, settings(), language="zh_CN").text()
    assert "[辣椒×3] 特辣 水煮鱼" in text
    assert "([不要][洋葱])" in text
    assert "少放盐[盐]，多加[加冰]，谢谢[拜托][emoji]" in text.replace("\n", "").replace("  ", "")
    assert not any(len(ch.encode("gb18030")) > 2 for ch in text), "no four-byte GB18030 left"
    english = build_ticket(event, settings(), language="en").text()
    assert "[chili×3]" in english


def test_server_text_cannot_smuggle_printer_commands_or_flood_the_paper():
    event = order([{"name": "Tea\x1bd\x09\x1dV\x00", "quantity": 1}] * 500,
                  remark="x" * 10_000 + "\x1b@")
    ticket = build_ticket(event, settings(paper="58mm"))
    text = ticket.text()
    assert "\x1b" not in text and "\x1d" not in text and "\x00" not in text
    assert sum(1 for line in text.splitlines() if line.startswith("Tea")) == MAX_ITEMS
    assert "…and 300 more items" in text
    assert len(ticket.lines) < 600 and fits_the_paper(ticket)


def test_an_order_without_details_still_makes_a_ticket():
    event = OrderEvent(OrderKind.NEW_ORDER, "9", "skytakeout", "shop", raw="订单号：9")
    ticket = build_ticket(event, settings())
    assert "#" in ticket.text() and "Remark" not in ticket.text()


def test_the_ticket_never_reads_the_wire_message():
    # The message says one thing, the decoded details another: the ticket prints the details.
    event = OrderEvent(OrderKind.NEW_ORDER, "9", "json", "shop",
                       raw='{"items": [{"name": "Ghost dish", "qty": 9}], "remark": "from raw"}',
                       details=OrderDetails.of([OrderItem.of("Real dish", 1)]))
    text = build_ticket(event, settings()).text()
    assert "Real dish" in text and "Ghost" not in text and "from raw" not in text


def test_a_void_ticket_says_stop_and_lists_what_to_stop():
    event = order([{"name": "宫保鸡丁", "quantity": 2}], remark="少辣")
    ticket = build_ticket(event, Settings({"alerts.order_url": "http://a.example/{order_id}"}),
                          void=True, reason="不想要了")
    lines = ticket.text().splitlines()
    assert lines[0] == "CANCELLED — do not make"
    assert ticket.lines[0].size == BIG and ticket.lines[0].bold
    assert "The customer cancelled this order. Stop making it." in " ".join(lines)
    assert "Reason: 不想要了" in lines
    assert any(line.startswith("宫保鸡丁") for line in lines)
    assert not any(line.startswith("Amount") for line in lines) and ticket.qr == ""
    assert all(line.size in (NORMAL, BIG) or line.tail for line in ticket.lines)
