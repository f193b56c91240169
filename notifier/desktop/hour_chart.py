"""A small bar chart of today's new orders per hour, painted by hand (no QtCharts dependency).

QtCharts is a large module for 24 bars; QPainter keeps the bundle smaller and the look ours.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QHelpEvent, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

HOURS = 24


class HourChart(QWidget):
    """24 bars, one per hour of today; the current hour is drawn in the accent colour."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._counts = [0] * HOURS
        self._current_hour: int | None = datetime.now().hour
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(96)
        self.setMouseTracking(True)

    # -- data ------------------------------------------------------------------------------

    def set_counts(self, counts: list[int], current_hour: int | None = None) -> None:
        if len(counts) != HOURS:
            raise ValueError(f"expected {HOURS} counts, got {len(counts)}")
        self._counts = [max(0, int(n)) for n in counts]
        self._current_hour = datetime.now().hour if current_hour is None else current_hour
        self.setAccessibleDescription(self._summary())
        self.update()

    def counts(self) -> list[int]:
        return list(self._counts)

    def _summary(self) -> str:
        return self.tr("%n order(s) today", "", sum(self._counts))

    # -- geometry --------------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        return QSize(480, 110)

    def _plot_rect(self) -> QRectF:
        metrics = self.fontMetrics()
        top = metrics.height() + 4  # room for the total in the corner
        bottom = metrics.height() + 6  # room for the hour labels
        left = metrics.horizontalAdvance("999") + 6
        return QRectF(left, top, max(1, self.width() - left - 8), max(1, self.height() - top - bottom))

    def _bar_rect(self, hour: int, plot: QRectF, peak: int) -> QRectF:
        slot = plot.width() / HOURS
        gap = max(1.0, slot * 0.2)
        height = 0.0 if peak == 0 else plot.height() * self._counts[hour] / peak
        if self._counts[hour] and height < 2:
            height = 2.0  # one order must still be visible next to a busy hour
        return QRectF(plot.left() + hour * slot + gap / 2, plot.bottom() - height, slot - gap, height)

    def hour_at(self, x: float) -> int | None:
        plot = self._plot_rect()
        if not plot.left() <= x < plot.right():
            return None
        return min(HOURS - 1, int((x - plot.left()) / (plot.width() / HOURS)))

    # -- painting --------------------------------------------------------------------------

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text_color = palette.color(QPalette.ColorRole.WindowText)
        muted = QColor(text_color)
        muted.setAlpha(140)
        grid = QColor(text_color)
        grid.setAlpha(40)
        bar = QColor("#7aa7d6")
        accent = palette.color(QPalette.ColorRole.Highlight)

        plot = self._plot_rect()
        peak = max(self._counts)
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
        painter.setFont(small)
        metrics = painter.fontMetrics()

        # Title and total, top left.
        painter.setPen(text_color)
        painter.drawText(QPointF(plot.left(), metrics.ascent()), self.tr("Orders per hour today") + "  ·  "
                         + self._summary())

        # Base line and the peak value on the axis.
        painter.setPen(grid)
        painter.drawLine(QPointF(plot.left(), plot.bottom()), QPointF(plot.right(), plot.bottom()))
        if peak:
            painter.drawLine(QPointF(plot.left(), plot.top()), QPointF(plot.right(), plot.top()))
            painter.setPen(muted)
            label = str(peak)
            painter.drawText(QPointF(plot.left() - metrics.horizontalAdvance(label) - 4,
                                     plot.top() + metrics.ascent() / 2), label)

        painter.setPen(Qt.PenStyle.NoPen)
        for hour in range(HOURS):
            rect = self._bar_rect(hour, plot, peak)
            if rect.height() <= 0:
                continue
            painter.setBrush(accent if hour == self._current_hour else bar)
            painter.drawRoundedRect(rect, 1.5, 1.5)

        # Hour labels every three hours, centred under their bar.
        painter.setPen(muted)
        slot = plot.width() / HOURS
        for hour in range(0, HOURS, 3):
            label = f"{hour:02d}"
            x = plot.left() + hour * slot + slot / 2 - metrics.horizontalAdvance(label) / 2
            painter.drawText(QPointF(x, plot.bottom() + metrics.ascent() + 3), label)
        painter.end()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            hour = self.hour_at(event.pos().x())
            if hour is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(
                    event.globalPos(),
                    self.tr("%1:00–%2:00: %n order(s)", "", self._counts[hour])
                    .replace("%1", f"{hour:02d}").replace("%2", f"{(hour + 1) % 24:02d}"),
                    self,
                )
            return True
        return super().event(event)
