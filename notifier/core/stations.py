"""A printer for each station: the counter's receipt, the kitchen's ticket, a bar that makes the
drinks. Up to three printers: the first is the `[printer]` group every earlier version wrote (so
an old settings file is this one's first station, unchanged, in the counter's role), the others
`[printer2]` and `[printer3]` (unused while their address is empty, except a system printer).

Each station is seen by the print queue and its worker as a whole `printer.*` settings view
(`station_settings`): the station's own connection, paper and copies, the shared template
(shop name, time, phone mask), and what its role leaves out:

- counter: everything the template shows (amount, customer, phone, address, QR code);
- kitchen: the dishes and the remark only, the dishes in big type;
- station: like the kitchen, but only the dishes whose name holds one of its words
  (`route`, e.g. "奶茶,咖啡"); an order without such a dish prints nothing there.

Back ends send no dish category in the order details, so routing is by name only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from notifier.core.events import OrderEvent
from notifier.core.i18n import tr

STATIONS = (1, 2, 3)
COUNTER, KITCHEN, STATION = "counter", "kitchen", "station"
# Settings of each further station; the rest of the template is the first printer's.
OWN_KEYS = ("role", "kind", "address", "paper", "copies", "route", "chinese")
_LEFT_OUT = ("show_amount", "show_customer", "show_phone", "show_address", "show_qr")


def group(station: int) -> str:
    return "printer" if station == 1 else f"printer{station}"


def in_use(settings: Mapping[str, Any], station: int) -> bool:
    """Whether the station has a printer to send to (a system printer needs no address)."""
    prefix = group(station)
    return settings[f"{prefix}.kind"] == "system" or bool(settings[f"{prefix}.address"].strip())


def used_stations(settings: Mapping[str, Any]) -> list[int]:
    """The stations that print: the first always (its worker says when it has no address), the
    others when they have a printer."""
    return [1, *(n for n in STATIONS[1:] if in_use(settings, n))]


def station_settings(settings, station: int):
    """The whole settings with `printer.*` as this station prints (a `Settings`)."""
    changes: dict[str, Any] = {}
    if station != 1:
        changes = {f"printer.{key}": settings[f"{group(station)}.{key}"] for key in OWN_KEYS}
    role = changes.get("printer.role", settings["printer.role"])
    if role != COUNTER:
        changes.update({f"printer.{key}": False for key in _LEFT_OUT})
    return settings.updated(changes) if changes else settings


def big_items(settings: Mapping[str, Any]) -> bool:
    """Dishes in big type: the kitchen's and a station's tickets are read from a distance."""
    return settings["printer.role"] != COUNTER


def routed(event: OrderEvent, settings: Mapping[str, Any]) -> OrderEvent | None:
    """The order as this printer prints it: a station's keeps only its dishes (None when the
    order has none of them); every other role prints it whole."""
    if settings["printer.role"] != STATION:
        return event
    words = [w.strip().lower() for w in settings["printer.route"].split(",") if w.strip()]
    items = tuple(item for item in event.details.items if any(w in item.name.lower() for w in words))
    if not items:
        return None
    return replace(event, details=replace(event.details, items=items, more_items=0))


def station_name(settings: Mapping[str, Any], station: int) -> str:
    """How the tray and the log name the station: by its role, and its number when it has one."""
    role = settings[f"{group(station)}.role"]
    name = {COUNTER: tr("Counter printer"), KITCHEN: tr("Kitchen printer"),
            STATION: tr("Station printer")}.get(role, role)
    return name if station == 1 else f"{name} {station}"
