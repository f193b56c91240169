"""The two rules for text that came from a server and is shown or spoken: cutting and cleaning.

`shorten` is the one way text is cut to a length (with "…" when something was dropped);
`plain` is the one way it is made plain: control and bidi-override characters removed,
whitespace folded (per line when several lines are kept), then cut. The popup, the voice, the
orders window and the console all call these, so the same order reads the same everywhere.
"""

from __future__ import annotations

import re

# C0/C1 controls (but \t \n, which `split()` folds), zero-width and direction marks, and the
# bidi embeddings/isolates that could turn "#1234 ¥5" around on screen.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
ELLIPSIS = "…"


def shorten(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its start and "…" in exactly `limit`."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + ELLIPSIS


def plain(text: str | None, limit: int, *, multiline: bool = False) -> str:
    """Plain text without control characters, whitespace folded, cut to `limit` characters.

    One line unless `multiline`; then lines are kept (blank runs become one blank line).
    """
    if not text:
        return ""
    text = text[: limit * 4]  # a 5 MB string is cut before any work is done on it
    if multiline:
        text = "\n".join(" ".join(CONTROL.sub(" ", part).split()) for part in text.splitlines())
        text = re.sub(r"\n{3,}", "\n\n", text).strip()
    else:
        text = " ".join(CONTROL.sub(" ", text).split())
    return shorten(text, limit)
