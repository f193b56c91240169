"""Everything said aloud or shown about an order, in the owner's language ("zh_CN" or "en").

The announcement, the notification's title and body, the burst summary and the connection
lines all come from here, so the voice and the popup never disagree, and the rules for reading
numbers and money aloud live in one place that needs no Qt to test.

Why a table here and not the `tr()` catalog: every function takes the language explicitly
(a test, the settings dialog's sample and the alert centre may each ask for either), and the
announcements themselves are templates the owner edits in settings; the built-in phrases below
are just their fallbacks and companions.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from notifier.core import i18n
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.order_details import OrderDetails, OrderItem
from notifier.core.text import plain

LANGUAGES = ("zh_CN", "en")

# Numbers longer than this are read by their tail: "1798241234567" is "订单号 4567". People
# at the counter match orders by the last digits; thirteen digits spoken take five seconds.
LONG_NUMBER = 6
TAIL_DIGITS = 4

# Bounds on what goes into speech and popups; a 2,000-character "customer" is cut here.
SPOKEN_FIELD_CHARS = 40
SPOKEN_TEXT_CHARS = 120
SPOKEN_MAX_CHARS = 300
TITLE_NUMBER_CHARS = 40
BODY_FIELD_CHARS = 500

PLACEHOLDERS = ("number", "amount", "customer", "text", "order_id", "connection")
_CLAUSE = re.compile(r"([，,；;。！!？?、])")

# Announcements for kinds that have no template setting.
_BUILTIN_TEMPLATES: dict[tuple[str, str], str] = {
    ("cancelled", "zh"): "订单 {number} 已取消",
    ("cancelled", "en"): "Order {number} was cancelled",
    ("refund", "zh"): "订单 {number} 申请退款",
    ("refund", "en"): "Refund requested for order {number}",
}

# With several connections, the announcement names the one the order came through: these replace
# the default templates then; a template of the owner's without {connection} gets it in front.
_NAMED_TEMPLATES: dict[tuple[str, str], str] = {
    ("new_order", "zh"): "{connection}新订单，订单号 {number}，金额 {amount}",
    ("new_order", "en"): "{connection} new order {number}, {amount}",
    ("reminder", "zh"): "{connection}顾客催单，订单号 {number}，请尽快处理",
    ("reminder", "en"): "{connection}: customer reminder for order {number}",
}

_PHRASES: dict[str, dict[str, str]] = {
    "zh_CN": {
        "title_new_order": "新订单 #{number}",
        "title_reminder": "顾客催单 #{number}",
        "title_cancelled": "订单已取消 #{number}",
        "title_refund": "退款申请 #{number}",
        "amount": "金额：{amount}",
        "customer": "顾客：{customer}",
        "summary_new_order": "您有 {count} 个新订单",
        "summary_reminder": "有 {count} 个顾客催单",
        "summary_cancelled": "有 {count} 个订单已取消",
        "summary_refund": "有 {count} 个退款申请",
        "summary_title_new_order": "{count} 个新订单",
        "summary_title_reminder": "{count} 个顾客催单",
        "summary_title_cancelled": "{count} 个订单已取消",
        "summary_title_refund": "{count} 个退款申请",
        "lost": "订单服务器连接已断开",
        "back": "订单服务器已重新连接",
        "gap": "可能有订单没有收到",
        "auto_accepted": "自动接单，订单 {number}，{amount}",
        "auto_accepted_no_amount": "自动接单，订单 {number}",
        "title_auto_accepted": "已自动接单 #{number}",
    },
    "en": {
        "title_new_order": "New order #{number}",
        "title_reminder": "Reminder #{number}",
        "title_cancelled": "Order cancelled #{number}",
        "title_refund": "Refund requested #{number}",
        "amount": "Amount: {amount}",
        "customer": "Customer: {customer}",
        "summary_new_order": "{count} new orders",
        "summary_reminder": "{count} customer reminders",
        "summary_cancelled": "{count} orders cancelled",
        "summary_refund": "{count} refund requests",
        "summary_title_new_order": "{count} new orders",
        "summary_title_reminder": "{count} customer reminders",
        "summary_title_cancelled": "{count} orders cancelled",
        "summary_title_refund": "{count} refund requests",
        "lost": "Lost the connection to the order server",
        "back": "Connected to the order server again",
        "gap": "Some orders may have been missed",
        "auto_accepted": "Auto-accepted order {number}, {amount}",
        "auto_accepted_no_amount": "Auto-accepted order {number}",
        "title_auto_accepted": "Auto-accepted order #{number}",
    },
}


def _lang(language: str) -> str:
    return language if language in LANGUAGES else "en"


def _short(language: str) -> str:
    return "zh" if _lang(language) == "zh_CN" else "en"


def _phrase(language: str, name: str, **values: object) -> str:
    return _PHRASES[_lang(language)][name].format(**values)


def _kind_name(kind: OrderKind | str) -> str:
    try:
        return str(OrderKind(kind))
    except ValueError:
        return str(OrderKind.NEW_ORDER)


def effective_language(settings: Mapping[str, Any]) -> str:
    """The language to speak and show: general.language, "system" meaning the OS language."""
    chosen = settings.get("general.language", "system")
    if chosen in LANGUAGES:
        return chosen
    return i18n.system_language()


def speakable_number(number: str) -> str:
    """An order number as it should be read: short ones whole, long ones by their last 4 digits."""
    number = plain(number, 64)
    if len(number) <= LONG_NUMBER:
        return number
    digits = re.search(rf"(\d{{{TAIL_DIGITS}}})\D*$", number)
    if digits:
        return digits.group(1)
    alnum = re.sub(r"[^0-9A-Za-z]", "", number)
    return alnum[-TAIL_DIGITS:] if len(alnum) >= TAIL_DIGITS else number[-TAIL_DIGITS:]


def speakable_amount(amount: Decimal | None, language: str, currency: str = "CNY") -> str:
    """Money as it is read aloud: zh "56 元 5 角", en "56 yuan 50"; "" when unknown.

    Chinese is spelled with 元/角/分 rather than "56.5": espeak-ng's Mandarin drops the decimal
    point ("五十六五"), and 元角分 is how a cashier says it anyway; Windows voices read both.
    """
    if amount is None:
        return ""
    if currency and currency.upper() not in ("CNY", "RMB"):
        return f"{amount:.2f} {plain(currency, 8)}"
    cents = int((abs(amount) * 100).to_integral_value())
    yuan, rest = divmod(cents, 100)
    jiao, fen = divmod(rest, 10)
    negative = amount < 0 and cents > 0
    if _lang(language) == "zh_CN":
        parts = []
        if yuan or not rest:
            parts.append(f"{yuan} 元")
        if jiao:
            parts.append(f"{jiao} 角")
        if fen:
            if yuan and not jiao:
                parts.append("零")
            parts.append(f"{fen} 分")
        return ("负 " if negative else "") + " ".join(parts)
    spoken = f"{yuan} yuan" + (f" {rest:02d}" if rest else "")
    return ("minus " if negative else "") + spoken


def display_amount(amount: Decimal | None, language: str, currency: str = "CNY") -> str:
    """Money as it is written in a notification: "56.50 元" / "¥56.50"; "" when unknown."""
    if amount is None:
        return ""
    if currency and currency.upper() not in ("CNY", "RMB"):
        return f"{amount:.2f} {plain(currency, 8)}"
    return f"{amount:.2f} 元" if _lang(language) == "zh_CN" else f"¥{amount:.2f}"


def template_setting(kind: OrderKind | str, language: str) -> str:
    """The settings key of the owner's template for this kind and language."""
    return f"voice.template_{_kind_name(kind)}_{_short(language)}"


def default_template(kind: OrderKind | str, language: str) -> str:
    from notifier.core.settings import BY_KEY  # settings imports i18n only; no cycle at import

    kind_name, short = _kind_name(kind), _short(language)
    spec = BY_KEY.get(template_setting(kind_name, language))
    return spec.default if spec is not None else _BUILTIN_TEMPLATES[(kind_name, short)]


def _template_fields(template: str) -> list[str] | None:
    """The placeholders used, or None when the template is broken or asks for anything else."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    fields = []
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        # Only bare names: "{number.__class__}" or "{amount:>999999}" are refused, not run.
        if field not in PLACEHOLDERS or spec or conversion:
            return None
        fields.append(field)
    return fields


def fill_template(template: str, values: Mapping[str, str]) -> str | None:
    """The template with values filled in, dropping clauses whose value is empty.

    "您有新的订单，订单号 {number}，金额 {amount}" without an amount says "您有新的订单，订单号
    1234" rather than "..., 金额 ". None when the template is unusable.
    """
    if _template_fields(template) is None:
        return None
    pieces = _CLAUSE.split(template)
    kept: list[str] = []
    for index in range(0, len(pieces), 2):
        clause = pieces[index]
        separator = pieces[index + 1] if index + 1 < len(pieces) else ""
        fields = _template_fields(clause) or []
        if any(not values.get(name) for name in fields):
            continue
        kept.append(clause.format(**{name: values.get(name, "") for name in fields}) + separator)
    text = "".join(kept).strip()
    text = re.sub(r"^[，,；;。、\s]+|[，,；;、\s]+$", "", text)
    return text


def announcement(event: OrderEvent, settings: Mapping[str, Any], language: str) -> str:
    """What is said for this event, from the owner's template (the default one if it is broken)."""
    values = {
        "number": speakable_number(event.display_number),
        "amount": speakable_amount(event.amount, language, event.currency),
        "customer": plain(event.customer, SPOKEN_FIELD_CHARS),
        "text": plain(event.text, SPOKEN_TEXT_CHARS),
        "order_id": speakable_number(event.order_id),
        "connection": plain(event.connection, SPOKEN_FIELD_CHARS),
    }
    default = default_template(event.kind, language)
    template = settings.get(template_setting(event.kind, language)) or default
    if values["connection"]:
        named = _NAMED_TEMPLATES.get((_kind_name(event.kind), _short(language)))
        if template == default and named:
            template = default = named
        elif "{connection}" not in template:
            template = "{connection}：" + template if _short(language) == "zh" else "{connection}: " + template
    text = fill_template(template, values)
    if not text:
        text = fill_template(default, values) or ""
    return plain(text, SPOKEN_MAX_CHARS)


def summary_announcement(count: int, kind: OrderKind | str, language: str) -> str:
    """What is said for a burst: "您有 12 个新订单" / "12 new orders"."""
    return _phrase(language, f"summary_{_kind_name(kind)}", count=count)


def summary_title(count: int, kind: OrderKind | str, language: str) -> str:
    """The title of a burst's one notification: "12 个新订单"."""
    return _phrase(language, f"summary_title_{_kind_name(kind)}", count=count)


def notification_title(event: OrderEvent, language: str) -> str:
    """"新订单 #1234" / "顾客催单 #1234" / "New order #1234" / "Reminder #1234", led by the
    connection's name when there are several ("美团 · 新订单 #1234")."""
    number = plain(event.display_number, TITLE_NUMBER_CHARS)
    title = _phrase(language, f"title_{_kind_name(event.kind)}", number=number)
    connection = plain(event.connection, SPOKEN_FIELD_CHARS)
    return f"{connection} · {title}" if connection else title


def notification_body(event: OrderEvent, language: str) -> str:
    """Amount, customer and the server's text, one per line, plain text."""
    lines = []
    amount = display_amount(event.amount, language, event.currency)
    if amount:
        lines.append(_phrase(language, "amount", amount=amount))
    customer = plain(event.customer, BODY_FIELD_CHARS)
    if customer:
        lines.append(_phrase(language, "customer", customer=customer))
    text = plain(event.text, BODY_FIELD_CHARS)
    if text:
        lines.append(text)
    return "\n".join(lines)


def auto_accepted_announcement(event: OrderEvent, language: str) -> str:
    """What is said for an order accepted by itself: "自动接单，订单 1234，56 元"."""
    number = speakable_number(event.display_number)
    amount = speakable_amount(event.amount, language, event.currency)
    if amount:
        return _phrase(language, "auto_accepted", number=number, amount=amount)
    return _phrase(language, "auto_accepted_no_amount", number=number)


def auto_accepted_title(event: OrderEvent, language: str) -> str:
    """"已自动接单 #1234" / "Auto-accepted order #1234"."""
    return _phrase(language, "title_auto_accepted", number=plain(event.display_number, TITLE_NUMBER_CHARS))


def connection_lost_announcement(language: str) -> str:
    return _phrase(language, "lost")


def connection_back_announcement(language: str) -> str:
    return _phrase(language, "back")


def history_gap_announcement(language: str) -> str:
    return _phrase(language, "gap")


def sample_event(kind: OrderKind = OrderKind.NEW_ORDER) -> OrderEvent:
    """The made-up order the Test voice button reads, so the owner hears their own template, and
    the printer test page prints, so the owner sees the whole ticket."""
    details = OrderDetails.of([OrderItem.of("宫保鸡丁", 1, "28.00"),
                               OrderItem.of("米饭", 2, "2.00", "一份多加饭")], remark="少辣",
                              phone="13800000000")
    return OrderEvent(kind=kind, order_id="1234", source="sample", order_number="1234",
                      amount=Decimal("56.50"), customer="张三", details=details)
