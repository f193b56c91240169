"""Turning a server's JSON into order events, defensively: any input either yields an event or
raises `NotAnOrder` with a short reason; nothing else escapes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class NotAnOrder(Exception):
    """The message is valid input but not an order (or not valid): skip it, say why."""


MAX_TEXT_CHARS = 1024 * 1024


def parse_json_object(text: str) -> Mapping[str, Any]:
    if len(text) > MAX_TEXT_CHARS:
        raise NotAnOrder("message too large")
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        raise NotAnOrder("not a JSON object")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise NotAnOrder("not valid JSON") from None
    if not isinstance(value, dict):
        raise NotAnOrder("not a JSON object")
    return value


def lookup(obj: Any, path: str) -> Any:
    """The value at a dotted path ("data.order.id", "items.0.name"), or None."""
    if not path:
        return None
    if type(obj) is dict and "." not in path:  # the usual case: a field of the JSON object
        return obj.get(path)
    for part in path.split("."):
        if isinstance(obj, Mapping):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
        if obj is None:
            return None
    return obj


def scalar_text(value: Any, *, field: str) -> str | None:
    """An id or number as text: strings and integers are fine, anything else is not an id."""
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, Mapping | list):
        raise NotAnOrder(f"{field} has the wrong type")
    if isinstance(value, float):
        if not value.is_integer():
            raise NotAnOrder(f"{field} is not a whole number")
        value = int(value)
    text = str(value).strip()
    if not text or len(text) > 64:
        raise NotAnOrder(f"{field} is empty or too long")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the JSON): no store takes it
            raise NotAnOrder(f"{field} is not valid text") from None
    return text
