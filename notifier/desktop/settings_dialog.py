"""The settings dialog: pages of sections of fields, built from the presentation table.

What each setting is comes from `notifier.core.settings`; how it is shown (page, section, label,
hint, placeholder, editor) from `settings_layout`; the editors themselves from
`settings_editors`. This module puts them together and does the dialog's work: load, check
with inline errors, Save/Cancel, Test connection and Test voice.

Secrets are password fields that go to the keyring only. Whether one is stored, and which
keyring holds it, is read by a worker thread (a keyring call may wait on D-Bus or a prompt):
the dialog opens at once and says "Checking the keyring…" until the answer comes back through
a queued signal. Nothing is written before Save; Cancel leaves the file and the keyring as
they were.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from notifier.core import settings_file as core_settings
from notifier.core.connection import ConnectionStatus
from notifier.core.connections import (
    CONNECTION_KEYS,
    Connection,
    ConnectionSecrets,
    RoutedSecrets,
    connections_of,
    with_connections,
)
from notifier.core.secrets import SecretProblem, SecretState, SecretStore
from notifier.core.settings import BY_KEY, SECRETS, Setting, Settings, SettingsError
from notifier.desktop import settings_layout
from notifier.desktop.connections_page import ConnectionsPage
from notifier.desktop.identity import give_icon
from notifier.desktop.settings_editors import (
    ERROR_STYLE,
    Editor,
    SecretEditor,
    help_label,
    make_editor,
)
from notifier.desktop.settings_io import (
    PendingSecrets,
    SecretStatus,
    in_background,
    read_secret_status,
)
from notifier.desktop.settings_layout import PAGES, Row, Section

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 10.0
# Row labels never wrap (a wrapped label strands its last word); the table keeps them short,
# and a test holds every label, in every language, to this width.
LABEL_MAX_WIDTH = 260
_CJK = "\u3000-\u303f\u3400-\u9fff\uff00-\uffef"


def cjk_spacing(text: str) -> str:
    """Drop the spaces a translation put around a name that turned out Chinese too.

    "仅保存在 %1 中" keeps its spaces around "Secret Service" but not around "内存（演示）".
    """
    return re.sub(f"(?<=[{_CJK}]) (?=[{_CJK}])", "", text)


class _Field:
    """One setting's row: its editor, the row widget, its hint and its error label."""

    def __init__(self, spec: Setting, row: Row, editor: Editor, widget: QWidget):
        self.spec, self.presentation, self.editor_part = spec, row, editor
        self.editor = editor.widget
        self.get, self.put = editor.get, editor.put
        self.row = widget
        self.help: QLabel | None = None
        self.label: QWidget | None = None
        self.error = QLabel(self.row)
        self.error.setObjectName(f"error:{spec.key}")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()



def _probe_failed(exc: Exception) -> ConnectionStatus:
    """A probe that raised: its answer, naming the error (the traceback is in the log)."""
    from notifier.core.connection import ConnState

    return ConnectionStatus(ConnState.MISCONFIGURED, "", type(exc).__name__)

class SettingsDialog(QDialog):
    """Edit settings and secrets; `saved` carries the new Settings after they are on disk.

    `fixed`: values this run uses that the dialog shows but cannot change (the demo's server
    and shop); Save keeps the file's own values for them.
    """

    saved = Signal(object)
    secret_status_known = Signal()

    def __init__(self, settings: Settings, secrets: SecretStore, *, first_run: bool = False, voice=None,
                 fixed: Mapping[str, Any] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.original = settings
        self.base_secrets = secrets
        # The Connection page's password or token is the first connection's.
        self.secrets = RoutedSecrets(secrets, connections_of(settings)[0])
        self.restart_connections: set[str] = set()  # set by Save: connections whose secrets changed
        self.voice = voice
        self.first_run = first_run
        self.fixed = dict(fixed or {})
        self.secrets_changed = False  # set by Save: the app reconnects when a password changed
        self.fields: dict[str, _Field] = {}
        self.secret_editors: dict[str, SecretEditor] = {}
        self.secret_edits: dict[str, QLineEdit] = {}
        self._secret_rows: dict[str, QWidget] = {}
        self._secret_notes: dict[str, QLabel] = {}
        self._forgotten: set[str] = set()
        self._sections: dict[tuple[str, str], QGroupBox] = {}
        self.last_probe: ConnectionStatus | None = None
        self.setObjectName("SettingsDialog")
        give_icon(self)
        self.setWindowTitle(self.tr("Settings — Order Notifier"))
        self.setModal(False)
        self._build()
        self._load(settings)
        self._protocol_changed()
        self._read_secret_status()
        self.resize(780, 600)

    # -- building ------------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 12)
        outer.setSpacing(0)
        if self.first_run:
            outer.addWidget(self._welcome())

        body = QHBoxLayout()
        body.setContentsMargins(12, 12, 12, 0)
        body.setSpacing(12)
        self.nav = QListWidget(self)
        self.nav.setObjectName("pages")
        self.nav.setFixedWidth(max(132, self.fontMetrics().horizontalAdvance("Connection") + 60))
        self.nav.setSpacing(2)
        self.nav.setFrameShape(QFrame.Shape.NoFrame)
        self.nav.setStyleSheet("QListWidget { background: palette(window); }"
                               "QListWidget::item { padding: 8px 10px; border-radius: 4px; }"
                               "QListWidget::item:selected { background: palette(highlight);"
                               " color: palette(highlighted-text); }")
        self.pages = QStackedWidget(self)
        titles = settings_layout.page_titles()
        self._page_layouts: dict[str, QVBoxLayout] = {}
        for page in PAGES:
            self.nav.addItem(titles[page])
            scroll = QScrollArea(self)
            scroll.setObjectName(f"page:{page}")
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            inner = QWidget(scroll)
            layout = QVBoxLayout(inner)
            layout.setContentsMargins(0, 0, 8, 0)
            layout.setSpacing(12)
            scroll.setWidget(inner)
            self.pages.addWidget(scroll)
            self._page_layouts[page] = layout
        self.nav.currentRowChanged.connect(self.pages.setCurrentIndex)
        body.addWidget(self.nav)
        body.addWidget(self.pages, 1)
        outer.addLayout(body, 1)

        known = {(s.page, s.name): s for s in settings_layout.sections()}
        for row in settings_layout.rows():
            section = known.get((row.page, row.section)) or Section(
                row.page, row.section, "", advanced=row.section == "advanced")
            box = self._section_box(section)
            if row.secret:
                self._add_secret_row(box, row)
            else:
                self._add_field(box, row)
        self._add_page_extras()
        self._arrange_sections(list(known))
        for layout in self._page_layouts.values():
            layout.addStretch(1)
        self.nav.setCurrentRow(0)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setText(self.tr("Save"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(self.tr("Cancel"))
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        self.form_error = QLabel(self)
        self.form_error.setObjectName("form_error")
        self.form_error.setStyleSheet(ERROR_STYLE)
        self.form_error.setWordWrap(True)
        self.form_error.hide()
        footer = QHBoxLayout()
        footer.setContentsMargins(12, 10, 12, 0)
        footer.addWidget(self.form_error, 1)
        footer.addWidget(self.buttons)
        outer.addLayout(footer)

    def _welcome(self) -> QWidget:
        frame = QFrame(self)
        frame.setObjectName("welcome")
        frame.setStyleSheet("#welcome { background: #e8f1fb; border-bottom: 1px solid #c5d9ef; }"
                            "#welcome QLabel { color: #1d3b5c; }")
        layout = QVBoxLayout(frame)
        layout.setContentsMargins(18, 14, 18, 14)
        title = QLabel(self.tr("Welcome to Order Notifier"), frame)
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        title.setFont(font)
        text = QLabel(self.tr(
            "It shows and announces every new order and customer reminder until you accept it or stop the ringing. "
            "Choose the kind of order server your shop uses, enter its address, press "
            "“Test connection”, then Save."), frame)
        text.setWordWrap(True)
        layout.addWidget(title)
        layout.addWidget(text)
        return frame

    def _section_box(self, section: Section) -> QGroupBox:
        key = (section.page, section.name)
        box = self._sections.get(key)
        if box is None:
            box = QGroupBox(section.title, self)
            box.setObjectName(f"section:{section.name}")
            box.setProperty("advanced", section.advanced)
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            form.setHorizontalSpacing(14)
            form.setVerticalSpacing(8)
            form.setContentsMargins(14, 12, 14, 12)
            self._sections[key] = box
        return box

    def _arrange_sections(self, order: list[tuple[str, str]]) -> None:
        """Boxes onto their pages in the table's order; advanced ones last, behind a toggle."""
        keys = sorted(self._sections, key=lambda k: (bool(self._sections[k].property("advanced")),
                                                      order.index(k) if k in order else len(order)))
        for page, name in keys:
            box = self._sections[(page, name)]
            if box.property("advanced"):
                toggle = QToolButton(self)
                toggle.setObjectName(f"toggle:{page}:{name}")
                toggle.setText(self.tr("Show advanced settings"))
                toggle.setCheckable(True)
                toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
                toggle.setArrowType(Qt.ArrowType.RightArrow)
                toggle.setAutoRaise(True)

                def flip(on: bool, box=box, toggle=toggle) -> None:
                    box.setVisible(on)
                    toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

                toggle.toggled.connect(flip)
                box.hide()
                self._page_layouts[page].addWidget(toggle)
            self._page_layouts[page].addWidget(box)

    def _add_field(self, box: QGroupBox, row: Row) -> None:
        spec = BY_KEY[row.key]
        widget = QWidget(box)
        widget.setObjectName(f"row:{spec.key}")
        editor = make_editor(spec, row, widget, voice=self.voice)
        field = _Field(spec, row, editor, widget)
        column = QVBoxLayout(widget)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        if isinstance(editor.line, QWidget):
            column.addWidget(editor.line)
        else:
            column.addLayout(editor.line)
        hint = row.hint_text()
        if hint:
            editor.widget.setToolTip(hint)
            if not spec.advanced or editor.inline_label:
                field.help = help_label(hint, field.row)
                column.addWidget(field.help)
        column.addWidget(field.error)
        if row.key in self.fixed:
            editor.widget.setEnabled(False)
            editor.widget.setToolTip(self.tr("Set by the demo for this run."))
        form: QFormLayout = box.layout()
        if editor.inline_label:
            # In the field column, lined up with the other fields (an empty label beside it).
            form.addRow(QLabel(box), field.row)
        else:
            form.addRow(self._row_label(row.label_text(), editor.widget, box), field.row)
        field.label = form.labelForField(field.row)
        self.fields[spec.key] = field

    def _row_label(self, text: str, buddy: QWidget, parent: QWidget) -> QLabel:
        label = QLabel(text, parent)
        label.setBuddy(buddy)
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        label.setContentsMargins(0, 4, 0, 0)  # line up with the text inside the field
        return label

    def _add_secret_row(self, box: QGroupBox, row: Row) -> None:
        name = row.key
        form: QFormLayout = box.layout()
        widget = QWidget(box)
        widget.setObjectName(f"row:secret:{name}")
        column = QVBoxLayout(widget)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        editor = SecretEditor(name, widget, self._forget_secret)
        column.addLayout(editor.line)
        note = help_label(self.tr("Checking the keyring…"), widget)
        note.setObjectName(f"stored:{name}")
        column.addWidget(note)
        error = QLabel(widget)
        error.setObjectName(f"error:secret:{name}")
        error.setStyleSheet(ERROR_STYLE)
        error.setWordWrap(True)
        error.hide()
        column.addWidget(error)
        form.addRow(self._row_label(row.label_text(), editor.widget, box), widget)
        self.secret_editors[name] = editor
        self.secret_edits[name] = editor.widget
        self._secret_rows[name] = widget
        self._secret_notes[name] = note

    def _button_row(self, box: QGroupBox, text: str, name: str, clicked) -> tuple[QPushButton, QLabel]:
        """A test button with its answer beside it, as the last row of a section."""
        row = QHBoxLayout()
        row.setSpacing(10)
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.clicked.connect(clicked)
        answer = QLabel(self)
        answer.setWordWrap(True)
        answer.setTextFormat(Qt.TextFormat.PlainText)
        row.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(answer, 1)
        box.layout().addRow(row)
        return button, answer

    def _add_page_extras(self) -> None:
        self.connections_page = ConnectionsPage(connections_of(self.original), self)
        self.connections_page.edit_first_server.connect(
            lambda: self.nav.setCurrentRow(PAGES.index("connection")))
        self.connections_page.test_wanted.connect(self.test_listed_connection)
        self._page_layouts["connections"].addWidget(self.connections_page, 1)

        # Test connection: right under the server section, where the user just typed.
        self.test_connection_button, self.connection_result = self._button_row(
            self._sections[("connection", "server")], self.tr("Test connection"), "test_connection",
            self.test_connection)
        self.connection_result.setObjectName("connection_result")

        self.test_voice_button, self.voice_result = self._button_row(
            self._sections[("voice", "voice")], self.tr("Test voice"), "test_voice", self.test_voice)
        self.voice_result.setObjectName("voice_result")
        if self.voice is None:
            self.test_voice_button.setEnabled(False)
            self.voice_result.setText(self.tr("Voice is not available in this window."))
        elif not self.voice.available():
            self.voice_result.setText(self.voice.problem())
            self.voice_result.setStyleSheet(ERROR_STYLE)

        # "Print test page" on each printer's own section (core/stations.py).
        self.print_tests: dict[int, tuple[QPushButton, QLabel]] = {}
        for station, section in ((1, "printer"), (2, "printer2"), (3, "printer3")):
            suffix = "" if station == 1 else f"_{station}"
            button, answer = self._button_row(self._sections[("printer", section)], self.tr("Print test page"),
                                              f"print_test_page{suffix}",
                                              lambda _checked=False, n=station: self.print_test_page(n))
            answer.setObjectName(f"print_result{suffix}")
            self.print_tests[station] = (button, answer)
        self.print_test_button, self.print_result = self.print_tests[1]

        # Escalation: how to write the phone targets, and a test message to them.
        phone_box = self._sections[("escalation", "phone")]
        phone_box.layout().addRow(help_label(self.tr(
            "Apprise addresses, separated by spaces: wecombot://KEY (WeCom group robot), "
            "dingtalk://SECRET@TOKEN (DingTalk, signed), feishu://SECRET@TOKEN (Feishu), "
            "schan://SENDKEY (ServerChan), bark://HOST/DEVICE_KEY, ntfy://HOST/TOPIC, "
            "json://HOST/PATH. They hold tokens, so they are kept in the keyring only."), phone_box))
        self.phone_test_button, self.phone_result = self._button_row(
            phone_box, self.tr("Send a test message"), "send_phone_test", self.send_phone_test)
        self.phone_result.setObjectName("phone_result")

        templates = self._sections[("voice", "templates")]
        templates.layout().addRow(help_label(self.tr(
            "You can use {number} (order number, long ones read as the last 4 digits), {amount}, "
            "{customer}, {text} and {order_id}."), templates))

    # -- the keyring, off the GUI thread -------------------------------------------------------

    def _read_secret_status(self) -> None:
        secrets = self.secrets
        in_background(lambda: read_secret_status(secrets), self._secret_status_read,
                      lambda _exc: None, "settings-keyring")

    def _secret_status_read(self, answer: SecretStatus | None) -> None:
        backend, status = answer if answer is not None else ("?", {})
        for name, editor in self.secret_editors.items():
            saved, problem = status.get(name, (False, None))
            editor.show_saved(saved)
            self._secret_notes[name].setText(self._stored_in_text(backend, problem))
        self.secret_status_known.emit()

    def _stored_in_text(self, backend: str, problem: SecretProblem | None) -> str:
        if problem is not None and problem.state is not SecretState.NOT_FOUND:
            return problem.sentence()
        return cjk_spacing(self.tr("Stored only in %1, never in the settings file.").replace("%1", backend))

    def _forget_secret(self, name: str) -> None:
        self._forgotten.add(name)
        self.secret_editors[name].forget()

    # -- values ------------------------------------------------------------------------------

    def _load(self, settings: Settings) -> None:
        for key, field in self.fields.items():
            field.put(self.fixed.get(key, settings[key]))
        self.fields["connection.protocol"].editor.currentIndexChanged.connect(self._protocol_changed)
        self.fields["printer.address"].editor_part.follow_kind(self.fields["printer.kind"].editor)

    def values(self) -> dict[str, Any]:
        """What is on screen, without the fixed values (Save keeps the file's own for those)."""
        return {key: field.get() for key, field in self.fields.items() if key not in self.fixed}

    def protocol(self) -> str:
        return self.fields["connection.protocol"].get()

    def _protocol_changed(self) -> None:
        protocol = self.protocol()
        for field in self.fields.values():
            row = field.presentation
            if row.by_protocol:
                placeholder, hint = row.hint_for(protocol)
                field.editor_part.set_placeholder(placeholder)
                if field.help is not None and hint:
                    field.help.setText(hint)
            form = self._form_of(field.row)
            if form is not None:
                form.setRowVisible(field.row, row.applies_to(protocol))
        for spec in SECRETS:
            row = self._secret_rows.get(spec.name)
            form = self._form_of(row) if row else None
            if form is not None:
                form.setRowVisible(row, protocol in spec.used_by)
        # A section with nothing left for this protocol disappears (the advanced one is
        # shown and hidden by its own toggle).
        for (page, name), box in self._sections.items():
            if page == "connection" and name != "advanced":
                form: QFormLayout = box.layout()
                box.setVisible(any(form.isRowVisible(row) for row in range(form.rowCount())))
        self.connection_result.clear()

    @staticmethod
    def _form_of(row: QWidget) -> QFormLayout | None:
        parent = row.parentWidget()
        layout = parent.layout() if parent else None
        return layout if isinstance(layout, QFormLayout) else None

    def _typed_secrets(self) -> dict[str, str]:
        return {name: edit.text() for name, edit in self.secret_edits.items() if edit.text()}

    def _clear_errors(self) -> None:
        for field in self.fields.values():
            field.error.hide()
            field.editor.setStyleSheet("")
        for name in self.secret_edits:
            self.findChild(QLabel, f"error:secret:{name}").hide()
        self.form_error.hide()

    def show_error(self, key: str, message: str) -> None:
        """Put `message` under the field for `key` and bring that field into view."""
        field = self.fields.get(key)
        if field is None:
            self.form_error.setText(message)
            self.form_error.show()
            return
        field.error.setText(message)
        field.error.show()
        if isinstance(field.editor, QLineEdit | QPlainTextEdit):
            field.editor.setStyleSheet("border: 1px solid #c62828; border-radius: 3px; padding: 2px;")
        page = field.presentation.page
        self.nav.setCurrentRow(PAGES.index(page))
        toggle = self.findChild(QToolButton, f"toggle:{page}:{field.presentation.section}")
        if toggle and not toggle.isChecked():
            toggle.setChecked(True)
        self.pages.currentWidget().ensureWidgetVisible(field.row)
        field.editor.setFocus()

    def collect(self) -> Settings | None:
        """The settings as entered, or None after showing what is wrong next to the field."""
        self._clear_errors()
        try:
            settings = self.original.updated(self.values())
        except SettingsError as exc:
            self.show_error(exc.key, exc.problem)
            return None
        listed = self.connections_page.connections()
        first = listed[0].with_values({key: settings[key] for key in CONNECTION_KEYS})
        try:
            settings = with_connections(settings, (first, *listed[1:]))
        except SettingsError as exc:
            self.nav.setCurrentRow(PAGES.index("connections"))
            self.show_error(exc.key, str(exc))
            return None
        used = settings.updated(self.fixed) if self.fixed else settings  # what this run connects with
        if not used["connection.url"]:
            self.show_error("connection.url", self.tr("Enter the address of your order server."))
            return None
        if used["connection.protocol"] == "notifier" and not used["connection.shop"]:
            self.show_error("connection.shop", self.tr("Enter the shop name you were given with the token."))
            return None
        return settings

    # -- actions -----------------------------------------------------------------------------

    def save(self) -> bool:
        settings = self.collect()
        if settings is None:
            return False
        for name, value in self._typed_secrets().items():
            problem = self.secrets.set(name, value)
            if problem is not None:
                self._secret_error(name, problem.sentence())
                return False
        for name in self._forgotten - set(self._typed_secrets()):
            problem = self.secrets.clear(name)
            if problem is not None and problem.state.value != "not_found":
                self._secret_error(name, problem.sentence())
                return False
        self.restart_connections, problem = self.connections_page.save_secrets(self.base_secrets)
        if problem is not None:
            self.nav.setCurrentRow(PAGES.index("connections"))
            self.form_error.setText(problem)
            self.form_error.show()
            return False
        # The phone targets are read for each message: changing them needs no reconnect.
        from notifier.core.phone_sender import TARGETS_SECRET

        self.secrets_changed = bool((set(self._typed_secrets()) | self._forgotten) - {TARGETS_SECRET})
        try:
            core_settings.save(settings)
        except OSError as exc:
            self.form_error.setText(self.tr("The settings could not be saved: %1").replace("%1", str(exc)))
            self.form_error.show()
            return False
        for edit in self.secret_edits.values():
            edit.clear()
        self.saved.emit(settings)
        self.accept()
        return True

    def _secret_error(self, name: str, message: str) -> None:
        label = self.findChild(QLabel, f"error:secret:{name}")
        label.setText(message)
        label.show()
        self.nav.setCurrentRow(PAGES.index(settings_layout.row_for(name).page))
        self.secret_edits[name].setFocus()

    def test_connection(self) -> None:
        """Try the entered settings off the main thread; the answer appears next to the button."""
        settings = self.collect()
        if settings is None:
            return
        from notifier.core.probe import test_connection

        pending = PendingSecrets(self.secrets, self._typed_secrets(), set(self._forgotten))
        self.test_connection_button.setEnabled(False)
        self.connection_result.setStyleSheet("")
        self.connection_result.setText(self.tr("Connecting…"))
        in_background(lambda: test_connection(settings, pending, timeout=PROBE_TIMEOUT_S), self._probe_done,
                      _probe_failed, "settings-probe")

    def test_listed_connection(self, row: int, connection: Connection, typed: dict[str, str]) -> None:
        """"Test" on the Connections page: try that connection as entered (saved or not) with the
        same probe as "Test connection", off the main thread; the answer goes back to the page.
        The first connection's server settings and secrets are the Connection page's."""
        from notifier.core.connection import ConnState
        from notifier.core.probe import test_connection

        page = self.connections_page
        try:
            base = self.original.updated(self.values())
            settings = base if row == 0 else connection.settings(base)
        except SettingsError as exc:
            page.show_test_result(connection, ConnectionStatus(ConnState.MISCONFIGURED, "", exc.problem))
            return
        if row == 0:
            secrets = PendingSecrets(self.secrets, self._typed_secrets(), set(self._forgotten))
        else:
            secrets = PendingSecrets(ConnectionSecrets(self.base_secrets, connection), typed, set())
        in_background(lambda: test_connection(settings, secrets, timeout=PROBE_TIMEOUT_S),
                      lambda status: page.show_test_result(connection, status), _probe_failed,
                      f"settings-probe-{connection.id}")

    def _probe_done(self, status: ConnectionStatus) -> None:
        self.last_probe = status
        self.test_connection_button.setEnabled(True)
        good = status.healthy
        self.connection_result.setStyleSheet("color: #2e7d32;" if good else ERROR_STYLE)
        self.connection_result.setText(("✓ " if good else "✗ ") + status.sentence())

    def print_test_page(self, station: int = 1) -> None:
        """Print a test ticket on the station's printer as entered (saved or not), off the main
        thread. Only the printers' fields count: the rest of the form may still be half filled in."""
        try:
            settings = self.original.updated(
                {k: v for k, v in self.values().items() if k.startswith(("printer", "alerts.order_url"))})
        except SettingsError as exc:
            self.show_error(exc.key, exc.problem)
            return
        from notifier.core.i18n import language
        from notifier.core.stations import station_settings
        from notifier.desktop.printing import print_test_page_now

        button, answer = self.print_tests[station]
        button.setEnabled(False)
        answer.setStyleSheet("")
        answer.setText(self.tr("Printing…"))
        chosen, view = language(), station_settings(settings, station)
        in_background(lambda: print_test_page_now(view, chosen), lambda problem: self._printed(station, problem),
                      lambda exc: type(exc).__name__, "settings-print-test")

    def _printed(self, station: int, problem: str | None) -> None:
        button, answer = self.print_tests[station]
        button.setEnabled(True)
        answer.setStyleSheet("color: #2e7d32;" if problem is None else ERROR_STYLE)
        answer.setText("✓ " + self.tr("The printer took the test page.") if problem is None
                       else "✗ " + problem)

    def send_phone_test(self) -> None:
        """A test message to the phone targets as entered (saved or not), off the main thread."""
        try:
            settings = self.original.updated(
                {k: v for k, v in self.values().items() if k.startswith(("escalation.", "printer.shop_name",
                                                                         "connection.shop", "general."))})
        except SettingsError as exc:
            self.show_error(exc.key, exc.problem)
            return
        from notifier.core.phone_sender import trial

        pending = PendingSecrets(self.secrets, self._typed_secrets(), set(self._forgotten))
        self.phone_test_button.setEnabled(False)
        self.phone_result.setStyleSheet("")
        self.phone_result.setText(self.tr("Sending…"))
        in_background(lambda: trial(settings, pending), self._phone_tested,
                      lambda exc: (False, type(exc).__name__), "settings-phone-test")

    def _phone_tested(self, answer: tuple[bool, str]) -> None:
        ok, text = answer
        self.phone_test_button.setEnabled(True)
        self.phone_result.setStyleSheet("color: #2e7d32;" if ok else ERROR_STYLE)
        self.phone_result.setText(text)

    def test_voice(self) -> None:
        if self.voice is None:
            return
        if not self.voice.available():
            self.voice_result.setText(self.voice.problem())
            self.voice_result.setStyleSheet(ERROR_STYLE)
            return
        try:
            settings = self.original.updated(
                {k: v for k, v in self.values().items() if k.startswith(("voice.", "general."))})
        except SettingsError as exc:
            self.show_error(exc.key, exc.problem)
            return
        self.voice_result.setStyleSheet("")
        self.voice_result.setText(self.tr("Speaking a sample…"))
        self.voice.test(settings)
