"""Telling the shop's connections apart in the orders window: a coloured dot per connection and
the "which connection" filter, shown only when the settings hold more than one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QComboBox, QWidget

from notifier.core.connections import Connection

DOT_PX = 12


def connection_dot(color: str, size: int = DOT_PX) -> QIcon:
    """A filled round dot in the connection's colour."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(color))
    painter.drawEllipse(1, 1, size - 2, size - 2)
    painter.end()
    return QIcon(pixmap)


class ConnectionFilter(QComboBox):
    """"All connections" and one entry per connection (its name, with its colour's dot)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("connection_filter")
        self._names: tuple[str, ...] = ()
        self.dots: dict[str, QIcon] = {}  # by name: the orders table's connection column uses them
        self.addItem("", None)
        self.setVisible(False)

    def set_connections(self, connections: tuple[Connection, ...]) -> None:
        """Follow the settings' list (keeping the choice while its connection is still there)."""
        names = tuple(c.name for c in connections)
        self.dots = {c.name: connection_dot(c.color) for c in connections}
        self.setVisible(len(names) > 1)
        if names == self._names:
            return
        chosen = self.currentData()
        self.blockSignals(True)
        while self.count() > 1:
            self.removeItem(1)
        for name in names:
            self.addItem(self.dots[name], name, name)
        self.setCurrentIndex(max(0, self.findData(chosen)) if chosen in names else 0)
        self.blockSignals(False)
        self._names = names

    def chosen(self) -> str | None:
        """The connection's name to show only, or None for all."""
        return self.currentData() if self.isVisible() else None

    def choose(self, name: str | None) -> None:
        self.setCurrentIndex(max(0, self.findData(name)) if name else 0)

    def retranslate(self) -> None:
        self.setItemText(0, self.tr("All connections"))
