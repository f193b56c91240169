"""The settings dialog's Connections page: every platform the shop takes orders from, in a list.

Add one, edit one, turn one off or remove one; Save starts, restarts or stops only the
connections that changed (core.intake). The first connection's server settings are the ones on
the Connection page (it is what a shop with one connection always had); here it gets its name,
colour and on/off like the others. Secrets typed here are saved with Save, under the names of
their connection (core.connections.ConnectionSecrets), never in the file.

"Test" tries the chosen connection as entered (its settings and typed secrets, saved or not):
the page asks (`test_wanted`) and the dialog runs the same probe as its "Test connection" off the
main thread; the answer comes back with `show_test_result` and is kept per connection, so each
one's last answer is beside the list while it is chosen.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from notifier.core.connection import ConnectionStatus
from notifier.core.connections import (
    MAX_NAME_CHARS,
    PALETTE,
    Connection,
    ConnectionSecrets,
    check,
    connection_secret_names,
    new_id,
    next_color,
    protocol_label,
)
from notifier.core.settings import (
    BY_KEY,
    CONNECTION_GROUPS,
    PROTOCOLS,
    SECRETS,
    SETTINGS,
    Settings,
    SettingsError,
)
from notifier.desktop import settings_layout
from notifier.desktop.connection_filter import connection_dot
from notifier.desktop.settings_editors import ERROR_STYLE, make_editor

# What the editor offers for a connection other than the first: its fields that are not
# "advanced" (those keep their defaults, or what the file says).
_EDITED = tuple(s.key for s in SETTINGS
                if s.group in CONNECTION_GROUPS and not s.advanced and s.key != "connection.protocol")


def describe(connection: Connection) -> str:
    """The list's line: "美团 — RabbitMQ · mq.example:5672 (off)"."""
    from urllib.parse import urlsplit

    url = connection.values.get("connection.url", "")
    try:
        host = urlsplit(url).netloc.rsplit("@", 1)[-1]
    except ValueError:
        host = ""
    text = f"{connection.name} — {protocol_label(connection.protocol)}"
    if host:
        text += f" · {host}"
    if not connection.enabled:
        text += " " + QCoreApplication.translate("ConnectionsPage", "(off)")
    return text


class ConnectionEditor(QDialog):
    """Add or edit one connection. `first`: only its name, colour and on/off (its server
    settings are on the Connection page)."""

    def __init__(self, connection: Connection, others: list[Connection], *, first: bool,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ConnectionEditor")
        self.setWindowTitle(QCoreApplication.translate("ConnectionsPage", "Connection"))
        self.connection = connection
        self.others = others
        self.first = first
        self.editors: dict[str, Any] = {}
        self._rows: dict[str, QWidget] = {}
        self.secret_edits: dict[str, QLineEdit] = {}
        layout = QVBoxLayout(self)
        self.form = QFormLayout()
        layout.addLayout(self.form)
        self.name = QLineEdit(connection.name, self)
        self.name.setObjectName("connection_name")
        self.name.setMaxLength(MAX_NAME_CHARS)
        self.name.setPlaceholderText(QCoreApplication.translate("ConnectionsPage", "e.g. 美团, 小程序, 总店"))
        self.form.addRow(QCoreApplication.translate("ConnectionsPage", "Name"), self.name)
        self.color = QComboBox(self)
        self.color.setObjectName("connection_color")
        for color in dict.fromkeys((connection.color, *PALETTE)):
            self.color.addItem(connection_dot(color), color, color)
        self.form.addRow(QCoreApplication.translate("ConnectionsPage", "Colour"), self.color)
        self.enabled = QCheckBox(QCoreApplication.translate("ConnectionsPage", "On (receive this connection's orders)"), self)
        self.enabled.setObjectName("connection_enabled")
        self.enabled.setChecked(connection.enabled)
        self.form.addRow("", self.enabled)
        if first:
            note = QLabel(QCoreApplication.translate("ConnectionsPage", "Its server settings are on the Connection page."), self)
            note.setWordWrap(True)
            self.form.addRow("", note)
        else:
            self._add_server_fields()
        self.error = QLabel(self)
        self.error.setObjectName("connection_error")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(560, 0)

    def _add_server_fields(self) -> None:
        self.protocol = QComboBox(self)
        self.protocol.setObjectName("connection.protocol")
        for protocol in PROTOCOLS:
            self.protocol.addItem(protocol_label(protocol), protocol)
        self.protocol.setCurrentIndex(max(0, self.protocol.findData(self.connection.protocol)))
        self.form.addRow(settings_layout.row_for("connection.protocol").label_text(), self.protocol)
        values = {key: self.connection.values.get(key, BY_KEY[key].default) for key in _EDITED}
        for key in _EDITED:
            row = settings_layout.row_for(key)
            editor = make_editor(BY_KEY[key], row, self)
            editor.put(values[key])
            widget = QWidget(self)
            line = QVBoxLayout(widget)
            line.setContentsMargins(0, 0, 0, 0)
            if isinstance(editor.line, QWidget):
                line.addWidget(editor.line)
            else:
                line.addLayout(editor.line)
            self.form.addRow(row.label_text(), widget)
            self.editors[key] = editor
            self._rows[key] = widget
        for name in connection_secret_names():
            edit = QLineEdit(self)
            edit.setObjectName(f"secret:{name}")
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setPlaceholderText(QCoreApplication.translate("ConnectionsPage", "Leave empty to keep the saved one"))
            spec = next(s for s in SECRETS if s.name == name)
            self.form.addRow(settings_layout.row_for(name).label_text() if spec else name, edit)
            self.secret_edits[name] = edit
            self._rows[f"secret:{name}"] = edit
        self.protocol.currentIndexChanged.connect(lambda _i: self._follow_protocol())
        self._follow_protocol()

    def _follow_protocol(self) -> None:
        protocol = self.protocol.currentData()
        for key in _EDITED:
            self.form.setRowVisible(self._rows[key], BY_KEY[key].applies_to(protocol))
            row = settings_layout.row_for(key)
            if row.by_protocol:
                self.editors[key].set_placeholder(row.hint_for(protocol)[0])
        for spec in SECRETS:
            if spec.name in self.secret_edits:
                self.form.setRowVisible(self._rows[f"secret:{spec.name}"], protocol in spec.used_by)

    def result_connection(self) -> Connection:
        """The connection as entered (unchecked)."""
        connection = replace(self.connection, name=self.name.text().strip(),
                             color=self.color.currentData(), enabled=self.enabled.isChecked())
        if self.first:
            return connection
        values = dict(connection.values)
        values["connection.protocol"] = self.protocol.currentData()
        values.update({key: editor.get() for key, editor in self.editors.items()})
        return connection.with_values(values)

    def typed_secrets(self) -> dict[str, str]:
        protocol = self.protocol.currentData() if not self.first else ""
        used = {s.name for s in SECRETS if protocol in s.used_by}
        return {name: edit.text() for name, edit in self.secret_edits.items() if edit.text() and name in used}

    def _accept(self) -> None:
        connection = self.result_connection()
        try:
            check([*self.others, connection])
            if not self.first:
                connection.settings(Settings())
                if not connection.values.get("connection.url"):
                    raise SettingsError("connection.url", QCoreApplication.translate("ConnectionsPage", "Enter the address of the order server."))
        except SettingsError as exc:
            self.error.setText(exc.problem)
            self.error.show()
            return
        self.accept()


class ConnectionsPage(QWidget):
    """The list, with Add, Edit, Turn on/off and Remove."""

    changed = Signal()
    # The first connection's server settings are on the Connection page: go there.
    edit_first_server = Signal()
    # "Test" on a connection: (its row, the Connection as entered, its typed secrets).
    test_wanted = Signal(int, object, object)

    def __init__(self, connections: tuple[Connection, ...], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ConnectionsPage")
        self._connections = list(connections)
        self.pending_secrets: dict[str, dict[str, str]] = {}  # connection id -> typed secrets
        self.removed: list[Connection] = []
        self.editor_factory = ConnectionEditor  # tests answer the editor instead of a person
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.intro = QLabel(self)
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        self.list = QListWidget(self)
        self.list.setObjectName("connections")
        self.list.itemDoubleClicked.connect(lambda _item: self.edit())
        self.list.currentRowChanged.connect(lambda _row: self._update_buttons())
        layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        self.add_button = QPushButton(self)
        self.add_button.setObjectName("add_connection")
        self.add_button.clicked.connect(lambda: self.add())
        self.edit_button = QPushButton(self)
        self.edit_button.setObjectName("edit_connection")
        self.edit_button.clicked.connect(lambda: self.edit())
        self.toggle_button = QPushButton(self)
        self.toggle_button.setObjectName("toggle_connection")
        self.toggle_button.clicked.connect(lambda: self.toggle())
        self.remove_button = QPushButton(self)
        self.remove_button.setObjectName("remove_connection")
        self.remove_button.clicked.connect(lambda: self.remove())
        self.test_button = QPushButton(self)
        self.test_button.setObjectName("test_listed_connection")
        self.test_button.clicked.connect(lambda: self.test())
        for button in (self.add_button, self.edit_button, self.toggle_button, self.remove_button,
                       self.test_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        # The chosen connection's last test answer, in a sentence beside the list.
        self.test_result = QLabel(self)
        self.test_result.setObjectName("listed_connection_result")
        self.test_result.setWordWrap(True)
        self.test_result.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.test_result)
        self._answers: dict[str, tuple[bool | None, str]] = {}  # connection id -> (good, sentence)
        self.retranslate()
        self._fill()

    def retranslate(self) -> None:
        self.intro.setText(QCoreApplication.translate("ConnectionsPage",
            "Every platform the shop takes orders from, each with its own name and colour: popups, "
            "the voice, the orders window and tickets say which one an order came from. Changes "
            "take effect on Save, restarting only the connections that changed."))
        self.add_button.setText(QCoreApplication.translate("ConnectionsPage", "Add…"))
        self.edit_button.setText(QCoreApplication.translate("ConnectionsPage", "Edit…"))
        self.remove_button.setText(QCoreApplication.translate("ConnectionsPage", "Remove"))
        self.test_button.setText(QCoreApplication.translate("ConnectionsPage", "Test"))
        self.test_button.setToolTip(QCoreApplication.translate(
            "ConnectionsPage", "Try the chosen connection as entered here, saved or not"))
        self._update_buttons()

    def connections(self) -> tuple[Connection, ...]:
        return tuple(self._connections)

    def _fill(self, select: int | None = None) -> None:
        row = self.list.currentRow() if select is None else select
        self.list.clear()
        for connection in self._connections:
            self.list.addItem(QListWidgetItem(connection_dot(connection.color), describe(connection)))
        self.list.setCurrentRow(min(max(row, 0), len(self._connections) - 1))
        self._update_buttons()

    def _update_buttons(self) -> None:
        row = self.list.currentRow()
        chosen = self._connections[row] if 0 <= row < len(self._connections) else None
        self.edit_button.setEnabled(chosen is not None)
        self.toggle_button.setEnabled(chosen is not None)
        self.toggle_button.setText(QCoreApplication.translate("ConnectionsPage", "Turn off") if chosen is None or chosen.enabled
                                   else QCoreApplication.translate("ConnectionsPage", "Turn on"))
        # The first one is the Connection page's: it can be turned off, not removed.
        self.remove_button.setEnabled(chosen is not None and row > 0)
        self.remove_button.setToolTip("" if row != 0 else QCoreApplication.translate("ConnectionsPage",
            "The first connection is the one on the Connection page: turn it off instead."))
        answer = self._answers.get(chosen.id) if chosen is not None else None
        testing = answer is not None and answer[0] is None
        self.test_button.setEnabled(chosen is not None and not testing)
        good, sentence = answer if answer is not None else (None, "")
        self.test_result.setStyleSheet("" if good is None else ("color: #2e7d32;" if good else ERROR_STYLE))
        self.test_result.setText(sentence)

    # -- testing one connection --------------------------------------------------------------

    def test(self, row: int | None = None) -> bool:
        """Ask for the chosen connection to be tried as entered; False when none is chosen or it
        is being tried already."""
        row = self.list.currentRow() if row is None else row
        if not 0 <= row < len(self._connections):
            return False
        connection = self._connections[row]
        answer = self._answers.get(connection.id)
        if answer is not None and answer[0] is None:
            return False
        self._answers[connection.id] = (None, QCoreApplication.translate("ConnectionsPage", "{name}: connecting…")
                                        .format(name=connection.name))
        self._update_buttons()
        self.test_wanted.emit(row, connection, dict(self.pending_secrets.get(connection.id, {})))
        return True

    def show_test_result(self, connection: Connection, status: ConnectionStatus) -> None:
        """The answer of a test of `connection` (shown while it is the chosen one)."""
        mark = "✓ " if status.healthy else "✗ "
        self._answers[connection.id] = (status.healthy, f"{mark}{connection.name}: {status.sentence()}")
        self._update_buttons()

    def test_answer(self, connection_id: str) -> str:
        """The last test answer of a connection as shown ("" before any)."""
        answer = self._answers.get(connection_id)
        return answer[1] if answer is not None else ""

    def add(self) -> bool:
        taken = [c.id for c in self._connections]
        fresh = Connection(new_id(taken), "", next_color(self._connections))
        return self._edit(fresh, len(self._connections))

    def edit(self, row: int | None = None) -> bool:
        row = self.list.currentRow() if row is None else row
        if not 0 <= row < len(self._connections):
            return False
        return self._edit(self._connections[row], row)

    def _edit(self, connection: Connection, row: int) -> bool:
        others = [c for i, c in enumerate(self._connections) if i != row]
        editor = self.editor_factory(connection, others, first=row == 0, parent=self)
        if editor.exec() != QDialog.DialogCode.Accepted:
            return False
        edited = editor.result_connection()
        if row < len(self._connections):
            self._connections[row] = edited
        else:
            self._connections.append(edited)
        secrets = editor.typed_secrets()
        if secrets:
            self.pending_secrets.setdefault(edited.id, {}).update(secrets)
        self._fill(row)
        self.changed.emit()
        return True

    def toggle(self, row: int | None = None) -> None:
        row = self.list.currentRow() if row is None else row
        if 0 <= row < len(self._connections):
            chosen = self._connections[row]
            self._connections[row] = replace(chosen, enabled=not chosen.enabled)
            self._fill(row)
            self.changed.emit()

    def remove(self, row: int | None = None) -> None:
        row = self.list.currentRow() if row is None else row
        if 0 < row < len(self._connections):
            self.removed.append(self._connections.pop(row))
            self._fill(row)
            self.changed.emit()

    def save_secrets(self, store: Any) -> tuple[set[str], str | None]:
        """Write the typed secrets (and forget removed connections'); returns the ids of the
        connections whose secrets changed, and the first problem's sentence, if any."""
        changed: set[str] = set()
        for connection in self._connections:
            for name, value in self.pending_secrets.get(connection.id, {}).items():
                problem = ConnectionSecrets(store, connection).set(name, value)
                if problem is not None:
                    return changed, f"{connection.name}: {problem.sentence()}"
                changed.add(connection.id)
        for connection in self.removed:
            if connection.scope:  # the upgraded connection's entries are never removed here
                for name in connection_secret_names():
                    ConnectionSecrets(store, connection).clear(name)
        self.pending_secrets.clear()
        self.removed.clear()
        return changed, None
