"""What an escalation says: the louder voice line, and the messages sent to the owner's phone.

A table per language, like `wording` (every function takes the language, zh_CN or en), so the
desktop, `notifier doctor` and the reference server word the same event the same way. A phone
message names the shop, the order number, the amount and how long the order has waited; a burst
is one message listing the orders (the first `LISTED_ORDERS`, then how many more).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    lines = [_order_line(event, waits.get(event.key, waited_s), language)
             for event in orders[:LISTED_ORDERS]]
    if len(orders) > LISTED_ORDERS:
        lines.append(_phrase(language, "more", count=len(orders) - LISTED_ORDERS))
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


def trial_message(shop: str, language: str) -> PhoneMessage:
    return PhoneMessage(_phrase(language, "test_title", shop=shop), _phrase(language, "test_body"))
