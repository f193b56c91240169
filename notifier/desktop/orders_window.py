"""The orders window: recent orders from the ledger, accepting or rejecting them where the shop's
back end takes decisions (and after that 派送 / 完成 / 取消: `order_life`), stopping their
ringing here, opening them in a browser; today's figures in its header.

The table is a QAbstractTableModel over a list of ledger entries, so thousands of rows cost one
query and no widgets. Reloads are coalesced: a burst of orders reloads at most a few times a
second, and not at all while the window is hidden (it reloads when shown).

The status column tells each order's story at a glance: one outcome per order (`outcome`), each
with its own short text, colour and drawn mark (filled for "here", outlined for "elsewhere"), and
the column is as wide as its longest text, so nothing is clipped at the window's default size.
Order numbers are cut at their start when the column is narrow: the last digits are the ones
the voice says and the counter matches orders by.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRectF,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QDesktopServices,
    QFont,
    QFontMetrics,
    QIcon,
    QKeySequence,
    QPainter,
    QPen,
    QPixmap,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QStyledItemDelegate,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from notifier.core.connections import connections_of
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.i18n import language
from notifier.core.ledger import Ending, Ledger, LedgerEntry
from notifier.core.order_links import order_url
from notifier.core.order_state import LIFE_ACTIONS, STATES
from notifier.core.settings import Settings
from notifier.core.text import plain
from notifier.desktop.connection_filter import ConnectionFilter
from notifier.desktop.hour_chart import HourChart
from notifier.desktop.identity import give_icon
from notifier.desktop.order_details_text import details_lines
from notifier.desktop.order_life import action_label, state_text

log = logging.getLogger(__name__)

# "All" shows this many newest entries; more would only slow the window, and the search reaches
# further back because it filters in SQL.
ALL_LIMIT = 5000
RELOAD_MIN_INTERVAL_MS = 300

FILTER_TODAY, FILTER_UNACKNOWLEDGED, FILTER_ALL = "today", "unacknowledged", "all"


def day_start(now: float | None = None) -> float:
    """Local midnight of the day containing `now`, as epoch seconds."""
    moment = datetime.fromtimestamp(time.time() if now is None else now)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


# An order's outcome, as the status column shows it (see `outcome`).
WAITING, UNSENT_ACCEPT, UNSENT_REJECT = "waiting", "unsent_accept", "unsent_reject"
OUTCOMES = (WAITING, UNSENT_ACCEPT, UNSENT_REJECT, *Ending.ALL)
# colour, mark, filled (decided here) or outlined (elsewhere)
_LOOKS = {
    WAITING: ("#c62828", "dot", True),
    UNSENT_ACCEPT: ("#b26a00", "clock", True),
    UNSENT_REJECT: ("#b26a00", "clock", True),
    Ending.ACCEPTED_HERE: ("#2e7d32", "check", True),
    Ending.ACCEPTED_ELSEWHERE: ("#2e7d32", "check", False),
    Ending.REJECTED_HERE: ("#8e24aa", "cross", True),
    Ending.REJECTED_ELSEWHERE: ("#8e24aa", "cross", False),
    Ending.CANCELLED: ("#6d6d6d", "slash", True),
    Ending.ACKNOWLEDGED: ("#1565c0", "dash", False),
}
MARK_PX = 14


def outcome(entry: LedgerEntry, unsent: bool = False) -> str:
    """What became of the order: WAITING, an unsent decision of this PC (offline), or how its
    alert ended (an `Ending`)."""
    if unsent and entry.ended_how in (Ending.ACCEPTED_HERE, Ending.REJECTED_HERE):
        return UNSENT_ACCEPT if entry.ended_how == Ending.ACCEPTED_HERE else UNSENT_REJECT
    if entry.ended_how:
        return entry.ended_how
    return Ending.ACKNOWLEDGED if entry.acknowledged else WAITING


def paint_mark(which: str, size: int = MARK_PX) -> QPixmap:
    """The status mark of an outcome: a round tile, filled for what happened here (or still
    waits here), outlined for what happened elsewhere, with its symbol."""
    colour_name, symbol, filled = _LOOKS[which]
    colour = QColor(colour_name)
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = float(size)
    line = max(1.5, s * 0.13)
    painter.setPen(QPen(colour, line))
    painter.setBrush(colour if filled else Qt.GlobalColor.transparent)
    painter.drawEllipse(QRectF(line / 2, line / 2, s - line, s - line))
    pen = QPen(QColor("white") if filled else colour, line)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    if symbol == "check":
        painter.drawPolyline([QPointF(s * 0.28, s * 0.52), QPointF(s * 0.44, s * 0.68), QPointF(s * 0.72, s * 0.34)])
    elif symbol == "cross":
        painter.drawLine(QPointF(s * 0.33, s * 0.33), QPointF(s * 0.67, s * 0.67))
        painter.drawLine(QPointF(s * 0.67, s * 0.33), QPointF(s * 0.33, s * 0.67))
    elif symbol == "slash":
        painter.drawLine(QPointF(s * 0.3, s * 0.7), QPointF(s * 0.7, s * 0.3))
    elif symbol == "dash":
        painter.drawLine(QPointF(s * 0.32, s * 0.5), QPointF(s * 0.68, s * 0.5))
    elif symbol == "clock":
        painter.drawLine(QPointF(s * 0.5, s * 0.28), QPointF(s * 0.5, s * 0.52))
        painter.drawLine(QPointF(s * 0.5, s * 0.52), QPointF(s * 0.68, s * 0.62))
    painter.end()
    return pixmap


class TailFirstDelegate(QStyledItemDelegate):
    """Cuts a cell's text at its start ("…1205-3456"): an order number's last digits stay."""

    def initStyleOption(self, option, index) -> None:  # noqa: N802 - Qt's name
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideLeft


def format_amount(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return ""
    symbol = {"CNY": "¥", "RMB": "¥", "USD": "$", "EUR": "€"}.get(currency.upper(), "")
    text = f"{amount:,.2f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


class OrdersModel(QAbstractTableModel):
    """Ledger entries as rows; newest first, as the ledger returns them."""

    # "connection" last: shown only when the shop has several (OrdersWindow hides it otherwise).
    COLUMNS = ("time", "kind", "number", "amount", "customer", "status", "state", "connection")

    def __init__(self, parent=None, clock: Callable[[], float] = time.time):
        super().__init__(parent)
        self._clock = clock
        self._entries: list[LedgerEntry] = []
        self._today = day_start(clock())
        self._bold = QFont()
        self._bold.setBold(True)
        self._marks = {which: QIcon(paint_mark(which)) for which in OUTCOMES}

    def headers(self) -> tuple[str, ...]:
        return (self.tr("Time"), self.tr("Kind"), self.tr("Order number"), self.tr("Amount"),
                self.tr("Customer"), self.tr("Status"), self.tr("State"), self.tr("Connection"))

    unsent: set = frozenset()  # (source, server, order id, connection id) decided here, not yet sent
    dots: dict = {}  # connection name -> its coloured dot (ConnectionFilter.dots)

    def set_entries(self, entries: list[LedgerEntry]) -> None:
        self.beginResetModel()
        self._entries = entries
        self._today = day_start(self._clock())
        self.endResetModel()

    def entry(self, row: int) -> LedgerEntry | None:
        return self._entries[row] if 0 <= row < len(self._entries) else None

    def entries(self) -> list[LedgerEntry]:
        return list(self._entries)

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() else len(self._entries)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.headers()[section]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if self.COLUMNS[section] == "amount" else Qt.AlignmentFlag.AlignLeft
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        return None

    def kind_text(self, kind: OrderKind) -> str:
        return {
            OrderKind.NEW_ORDER: self.tr("New order"),
            OrderKind.REMINDER: self.tr("Reminder"),
            OrderKind.CANCELLED: self.tr("Cancelled"),
            OrderKind.REFUND: self.tr("Refund"),
        }[kind]

    def ending_text(self, how: str | None) -> str:
        return self.outcome_text(how or Ending.ACKNOWLEDGED)

    def outcome_text(self, which: str) -> str:
        return {
            WAITING: self.tr("Waiting"),
            UNSENT_ACCEPT: self.tr("Accept not sent yet"),
            UNSENT_REJECT: self.tr("Reject not sent yet"),
            Ending.ACCEPTED_HERE: self.tr("Accepted here"),
            Ending.REJECTED_HERE: self.tr("Rejected here"),
            Ending.ACCEPTED_ELSEWHERE: self.tr("Accepted elsewhere"),
            Ending.REJECTED_ELSEWHERE: self.tr("Rejected elsewhere"),
            Ending.CANCELLED: self.tr("Cancelled by the customer"),
            Ending.ACKNOWLEDGED: self.tr("Silenced here"),
        }[which]

    def outcome_of(self, entry: LedgerEntry) -> str:
        event = entry.event
        return outcome(entry, (event.source, event.server, event.order_id, event.connection_id) in self.unsent)

    def status_text(self, entry: LedgerEntry) -> str:
        return self.outcome_text(self.outcome_of(entry))

    def outcome_help(self, which: str) -> str:
        """What the outcome means, for the status cell's tooltip."""
        if which == Ending.ACKNOWLEDGED:
            return self.tr("Only this PC stopped ringing; the order system was not told anything.")
        if which in (UNSENT_ACCEPT, UNSENT_REJECT):
            return self.tr("Decided here; sent as soon as the order system answers.")
        return ""

    def time_text(self, received_at: float) -> str:
        moment = datetime.fromtimestamp(received_at)
        if received_at >= self._today:
            return moment.strftime("%H:%M:%S")
        return moment.strftime("%m-%d %H:%M")

    def data(self, index: QModelIndex | QPersistentModelIndex, role=Qt.ItemDataRole.DisplayRole):
        entry = self.entry(index.row())
        if entry is None:
            return None
        column = self.COLUMNS[index.column()]
        event = entry.event
        if role == Qt.ItemDataRole.DisplayRole:
            if column == "time":
                return self.time_text(entry.received_at)
            if column == "kind":
                return self.kind_text(event.kind)
            if column == "number":
                return plain(event.display_number, 60)
            if column == "amount":
                return format_amount(event.amount, event.currency)
            if column == "customer":
                return plain(event.customer, 120)
            if column == "state":
                return state_text(entry.state) if event.kind is OrderKind.NEW_ORDER else ""
            if column == "connection":
                return plain(event.connection, 40)
            return self.status_text(entry)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [f"{self.kind_text(event.kind)} #{plain(event.display_number, 40)}"]
            if event.text:
                lines.append(plain(event.text, 300))
            lines.extend(details_lines(event.details, language(), event.currency))
            which = self.outcome_of(entry)
            when = entry.ended_at or entry.acknowledged_at
            if when and which != WAITING:
                lines.append(self.tr("%1 at %2").replace("%1", self.outcome_text(which)).replace(
                    "%2", datetime.fromtimestamp(when).strftime("%H:%M:%S")))
            if self.outcome_help(which):
                lines.append(self.outcome_help(which))
            if entry.end_reason:
                lines.append(f"{self.status_text(entry)}: {plain(entry.end_reason, 200)}")
            return "\n".join(lines)
        if role == Qt.ItemDataRole.FontRole and not entry.acknowledged:
            return self._bold
        if role == Qt.ItemDataRole.DecorationRole and column == "status":
            return self._marks[self.outcome_of(entry)]
        if role == Qt.ItemDataRole.DecorationRole and column == "connection":
            return self.dots.get(event.connection)
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == "kind" and event.kind is OrderKind.REMINDER:
                return QBrush(QColor("#c0570c"))
            if column == "kind" and event.kind in (OrderKind.CANCELLED, OrderKind.REFUND):
                return QBrush(QColor("#8a8a8a"))
            if column == "status":
                return QBrush(QColor(_LOOKS[self.outcome_of(entry)][0]))
        if role == Qt.ItemDataRole.TextAlignmentRole and column == "amount":
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return entry.id
        return None


class OrdersWindow(QWidget):
    """Recent orders; acknowledge selected or all; open one in the browser; filter and search."""

    acknowledged = Signal()

    def __init__(self, ledger: Ledger, settings_provider: Callable[[], Settings], parent=None,
                 clock: Callable[[], float] = time.time):
        """`clock`: what "today" and "now" mean (a fixed one makes reproducible screenshots)."""
        super().__init__(parent)
        self.ledger = ledger
        self._clock = clock
        self._settings_provider = settings_provider
        self._filter = FILTER_TODAY
        self._stale = True
        self._last_reload = 0.0
        self._waiting = 0  # unacknowledged orders at the last reload (retranslating asks no query)
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.timeout.connect(self.reload)
        self._search_timer = QTimer(self)  # wait for a pause in typing before querying
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(200)
        self._search_timer.timeout.connect(self.reload)
        self.setObjectName("OrdersWindow")
        give_icon(self)
        self.resize(960, 600)  # room for the state column and the steps after 接单
        self.setMinimumSize(560, 380)
        self._build()
        self.retranslate()

    # -- construction ----------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(10)

        self.glance_label = QLabel(self)  # today's figures (set_glance)
        self.glance_label.setObjectName("today_figures")
        self.glance_label.setWordWrap(True)
        self.glance_label.hide()
        layout.addWidget(self.glance_label)
        self.chart = HourChart(self)
        layout.addWidget(self.chart)

        bar = QHBoxLayout()
        bar.setSpacing(6)
        self.filter_buttons = QButtonGroup(self)
        self.filter_buttons.setExclusive(True)
        self._filter_button: dict[str, QPushButton] = {}
        for name in (FILTER_TODAY, FILTER_UNACKNOWLEDGED, FILTER_ALL):
            button = QPushButton(self)
            button.setCheckable(True)
            button.setObjectName(f"filter_{name}")
            button.setChecked(name == self._filter)
            button.clicked.connect(lambda _checked=False, n=name: self.set_filter(n))
            self.filter_buttons.addButton(button)
            self._filter_button[name] = button
            bar.addWidget(button)
        bar.addSpacing(12)
        self.search = QLineEdit(self)
        self.search.setObjectName("search")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        bar.addWidget(self.search, 1)
        self.ending_filter = QComboBox(self)  # how the alert ended (see Ending)
        self.ending_filter.setObjectName("ending_filter")
        for how in (None, *Ending.ALL):
            self.ending_filter.addItem("", how)
        self.ending_filter.currentIndexChanged.connect(lambda _index: self.reload())
        bar.addWidget(self.ending_filter)
        self.state_filter = QComboBox(self)  # where the order is in its life (order_state)
        self.state_filter.setObjectName("state_filter")
        for state in (None, *STATES):
            self.state_filter.addItem("", state)
        self.state_filter.currentIndexChanged.connect(lambda _index: self.reload())
        bar.addWidget(self.state_filter)
        self.connection_filter = ConnectionFilter(self)
        self.connection_filter.currentIndexChanged.connect(lambda _index: self.reload())
        bar.addWidget(self.connection_filter)
        layout.addLayout(bar)

        self.model = OrdersModel(self, self._clock)
        self.table = QTableView(self)
        self.table.setObjectName("orders")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.setItemDelegateForColumn(OrdersModel.COLUMNS.index("number"), TailFirstDelegate(self.table))
        self.table.setStyleSheet("QTableView::item { padding: 0 6px; }"
                                 "QHeaderView::section { padding: 3px 6px; border: none;"
                                 " border-bottom: 1px solid palette(mid); background: palette(window); }")
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.doubleClicked.connect(lambda _index: self.open_selected_in_browser())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        layout.addWidget(self.table, 1)

        self.empty_label = QLabel(self.table.viewport())
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet("color: palette(mid); font-size: 11pt;")
        self.empty_label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)

        actions = QHBoxLayout()
        actions.setSpacing(8)
        self.summary_label = QLabel(self)
        self.summary_label.setObjectName("summary")
        self.summary_label.setStyleSheet("color: palette(mid);")
        actions.addWidget(self.summary_label, 1)
        self.open_button = QPushButton(self)
        self.open_button.setObjectName("open_in_browser")
        self.open_button.clicked.connect(self.open_selected_in_browser)
        self.ack_selected_button = QPushButton(self)
        self.ack_selected_button.setObjectName("acknowledge_selected")
        self.ack_selected_button.clicked.connect(self.acknowledge_selected)
        self.ack_all_button = QPushButton(self)
        self.ack_all_button.setObjectName("acknowledge_all")
        self.ack_all_button.setDefault(True)
        self.ack_all_button.clicked.connect(self.acknowledge_all)
        self.accept_button = QPushButton(self)  # shown when the shop's back end takes decisions
        self.accept_button.setObjectName("accept_selected")
        self.accept_button.clicked.connect(self.accept_selected)
        self.reject_button = QPushButton(self)
        self.reject_button.setObjectName("reject_selected")
        self.reject_button.clicked.connect(self.reject_selected)
        self.accept_button.hide()
        self.reject_button.hide()
        self.life = None  # desktop.order_life.OrderLife, set by the app (set_order_life)
        self.life_buttons: dict[str, QPushButton] = {}
        for action in LIFE_ACTIONS:
            button = QPushButton(self)
            button.setObjectName(f"{action}_selected")
            button.clicked.connect(lambda _checked=False, a=action: self.take_step(a))
            button.hide()
            self.life_buttons[action] = button
        self.decisions = None  # desktop.decisions.OrderDecisions, set by the app
        self.reprint = None  # prints a ticket again for a ledger entry id (set_reprint)
        for button in (self.open_button, self.accept_button, self.reject_button,
                       *self.life_buttons.values(), self.ack_selected_button, self.ack_all_button):
            actions.addWidget(button)
        layout.addLayout(actions)

        QShortcut(QKeySequence.StandardKey.Find, self, activated=self.search.setFocus)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.close)
        QShortcut(QKeySequence(Qt.Key.Key_Space), self.table, activated=self.acknowledge_selected)

    def retranslate(self) -> None:
        self.setWindowTitle(self.tr("Orders — Order Notifier"))
        self._filter_button[FILTER_TODAY].setText(self.tr("Today"))
        self.ending_filter.setItemText(0, self.tr("Any outcome"))
        self.connection_filter.retranslate()
        for row, how in enumerate(Ending.ALL, start=1):
            self.ending_filter.setItemText(row, self.model.ending_text(how))
        self.accept_button.setText(self.tr("Accept"))
        self.reject_button.setText(self.tr("Reject…"))
        self.state_filter.setItemText(0, self.tr("Any state"))
        for row, state in enumerate(STATES, start=1):
            self.state_filter.setItemText(row, state_text(state))
        for action, button in self.life_buttons.items():
            button.setText(action_label(action))
        self._filter_button[FILTER_UNACKNOWLEDGED].setText(self.tr("Still ringing"))
        self._filter_button[FILTER_ALL].setText(self.tr("All"))
        self.search.setPlaceholderText(self.tr("Search order number, customer or text"))
        self.open_button.setText(self.tr("Open in browser"))
        # Not "acknowledge": it only silences this PC; accepting is the shop's decision.
        self.ack_selected_button.setText(self.tr("Stop ringing (selected)"))
        self.ack_all_button.setText(self.tr("Stop ringing (all)"))
        silence_help = self.model.outcome_help(Ending.ACKNOWLEDGED)
        self.ack_selected_button.setToolTip(silence_help)
        self.ack_all_button.setToolTip(silence_help)
        self.model.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, self.model.columnCount() - 1)
        self._size_columns()
        self._update_buttons()
        self._update_summary()

    def _size_columns(self) -> None:
        # Widths from the longest text each column can hold (in bold: waiting rows are bold),
        # not ResizeToContents, which would measure every row of a table with thousands.
        bold = QFont(self.table.font())
        bold.setBold(True)
        metrics = QFontMetrics(bold)
        header = self.table.horizontalHeader()
        titles = self.model.headers()
        samples = {
            0: ["88-88 88:88", "88:88:88"],
            1: [self.model.kind_text(kind) for kind in OrderKind],
            2: ["8" * 13],
            3: ["¥88,888.88"],
            5: [self.model.outcome_text(which) for which in OUTCOMES],
            6: [state_text(state) for state in STATES],
        }
        for column, texts in samples.items():
            widest = max(metrics.horizontalAdvance(text) for text in [*texts, titles[column]])
            mark = MARK_PX + 8 if column == 5 else 0  # the status mark and its gap
            header.resizeSection(column, widest + mark + 24)

    def changeEvent(self, event) -> None:
        from PySide6.QtCore import QEvent

        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
            self.chart.update()
            self.model.layoutChanged.emit()
        super().changeEvent(event)

    # -- loading ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """The ledger changed: reload soon (at once if idle), or when next shown if hidden."""
        self._stale = True
        if not self.isVisible():
            return
        waited_ms = (time.monotonic() - self._last_reload) * 1000
        if waited_ms >= RELOAD_MIN_INTERVAL_MS:
            self.reload()
        elif not self._reload_timer.isActive():
            self._reload_timer.start(int(RELOAD_MIN_INTERVAL_MS - waited_ms))

    def reload(self) -> None:
        """Query the ledger now and keep the selection on the same orders."""
        self._reload_timer.stop()
        self._stale = False
        self._last_reload = time.monotonic()
        selected = set(self.selected_entry_ids())
        now = self._clock()
        today = day_start(now)
        search = self.search.text().strip()
        how = self.ending_filter.currentData()
        state = self.state_filter.currentData()
        self.connection_filter.set_connections(connections_of(self._settings_provider()))
        self.table.setColumnHidden(OrdersModel.COLUMNS.index("connection"), not self.connection_filter.isVisible())
        self.model.dots = self.connection_filter.dots
        only = {"ended_how": how, "state": state, "connection": self.connection_filter.chosen()}
        if self._filter == FILTER_TODAY:
            entries = self.ledger.recent(ALL_LIMIT, since=today, search=search, **only)
        elif self._filter == FILTER_UNACKNOWLEDGED:
            entries = self.ledger.recent(ALL_LIMIT, unacknowledged_only=True, search=search, **only)
        else:
            entries = self.ledger.recent(ALL_LIMIT, search=search, **only)
        self.model.unsent = self.decisions.unsent() if self.decisions is not None else frozenset()
        self.model.set_entries(entries)
        self.chart.set_counts(self.ledger.per_hour(today), datetime.fromtimestamp(now).hour)
        self._waiting = self.ledger.unacknowledged_orders()
        if selected:
            self._select_ids(selected)
        self._update_buttons()
        self._update_summary()

    def set_filter(self, name: str) -> None:
        if name not in self._filter_button:
            raise ValueError(f"unknown filter {name!r}")
        self._filter = name
        self._filter_button[name].setChecked(True)
        self.reload()

    @property
    def current_filter(self) -> str:
        return self._filter

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self.reload()

    def closeEvent(self, event) -> None:
        # The app lives in the tray: closing only hides the window.
        event.ignore()
        self.hide()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.empty_label.setGeometry(self.table.viewport().rect())

    # -- selection and actions -------------------------------------------------------------

    def selected_entries(self) -> list[LedgerEntry]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [entry for row in rows if (entry := self.model.entry(row)) is not None]

    def selected_entry_ids(self) -> list[int]:
        return [entry.id for entry in self.selected_entries()]

    def _select_ids(self, ids: set[int]) -> None:
        selection = self.table.selectionModel()
        selection.clearSelection()
        first = None
        for row, entry in enumerate(self.model.entries()):
            if entry.id in ids:
                selection.select(self.model.index(row, 0),
                                 selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
                first = row if first is None else first
        if first is not None:
            self.table.setCurrentIndex(self.model.index(first, 0))

    def acknowledge_selected(self) -> int:
        ids = [entry.id for entry in self.selected_entries() if not entry.acknowledged]
        return self._acknowledge(lambda: self.ledger.acknowledge(ids)) if ids else 0

    def acknowledge_all(self) -> int:
        return self._acknowledge(self.ledger.acknowledge_all)

    def _acknowledge(self, write: Callable[[], int]) -> int:
        changed = write()
        self.reload()
        if changed:
            self.acknowledged.emit()
        return changed

    def open_selected_in_browser(self) -> str:
        entries = self.selected_entries()
        if not entries:
            return ""
        url = order_url(self._settings_provider()["alerts.order_url"], entries[0].event)
        if url:
            QDesktopServices.openUrl(QUrl(url))
        return url

    def focus_order(self, event: OrderEvent | None) -> None:
        """Show the window (raised) with this order selected, or just show it."""
        if not self.isVisible() or self._stale:
            self.show()
            self.reload()
        self.showNormal()
        self.raise_()
        self.activateWindow()
        if event is None:
            return
        row = self._row_of(event)
        if row is None and (self._filter != FILTER_ALL or self.search.text()):
            # The order is hidden by the filter or the search: show everything rather than nothing.
            self.search.blockSignals(True)
            self.search.clear()
            self.search.blockSignals(False)
            self.set_filter(FILTER_ALL)
            row = self._row_of(event)
        if row is None:
            return
        self.table.clearSelection()
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtCenter)

    def _row_of(self, event: OrderEvent) -> int | None:
        for row, entry in enumerate(self.model.entries()):
            other = entry.event
            if (other.order_id, other.source, other.server, other.connection_id) == \
                    (event.order_id, event.source, event.server, event.connection_id):
                return row
        return None

    def _context_menu(self, position) -> None:
        if not self.selected_entries():
            return
        menu = QMenu(self)
        steps = self._steps()
        if self.accept_button.isVisible():  # the shop's back end takes decisions: they come first
            accept = menu.addAction(self.tr("Accept"), self.accept_selected)
            accept.setEnabled(self.accept_button.isEnabled())
            reject = menu.addAction(self.tr("Reject…"), self.reject_selected)
            reject.setEnabled(self.reject_button.isEnabled())
        for action in steps:  # or, once it is accepted, what comes next
            menu.addAction(action_label(action), lambda a=action: self.take_step(a))
        if self.accept_button.isVisible() or steps:
            menu.addSeparator()
        silence = menu.addAction(self.tr("Stop ringing here"), self.acknowledge_selected)
        silence.setEnabled(self.ack_selected_button.isEnabled())
        action = menu.addAction(self.tr("Open in browser"), self.open_selected_in_browser)
        action.setEnabled(self.open_button.isEnabled())
        if self.reprint is not None:
            action = menu.addAction(self.tr("Reprint ticket"), self.reprint_selected)
            action.setObjectName("reprint_selected")
            action.setEnabled(bool(self._reprintable()))
        self._menu = menu  # kept for tests, which look at it while it is open
        menu.exec(self.table.viewport().mapToGlobal(position))

    def set_reprint(self, reprint: Callable[[int], int] | None) -> None:
        """Offer "Reprint ticket" (a kitchen ticket marked as a reprint) through `reprint`."""
        self.reprint = reprint

    def _reprintable(self) -> list[LedgerEntry]:
        return [e for e in self.selected_entries() if e.event.kind is OrderKind.NEW_ORDER]

    def reprint_selected(self) -> int:
        """Queue a reprint of each selected new order; how many tickets were queued."""
        if self.reprint is None:
            return 0
        return sum(self.reprint(entry.id) for entry in self._reprintable())

    def set_decisions(self, decisions) -> None:
        """Offer accept / reject through `decisions` (an OrderDecisions) when it can."""
        self.decisions = decisions
        self._update_buttons()

    def set_order_life(self, life) -> None:
        """Offer 派送 / 完成 / 取消 through `life` (an order_life.OrderLife)."""
        self.life = life
        self._update_buttons()

    def set_glance(self, text: str) -> None:
        """Today's figures for the header (order_life.glance_header)."""
        self.glance_label.setText(text)
        self.glance_label.setVisible(bool(text))

    def _steps(self) -> tuple[str, ...]:
        """The steps the one selected order can take now (none for several or none selected)."""
        entries = self.selected_entries()
        if self.life is None or len(entries) != 1:
            return ()
        return self.life.offered(entries[0])

    def take_step(self, action: str) -> bool:
        """派送, 完成 or 取消 (asking why) the selected order."""
        entries = self.selected_entries()
        if self.life is None or len(entries) != 1 or action not in self._steps():
            return False
        done = self.life.act(entries[0].event, action, parent=self)
        self.reload()
        return done

    def _decidable(self) -> list[LedgerEntry]:
        """Selected orders nobody has accepted or rejected yet (only acknowledged is fine)."""
        return [e for e in self.selected_entries() if e.event.kind is OrderKind.NEW_ORDER
                and e.ended_how in (None, Ending.ACKNOWLEDGED)]

    def accept_selected(self) -> int:
        if self.decisions is None:
            return 0
        done = sum(1 for entry in self._decidable() if self.decisions.accept(entry.event))
        self.reload()
        return done

    def reject_selected(self) -> int:
        entries = self._decidable()
        if self.decisions is None or len(entries) != 1:
            return 0
        done = int(self.decisions.reject(entries[0].event, parent=self))
        self.reload()
        return done

    def _update_buttons(self) -> None:
        entries = self.selected_entries()
        decisions = self.decisions
        offered = decisions is not None and decisions.available
        steps = self._steps()
        # An accepted order's next steps take the place of accept / reject (which it is past).
        self.accept_button.setVisible(offered and not steps)
        self.reject_button.setVisible(offered and not steps)
        if offered:
            decidable = self._decidable()
            self.accept_button.setEnabled(bool(decidable))
            self.reject_button.setEnabled(len(decidable) == 1)
        for action, button in self.life_buttons.items():
            button.setVisible(action in steps)
        has_url = bool(self._settings_provider()["alerts.order_url"].strip())
        self.ack_selected_button.setEnabled(any(not e.acknowledged for e in entries))
        self.open_button.setEnabled(has_url and len(entries) == 1)
        self.open_button.setToolTip("" if has_url else self.tr(
            "Set the address for opening orders in Settings → Alerts."))
        self.ack_all_button.setEnabled(self._waiting > 0)

    def _update_summary(self) -> None:
        waiting = self._waiting
        shown = self.model.rowCount()
        text = self.tr("%n order(s) shown", "", shown)
        if waiting:
            text += "  ·  " + self.tr("%n still ringing", "", waiting)
        self.summary_label.setText(text)
        if shown:
            self.empty_label.hide()
        else:
            self.empty_label.setText(self.tr("No orders match the search.") if self.search.text().strip()
                                     else self.tr("No orders yet. New orders appear here as they arrive."))
            self.empty_label.setGeometry(self.table.viewport().rect())
            self.empty_label.show()

