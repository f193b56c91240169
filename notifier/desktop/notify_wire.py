"""The freedesktop Notify call as D-Bus wire bytes, written on the main thread in a few µs.

jeepney's serialiser is generic (any signature, nested types, both byte orders) and takes
~90-200 µs for one Notify message on this machine: the largest single step between an order
arriving on the main thread and its popup leaving for the bus, and time the main thread holds
the interpreter. A Notify call always has the same signature, destination, path, interface and
member, so all of the header but the serial and the body's length is built once, and the body
is packed with `struct` directly. The bytes are the ones jeepney writes for the same message
(tests/desktop/test_notify_wire.py compares them); jeepney still reads every reply.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

# D-Bus header field codes, and the method call message type (little-endian, protocol 1).
_PATH, _INTERFACE, _MEMBER, _DESTINATION, _SIGNATURE = 1, 2, 3, 6, 8
_METHOD_CALL = 1
NOTIFY_SIGNATURE = "susssasa{sv}i"


def _pad(size: int, alignment: int) -> bytes:
    return b"\0" * (-size % alignment)


def _string(out: bytearray, text: str) -> None:
    """A D-Bus string (or object path): aligned to 4, length, UTF-8, NUL."""
    data = text.encode("utf-8")
    out += _pad(len(out), 4)
    out += struct.pack("<I", len(data))
    out += data
    out += b"\0"


def _signature(out: bytearray, signature: str) -> None:
    data = signature.encode("ascii")
    out += bytes((len(data),)) + data + b"\0"


def _basic(out: bytearray, kind: str, value: object) -> None:
    """One value of a basic type the Notify hints use."""
    if kind in ("s", "o"):
        _string(out, value)  # type: ignore[arg-type]
    elif kind == "y":
        out += struct.pack("<B", value)
    elif kind in ("i", "u", "b"):
        out += _pad(len(out), 4)
        out += struct.pack("<i" if kind == "i" else "<I", int(value))  # type: ignore[call-overload]
    else:
        raise ValueError(f"notify_wire: no hint values of type {kind!r}")


def _header(serial: int, body_length: int, fields: bytes) -> bytes:
    return struct.pack("<cBBBII", b"l", _METHOD_CALL, 0, 1, body_length, serial) + fields


class NotifyWire:
    """Wire bytes of `org.freedesktop.Notifications.Notify` calls to one server."""

    def __init__(self, destination: str, path: str, interface: str) -> None:
        fields = bytearray()
        for code, kind, value in ((_PATH, "o", path), (_INTERFACE, "s", interface),
                                  (_MEMBER, "s", "Notify"), (_DESTINATION, "s", destination),
                                  (_SIGNATURE, "g", NOTIFY_SIGNATURE)):
            fields += _pad(len(fields), 8)
            fields += bytes((code,))
            _signature(fields, kind)
            if kind == "g":
                _signature(fields, value)
            else:
                _string(fields, value)
        # The field array starts at offset 16 (aligned to 8 already) after its 4-byte length.
        self._fields = struct.pack("<I", len(fields)) + bytes(fields)
        self._fields += _pad(12 + len(self._fields), 8)

    def message(self, serial: int, app_name: str, replaces_id: int, app_icon: str, summary: str,
                body: str, actions: Sequence[str], hints: Mapping[str, tuple[str, object]],
                expire_timeout: int) -> bytes:
        """The whole message: header (with `serial`) and body."""
        out = bytearray()
        _string(out, app_name)
        out += _pad(len(out), 4)
        out += struct.pack("<I", replaces_id)
        _string(out, app_icon)
        _string(out, summary)
        _string(out, body)
        # as: its byte length, then the strings (each aligned to 4, as the length already is)
        out += _pad(len(out), 4)
        at = len(out)
        out += b"\0\0\0\0"
        start = len(out)
        for action in actions:
            _string(out, action)
        struct.pack_into("<I", out, at, len(out) - start)
        # a{sv}: its byte length, padding to 8 (not counted), then each entry aligned to 8
        out += _pad(len(out), 4)
        at = len(out)
        out += b"\0\0\0\0"
        out += _pad(len(out), 8)
        start = len(out)
        for name, (kind, value) in hints.items():
            out += _pad(len(out), 8)
            _string(out, name)
            _signature(out, kind)
            _basic(out, kind, value)
        struct.pack_into("<I", out, at, len(out) - start)
        out += _pad(len(out), 4)
        out += struct.pack("<i", expire_timeout)
        return _header(serial, len(out), self._fields) + bytes(out)
