"""Any JSON-over-WebSocket push server, described by a field mapping in the settings.

Example out of the box: `{"order_id": 123456, "customer_name": "Zhang San", "order_amount": 100.00}`
(no kind field: every message is a new order).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from notifier.core.events import OrderEvent, OrderKind, clip, parse_amount
from notifier.core.order_details import MAX_ITEMS, NO_DETAILS, OrderDetails, OrderItem
from notifier.core.settings import Settings, parse_list
from notifier.core.sources.decoding import NotAnOrder, lookup, parse_json_object, scalar_text
from notifier.core.sources.websocket_base import WebSocketSource


@dataclass(frozen=True, slots=True)
class FieldMapping:
    kind_field: str = ""
    new_order_values: tuple[str, ...] = ("1", "new_order", "new", "paid")
    reminder_values: tuple[str, ...] = ("2", "reminder", "remind")
    cancelled_values: tuple[str, ...] = ("cancel", "cancelled")
    order_id_field: str = "order_id"
    order_number_field: str = "order_number"
    amount_field: str = "order_amount"
    customer_field: str = "customer_name"
    text_field: str = "content"
    items_field: str = "items"
    item_fields: tuple[str, ...] = ("name", "quantity", "price", "notes")
    remark_field: str = "remark"
    phone_field: str = "phone"
    address_field: str = "address"

    @classmethod
    def from_settings(cls, settings: Settings) -> FieldMapping:
        return cls(
            kind_field=settings["json.kind_field"],
            new_order_values=tuple(parse_list(settings["json.new_order_values"])),
            reminder_values=tuple(parse_list(settings["json.reminder_values"])),
            cancelled_values=tuple(parse_list(settings["json.cancelled_values"])),
            order_id_field=settings["json.order_id_field"],
            order_number_field=settings["json.order_number_field"],
            amount_field=settings["json.amount_field"],
            customer_field=settings["json.customer_field"],
            text_field=settings["json.text_field"],
            items_field=settings["json.items_field"],
            item_fields=tuple(parse_list(settings["json.item_fields"])),
            remark_field=settings["json.remark_field"],
            phone_field=settings["json.phone_field"],
            address_field=settings["json.address_field"],
        )

    def kind_of(self, message) -> OrderKind:
        if not self.kind_field:
            return OrderKind.NEW_ORDER
        value = lookup(message, self.kind_field)
        if value is None:
            raise NotAnOrder("no kind field")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise NotAnOrder("kind has the wrong type")
        text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        for values, kind in (
            (self.new_order_values, OrderKind.NEW_ORDER),
            (self.reminder_values, OrderKind.REMINDER),
            (self.cancelled_values, OrderKind.CANCELLED),
        ):
            if text in values:
                return kind
        raise NotAnOrder("unknown kind")

    def decode(self, text: str, *, source: str, server: str) -> OrderEvent:
        message = parse_json_object(text)
        kind = self.kind_of(message)
        order_id = scalar_text(lookup(message, self.order_id_field), field="order id")
        if order_id is None:
            raise NotAnOrder("no order id")
        number = lookup(message, self.order_number_field)
        return OrderEvent(
            kind=kind,
            order_id=order_id,
            source=source,
            server=server,
            order_number=scalar_text(number, field="order number") if number is not None else None,
            amount=parse_amount(lookup(message, self.amount_field)),
            customer=_text(lookup(message, self.customer_field)),
            text=_text(lookup(message, self.text_field)),
            raw=text,
            details=self.details(message),
        )

    def details(self, message) -> OrderDetails:
        """The items, remark, phone and address where the mapping says they are."""
        raw_items = lookup(message, self.items_field)
        remark, phone, address = (lookup(message, field) for field in
                                  (self.remark_field, self.phone_field, self.address_field))
        if raw_items is None and remark is None and phone is None and address is None:
            return NO_DETAILS  # the usual frame of a shop that sends none
        items: list[OrderItem | None] = []
        if isinstance(raw_items, list):
            # One past the bound is enough to know there are more; count the rest cheaply.
            for entry in raw_items[:MAX_ITEMS + 1]:
                items.append(self._item(entry))
        details = OrderDetails.of(items, remark=_scalar(remark), phone=_scalar(phone),
                                  address=_scalar(address))
        if isinstance(raw_items, list) and len(raw_items) > MAX_ITEMS + 1:
            details = OrderDetails(details.items, details.more_items + len(raw_items) - MAX_ITEMS - 1,
                                   details.remark, details.phone, details.address)
        return details

    def _item(self, entry) -> OrderItem | None:
        if isinstance(entry, str | int) and not isinstance(entry, bool):
            return OrderItem.of(entry)  # a list of plain names
        values = [lookup(entry, name) if name else None for name in self.item_fields[:4]]
        values += [None] * (4 - len(values))
        name, quantity, price, notes = values
        return OrderItem.of(_scalar(name), quantity, price, _scalar(notes))


def _scalar(value) -> object:
    """A text or number the details may keep; lists and objects are not text."""
    return None if isinstance(value, dict | list | bool) else value


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        return clip(json.dumps(value, ensure_ascii=False))
    return clip(value)


class JsonMappingSource(WebSocketSource):
    protocol = "json"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mapping = FieldMapping.from_settings(self.settings)

    def build_url(self) -> str:
        return self.settings["connection.url"]

    def headers(self) -> list[str]:
        token, _problem = self.secrets.get("json_token")
        return [f"Authorization: Bearer {token}"] if token else []

    def handle_text(self, text: str) -> None:
        try:
            event = self.mapping.decode(text, source=self.protocol, server=self.server_label())
        except NotAnOrder as skip:
            self.skipped(str(skip), text)
            return
        self.deliver(event)
