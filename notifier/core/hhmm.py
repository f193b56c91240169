"""A time of day as people write it ("22:30"): the one reading shared by quiet hours, opening
hours and the settings check."""

from __future__ import annotations


def parse_hhmm(text: str) -> tuple[int, int] | None:
    """(hours, minutes) of "HH:MM", or None when it is not a time of day."""
    try:
        hours, minutes = (int(part) for part in text.split(":"))
    except ValueError:
        return None
    if 0 <= hours < 24 and 0 <= minutes < 60:
        return hours, minutes
    return None
