"""A kitchen ticket: what is printed for one order, as plain data every kind of printer can lay out.

`build_ticket` turns an order (the ledger's `OrderEvent`, with the items, remark, phone and
address its source decoded into `event.details`) and the shop's template settings (`printer.*`)
into a `Ticket`: a list of lines with a size and an alignment, and an optional QR code. The
ESC/POS renderer and the system-printer renderer only decide how a "huge" line looks on their
paper; what is on the ticket is decided here, once.

What a kitchen must be able to trust:
- every item is printed; a back end that listed more than an order keeps (order_details.MAX_ITEMS)
  gets a "…and N more items" line, never a silent cut;
- nothing is cut to fit: long names and remarks wrap onto the next lines; text that was cut
  before it reached us (the sources' bounds) ends in "…";
- emoji, which a receipt printer's font does not have (in GB18030 they are four-byte sequences
  that print as garbage), become words in brackets ("🌶️🌶️🌶️ 特辣" → "[辣椒×3] 特辣"), or "[表情]"
  when we have no word for them;
- server text cannot send printer commands: control characters are removed.

The order number is printed with its last four digits biggest, because that is how the voice
says it and how the counter calls it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifier.core.events import OrderEvent, OrderKind
from notifier.core.i18n import tr
from notifier.core.order_details import OrderItem
from notifier.core.order_links import order_url
from notifier.core.stations import big_items
from notifier.core.text import CONTROL
from notifier.core.wording import TAIL_DIGITS, display_amount

NORMAL, BIG, HUGE = "normal", "big", "huge"
LEFT, CENTER, RIGHT = "left", "center", "right"
# How many times wider than a normal character a character of each size is.
WIDTH_FACTOR = {NORMAL: 1, BIG: 2, HUGE: 3}

# Characters per line at normal size (a CJK character takes two): what the paper holds.
PAPER_COLUMNS = {"58mm": 32, "80mm": 48, "a4": 80}
# Where one piece of server text stops at the latest (the sources bound it already; this keeps
# a ticket from growing without end if one did not).
FIELD_CHARS = 600

INDENT = "  "


@dataclass(frozen=True, slots=True)
class TicketLine:
    text: str
    size: str = NORMAL  # NORMAL, BIG (double height and width) or HUGE (triple)
    align: str = LEFT
    bold: bool = False
    # A line in two parts: the prefix at `size`, `tail` bigger (the order number's last digits).
    tail: str = ""
    tail_size: str = HUGE


@dataclass(frozen=True, slots=True)
class Ticket:
    lines: tuple[TicketLine, ...]
    qr: str = ""  # the order URL, printed as a QR code under the lines when not empty
    columns: int = 32
    copy: int = 1
    copies: int = 1
    order_number: str = ""
    title: str = field(default="")

    def text(self) -> str:
        """The ticket as plain text, one line per line (what a test or a log compares)."""
        return "\n".join(line.text + line.tail for line in self.lines)


# -- making server text printable ---------------------------------------------------------------

# Emoji a shop's customers use in remarks and dish names, as (Chinese, English) words.
EMOJI_WORDS = {
    "🌶": ("辣椒", "chili"), "🔥": ("火辣", "hot"), "🥵": ("辣", "spicy"), "🧊": ("加冰", "ice"),
    "❄": ("冰", "cold"), "♨": ("热", "hot"), "🍚": ("米饭", "rice"), "🍜": ("面", "noodles"),
    "🍝": ("面", "pasta"), "🥟": ("饺子", "dumplings"), "🥢": ("筷子", "chopsticks"),
    "🥄": ("勺子", "spoon"), "🍴": ("餐具", "cutlery"), "🥤": ("饮料", "drink"),
    "🧋": ("奶茶", "milk tea"), "🍵": ("茶", "tea"), "☕": ("咖啡", "coffee"), "🍺": ("啤酒", "beer"),
    "🥛": ("牛奶", "milk"), "🥚": ("蛋", "egg"), "🍳": ("煎蛋", "fried egg"), "🍗": ("鸡腿", "drumstick"),
    "🍖": ("肉", "meat"), "🥩": ("牛肉", "beef"), "🥓": ("培根", "bacon"), "🐟": ("鱼", "fish"),
    "🦐": ("虾", "shrimp"), "🦀": ("蟹", "crab"), "🥬": ("青菜", "greens"), "🥦": ("西兰花", "broccoli"),
    "🥕": ("胡萝卜", "carrot"), "🌽": ("玉米", "corn"), "🍅": ("番茄", "tomato"), "🥔": ("土豆", "potato"),
    "🍄": ("蘑菇", "mushroom"), "🧄": ("蒜", "garlic"), "🧅": ("洋葱", "onion"), "🌿": ("香菜", "herbs"),
    "🥜": ("花生", "peanuts"), "🍋": ("柠檬", "lemon"), "🍬": ("糖", "sugar"), "🍯": ("蜂蜜", "honey"),
    "🧂": ("盐", "salt"), "🍰": ("蛋糕", "cake"), "🎂": ("生日蛋糕", "birthday cake"),
    "🚫": ("不要", "no"), "❌": ("不要", "no"), "⛔": ("不要", "no"), "✅": ("要", "yes"),
    "✔": ("要", "yes"), "➕": ("加", "add"), "➖": ("少", "less"), "❤": ("爱心", "heart"),
    "💕": ("爱心", "hearts"), "👍": ("赞", "thumbs up"), "🙏": ("拜托", "please"), "😊": ("笑脸", "smile"),
    "😋": ("好吃", "yummy"), "⭐": ("星", "star"), "⏰": ("赶时间", "hurry"), "🚀": ("加急", "rush"),
    "🏃": ("赶时间", "hurry"), "📞": ("电话", "phone"), "🔔": ("按门铃", "ring the bell"),
    "🚪": ("放门口", "at the door"), "🏠": ("家", "home"), "🐶": ("有狗", "dog"), "👶": ("有宝宝", "baby"),
}
# Parts of an emoji that are not a picture themselves: variation selectors, the keycap, skin
# tones, tag characters, and whatever a zero-width joiner glues on ("🤷‍♂️" is one shrug).
_EMOJI_PARTS = re.compile("\u200d.?|[\ufe0e\ufe0f\u20e3\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f]")
_EMOJI = re.compile("[\u2190-\u21ff\u2300-\u23ff\u2460-\u27bf\u2900-\u297f\u2b00-\u2bff"
                    "\U0001f000-\U0001faff]")


def _is_emoji(char: str) -> bool:
    # Arrows, circled numbers and the like are in GBK and print fine; what GBK lacks does not.
    if char in EMOJI_WORDS or ord(char) >= 0x1F000:
        return True
    if not _EMOJI.match(char):
        return False
    try:
        return len(char.encode("gb18030")) > 2
    except UnicodeEncodeError:
        return True


def emoji_as_words(text: str, language: str) -> str:
    """Each emoji as a word in brackets (a run of the same one as "[word×n]"), or "[表情]"."""
    if text.isascii():
        return text
    text = _EMOJI_PARTS.sub("", text)
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if not _is_emoji(char):
            out.append(char)
            index += 1
            continue
        run = 1
        while index + run < len(text) and text[index + run] == char:
            run += 1
        words = EMOJI_WORDS.get(char)
        word = (words[0] if language.startswith("zh") else words[1]) if words else tr("emoji")
        out.append(f"[{word}×{run}]" if run > 1 else f"[{word}]")
        index += run
    return "".join(out)


def printable(value: object, language: str, limit: int = FIELD_CHARS) -> str:
    """Server text as printable text: no control characters (a printer obeys them as commands),
    runs of space folded, emoji as words, at most `limit` characters with "…" if cut."""
    if value is None:
        return ""
    text = str(value)[: limit * 4]
    text = " ".join(CONTROL.sub(" ", text).split())
    text = emoji_as_words(text, language)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- laying text out on the paper ---------------------------------------------------------------


def char_width(char: str) -> int:
    """Columns on a receipt printer: in Chinese mode every character that is not ASCII is
    printed from the double-byte font and takes two (also "…", "¥", "×")."""
    return 1 if char < "\x80" else 2


def display_width(text: str) -> int:
    return sum(char_width(ch) for ch in text)


def wrap(text: str, columns: int, *, indent: str = "") -> list[str]:
    """`text` in lines of at most `columns` columns, broken at spaces where there are any
    (Chinese breaks anywhere); continuation lines start with `indent`. Nothing is dropped."""
    columns = max(columns, display_width(indent) + 2)
    lines: list[str] = []
    line, width = "", 0
    for char in text:
        w = char_width(char)
        if width + w > columns:
            cut = line.rfind(" ")
            if cut > len(indent) and char != " " and display_width(line[cut + 1:]) < columns // 2:
                lines.append(line[:cut])
                line = indent + line[cut + 1:]
            else:
                lines.append(line.rstrip())
                line = indent
            width = display_width(line)
            if char == " ":
                continue
        line += char
        width += w
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


def mask_phone(phone: str) -> str:
    """138****5678: enough for the rider to match the call, not enough to keep the number."""
    digits = phone.strip()
    if len(digits) >= 7:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    if len(digits) > 2:
        return digits[0] + "*" * (len(digits) - 2) + digits[-1]
    return "*" * len(digits)


def split_number(number: str) -> tuple[str, str]:
    """("1798241", "4567") for "17982414567": the tail is what people call the order by."""
    if len(number) > TAIL_DIGITS:
        return number[:-TAIL_DIGITS], number[-TAIL_DIGITS:]
    return "", number


def item_lines(item: OrderItem, columns: int, language: str, currency: str) -> list[str]:
    """One item: its name (wrapped, never cut) with "x2  ¥12.50" on the right of its first line,
    then its notes, indented."""
    right = f"x{item.quantity}" if item.quantity is not None else ""
    if item.price is not None:
        right += ("  " if right else "") + display_amount(item.price, language, currency)
    name = printable(item.name, language)
    room = max(8, columns - display_width(right) - 1) if right else columns
    lines = wrap(name, room, indent=INDENT)
    if right:
        first = lines[0]
        lines[0] = first + " " * max(1, columns - display_width(first) - display_width(right)) + right
    notes = printable(item.notes, language)
    if notes:
        lines.extend(wrap(INDENT + "(" + notes + ")", columns, indent=INDENT * 2))
    return lines


def _lines(text: str, columns: int, size: str = NORMAL, *, bold: bool = False,
           align: str = LEFT, indent: str = INDENT) -> list[TicketLine]:
    """`text` wrapped to the paper at `size` (a double-width character takes twice the room)."""
    return [TicketLine(part, size, align, bold)
            for part in wrap(text, columns // WIDTH_FACTOR[size], indent=indent)]


def _title(event: OrderEvent, *, test_page: bool, void: bool) -> str:
    if test_page:
        return tr("Printer test page")
    if void:
        return tr("CANCELLED — do not make")
    if event.kind is OrderKind.REMINDER:
        return tr("Reminder")
    return tr("New order")


def build_ticket(
    event: OrderEvent,
    settings: Mapping[str, Any],
    *,
    language: str = "zh_CN",
    reprint: bool = False,
    copy: int = 1,
    copies: int = 1,
    printed_at: datetime | None = None,
    test_page: bool = False,
    void: bool = False,
    reason: str | None = None,
) -> Ticket:
    """The ticket for `event` under the shop's template settings (`printer.*`). `void`: the
    作废 ticket for an order the kitchen already has and the customer cancelled (`reason`: why)."""
    columns = PAPER_COLUMNS.get(settings["printer.paper"], 32)
    rule = "-" * columns
    lines: list[TicketLine] = []
    shop = printable(settings["printer.shop_name"], language, 60)
    if shop:
        lines.extend(_lines(shop, columns, BIG, bold=True, align=CENTER, indent=""))
    title = _title(event, test_page=test_page, void=void)
    connection = printable(event.connection, language, 20)
    if connection and not test_page:  # "美团 · 新订单": which platform's order the kitchen holds
        title = f"{connection} · {title}"
    if reprint:
        title += " " + tr("(REPRINT)")
    lines.extend(_lines(title, columns, BIG if void else NORMAL, bold=True, align=CENTER, indent=""))
    number = printable(event.display_number, language, 40)
    head, tail = split_number(number)
    lines.append(TicketLine("#" + head, BIG, CENTER, bold=True, tail=tail, tail_size=HUGE))
    if copies > 1:
        lines.extend(_lines(tr("Copy {copy} of {copies}", copy=copy, copies=copies), columns,
                            align=CENTER, indent=""))
    if void:
        lines.append(TicketLine(rule))
        lines.extend(_lines(tr("The customer cancelled this order. Stop making it."), columns,
                            bold=True, indent=""))
        why = printable(reason, language)
        if why:
            lines.extend(_lines(tr("Reason: {reason}", reason=why), columns))
    lines.append(TicketLine(rule))
    if settings["printer.show_time"]:
        when = event.occurred_at.astimezone() if event.occurred_at.tzinfo else event.occurred_at
        lines.extend(_lines(tr("Ordered: {time}", time=when.strftime("%Y-%m-%d %H:%M")), columns))
        if (reprint or void) and printed_at is not None:
            lines.extend(_lines(tr("Printed: {time}", time=printed_at.strftime("%Y-%m-%d %H:%M")),
                                columns))
    details = event.details
    if settings["printer.show_items"] and (details.items or details.more_items):
        lines.append(TicketLine(rule))
        size = BIG if big_items(settings) else NORMAL  # the kitchen reads them from a distance
        for item in details.items:
            lines.extend(TicketLine(text, size, bold=True) for text in
                         item_lines(item, columns // WIDTH_FACTOR[size], language, event.currency))
        if details.more_items:
            lines.extend(_lines(tr("…and {count} more items (see the screen)",
                                   count=details.more_items), columns, bold=True))
    if settings["printer.show_remark"] and details.remark:
        lines.append(TicketLine(rule))
        lines.extend(_lines(tr("Remark: {remark}", remark=printable(details.remark, language)),
                            columns, BIG, bold=True))
    if settings["printer.show_amount"] and event.amount is not None and not void:
        lines.append(TicketLine(rule))
        lines.extend(_lines(
            tr("Amount: {amount}", amount=display_amount(event.amount, language, event.currency)),
            columns, BIG, bold=True, align=RIGHT, indent=""))
    contact: list[str] = []
    customer = printable(event.customer, language, 60) if settings["printer.show_customer"] else ""
    if customer:
        contact.append(tr("Customer: {customer}", customer=customer))
    phone = printable(details.phone, language, 32) if settings["printer.show_phone"] else ""
    if phone:
        contact.append(tr("Phone: {phone}", phone=mask_phone(phone) if settings["printer.mask_phone"] else phone))
    address = printable(details.address, language) if settings["printer.show_address"] else ""
    if address:
        contact.append(tr("Address: {address}", address=address))
    if contact:
        lines.append(TicketLine(rule))
        for text in contact:
            lines.extend(_lines(text, columns))
    qr = ""
    if settings["printer.show_qr"] and not void:
        qr = order_url(settings["alerts.order_url"], event)
    lines.append(TicketLine(rule))
    return Ticket(tuple(lines), qr, columns, copy, copies, number, title)
