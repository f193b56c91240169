"""What every command test checks about what a command printed."""

from __future__ import annotations


def one_sentence(text: str) -> str:
    """The text, checked to be one line of words and no traceback."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    assert "Traceback" not in text and "Error:" not in lines[0].split(" ")[0]
    return lines[0]
