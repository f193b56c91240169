"""The browser address of an order, from the owner's template (`alerts.order_url`).

One function, used by a notification click and by the orders window's "Open in browser", so
both open the same page for the same order.
"""

from __future__ import annotations

from urllib.parse import quote

from notifier.core.events import OrderEvent


def order_url(template: str, event: OrderEvent) -> str:
    """The address for `event` from `template`, or "" without a template.

    Only {order_id} and {order_number} are filled, URL-quoted (an order number with spaces, "&"
    or Chinese stays one query value); any other brace is left alone, so a template with a typo
    still opens something rather than failing.
    """
    template = template.strip()
    if not template:
        return ""
    return (template
            .replace("{order_id}", quote(event.order_id, safe=""))
            .replace("{order_number}", quote(event.display_number, safe="")))
