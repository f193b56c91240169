"""A seeded generator of hostile server messages: valid orders bent out of shape, wrong types,
huge and tiny numbers, markup, control characters, right-to-left marks, lone surrogates, deep
nesting, truncation and plain garbage. Seeded rather than Hypothesis so 100,000 frames take
seconds and a failure names the seed and index to replay."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

KEYS = ("type", "orderId", "content", "order_id", "order_number", "order_amount", "customer_name",
        "seq", "event", "kind", "amount", "store", "received_at", "data", "id", "")
NASTY_TEXT = (
    "<b>订单号：1234</b><script>alert(1)</script>", "&lt;i&gt;&amp;", "\u202e4321 号单订\u202c",
    "\u200f\u200e\u2066x\u2069", "\x00\x01\x07\x1b[31m\x7f", "line\nbreak\r\n\u2028\u2029",
    "\ud800", "\udfff lone", "\ufeff\ufffe\uffff", "😀" * 10, "订单号：" + "9" * 40, " ", "",
    "null", "1e309", "NaN", "-0", "0x10", "１２３４", "١٢٣", "%s%n{0}{order_id}", "\\u0000",
)
NUMBERS = (0, -1, 1, 2, 3, 2**31, 2**63, -(2**63), 10**30, 1.5, -0.0, 1e308, 1e-320,
           float("nan"), float("inf"), float("-inf"), 1001.0, 17000001001)


def _value(rng: random.Random, depth: int = 0):
    pick = rng.random()
    if pick < 0.25:
        return rng.choice(NUMBERS)
    if pick < 0.5:
        return rng.choice(NASTY_TEXT)
    if pick < 0.6:
        return rng.choice((None, True, False))
    if pick < 0.7:
        return str(rng.choice(NUMBERS))  # numbers as strings
    if pick < 0.8:
        return "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(0, 12)))
    if depth > 3:
        return rng.randrange(-5, 5)
    if pick < 0.9:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {rng.choice(KEYS): _value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


def _plausible(rng: random.Random) -> dict:
    """Something close to a real frame of one of the protocols, with a few fields replaced."""
    order_id = rng.choice((rng.randrange(1, 10**6), str(rng.randrange(1, 10**6))))
    frame = rng.choice((
        {"type": rng.choice((1, 2, "1", "2")), "orderId": order_id, "content": f"订单号：{order_id}"},
        {"order_id": order_id, "customer_name": "张三", "order_amount": 56.5},
        {"type": "event", "seq": rng.randrange(1, 10**6), "store": "s",
         "event": {"kind": "new_order", "order_id": str(order_id), "amount": "56.50", "currency": "CNY"}},
    ))
    for _ in range(rng.randrange(0, 3)):
        inner = frame.get("event")
        target = inner if isinstance(inner, dict) and rng.random() < 0.5 else frame
        target[rng.choice(KEYS)] = _value(rng)
    return frame


def frame(rng: random.Random) -> str | bytes:
    """One message: mostly text, sometimes raw bytes (possibly invalid UTF-8)."""
    kind = rng.random()
    if kind < 0.45:
        return json.dumps(_plausible(rng), ensure_ascii=rng.random() < 0.5)
    if kind < 0.6:
        value = _value(rng)
        return json.dumps(value if rng.random() < 0.3 else {rng.choice(KEYS): value for _ in range(3)})
    if kind < 0.75:  # a valid frame damaged: truncated, a character flipped, bytes inserted
        text = json.dumps(_plausible(rng), ensure_ascii=False)
        cut = rng.randrange(0, len(text) + 1)
        damage = rng.choice((
            lambda: text[:cut],
            lambda: text[:cut] + chr(rng.randrange(0, 0x110000 - 0x800) if rng.random() < 0.1 else rng.randrange(32, 127)) + text[cut + 1:],
            lambda: text[:cut] + rng.choice(NASTY_TEXT) + text[cut:],
        ))
        return damage()
    if kind < 0.8:  # deep nesting
        depth = rng.choice((10, 100, 1000, 5000, 50_000))
        opener, closer = rng.choice((("[", "]"), ('{"a":', "}")))
        return opener * depth + "1" + closer * (depth if rng.random() < 0.7 else 0)
    if kind < 0.9:  # raw bytes: invalid UTF-8 and random binary
        size = rng.randrange(0, 64)
        raw = bytes(rng.randrange(256) for _ in range(size))
        return rng.choice((raw, b'{"type":1,"orderId":\xff\xfe}', b"\xc3\x28", b"\xed\xa0\x80", raw + b"\x80"))
    if kind < 0.95:  # huge numbers and odd literals
        return rng.choice((
            '{"type":1,"orderId":' + "9" * rng.choice((20, 65, 400, 5000)) + "}",
            '{"type":1,"orderId":1e999}', '{"type":1,"orderId":NaN}', '{"type":1,"orderId":-Infinity}',
            '{"type":1e0,"orderId":1}', '{"type":true,"orderId":1}', '{"type":1,"orderId":[1]}',
            '{"type":1,"orderId":{"id":1}}', '{"type":1,"orderId":"  "}', '{"type":1,"orderId":1,"type":9}',
        ))
    return rng.choice(("", " ", "ping", "这是来自服务端的消息：12:00:05", "\x00" * 8, "[]", "{}", "null", "{", "}"))


def frames(seed: int, count: int) -> Iterator[tuple[int, str | bytes]]:
    rng = random.Random(seed)
    for index in range(count):
        yield index, frame(rng)
