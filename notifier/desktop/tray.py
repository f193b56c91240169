"""The tray icon: connection state and unacknowledged count at a glance, and the app's menu.

The icon is drawn, not loaded: one function paints the bell in the state's colour and the badge
with the count, so the state icons, the app icon files (packaging/tools/make_icons.py) and the
tray always agree. A part that does not work beside the connection (the voice) adds a warning
triangle in the bottom-left corner, and the tooltip and the menu's first lines say why. The tray
only emits signals; the app decides what they do.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QColor,
    QIcon,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.shop_switch import ShopState
from notifier.desktop.badge_digits import draw_digits, text_width


class Look(StrEnum):
    """What the icon shows about the connection."""

    CONNECTED = "connected"
    CONNECTING = "connecting"  # connecting, or waiting to retry
    FAILED = "failed"  # needs the owner: wrong password, bad certificate, bad settings
    STOPPED = "stopped"


COLOURS = {
    Look.CONNECTED: "#2e9d57",
    Look.CONNECTING: "#e0a100",
    Look.FAILED: "#d93b3b",
    Look.STOPPED: "#8a8f98",
}

WARNING_COLOUR = "#f5b301"

# Mute choices offered in the menu, in seconds; "tomorrow" and "off" are special.
MUTE_30_MIN = 30 * 60
MUTE_1_H = 60 * 60
MUTE_TOMORROW = -1
MUTE_OFF = 0


def look_for(status: ConnectionStatus | None) -> Look:
    if status is None:
        return Look.STOPPED
    state = status.state
    if state in (ConnState.CONNECTED, ConnState.HISTORY_GAP):
        return Look.CONNECTED
    if state in (ConnState.CONNECTING, ConnState.WAITING):
        # Retrying after a wrong password will not fix itself: show it as failed.
        if state is ConnState.WAITING and status.reason in (ConnState.UNAUTHORIZED, ConnState.TLS_FAILURE):
            return Look.FAILED
        return Look.CONNECTING
    if state is ConnState.STOPPED:
        return Look.STOPPED
    return Look.FAILED


def badge_text(count: int) -> str:
    return "" if count <= 0 else ("99+" if count > 99 else str(count))


# At tray sizes (16-24 px) a badge on top of the bell hides half of it: there the bell shrinks
# into the top-left corner and the count sits in the free bottom-right one, at most two glyphs.
SMALL_ICON = 24
BELL_SHRINK = 0.72


def badge_text_for(count: int, size: int) -> str:
    text = badge_text(count)
    return "9+" if size <= SMALL_ICON and count > 9 else text


def paint_icon(size: int, look: Look = Look.CONNECTED, count: int = 0, warning: bool = False) -> QPixmap:
    """The app's bell on a round tile in the state's colour, with the count badge, and a warning
    triangle when something beside the connection does not work (the voice)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = float(size)
    text = badge_text_for(count, size)
    small = bool(text) and size <= SMALL_ICON
    painter.save()
    if small:
        painter.scale(BELL_SHRINK, BELL_SHRINK)
    _paint_bell(painter, s, look)
    painter.restore()
    if warning:
        _paint_warning(painter, s)

    if text and small:
        # No outline and the biggest digits that fit: one pixel of ring is noise at 16 px.
        height = s * (0.58 if len(text) == 1 else 0.5)
        glyphs = height * (0.78 if len(text) == 1 else 0.72)
        width = max(height, text_width(text, glyphs) + s * 0.1)
        rect = QRectF(s - width, s - height, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#c4161c"))
        painter.drawRoundedRect(rect, height / 2, height / 2)
        draw_digits(painter, rect.center(), glyphs, text, QColor("white"))
    elif text:
        diameter = s * (0.62 if len(text) > 2 else 0.54)
        rect = QRectF(s - diameter, 0, diameter, diameter)
        painter.setBrush(QColor("#c4161c"))
        painter.setPen(QPen(QColor("white"), max(1.0, s * 0.03)))
        painter.drawEllipse(rect.adjusted(s * 0.01, s * 0.01, -s * 0.01, -s * 0.01))
        draw_digits(painter, rect.center(), diameter * (0.3 if len(text) > 2 else 0.42), text,
                    QColor("white"))
    painter.end()
    return pixmap


def _paint_bell(painter: QPainter, s: float, look: Look) -> None:
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(COLOURS[look]))
    painter.drawEllipse(QRectF(s * 0.02, s * 0.02, s * 0.96, s * 0.96))

    # The bell: a dome widening into a flared rim, a clapper below, a knob on top.
    bell = QPainterPath()
    bell.moveTo(s * 0.22, s * 0.68)
    bell.cubicTo(s * 0.30, s * 0.60, s * 0.30, s * 0.50, s * 0.31, s * 0.42)
    bell.cubicTo(s * 0.32, s * 0.27, s * 0.40, s * 0.22, s * 0.50, s * 0.22)
    bell.cubicTo(s * 0.60, s * 0.22, s * 0.68, s * 0.27, s * 0.69, s * 0.42)
    bell.cubicTo(s * 0.70, s * 0.50, s * 0.70, s * 0.60, s * 0.78, s * 0.68)
    bell.closeSubpath()
    painter.setBrush(QColor("white"))
    painter.drawPath(bell)
    painter.drawEllipse(QPointF(s * 0.50, s * 0.74), s * 0.075, s * 0.075)
    painter.drawEllipse(QPointF(s * 0.50, s * 0.20), s * 0.045, s * 0.045)
    if look is Look.FAILED:
        # A diagonal stroke: readable without colour vision.
        pen = QPen(QColor("white"), max(1.0, s * 0.07))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        painter.drawLine(QPointF(s * 0.20, s * 0.20), QPointF(s * 0.80, s * 0.80))
        painter.setPen(Qt.PenStyle.NoPen)


def _paint_warning(painter: QPainter, s: float) -> None:
    """An amber triangle with "!" in the bottom-left corner, outlined to stand out on any tile."""
    side = s * (0.62 if s <= SMALL_ICON else 0.5)
    left, bottom = s * 0.0, s * 0.99
    triangle = QPainterPath()
    triangle.moveTo(left + side / 2, bottom - side * 0.87)
    triangle.lineTo(left + side, bottom)
    triangle.lineTo(left, bottom)
    triangle.closeSubpath()
    painter.setPen(QPen(QColor("white"), max(1.0, s * 0.04)))
    painter.setBrush(QColor(WARNING_COLOUR))
    painter.drawPath(triangle)
    pen = QPen(QColor("#202020"), max(1.0, s * 0.06))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    x = left + side / 2
    painter.drawLine(QPointF(x, bottom - side * 0.6), QPointF(x, bottom - side * 0.32))
    painter.drawPoint(QPointF(x, bottom - side * 0.15))


def make_icon(look: Look = Look.CONNECTED, count: int = 0, warning: bool = False) -> QIcon:
    icon = QIcon()
    for size in (16, 22, 24, 32, 48, 64):
        icon.addPixmap(paint_icon(size, look, count, warning))
    return icon


class Tray(QObject):
    """The tray icon and its menu. Emits what the owner asked for; draws what it is told."""

    open_orders = Signal()
    acknowledge_all = Signal()
    # Accept / reject the order the entry names (the one waiting longest, when the shop can).
    accept_order = Signal(object)
    reject_order = Signal(object)
    mute = Signal(int)  # seconds; MUTE_TOMORROW or MUTE_OFF
    shop_open_wanted = Signal(bool)  # 营业 (True) / 打烊 (False) on every connection, from the menu
    connection_open_wanted = Signal(str, bool)  # (connection id, 营业 / 打烊) on one connection alone
    reconnect = Signal()
    open_settings = Signal()
    open_log_folder = Signal()
    about = Signal()
    quit = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._status: ConnectionStatus | None = None
        self._connection_lines: list[QAction] = []  # one per connection, when there are several
        self._voice_problem = ""
        self._printer_problem = ""
        self._phone_problem = ""  # the escalation's phone alerts (desktop/escalation.py)
        self._glance = ""  # today's figures (order_life.glance_tooltip)
        # 营业 / 打烊 of each connection whose back end keeps that state, as its back end says.
        self._shop_states: tuple[ShopState, ...] = ()
        self._auto_accept_line = ""  # why auto-accept holds back ("" when it does not)
        self._count = 0
        self._decisions = False
        self._oldest = None  # the OrderEvent the accept / reject entries name
        self._drawn: tuple[Look, str, bool] | None = None
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self._build_menu()
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_activated)
        self._redraw()

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def _build_menu(self) -> None:
        menu = self.menu
        # The status sentence as the menu's (disabled) first line: the tooltip is hard to reach
        # on some desktops.
        self.action_status = menu.addAction("")
        self.action_status.setEnabled(False)
        self.action_voice_problem = menu.addAction("")  # shown while the voice does not work
        self.action_voice_problem.setEnabled(False)
        self.action_voice_problem.setVisible(False)
        self.action_auto_accept = menu.addAction("")  # shown while auto-accept holds back
        self.action_auto_accept.setEnabled(False)
        self.action_auto_accept.setVisible(False)
        menu.addSeparator()
        # 营业 / 打烊: ticked while the shop is open; a click asks the back end, and the tick
        # follows what the back end then says (set_shop_state), not the click.
        self.action_shop = menu.addAction("")
        self.action_shop.setCheckable(True)
        self.action_shop.setVisible(False)
        self.action_shop.triggered.connect(self._on_shop_clicked)
        # With several such connections: one checkable entry each, to open or close one alone.
        self.shop_menu = menu.addMenu("")
        self.shop_menu.menuAction().setVisible(False)
        self.action_orders = menu.addAction("", self.open_orders.emit)
        # Where the back end takes decisions they come first; stopping the ringing is this PC's.
        self.action_accept = menu.addAction("", lambda: self._for_oldest(self.accept_order))
        self.action_reject = menu.addAction("", lambda: self._for_oldest(self.reject_order))
        self.action_ack = menu.addAction("", self.acknowledge_all.emit)
        self.set_decisions_available(False)
        self.mute_menu = menu.addMenu("")
        group = QActionGroup(self)
        self.mute_actions: dict[int, QAction] = {}
        for seconds in (MUTE_30_MIN, MUTE_1_H, MUTE_TOMORROW, MUTE_OFF):
            action = self.mute_menu.addAction("")
            action.setCheckable(True)
            group.addAction(action)
            action.triggered.connect(lambda _checked=False, s=seconds: self.mute.emit(s))
            self.mute_actions[seconds] = action
        self.mute_actions[MUTE_OFF].setChecked(True)
        self.action_reconnect = menu.addAction("", self.reconnect.emit)
        menu.addSeparator()
        self.action_settings = menu.addAction("", self.open_settings.emit)
        self.action_logs = menu.addAction("", self.open_log_folder.emit)
        self.action_about = menu.addAction("", self.about.emit)
        menu.addSeparator()
        self.action_quit = menu.addAction("", self.quit.emit)
        self.retranslate()

    def retranslate(self) -> None:
        """Set every text in the current language (called again after a language change)."""
        self.action_orders.setText(self.tr("Orders"))
        self._show_shop()
        self.action_ack.setText(self.tr("Stop ringing here (all orders)"))
        self._name_oldest()
        self.mute_menu.setTitle(self.tr("Mute voice"))
        self.mute_actions[MUTE_30_MIN].setText(self.tr("For 30 minutes"))
        self.mute_actions[MUTE_1_H].setText(self.tr("For 1 hour"))
        self.mute_actions[MUTE_TOMORROW].setText(self.tr("Until tomorrow"))
        self.mute_actions[MUTE_OFF].setText(self.tr("Off (voice on)"))
        self.action_reconnect.setText(self.tr("Reconnect now"))
        self.action_settings.setText(self.tr("Settings…"))
        self.action_logs.setText(self.tr("Open log folder"))
        self.action_about.setText(self.tr("About Order Notifier"))
        self.action_quit.setText(self.tr("Quit"))
        if self._status is not None:
            self.set_status(self._status)
        else:
            self.action_status.setText(self.tr("Not connected yet"))

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def set_status(self, status: ConnectionStatus) -> None:
        """The connection's state; with several (`status.parts`), the icon shows the worst, the
        first line says which are down and one line per connection follows, each by name."""
        self._status = status
        sentence = status.sentence()
        self.icon.setToolTip(self._tooltip(sentence))
        for action in self._connection_lines:
            self.menu.removeAction(action)
        self._connection_lines = []
        if status.parts:
            down = status.down
            self.action_status.setText(
                self.tr("Not connected: {names}").format(names="、".join(down)) if down
                else self.tr("All {count} connections are up").format(count=len(status.parts)))
            for name, part in status.parts:
                line = QAction(("✓ " if part.healthy else "✕ ") + f"{name}: {part.sentence()}", self.menu)
                line.setEnabled(False)
                self.menu.insertAction(self.action_voice_problem, line)
                self._connection_lines.append(line)
        else:
            self.action_status.setText(sentence)
        self._redraw()

    def connection_lines(self) -> list[str]:
        """The menu's line for each connection (several connections only), as shown."""
        return [action.text() for action in self._connection_lines]

    def set_voice_problem(self, problem: str) -> None:
        """Orders are not read aloud: the icon shows a warning, the tooltip and the menu say
        why ("" when the voice works again)."""
        self._voice_problem = problem
        self.action_voice_problem.setText(self._voice_line())
        self.action_voice_problem.setVisible(bool(problem))
        self._refresh_tooltip()
        self._redraw()

    def _voice_line(self) -> str:
        return self.tr("Voice unavailable: {reason}").format(reason=self._voice_problem) \
            if self._voice_problem else ""

    @property
    def warning(self) -> bool:
        """Whether the icon shows the warning triangle (the voice does not work)."""
        return bool(self._voice_problem)

    def set_printer_problem(self, sentence: str) -> None:
        """Say in the tooltip why tickets wait ("" when the printer works again)."""
        self._printer_problem = sentence
        self._refresh_tooltip()

    def set_phone_problem(self, sentence: str) -> None:
        """Say in the tooltip which phone alert target fails ("" when they all work again)."""
        self._phone_problem = sentence
        self._refresh_tooltip()

    def set_glance(self, line: str) -> None:
        """Today's figures, as the tooltip's second line ("" for none)."""
        self._glance = line
        self._refresh_tooltip()

    def add_orders_menu(self, submenu: QMenu) -> None:
        """A submenu of orders (order_life's orders under way), after the order entries."""
        self.menu.insertMenu(self.mute_menu.menuAction(), submenu)

    def set_shop_states(self, states: Sequence[ShopState]) -> None:
        """营业 / 打烊 of each connection whose back end keeps that state, on the menu and in the
        tooltip (by name when there are several); none: the entry is hidden."""
        self._shop_states = tuple(states)
        self._show_shop()
        self._refresh_tooltip()

    def _state_words(self, is_open: bool | None) -> str:
        if is_open is None:
            return self.tr("state not known yet")
        return self.tr("Shop open (taking orders)") if is_open else self.tr("Shop closed")

    def _shop_lines(self) -> list[str]:
        states = self._shop_states
        if len(states) == 1:
            return [self._state_words(states[0].is_open)] if states[0].is_open is not None else []
        return [f"{state.name}: {self._state_words(state.is_open)}" for state in states]

    def _show_shop(self) -> None:
        states = self._shop_states
        overall = self.shop_open
        self.action_shop.setVisible(bool(states))
        self.action_shop.setChecked(overall is True)
        if len(states) > 1:
            opened = sum(state.is_open is True for state in states)
            if overall is True:
                text = self.tr("Open for orders on all {count}").format(count=len(states))
            elif overall is False:
                text = self.tr("Closed on all {count} — click to open all").format(count=len(states))
            else:
                text = self.tr("Open on {open} of {count} — click to open all").format(open=opened, count=len(states))
        elif not states or overall is None:
            text = self.tr("Open for orders (state not known yet)")
        else:
            text = self.tr("Open for orders") if overall else self.tr("Closed — click to open")
        self.action_shop.setText(text)
        self.shop_menu.setTitle(self.tr("Open or close one connection"))
        self.shop_menu.clear()
        self.shop_menu.menuAction().setVisible(len(states) > 1)
        if len(states) > 1:
            for state in states:
                entry = self.shop_menu.addAction(f"{state.name}: {self._state_words(state.is_open)}")
                entry.setCheckable(True)
                entry.setChecked(state.is_open is True)
                entry.triggered.connect(lambda checked, state=state, entry=entry:
                                        self._on_one_shop_clicked(entry, state, checked))

    def _on_shop_clicked(self, checked: bool) -> None:
        self.action_shop.setChecked(self.shop_open is True)  # until the back ends say otherwise
        self.shop_open_wanted.emit(checked)

    def _on_one_shop_clicked(self, entry: QAction, state: ShopState, checked: bool) -> None:
        entry.setChecked(state.is_open is True)  # the tick follows the back end, not the click
        self.connection_open_wanted.emit(state.connection_id, checked)

    def shop_entries(self) -> list[QAction]:
        """The per-connection 营业 / 打烊 entries (several connections only), as shown."""
        return list(self.shop_menu.actions()) if len(self._shop_states) > 1 else []

    @property
    def shop_open(self) -> bool | None:
        """True when every switchable connection is open, False when every one is closed, None
        when they differ, one is not known yet, or there is none."""
        known = {state.is_open for state in self._shop_states}
        return known.pop() if len(known) == 1 else None

    def shop_states(self) -> dict[str, bool | None]:
        """Each switchable connection's state by its name."""
        return {state.name: state.is_open for state in self._shop_states}

    def set_auto_accept_line(self, sentence: str) -> None:
        """Why auto-accept holds back (printer offline, shop closed), "" when it does not."""
        self._auto_accept_line = sentence
        self.action_auto_accept.setText(sentence)
        self.action_auto_accept.setVisible(bool(sentence))
        self._refresh_tooltip()

    def _refresh_tooltip(self) -> None:
        sentence = self._status.sentence() if self._status is not None else ""
        self.icon.setToolTip(self._tooltip(sentence))

    def _tooltip(self, sentence: str) -> str:
        """The connection's sentence, then what does not work beside it (voice, printer)."""
        lines = [sentence] if sentence else []
        lines.extend(self._shop_lines())
        if self._auto_accept_line:
            lines.append(self._auto_accept_line)
        if self._glance:
            lines.append(self._glance)
        if self._voice_problem:
            lines.append(self._voice_line())
        if self._printer_problem:
            lines.append(self._printer_problem)
        if self._phone_problem:
            lines.append(self._phone_problem)
        return "\n".join(lines)

    def set_decisions_available(self, available: bool) -> None:
        """Show accept / reject only when the shop's back end takes them (and an order waits)."""
        self._decisions = available
        self._name_oldest()

    def set_oldest_order(self, event) -> None:
        """The order the accept / reject entries act on and name (None: none waits)."""
        self._oldest = event
        self._name_oldest()

    def _for_oldest(self, signal) -> None:
        if self._oldest is not None:
            signal.emit(self._oldest)

    def _name_oldest(self) -> None:
        number = self._oldest.display_number if self._oldest is not None else ""
        self.action_accept.setText(self.tr("Accept order %1").replace("%1", number))
        self.action_reject.setText(self.tr("Reject order %1…").replace("%1", number))
        shown = self._decisions and self._oldest is not None
        self.action_accept.setVisible(shown)
        self.action_reject.setVisible(shown)

    def set_count(self, count: int) -> None:
        if count != self._count:
            self._count = count
            self._redraw()

    def set_muted(self, muted_choice: int) -> None:
        """Tick the menu entry for the mute state the alert centre is in."""
        action = self.mute_actions.get(muted_choice)
        if action:
            action.setChecked(True)

    @property
    def look(self) -> Look:
        return look_for(self._status)

    @property
    def count(self) -> int:
        return self._count

    def _redraw(self) -> None:
        key = (self.look, badge_text(self._count), self.warning)  # same key: same picture
        if key == self._drawn:
            return  # same picture: skip the repaint and the D-Bus/X11 round trip
        self._drawn = key
        self.icon.setIcon(make_icon(self.look, self._count, self.warning))

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.open_orders.emit()
