"""What an escalation says: the louder voice line, and the messages sent to the owner's phone.

A table per language, like `wording` (every function takes the language, zh_CN or en), so the
desktop, `notifier doctor` and the reference server word the same event the same way. A phone
message names the shop, the order number, the amount and how long the order has waited; a burst
is one message listing the orders (the first `LISTED_ORDERS`, then how many more).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from notifier.core import wording
from notifier.core.events import OrderEvent
from notifier.core.text import plain

LISTED_ORDERS = 10
SHOP_CHARS = 40
SERVER_CHARS = 80

PHRASES: dict[str, dict[str, str]] = {
    "zh_CN": {
        "default_shop": "订单提醒",
        "order_title": "【{shop}】订单 #{number} 已等待 {minutes} 分钟无人处理",
        "orders_title": "【{shop}】{count} 个订单已等待 {minutes} 分钟无人处理",
        "order_line": "订单 #{number}，金额 {amount}，已等待 {minutes} 分钟",
        "order_line_no_amount": "订单 #{number}，已等待 {minutes} 分钟",
        "more": "……还有 {count} 个订单",
        "act": "请尽快在店里的电脑上处理。",
        "louder_one": "订单 {number} 已等待 {minutes} 分钟，请尽快处理",
        "louder_many": "有 {count} 个订单已等待 {minutes} 分钟，请尽快处理",
        "lost_title": "【{shop}】{server} 连接已断开 {minutes} 分钟：可能有订单在等待",
        "lost_body": "店里的电脑收不到新订单。请检查电脑是否开着、网络是否正常。",
        "back_title": "【{shop}】{server} 连接已恢复",
        "back_body": "连接断开了 {minutes} 分钟，期间收到 {count} 个订单。",
        "test_title": "【{shop}】测试消息",
        "test_body": "这是订单提醒的测试消息：无人处理的订单和断开的连接会发到这里。",
        "server": "订单服务器",
        "no_pc_title": "【{shop}】没有电脑在接单：{count} 个新订单无人收到",
        "no_pc_line": "订单 #{number}，金额 {amount}",
        "no_pc_line_no_amount": "订单 #{number}",
        "no_pc_body": "已有 {minutes} 分钟没有店里的电脑连接订单服务器。请检查电脑是否开着、联网、运行着订单提醒。",
        "no_pc_back_title": "【{shop}】店里的电脑已重新连接",
        "no_pc_back_body": "已有 {minutes} 分钟没有电脑连接，期间收到 {count} 个订单，现在都已送到电脑上。",
        "no_pc_back_body_none": "已有 {minutes} 分钟没有电脑连接，期间没有新订单。",
        "no_pc_open_title": "【{shop}】营业中，已有 {minutes} 分钟没有电脑在线：新订单可能没人接",
        "no_pc_open_body": "店里的电脑都没有连接订单服务器，新订单来了没有电脑响铃。请检查电脑是否开着、联网、"
                           "运行着订单提醒。不营业时请在电脑上切换到打烊，就不会再收到这条提醒。",
    },
    "en": {
        "default_shop": "Order Notifier",
        "order_title": "[{shop}] Order #{number} has waited {minutes} min with nobody acting on it",
        "orders_title": "[{shop}] {count} orders have waited {minutes} min with nobody acting on them",
        "order_line": "Order #{number}, {amount}, waiting {minutes} min",
        "order_line_no_amount": "Order #{number}, waiting {minutes} min",
        "more": "… and {count} more orders",
        "act": "Please deal with them on the shop PC.",
        "louder_one": "Order {number} has been waiting {minutes} minutes, please deal with it",
        "louder_many": "{count} orders have been waiting {minutes} minutes, please deal with them",
        "lost_title": "[{shop}] {server} connection lost for {minutes} minutes: orders may be waiting",
        "lost_body": "The shop PC cannot receive new orders. Check that it is on and online.",
        "back_title": "[{shop}] {server} connection is back",
        "back_body": "It was down for {minutes} minutes; {count} orders arrived meanwhile.",
        "test_title": "[{shop}] Test message",
        "test_body": "A test message from Order Notifier: orders nobody acts on and lost "
                     "connections are sent here.",
        "server": "order server",
        "no_pc_title": "[{shop}] No PC is taking orders: {count} new orders nobody received",
        "no_pc_line": "Order #{number}, {amount}",
        "no_pc_line_no_amount": "Order #{number}",
        "no_pc_body": "No shop PC has been connected to the order server for {minutes} minutes. Check that "
                      "the PC is on, online and running Order Notifier.",
        "no_pc_back_title": "[{shop}] A shop PC is connected again",
        "no_pc_back_body": "No PC was connected for {minutes} minutes; {count} orders arrived meanwhile "
                           "and have now reached the PC.",
        "no_pc_back_body_none": "No PC was connected for {minutes} minutes; no orders arrived meanwhile.",
        "no_pc_open_title": "[{shop}] Open, but no PC online for {minutes} minutes: new orders may go unanswered",
        "no_pc_open_body": "No shop PC is connected to the order server, so a new order rings nowhere. Check "
                           "that the PC is on, online and running Order Notifier. When the shop is not open, "
                           "close it on the PC and this alert stops.",
    },
}


@dataclass(frozen=True, slots=True)
class PhoneMessage:
    """One message for the phone. Messages with the same `replaces` key supersede each other
    while unsent (a "back" message makes an unsent "lost" one pointless)."""

    title: str
    body: str
    replaces: str | None = None


def _phrase(language: str, name: str, **values: object) -> str:
    table = PHRASES.get(language, PHRASES["en"])
    return table[name].format(**values)


def minutes(seconds: float) -> int:
    """Waiting time as people say it: whole minutes, at least one."""
    return max(1, round(seconds / 60))


def shop_label(settings: Mapping[str, Any], language: str) -> str:
    """The shop as the phone message names it: its own setting, the ticket's, the connection's."""
    for key in ("escalation.shop_name", "printer.shop_name", "connection.shop"):
        name = plain(settings.get(key) or "", SHOP_CHARS)
        if name:
            return name
    return _phrase(language, "default_shop")


def _order_line(event: OrderEvent, waited_s: float, language: str) -> str:
    number = plain(event.display_number, wording.TITLE_NUMBER_CHARS)
    amount = wording.display_amount(event.amount, language, event.currency)
    if amount:
        return _phrase(language, "order_line", number=number, amount=amount, minutes=minutes(waited_s))
    return _phrase(language, "order_line_no_amount", number=number, minutes=minutes(waited_s))


def orders_message(orders: Sequence[OrderEvent], waited_s: float, shop: str, language: str,
                   now_waited: Mapping[str, float] | None = None) -> PhoneMessage:
    """The phone message for orders nobody acted on (oldest first); `now_waited` gives each
    order's own wait by key, `waited_s` the oldest's."""
    waits = now_waited or {}
    if len(orders) == 1:
        number = plain(orders[0].display_number, wording.TITLE_NUMBER_CHARS)
        title = _phrase(language, "order_title", shop=shop, number=number, minutes=minutes(waited_s))
    else:
        title = _phrase(language, "orders_title", shop=shop, count=len(orders), minutes=minutes(waited_s))
    lines = _listed(orders, len(orders), language,
                    lambda event: _order_line(event, waits.get(event.key, waited_s), language))
    lines.append(_phrase(language, "act"))
    return PhoneMessage(title, "\n".join(lines))


def louder_announcement(orders: Sequence[OrderEvent], waited_s: float, language: str) -> str:
    """The voice line said with the urgent chime when orders have waited too long."""
    if len(orders) == 1:
        return _phrase(language, "louder_one", number=wording.speakable_number(orders[0].display_number),
                       minutes=minutes(waited_s))
    return _phrase(language, "louder_many", count=len(orders), minutes=minutes(waited_s))


def _server(server: str, language: str) -> str:
    return plain(server, SERVER_CHARS) or _phrase(language, "server")


def connection_lost_message(down_s: float, server: str, shop: str, language: str) -> PhoneMessage:
    title = _phrase(language, "lost_title", shop=shop, server=_server(server, language),
                    minutes=minutes(down_s))
    return PhoneMessage(title, _phrase(language, "lost_body"), replaces="connection")


def connection_back_message(down_s: float, orders: int, server: str, shop: str,
                            language: str) -> PhoneMessage:
    title = _phrase(language, "back_title", shop=shop, server=_server(server, language))
    body = _phrase(language, "back_body", minutes=minutes(down_s), count=orders)
    return PhoneMessage(title, body, replaces="connection")


def _listed(orders: Sequence[OrderEvent], count: int, language: str, line: Callable[[OrderEvent], str]) -> list[str]:
    """The first `LISTED_ORDERS` orders, one line each, then how many more of `count`."""
    lines = [line(event) for event in orders[:LISTED_ORDERS]]
    if count > len(lines):
        lines.append(_phrase(language, "more", count=count - len(lines)))
    return lines


def no_pc_message(orders: Sequence[OrderEvent], count: int, absent_s: float, shop: str,
                  language: str) -> PhoneMessage:
    """The reference server's alert: `count` orders (the first of them in `orders`) arrived while
    no PC of the shop was connected, for `absent_s` seconds by now."""

    def line(event: OrderEvent) -> str:
        number = plain(event.display_number, wording.TITLE_NUMBER_CHARS)
        amount = wording.display_amount(event.amount, language, event.currency)
        if amount:
            return _phrase(language, "no_pc_line", number=number, amount=amount)
        return _phrase(language, "no_pc_line_no_amount", number=number)

    lines = _listed(orders, count, language, line)
    lines.append(_phrase(language, "no_pc_body", minutes=minutes(absent_s)))
    return PhoneMessage(_phrase(language, "no_pc_title", shop=plain(shop, SHOP_CHARS), count=count),
                        "\n".join(lines), replaces="no-pc")


def no_pc_open_message(absent_s: float, shop: str, language: str) -> PhoneMessage:
    """The reference server's alert for a shop that is open (营业中) with no PC connected for
    `absent_s` seconds, before any order came."""
    return PhoneMessage(_phrase(language, "no_pc_open_title", shop=plain(shop, SHOP_CHARS), minutes=minutes(absent_s)),
                        _phrase(language, "no_pc_open_body"), replaces="no-pc")


def no_pc_back_message(absent_s: float, count: int, shop: str, language: str) -> PhoneMessage:
    """A PC of the shop is connected again after a "no PC" alert."""
    body = "no_pc_back_body" if count else "no_pc_back_body_none"
    return PhoneMessage(_phrase(language, "no_pc_back_title", shop=plain(shop, SHOP_CHARS)),
                        _phrase(language, body, minutes=minutes(absent_s), count=count),
                        replaces="no-pc")


def trial_message(shop: str, language: str) -> PhoneMessage:
    return PhoneMessage(_phrase(language, "test_title", shop=shop), _phrase(language, "test_body"))
