"""The tray badge's digits, drawn as strokes instead of set in a font.

The first text a Qt app draws starts its font system (fontconfig's whole font list, the font
files mapped): 4-5 MB that an idle tray app would otherwise carry from its first order on, only
to write "7" or "99+" in a red dot. The badge needs ten digits and a plus, so they are drawn here
as rounded strokes in a unit box (x 0..1, y 0..1, top to bottom), scaled to the badge; windows
that show real text still use fonts, when they are opened.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QTransform

# A glyph's width for its height, the gap between glyphs and the stroke, all in the glyph's
# height: bold enough to read at 16 px, open enough that "8" is not a blob at 64 px.
GLYPH_WIDTH = 0.56
GLYPH_GAP = 0.18
STROKE = 0.2


def _glyph(char: str) -> QPainterPath:
    """The unit-box path of one character of a badge ("0"-"9", "+")."""
    p = QPainterPath()
    if char == "0":
        p.addEllipse(QRectF(0.0, 0.0, 1.0, 1.0))
    elif char == "1":
        p.moveTo(0.15, 0.22)
        p.lineTo(0.6, 0.0)
        p.lineTo(0.6, 1.0)
    elif char == "2":
        p.moveTo(0.02, 0.25)
        p.cubicTo(0.08, -0.07, 0.95, -0.07, 0.98, 0.27)
        p.cubicTo(1.0, 0.5, 0.35, 0.68, 0.0, 1.0)
        p.lineTo(1.0, 1.0)
    elif char == "3":
        p.moveTo(0.04, 0.14)
        p.cubicTo(0.3, -0.08, 1.0, -0.04, 0.96, 0.26)
        p.cubicTo(0.93, 0.45, 0.62, 0.48, 0.38, 0.48)
        p.cubicTo(0.75, 0.48, 1.02, 0.58, 1.0, 0.75)
        p.cubicTo(0.98, 1.06, 0.22, 1.08, 0.0, 0.85)
    elif char == "4":
        p.moveTo(0.76, 1.0)
        p.lineTo(0.76, 0.0)
        p.lineTo(0.0, 0.7)
        p.lineTo(1.0, 0.7)
    elif char == "5":
        p.moveTo(0.95, 0.0)
        p.lineTo(0.14, 0.0)
        p.lineTo(0.06, 0.46)
        p.cubicTo(0.4, 0.32, 1.0, 0.36, 1.0, 0.7)
        p.cubicTo(1.0, 1.06, 0.24, 1.08, 0.0, 0.86)
    elif char == "6":
        p.moveTo(0.88, 0.06)
        p.cubicTo(0.4, -0.08, 0.0, 0.22, 0.0, 0.66)
        p.addEllipse(QRectF(0.0, 0.34, 1.0, 0.66))
    elif char == "7":
        p.moveTo(0.0, 0.0)
        p.lineTo(1.0, 0.0)
        p.lineTo(0.32, 1.0)
    elif char == "8":
        p.addEllipse(QRectF(0.07, 0.0, 0.86, 0.46))
        p.addEllipse(QRectF(0.0, 0.46, 1.0, 0.54))
    elif char == "9":
        p.addEllipse(QRectF(0.0, 0.0, 1.0, 0.66))
        p.moveTo(1.0, 0.34)
        p.cubicTo(1.0, 0.78, 0.6, 1.08, 0.12, 0.94)
    elif char == "+":
        p.moveTo(0.5, 0.18)
        p.lineTo(0.5, 0.82)
        p.moveTo(0.08, 0.5)
        p.lineTo(0.92, 0.5)
    else:
        raise ValueError(f"the badge has no glyph for {char!r}")
    return p


def text_width(text: str, height: float) -> float:
    """How wide `text` is drawn at this glyph height (strokes included)."""
    if not text:
        return 0.0
    return height * (len(text) * GLYPH_WIDTH + (len(text) - 1) * GLYPH_GAP + STROKE)


def draw_digits(painter: QPainter, center: QPointF, height: float, text: str, colour: QColor) -> None:
    """Draw `text` (digits and "+") centred on `center`, its glyphs `height` tall."""
    stroke = max(1.0, height * STROKE)
    pen = QPen(colour, stroke)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.save()
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    # Glyph boxes are inset by half a stroke, so the strokes' outer edges fill `height`; the
    # path is mapped, not the painter scaled, which would scale the pen with it.
    inner = height - stroke
    x = center.x() - text_width(text, height) / 2 + stroke / 2
    top = center.y() - inner / 2
    for char in text:
        painter.drawPath(QTransform(height * GLYPH_WIDTH, 0, 0, inner, x, top).map(_glyph(char)))
        x += height * (GLYPH_WIDTH + GLYPH_GAP)
    painter.restore()
