"""The Order Notifier protocol, shared by the reference server, its client source and order systems.

Qt-free and aiohttp-free (standard library only), so an order system can copy this one file.

Ingest (order system -> server)::

    POST /api/v1/shops/{shop}/events
    Content-Type: application/json
    X-Notifier-Timestamp: 1717000000          (Unix seconds; within 5 minutes of the server clock)
    X-Notifier-Nonce: 3f9c0a...               (random, never reused; 16-128 chars [A-Za-z0-9_-])
    X-Notifier-Signature: sha256=<hex>        (HMAC-SHA256 of timestamp "\\n" nonce "\\n" body,
                                               keyed with the shop's ingest secret)
    Idempotency-Key: order-1234-paid          (optional: a retry returns the first result)

    {"kind": "new_order", "order_id": "1234", "order_number": "A-1234", "amount": "56.50",
     "currency": "CNY", "customer": "张三", "text": "2 x noodles",
     "items": [{"name": "牛肉面", "quantity": 2, "price": "18.00", "notes": "大份"}],
     "remark": "少辣", "phone": "13812345678", "address": "幸福路 8 号"}

    -> 201 {"seq": 17, "shop": "...", "duplicate": false}
       (200 with the first seq and "duplicate": true for a retried Idempotency-Key)
    -> 4xx {"error": "<reason>", "message": "...", "field": "..."}  on refusal

Stream (server -> desktop app)::

    GET /api/v1/shops/{shop}/stream?after=<seq>     WebSocket, Authorization: Bearer <token>

    {"type": "hello", "shop": s, "store": id, "last_seq": n, "oldest_seq": m, "reset": false,
     "shop_status": "open" | "closed"}                               (营业 / 打烊 as of the hello)
    {"type": "history_gap", "requested_after": a, "oldest_seq": m}   (events a+1..m-1 expired)
    {"type": "event", "seq": n, "store": id, "received_at": iso, "event": {...}}
    {"type": "event", ..., "arrived_while_closed": true, "event": {...}}   (an order while 打烊)

What a PC of the shop does (Authorization: Bearer <client token>, Idempotency-Key: <click>)::

    POST /api/v1/shops/{shop}/orders/{order_id}/accept|reject|deliver|complete|cancel
         body {} or {"reason": "..."} (required for cancel)
    POST /api/v1/shops/{shop}/open | /close          营业 / 打烊
    GET  /api/v1/shops/{shop}/status                 {"status": "open"|"closed", "seq": n}
    GET  /api/v1/shops/{shop}/today?date=YYYY-MM-DD&tz=Asia/Shanghai     the day's figures

Each decision is stored as an event of the kind ORDER_ACTIONS / SHOP_ACTIONS name and streamed
to every PC of the shop (`decision_from_frame` reads one); a decision the order's state does not
allow is answered 409 with the state as `outcome`. `send_order_action`, `set_shop_open`,
`shop_status` and `today_figures` are the client calls (standard library only).

`publish_order` at the end is the documented Python function for order systems.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from notifier.core import order_details as limits
from notifier.core.events import OrderEvent, OrderKind, parse_amount
from notifier.core.order_details import OrderDetails, OrderItem

PROTOCOL = "notifier"
API_PREFIX = "/api/v1/shops"
# Close codes of the stream (docs/server.md): the token was rotated; the shop was removed or
# created again. Both mean this PC's token will be refused from now on.
CLOSE_TOKEN_REVOKED = 4001
CLOSE_SHOP_GONE = 4004
# The shop already has as many streams open on this server as it allows: try again later.
CLOSE_TOO_MANY_STREAMS = 4029

TIMESTAMP_HEADER = "X-Notifier-Timestamp"
NONCE_HEADER = "X-Notifier-Nonce"
SIGNATURE_HEADER = "X-Notifier-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_PREFIX = "sha256="

MAX_SKEW_S = 300  # a signed request older or newer than this is refused (replay window)
MAX_BODY_BYTES = 64 * 1024

SHOP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_JSON_DEPTH = 32  # an event is flat; deeper nesting is refused before the JSON parser recurses

FIELD_LIMITS = {"order_id": 64, "order_number": 64, "customer": 200, "text": 2000,
                "remark": limits.REMARK_CHARS, "phone": limits.PHONE_CHARS,
                "address": limits.ADDRESS_CHARS}
ITEM_FIELDS = frozenset(("name", "quantity", "price", "notes"))


def valid_shop_name(name: str) -> bool:
    """True for a name that follows the shop-name rule (and so is safe as a file name).

    `fullmatch`, not `match`: `$` would also accept a trailing newline."""
    return bool(SHOP_NAME.fullmatch(name))


# -- signing ---------------------------------------------------------------------------------


# Callbacks to a shop's back end are signed with the shop's ingest secret too, but over a payload
# that starts with this label and names the event and the shop: an ingest signature never
# verifies as a callback, and a captured callback cannot be sent again under another event id.
CALLBACK_PURPOSE = "notifier-callback-v1"
EVENT_ID_HEADER = "X-Notifier-Event-Id"
SHOP_HEADER = "X-Notifier-Shop"


def signing_payload(timestamp: str, nonce: str, body: bytes, context: tuple[str, ...] = ()) -> bytes:
    """What is signed: `context` lines first (a callback's purpose label, event id and shop),
    then the timestamp, the nonce and the body."""
    head = "".join(f"{line}\n" for line in context).encode("utf-8")
    return head + timestamp.encode("ascii") + b"\n" + nonce.encode("ascii") + b"\n" + body


def sign(secret: str, timestamp: str, nonce: str, body: bytes, context: tuple[str, ...] = ()) -> str:
    """The value of the signature header for this request."""
    digest = hmac.new(secret.encode("utf-8"), signing_payload(timestamp, nonce, body, context), hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def callback_context(event_id: str, shop: str) -> tuple[str, ...]:
    return (CALLBACK_PURPOSE, event_id, shop)


def signed_headers(
    secret: str, body: bytes, *, timestamp: int | None = None, nonce: str | None = None,
    context: tuple[str, ...] = (),
) -> dict[str, str]:
    """Timestamp, nonce and signature headers for one request body."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    return {
        TIMESTAMP_HEADER: ts,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: sign(secret, ts, nonce, body, context),
    }


def callback_headers(secret: str, body: bytes, event_id: str, shop: str) -> dict[str, str]:
    """The headers of a callback to a shop's back end (the server's side of check_callback)."""
    return {**signed_headers(secret, body, context=callback_context(event_id, shop)),
            EVENT_ID_HEADER: event_id, SHOP_HEADER: shop}


def check_callback(secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None,
                   max_skew: float = MAX_SKEW_S) -> str:
    """A back end's check of a callback; returns its event id (deduplicate by it: it is signed).
    Raises SignatureProblem like check_signature."""
    event_id, shop = headers.get(EVENT_ID_HEADER) or "", headers.get(SHOP_HEADER) or ""
    check_signature(secret, headers.get(TIMESTAMP_HEADER), headers.get(NONCE_HEADER),
                    headers.get(SIGNATURE_HEADER), body, now=now, max_skew=max_skew,
                    context=callback_context(event_id, shop))
    return event_id


class SignatureProblem(Exception):
    """Why a signed request is refused; `reason` is the machine-readable error code."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def check_signature(
    secret: str,
    timestamp: str | None,
    nonce: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: float | None = None,
    max_skew: float = MAX_SKEW_S,
    context: tuple[str, ...] = (),
) -> None:
    """Raise SignatureProblem unless the request is signed with `secret` and fresh.

    The nonce's uniqueness is the server's job (it needs storage); this checks its shape.
    `context`: what else the signature covers (callback_context for a callback).
    """
    if not timestamp or not nonce or not signature:
        raise SignatureProblem(
            "missing_signature",
            f"headers {TIMESTAMP_HEADER}, {NONCE_HEADER} and {SIGNATURE_HEADER} are required",
        )
    # isascii: str.isdigit() also accepts other scripts' digits, which cannot be signed as ASCII.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise SignatureProblem("bad_timestamp", f"{TIMESTAMP_HEADER} must be Unix seconds")
    if not NONCE.fullmatch(nonce):
        raise SignatureProblem("bad_nonce", f"{NONCE_HEADER} must be 16-128 characters [A-Za-z0-9_-]")
    try:
        expected = sign(secret, timestamp, nonce, body, context)
    except UnicodeEncodeError:  # a lone surrogate in a header: nothing could have signed it
        raise SignatureProblem("bad_signature", "the signature does not match the body and the shop's secret") from None
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("ascii", "replace")):
        raise SignatureProblem("bad_signature", "the signature does not match the body and the shop's secret")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > max_skew:
        raise SignatureProblem(
            "stale_timestamp",
            f"the timestamp is more than {int(max_skew)} s away from the server's clock",
        )


def token_hash(token: str) -> str:
    """How a client token is kept at rest: its SHA-256 (tokens are random, so no salt needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class BodyError(ValueError):
    """An ingest body that is not UTF-8 JSON at all (as opposed to a JSON value with a bad field)."""


def _too_deep(text: str, limit: int) -> bool:
    """True when arrays/objects nest deeper than `limit` (brackets inside strings do not count)."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def parse_body(body: bytes) -> Any:
    """The ingest body as a JSON value; BodyError with one sentence when it is not UTF-8 JSON.

    json.loads(bytes) would also guess UTF-16 and UTF-32, and recurse without bound on deep
    nesting (RecursionError); the protocol says UTF-8 and an event is flat, so both are refused.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("the body is not UTF-8") from None
    # The bracket count is a cheap filter: only a body with many brackets is scanned.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _too_deep(text, MAX_JSON_DEPTH):
        raise BodyError(f"the body nests JSON deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise BodyError("the body is not valid JSON") from None


# -- the event schema ------------------------------------------------------------------------


class SchemaError(ValueError):
    """An ingest body that is not a valid event; names the field at fault."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _text_field(body: Mapping[str, Any], name: str, *, required: bool = False,
                limit: int = 0, path: str = "") -> str | None:
    """A text field (`path`: how an error names it, e.g. "items.3.name")."""
    value = body.get(name)
    where = path or name
    limit = limit or FIELD_LIMITS[name]
    if value is None:
        if required:
            raise SchemaError(where, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SchemaError(where, "must be a string")
    text = str(value).strip()
    if required and not text:
        raise SchemaError(where, "must not be empty")
    if len(text) > limit:
        raise SchemaError(where, f"must be at most {limit} characters")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the JSON): SQLite refuses it
            raise SchemaError(where, "must be valid Unicode text") from None
    return text or None


def _amount_field(value: Any, where: str) -> str | None:
    """A money amount as its normalised string, or SchemaError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SchemaError(where, "must be a number or a numeric string")
    parsed = parse_amount(value)
    if parsed is None:
        raise SchemaError(where, "is not a valid amount")
    return str(parsed)


def _item(value: Any, index: int) -> dict[str, Any]:
    """One entry of `items`, normalised: name, and quantity, price, notes where given."""
    where = f"items.{index}"
    if not isinstance(value, Mapping):
        raise SchemaError(where, "must be an object with a name")
    if not ITEM_FIELDS.issuperset(value):
        raise SchemaError(f"{where}.{sorted(set(value) - ITEM_FIELDS)[0]}", "is not a known field")
    item: dict[str, Any] = {"name": _text_field(value, "name", required=True, limit=limits.NAME_CHARS,
                                                path=f"{where}.name")}
    quantity = value.get("quantity")
    if quantity is not None:
        number = limits.quantity_of(quantity) if isinstance(quantity, int | str) else None
        if number is None:
            raise SchemaError(f"{where}.quantity", f"must be a whole number from 0 to {limits.MAX_QUANTITY}")
        item["quantity"] = number
    price = _amount_field(value.get("price"), f"{where}.price")
    if price is not None:
        item["price"] = price
    notes = _text_field(value, "notes", limit=limits.NOTES_CHARS, path=f"{where}.notes")
    if notes:
        item["notes"] = notes
    return item


def _items(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise SchemaError("items", "must be a list of objects with name, quantity, price, notes")
    if len(value) > limits.MAX_ITEMS:
        raise SchemaError("items", f"must list at most {limits.MAX_ITEMS} items")
    return [_item(entry, index) for index, entry in enumerate(value)]


# What a kitchen needs besides the order itself (see order_details): sent only when given, so an
# event without them is stored and streamed exactly as before.
_DETAIL_TEXT_FIELDS = ("remark", "phone", "address")
_EVENT_FIELDS = frozenset(("kind", "order_id", "order_number", "amount", "currency", "customer", "text",
                           "occurred_at", "items", *_DETAIL_TEXT_FIELDS))
_KINDS = frozenset(k.value for k in OrderKind)  # built once: this runs for every ingested event
_NEW_ORDER = OrderKind.NEW_ORDER.value


def validate_event(body: Any) -> dict[str, Any]:
    """The ingest body as a normalised event dict, or SchemaError naming the field."""
    if not isinstance(body, Mapping):
        raise SchemaError("body", "must be a JSON object")
    if not _EVENT_FIELDS.issuperset(body):
        raise SchemaError(sorted(set(body) - _EVENT_FIELDS)[0], "is not a known field")
    kind = body.get("kind", _NEW_ORDER)
    if not isinstance(kind, str) or kind not in _KINDS:
        raise SchemaError("kind", "must be one of " + ", ".join(k.value for k in OrderKind))
    event: dict[str, Any] = {"kind": kind, "order_id": _text_field(body, "order_id", required=True)}
    for name in ("order_number", "customer", "text"):
        event[name] = _text_field(body, name)
    event["amount"] = _amount_field(body.get("amount"), "amount")
    currency = body.get("currency", "CNY")
    if not isinstance(currency, str) or not CURRENCY.match(currency):
        raise SchemaError("currency", "must be a three-letter code such as CNY")
    event["currency"] = currency
    occurred = body.get("occurred_at")
    if occurred is not None:
        try:
            when = datetime.fromisoformat(occurred) if isinstance(occurred, str) else None
        except ValueError:
            when = None
        if when is None:
            raise SchemaError("occurred_at", "must be an ISO 8601 date and time")
        occurred = (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()
    event["occurred_at"] = occurred
    if body.get("items") is not None:
        items = _items(body["items"])
        if items:
            event["items"] = items
    for name in _DETAIL_TEXT_FIELDS:
        text = _text_field(body, name)
        if text:
            event[name] = text
    return event


# -- a PC's decision (accept, reject, deliver, complete, cancel; open or close the shop) -------

# The action in the path -> the kind of the event it is stored and streamed as. Each kind is
# named after the order's (the shop's) state it leads to.
ORDER_ACTIONS: dict[str, str] = {
    "accept": "accepted",            # 接单
    "reject": "rejected",            # 拒单 (an optional reason)
    "deliver": "out_for_delivery",   # 派送
    "complete": "completed",         # 完成
    "cancel": "cancelled_by_shop",   # 取消 by the shop (a reason is required)
}
REASON_REQUIRED = frozenset(("cancel",))
SHOP_ACTIONS: dict[str, str] = {"open": "shop_opened", "close": "shop_closed"}  # 营业 / 打烊
DECISION_KINDS = frozenset(ORDER_ACTIONS.values())
SHOP_STATE_KINDS = frozenset(SHOP_ACTIONS.values())
# Beside the event in its stream frame (never inside it, where older clients would refuse the
# whole order): the order system sent it while the shop was closed.
ARRIVED_WHILE_CLOSED = "arrived_while_closed"

MAX_REASON_CHARS = 200
_DECISION_FIELDS = frozenset(("reason",))


def validate_decision(order_id: str, body: Any, *, reason_required: bool = False) -> tuple[str, str | None]:
    """(order id, reason) of a decision, normalised like ingest (the order id by the very rule
    ingest stores it with, so both name the same order), or SchemaError naming the field.
    `body` is the parsed JSON body, or None for an empty one."""
    order = _text_field({"order_id": order_id}, "order_id", required=True)
    assert order is not None
    reason = _decision_reason(body)
    if reason_required and not reason:
        raise SchemaError("reason", "is required: say why the order is cancelled")
    return order, reason


def validate_shop_action(body: Any) -> None:
    """Opening or closing the shop takes an empty body (or {}); SchemaError otherwise."""
    if body is None:
        return
    if not isinstance(body, Mapping):
        raise SchemaError("body", "must be a JSON object")
    if body:
        raise SchemaError(sorted(body)[0], "is not a known field")


def _decision_reason(body: Any) -> str | None:
    if body is None:
        return None
    if not isinstance(body, Mapping):
        raise SchemaError("body", "must be a JSON object")
    if not _DECISION_FIELDS.issuperset(body):
        raise SchemaError(sorted(set(body) - _DECISION_FIELDS)[0], "is not a known field")
    reason = body.get("reason")
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise SchemaError("reason", "must be a text")
    reason = " ".join(reason.split())  # line breaks and tabs become spaces
    if len(reason) > MAX_REASON_CHARS:
        raise SchemaError("reason", f"must be at most {MAX_REASON_CHARS} characters")
    if not reason.isprintable():  # terminal escapes (ESC [ 31 m) and other control characters
        raise SchemaError("reason", "must be printable text, without control characters")
    try:
        reason.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the JSON)
        raise SchemaError("reason", "must be valid Unicode text") from None
    return reason or None


def details_of(event: Mapping[str, Any]) -> OrderDetails:
    """The order's details from a validated event (see validate_event)."""
    return OrderDetails.of(
        (OrderItem.of(i["name"], i.get("quantity"), i.get("price"), i.get("notes"))
         for i in event.get("items", ())),
        remark=event.get("remark"), phone=event.get("phone"), address=event.get("address"))


# -- stream frames ---------------------------------------------------------------------------


def stream_path(shop: str, after: int | None = None) -> str:
    path = f"{API_PREFIX}/{quote(shop, safe='')}/stream"
    return path if after is None else f"{path}?after={int(after)}"


def ingest_path(shop: str) -> str:
    return f"{API_PREFIX}/{quote(shop, safe='')}/events"


def encode_event(event: Mapping[str, Any]) -> str:
    """An event as the compact JSON that is stored and sent (encoded once per event)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def event_frame(seq: int, store: str, received_at: float, event: Mapping[str, Any], encoded: str = "") -> str:
    """The stream's `event` frame. `encoded` is the event already encoded by encode_event (the
    server has it from storing the event); the frame is then put together without encoding the
    event again, byte for byte what json.dumps of the whole frame gives. A stored event that
    carries ARRIVED_WHILE_CLOSED has it moved beside the event, into the frame."""
    when = datetime.fromtimestamp(received_at, UTC).isoformat()
    closed = ""
    if event.get(ARRIVED_WHILE_CLOSED):
        event = {name: value for name, value in event.items() if name != ARRIVED_WHILE_CLOSED}
        encoded, closed = "", f'"{ARRIVED_WHILE_CLOSED}":true,'
    return (f'{{"type":"event","seq":{int(seq)},"store":{_json_string(store)},"received_at":"{when}",'
            f'{closed}"event":{encoded or encode_event(event)}}}')


_json_string = json.encoder.encode_basestring  # a str as a JSON string, non-ASCII kept as is


def event_from_frame(frame: Mapping[str, Any], *, server: str, raw: str = "") -> OrderEvent:
    """An `event` frame as an OrderEvent; ValueError/SchemaError when it is not a usable one."""
    seq = frame.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError("frame without a valid seq")
    body = validate_event(frame.get("event"))
    occurred = body["occurred_at"] or frame.get("received_at")
    try:
        occurred_at = datetime.fromisoformat(occurred) if isinstance(occurred, str) else datetime.now(UTC)
    except ValueError:
        occurred_at = datetime.now(UTC)
    store = frame.get("store")
    # Store ids are short ASCII; anything else (a lone surrogate) could not even be stored.
    store = store if isinstance(store, str) and len(store) <= 64 and store.isascii() else ""
    return OrderEvent(
        kind=OrderKind(body["kind"]),
        order_id=body["order_id"],
        source=PROTOCOL,
        server=server,
        order_number=body["order_number"],
        amount=Decimal(body["amount"]) if body["amount"] is not None else None,
        currency=body["currency"],
        customer=body["customer"],
        text=body["text"],
        occurred_at=occurred_at,
        # The store id keeps event ids unique even if the server's store is ever rebuilt.
        event_id=f"{store}:{seq}" if store else str(seq),
        raw=raw,
        details=details_of(body),
    )


@dataclass(frozen=True, slots=True)
class StreamDecision:
    """What a PC of the shop did, as the stream tells every PC: an order's decision (`order_id`
    set) or the shop opened or closed (`order_id` None)."""

    seq: int
    store: str
    kind: str  # a DECISION_KINDS or SHOP_STATE_KINDS value
    order_id: str | None
    reason: str | None
    occurred_at: str | None


def decision_from_frame(frame: Mapping[str, Any]) -> StreamDecision:
    """An `event` frame of a decision or a shop's opening/closing; ValueError for anything else
    (an order: use event_from_frame)."""
    seq, body = frame.get("seq"), frame.get("event")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1 or not isinstance(body, Mapping):
        raise ValueError("frame without a valid seq and event")
    kind = body.get("kind")
    if kind not in DECISION_KINDS and kind not in SHOP_STATE_KINDS:
        raise ValueError(f"not a decision: {kind!r}")
    order_id = body.get("order_id")
    if kind in DECISION_KINDS and (not isinstance(order_id, str) or not order_id):
        raise ValueError("a decision without an order id")
    reason, occurred, store = body.get("text"), body.get("occurred_at"), frame.get("store")
    return StreamDecision(
        seq, store if isinstance(store, str) else "", kind, order_id if kind in DECISION_KINDS else None,
        reason[:MAX_REASON_CHARS] if isinstance(reason, str) else None,
        occurred if isinstance(occurred, str) else None)


def arrived_while_closed(frame: Mapping[str, Any]) -> bool:
    """True when the frame's order (or reminder) came while the shop was closed."""
    return frame.get(ARRIVED_WHILE_CLOSED) is True


# -- for order systems -----------------------------------------------------------------------


class PublishError(Exception):
    """The server refused the event (or could not be reached); `status` 0 means unreachable."""

    def __init__(self, status: int, reason: str, message: str, field: str | None = None,
                 answer: Mapping[str, Any] | None = None):
        super().__init__(f"{status} {reason}: {message}" if status else message)
        self.status = status
        self.reason = reason
        self.field = field
        self.answer = dict(answer or {})  # the whole JSON answer (a 409's outcome, order_id, seq)


def http_base(server_url: str) -> str:
    """http(s)://host:port from any of http, https, ws, wss addresses."""
    parts = urlsplit(server_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported address {server_url!r}: use http(s):// or ws(s)://")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def publish_order(
    server_url: str,
    shop: str,
    ingest_secret: str,
    *,
    order_id: str | int,
    kind: str = "new_order",
    order_number: str | None = None,
    amount: str | Decimal | float | None = None,
    currency: str = "CNY",
    customer: str | None = None,
    text: str | None = None,
    items: list[Mapping[str, Any]] | None = None,
    remark: str | None = None,
    phone: str | None = None,
    address: str | None = None,
    idempotency_key: str | None = None,
    timeout: float = 10.0,
    context=None,
) -> dict[str, Any]:
    """Publish one order event to an Order Notifier server; returns {"seq": n, ...}.

    Call it when an order is paid (kind "new_order") or a customer asks to hurry ("reminder").
    Pass a stable `idempotency_key` (e.g. f"{order_id}-paid") and retry on PublishError with
    status 0 or 5xx: the server then stores the event once however many times it is sent.
    `context` is an optional ssl.SSLContext for a server with a private certificate. `items`
    (each {"name", "quantity", "price", "notes"}), `remark`, `phone` and `address` are what the
    kitchen ticket prints.

        publish_order("https://push.example.com", "noodle-bar", secret,
                      order_id=1234, order_number="A-1234", amount="56.50", customer="张三",
                      items=[{"name": "宫保鸡丁", "quantity": 2, "price": "28.00"}],
                      remark="少辣", idempotency_key="1234-paid")
    """
    event: dict[str, Any] = {"kind": kind, "order_id": str(order_id), "currency": currency}
    for name, value in (("order_number", order_number), ("customer", customer), ("text", text),
                        ("items", items), ("remark", remark), ("phone", phone), ("address", address)):
        if value is not None:
            event[name] = value
    if amount is not None:
        event["amount"] = str(amount)
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    request = urllib.request.Request(http_base(server_url) + ingest_path(shop), data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    for name, value in signed_headers(ingest_secret, body).items():
        request.add_header(name, value)
    if idempotency_key:
        request.add_header(IDEMPOTENCY_HEADER, idempotency_key)
    return _send(request, server_url, timeout, context)


def _send(request: urllib.request.Request, server_url: str, timeout: float, context) -> dict[str, Any]:
    """The JSON answer of one request to the server, or PublishError (status 0: unreachable)."""
    # No proxy from the environment: an order system (a shop PC) talks to its push server directly.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            return json.loads(response.read(MAX_BODY_BYTES))
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read(MAX_BODY_BYTES))
        except ValueError:
            error = {}
        if not isinstance(error, dict):
            error = {}
        raise PublishError(
            exc.code, str(error.get("error", "http_error")), str(error.get("message", exc.reason)),
            error.get("field"), error,
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PublishError(0, "unreachable", f"cannot reach {http_base(server_url)}: {reason}") from None


# -- for a PC of the shop (the client token) ---------------------------------------------------


def decision_path(shop: str, order_id: str, action: str) -> str:
    if action not in ORDER_ACTIONS:
        raise ValueError(f"unknown order action {action!r}: one of {', '.join(ORDER_ACTIONS)}")
    return f"{API_PREFIX}/{quote(shop, safe='')}/orders/{quote(str(order_id), safe='')}/{action}"


def shop_path(shop: str, what: str) -> str:
    """`open`, `close`, `status` or `today` of the shop."""
    return f"{API_PREFIX}/{quote(shop, safe='')}/{what}"


def call_shop(server_url: str, token: str, method: str, path: str, *, body: Mapping[str, Any] | None = None,
              idempotency_key: str | None = None, timeout: float = 10.0, context=None) -> dict[str, Any]:
    """One request of a PC of the shop (its client token); the JSON answer, or PublishError
    (status 0: unreachable; a 409's `outcome` is in PublishError.answer)."""
    data = None if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    request = urllib.request.Request(http_base(server_url) + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if idempotency_key:
        request.add_header(IDEMPOTENCY_HEADER, idempotency_key)
    return _send(request, server_url, timeout, context)


def send_order_action(server_url: str, shop: str, token: str, order_id: str, action: str, *,
                      reason: str | None = None, idempotency_key: str | None = None, **options: Any) -> dict[str, Any]:
    """Accept, reject, deliver, complete or cancel (with a reason) an order:
    {"seq", "event_id", "duplicate"}; PublishError 409 when the order's state does not allow it."""
    return call_shop(server_url, token, "POST", decision_path(shop, order_id, action),
                     body={"reason": reason} if reason else {}, idempotency_key=idempotency_key, **options)


def set_shop_open(server_url: str, shop: str, token: str, is_open: bool, *, idempotency_key: str | None = None,
                  **options: Any) -> dict[str, Any]:
    """Open (营业) or close (打烊) the shop: {"status", "seq", "changed"}."""
    return call_shop(server_url, token, "POST", shop_path(shop, "open" if is_open else "close"), body={},
                     idempotency_key=idempotency_key, **options)


def shop_status(server_url: str, shop: str, token: str, **options: Any) -> dict[str, Any]:
    """{"status": "open" | "closed", "seq": the event that made it so (0: never changed)}."""
    return call_shop(server_url, token, "GET", shop_path(shop, "status"), **options)


def today_figures(server_url: str, shop: str, token: str, *, date: str | None = None, tz: str | None = None,
                  **options: Any) -> dict[str, Any]:
    """The day's figures (docs/server.md "Today's figures"); `date` YYYY-MM-DD, `tz` an IANA zone."""
    query = "&".join(f"{name}={quote(value)}" for name, value in (("date", date), ("tz", tz)) if value)
    return call_shop(server_url, token, "GET", shop_path(shop, "today") + (f"?{query}" if query else ""), **options)
