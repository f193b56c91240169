"""The settings dialog, built from the declaration in `notifier.core.settings`.

Every declared setting gets a widget chosen by its type and presentation hints (bool: check box,
bounded int: spin box, bounded float: slider, choices: drop-down, "multiline": text box, "path":
line with Browse…), its translated label, help as grey text and tooltip, and a place for an
error right under it. The layout (pages and sections) is data too: `SECTIONS` below; a setting
added to the declaration and not placed by a section still appears, at the end of its page.

Secrets (SECRETS) are password fields that go to the keyring only; the dialog names the keyring.
Nothing is written before Save; Cancel leaves the file and the keyring as they were.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
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
    QSlider,
    QSpinBox,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from notifier.core import settings as core_settings
from notifier.core.connection import ConnectionStatus
from notifier.core.i18n import tr as core_tr
from notifier.core.secrets import SecretProblem, SecretStore
from notifier.core.settings import SECRETS, SETTINGS, SecretSpec, Setting, Settings, SettingsError

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 10.0
ERROR_STYLE = "color: #c62828;"
HELP_STYLE = "color: palette(mid);"
LABEL_MAX_WIDTH = 240
# Secrets are not settings; each is shown under the setting it goes with.
SECRET_AFTER = {"notifier_token": "connection.shop", "json_token": "connection.url",
                "skytakeout_admin_password": "skytakeout.admin_user", "amqp_password": "amqp.user"}


@dataclass(frozen=True)
class Section:
    """A titled box on a page holding the settings (and secrets) its predicate accepts."""

    page: str
    name: str
    keys: Callable[[str], bool]
    advanced: bool = False


PAGES = ("connection", "alerts", "voice", "general")
PAGE_OF_GROUP = {"connection": "connection", "skytakeout": "connection", "json": "connection",
                 "amqp": "connection",
                 "alerts": "alerts", "voice": "voice", "general": "general", "ledger": "general"}

SECTIONS: tuple[Section, ...] = (
    Section("connection", "server", lambda k: k.startswith("connection.") or k in ("notifier_token", "json_token")),
    Section("connection", "skytakeout", lambda k: k.startswith("skytakeout.") or k == "skytakeout_admin_password"),
    Section("connection", "amqp", lambda k: k.startswith("amqp.") or k == "amqp_password"),
    Section("connection", "json", lambda k: k.startswith("json.")),
    Section("connection", "advanced", lambda k: PAGE_OF_GROUP.get(k.split(".")[0]) == "connection",
            advanced=True),
    Section("alerts", "what", lambda k: k.startswith(("alerts.notify_", "alerts.voice_")) or k == "alerts.chime"),
    Section("alerts", "repeats", lambda k: k in ("alerts.repeat_interval", "alerts.repeat_limit",
                                                  "alerts.burst_threshold", "alerts.disconnect_alert_after")),
    Section("alerts", "quiet", lambda k: k.startswith("alerts.quiet_")),
    Section("alerts", "browser", lambda k: k == "alerts.order_url"),
    Section("voice", "voice", lambda k: k in ("voice.name", "voice.volume", "voice.rate", "voice.engine")),
    Section("voice", "templates", lambda k: k.startswith("voice.template_")),
    Section("general", "general", lambda k: k.startswith(("general.", "ledger."))),
)


class _ProbeRelay(QObject):
    """Carries the probe's answer from its worker thread to the dialog (a queued signal)."""

    done = Signal(object)


class _PendingSecrets(SecretStore):
    """The keyring as it will be after Save: typed values first, then what is stored.

    Lets "Test connection" try a password the user typed but has not saved yet.
    """

    def __init__(self, store: SecretStore, typed: dict[str, str], forgotten: set[str]):
        super().__init__(store.service)
        self._store, self._typed, self._forgotten = store, typed, forgotten

    def backend_name(self) -> str:
        return self._store.backend_name()

    def get(self, name: str) -> tuple[str | None, SecretProblem | None]:
        if self._typed.get(name):
            return self._typed[name], None
        if name in self._forgotten:
            return None, None
        return self._store.get(name)


class _Field:
    """One setting's editor: the widget, its value in the setting's type, and its error label."""

    def __init__(self, spec: Setting, editor: QWidget, get: Callable[[], Any], put: Callable[[Any], None],
                 row: QWidget):
        self.spec, self.editor, self.get, self.put, self.row = spec, editor, get, put, row
        self.error = QLabel(row)
        self.error.setObjectName(f"error:{spec.key}")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()
        self.label: QWidget | None = None
        self.help: QLabel | None = None


class SettingsDialog(QDialog):
    """Edit settings and secrets; `saved` carries the new Settings after they are on disk."""

    saved = Signal(object)

    def __init__(self, settings: Settings, secrets: SecretStore, *, first_run: bool = False, voice=None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.original = settings
        self.secrets = secrets
        self.voice = voice
        self.first_run = first_run
        self.secrets_changed = False  # set by Save: the app reconnects when a password changed
        self.fields: dict[str, _Field] = {}
        self.secret_edits: dict[str, QLineEdit] = {}
        self._secret_rows: dict[str, QWidget] = {}
        self._secret_saved: dict[str, bool] = {}
        self._forgotten: set[str] = set()
        self._sections: dict[tuple[str, str], QGroupBox] = {}
        self._probe_relay: _ProbeRelay | None = None
        self.last_probe: ConnectionStatus | None = None
        self._backend = secrets.backend_name()
        self.setObjectName("SettingsDialog")
        self.setWindowTitle(self.tr("Settings — Order Notifier"))
        self.setModal(False)
        self._build()
        self._load(settings)
        self._protocol_changed()
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
        titles = {"connection": self.tr("Connection"), "alerts": self.tr("Alerts"),
                  "voice": self.tr("Voice"), "general": self.tr("General")}
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

        self._place_settings()
        self._add_page_extras()
        self._arrange_sections()
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
            "It shows and announces every new order and customer reminder until you acknowledge it. "
            "Choose the kind of order server your shop uses, enter its address, press "
            "“Test connection”, then Save."), frame)
        text.setWordWrap(True)
        layout.addWidget(title)
        layout.addWidget(text)
        return frame

    def _section_title(self, section: Section) -> str:
        return {
            "server": self.tr("Order server"),
            "skytakeout": self.tr("Sky-take-out admin account (catches orders missed while offline)"),
            "json": self.tr("Message fields"),
            "amqp": self.tr("RabbitMQ queue"),
            "advanced": self.tr("Advanced"),
            "what": self.tr("What to announce"),
            "repeats": self.tr("Repeats and summaries"),
            "quiet": self.tr("Quiet hours (voice off, notifications still shown)"),
            "browser": self.tr("Opening orders"),
            "voice": self.tr("Voice"),
            "templates": self.tr("What is said"),
            "general": self.tr("General"),
        }.get(section.name, section.name)

    def _section_box(self, section: Section) -> QGroupBox:
        key = (section.page, section.name)
        box = self._sections.get(key)
        if box is None:
            box = QGroupBox(self._section_title(section), self)
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

    def _arrange_sections(self) -> None:
        """Boxes onto their pages in SECTIONS order; advanced ones last, behind a toggle."""
        order = [(s.page, s.name) for s in SECTIONS]
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

    def _section_for(self, key: str, page: str, advanced: bool) -> Section:
        for section in SECTIONS:
            if section.page == page and section.advanced == advanced and section.keys(key):
                return section
        # Declared later and not placed yet: shown anyway, at the end of its page.
        return Section(page, "advanced" if advanced else "other", lambda _k: True, advanced=advanced)

    def _place_settings(self) -> None:
        placed: set[str] = set()
        for spec in SETTINGS:
            page = PAGE_OF_GROUP.get(spec.group, "general")
            box = self._section_box(self._section_for(spec.key, page, spec.advanced))
            field = self._make_field(spec, box)
            self.fields[spec.key] = field
            self._add_row(box, spec, field)
            # A password sits right under the setting it belongs with (shop, admin user).
            for name, anchor in SECRET_AFTER.items():
                if anchor == spec.key:
                    self._add_secret_row(box, name)
                    placed.add(name)
        server = self._sections[("connection", "server")]
        for secret in SECRETS:
            if secret.name not in placed:
                self._add_secret_row(server, secret.name)

    def _add_row(self, box: QGroupBox, spec: Setting, field: _Field) -> None:
        form: QFormLayout = box.layout()
        if spec.type is bool:
            form.addRow(field.row)
        else:
            form.addRow(self._row_label(core_tr(spec.label), field.editor, box), field.row)
        field.label = form.labelForField(field.row)

    def _row_label(self, text: str, buddy: QWidget, parent: QWidget) -> QLabel:
        label = QLabel(text, parent)
        label.setBuddy(buddy)
        # Wrap only labels that need it: a wrapping QLabel asks for its narrowest width and would
        # break even short labels over two lines.
        if label.fontMetrics().horizontalAdvance(text) > LABEL_MAX_WIDTH:
            label.setWordWrap(True)
            label.setFixedWidth(LABEL_MAX_WIDTH)
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        label.setContentsMargins(0, 4, 0, 0)  # line up with the text inside the field
        return label

    def _help_label(self, text: str, parent: QWidget) -> QLabel:
        label = QLabel(text, parent)
        label.setWordWrap(True)
        label.setStyleSheet(HELP_STYLE)
        small = QFont(label.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.9))
        label.setFont(small)
        return label

    def _make_field(self, spec: Setting, parent: QWidget) -> _Field:
        row = QWidget(parent)
        row.setObjectName(f"row:{spec.key}")
        column = QVBoxLayout(row)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        editor, get, put, line = self._make_editor(spec, row)
        editor.setObjectName(spec.key)
        column.addLayout(line) if isinstance(line, QHBoxLayout) else column.addWidget(line)
        help_text = core_tr(spec.help) if spec.help else ""
        help_label = None
        if help_text:
            editor.setToolTip(help_text)
            if not spec.advanced or spec.type is bool:
                help_label = self._help_label(help_text, row)
                column.addWidget(help_label)
        field = _Field(spec, editor, get, put, row)
        field.help = help_label
        column.addWidget(field.error)
        return field

    def _make_editor(self, spec: Setting, parent: QWidget):
        """(editor, get, put, what to lay out) for one setting, chosen by type and hints."""
        if spec.type is bool:
            box = QCheckBox(core_tr(spec.label), parent)
            return box, box.isChecked, box.setChecked, box
        if spec.choices:
            combo = QComboBox(parent)
            for choice in spec.choices:
                combo.addItem(self.choice_label(spec.key, choice), choice)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)

            def put_choice(value, combo=combo):
                index = combo.findData(value)
                combo.setCurrentIndex(max(0, index))

            return combo, combo.currentData, put_choice, self._left(combo)
        if spec.type is int:
            spin = QSpinBox(parent)
            spin.setRange(int(spec.minimum if spec.minimum is not None else -(2**31)),
                          int(spec.maximum if spec.maximum is not None else 2**31 - 1))
            spin.setMinimumWidth(self.fontMetrics().horizontalAdvance("0000000") + 40)
            spin.setAlignment(Qt.AlignmentFlag.AlignRight)
            return spin, spin.value, spin.setValue, self._left(spin)
        if spec.type is float and spec.minimum is not None and spec.maximum is not None:
            return self._slider(spec, parent)
        if spec.type is float:
            edit = QLineEdit(parent)
            return edit, edit.text, lambda v, e=edit: e.setText(f"{v:g}"), edit
        if spec.kind == "multiline":
            text = QPlainTextEdit(parent)
            text.setTabChangesFocus(True)
            text.setFixedHeight(self.fontMetrics().lineSpacing() * 2 + 16)
            return text, text.toPlainText, text.setPlainText, text
        if spec.key == "voice.engine" or spec.key == "voice.name":
            return self._voice_combo(spec, parent)
        edit = QLineEdit(parent)
        if spec.kind == "time":
            edit.setPlaceholderText("22:30")
            edit.setMaxLength(5)
            edit.setFixedWidth(self.fontMetrics().horizontalAdvance("00:00") + 40)
            return edit, lambda e=edit: e.text().strip(), edit.setText, self._left(edit)
        if spec.kind == "url":
            edit.setPlaceholderText(self._url_placeholder(spec.key))
        if spec.kind == "path":
            browse = QPushButton(self.tr("Browse…"), parent)
            browse.setObjectName(f"browse:{spec.key}")
            browse.clicked.connect(lambda _c=False, e=edit: self._browse(e))
            line = QHBoxLayout()
            line.setSpacing(6)
            line.addWidget(edit, 1)
            line.addWidget(browse)
            return edit, lambda e=edit: e.text().strip(), edit.setText, line
        return edit, lambda e=edit: e.text().strip(), edit.setText, edit

    def _left(self, widget: QWidget) -> QHBoxLayout:
        line = QHBoxLayout()
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(widget)
        line.addStretch(1)
        return line

    def _url_placeholder(self, key: str) -> str:
        return {"connection.url": "wss://orders.example.com/ws",
                "skytakeout.admin_url": "http://shop:8080",
                "connection.proxy": "http://proxy:3128",
                "alerts.order_url": "http://admin.example/#/order?orderId={order_id}"}.get(key, "")

    def _slider(self, spec: Setting, parent: QWidget):
        slider = QSlider(Qt.Orientation.Horizontal, parent)
        low, high = float(spec.minimum), float(spec.maximum)
        slider.setRange(round(low * 100), round(high * 100))
        slider.setSingleStep(5)
        slider.setPageStep(10)
        slider.setMinimumWidth(200)
        value_label = QLabel(parent)
        value_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("−100 %") + 8)

        def show_value(position: int) -> None:
            if low < 0:  # a speed: 0 is normal
                text = self.tr("normal") if position == 0 else f"{position:+d} %"
            else:
                text = f"{position} %"
            value_label.setText(text)

        slider.valueChanged.connect(show_value)
        line = QHBoxLayout()
        line.setSpacing(8)
        line.addWidget(slider, 1)
        line.addWidget(value_label)
        return (slider, lambda: slider.value() / 100.0,
                lambda v: (slider.setValue(round(float(v) * 100)), show_value(slider.value())), line)

    def _voice_combo(self, spec: Setting, parent: QWidget):
        combo = QComboBox(parent)
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.setMinimumWidth(220)
        combo.lineEdit().setPlaceholderText(self.tr("Automatic"))
        line = QHBoxLayout()
        line.setSpacing(6)
        line.addWidget(combo, 1)
        if spec.key == "voice.engine" and self.voice is not None:
            try:
                combo.addItems(self.voice.engines())
            except Exception:  # noqa: BLE001 - a broken engine list must not break Settings
                log.exception("listing speech engines failed")
        if spec.key == "voice.name":
            more = QPushButton(self.tr("List voices"), parent)
            more.setObjectName("list_voices")
            more.setEnabled(self.voice is not None)
            more.clicked.connect(lambda _c=False, c=combo: self._list_voices(c))
            line.addWidget(more)
        line.addStretch(0)
        return combo, lambda c=combo: c.currentText().strip(), combo.setEditText, line

    def _add_secret_row(self, box: QGroupBox, name: str) -> None:
        spec = next(s for s in SECRETS if s.name == name)
        form: QFormLayout = box.layout()
        row = QWidget(box)
        row.setObjectName(f"row:secret:{name}")
        column = QVBoxLayout(row)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        line = QHBoxLayout()
        line.setSpacing(6)
        edit = QLineEdit(row)
        edit.setObjectName(f"secret:{name}")
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        edit.setClearButtonEnabled(True)
        value, problem = self.secrets.get(name)
        saved = value is not None
        del value  # never kept in the dialog: only "is there one"
        self._secret_saved[name] = saved
        edit.setPlaceholderText(self.tr("Saved — type to replace") if saved else "")
        line.addWidget(edit, 1)
        forget = QPushButton(self.tr("Remove"), row)
        forget.setObjectName(f"forget:{name}")
        forget.setVisible(saved)
        forget.clicked.connect(lambda _c=False, n=name: self._forget_secret(n))
        line.addWidget(forget)
        column.addLayout(line)
        where = self._help_label(self._stored_in_text(problem), row)
        where.setObjectName(f"stored:{name}")
        column.addWidget(where)
        error = QLabel(row)
        error.setObjectName(f"error:secret:{name}")
        error.setStyleSheet(ERROR_STYLE)
        error.setWordWrap(True)
        error.hide()
        column.addWidget(error)
        form.addRow(self._row_label(core_tr(spec.label), edit, box), row)
        self.secret_edits[name] = edit
        self._secret_rows[name] = row

    def _stored_in_text(self, problem: SecretProblem | None) -> str:
        from notifier.core.secrets import SecretState

        if problem is not None and problem.state is not SecretState.NOT_FOUND:
            return problem.sentence()
        return self.tr("Stored only in %1, never in the settings file.").replace("%1", self._backend)

    def _add_page_extras(self) -> None:
        # Test connection: right under the server section, where the user just typed.
        server_box = self._sections[("connection", "server")]
        test_row = QHBoxLayout()
        test_row.setSpacing(10)
        self.test_connection_button = QPushButton(self.tr("Test connection"), self)
        self.test_connection_button.setObjectName("test_connection")
        self.test_connection_button.clicked.connect(self.test_connection)
        self.connection_result = QLabel(self)
        self.connection_result.setObjectName("connection_result")
        self.connection_result.setWordWrap(True)
        self.connection_result.setTextFormat(Qt.TextFormat.PlainText)
        test_row.addWidget(self.test_connection_button, 0, Qt.AlignmentFlag.AlignTop)
        test_row.addWidget(self.connection_result, 1)
        server_box.layout().addRow(test_row)

        voice_box = self._sections[("voice", "voice")]
        voice_row = QHBoxLayout()
        voice_row.setSpacing(10)
        self.test_voice_button = QPushButton(self.tr("Test voice"), self)
        self.test_voice_button.setObjectName("test_voice")
        self.test_voice_button.clicked.connect(self.test_voice)
        self.voice_result = QLabel(self)
        self.voice_result.setObjectName("voice_result")
        self.voice_result.setWordWrap(True)
        voice_row.addWidget(self.test_voice_button, 0, Qt.AlignmentFlag.AlignTop)
        voice_row.addWidget(self.voice_result, 1)
        voice_box.layout().addRow(voice_row)
        if self.voice is None:
            self.test_voice_button.setEnabled(False)
            self.voice_result.setText(self.tr("Voice is not available in this window."))
        elif not self.voice.available():
            self.voice_result.setText(self.voice.problem())
            self.voice_result.setStyleSheet(ERROR_STYLE)

        templates = self._sections[("voice", "templates")]
        templates.layout().addRow(self._help_label(self.tr(
            "You can use {number} (order number, long ones read as the last 4 digits), {amount}, "
            "{customer}, {text} and {order_id}."), templates))

    # -- presentation helpers ----------------------------------------------------------------

    def choice_label(self, key: str, value: str) -> str:
        labels = {
            ("connection.protocol", "skytakeout"): self.tr("Sky-take-out (苍穹外卖)"),
            ("connection.protocol", "json"): self.tr("Other server sending JSON over WebSocket"),
            ("connection.protocol", "notifier"): self.tr("Order Notifier server"),
            ("connection.protocol", "amqp"): self.tr("RabbitMQ queue"),
            ("general.language", "system"): self.tr("Same as the system"),
            ("general.language", "zh_CN"): "中文",
            ("general.language", "en"): "English",
            ("general.log_level", "DEBUG"): self.tr("Debug (everything)"),
            ("general.log_level", "INFO"): self.tr("Normal"),
            ("general.log_level", "WARNING"): self.tr("Warnings and errors"),
            ("general.log_level", "ERROR"): self.tr("Errors only"),
        }
        return labels.get((key, value), value)

    def _browse(self, edit: QLineEdit) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self, self.tr("Choose the CA certificate"), edit.text(),
            self.tr("Certificates (*.pem *.crt *.cer);;All files (*)"))
        if path:
            edit.setText(path)

    def _list_voices(self, combo: QComboBox) -> None:
        from notifier.core.i18n import language

        current = combo.currentText()
        try:
            names = self.voice.voices(language())
        except Exception:  # noqa: BLE001
            log.exception("listing voices failed")
            names = []
        combo.clear()
        combo.addItems(names)
        combo.setEditText(current)
        combo.showPopup()

    def _forget_secret(self, name: str) -> None:
        self._forgotten.add(name)
        self.secret_edits[name].clear()
        self.secret_edits[name].setPlaceholderText(self.tr("Will be removed when you save"))
        self.findChild(QPushButton, f"forget:{name}").hide()

    # -- values ------------------------------------------------------------------------------

    def _load(self, settings: Settings) -> None:
        for key, field in self.fields.items():
            field.put(settings[key])
        self.fields["connection.protocol"].editor.currentIndexChanged.connect(self._protocol_changed)

    def values(self) -> dict[str, Any]:
        return {key: field.get() for key, field in self.fields.items()}

    def protocol(self) -> str:
        return self.fields["connection.protocol"].get()

    def _address_hint(self, protocol: str) -> tuple[str, str]:
        """(placeholder, help) for the server address, for the chosen kind of server."""
        return {
            "skytakeout": ("ws://shop:8080/ws/", self.tr(
                "The sky-take-out server's WebSocket base, ending in /ws/ (e.g. ws://shop:8080/ws/).")),
            "json": ("wss://push.example.com/orders", self.tr(
                "The ws:// or wss:// address the server sends its order messages on.")),
            "notifier": ("wss://orders.example.com/ws", self.tr(
                "The wss:// address of your Order Notifier server.")),
            "amqp": ("amqp://shop@mq.example.com:5672/orders", self.tr(
                "amqp://USER@HOST:5672/VHOST — the password goes in the field below, not here.")),
        }.get(protocol, ("", ""))

    def _protocol_changed(self) -> None:
        protocol = self.protocol()
        url = self.fields["connection.url"]
        placeholder, hint = self._address_hint(protocol)
        url.editor.setPlaceholderText(placeholder)
        if url.help is not None and hint:
            url.help.setText(hint)
        for spec in SETTINGS:
            visible = spec.applies_to(protocol)
            field = self.fields[spec.key]
            form = self._form_of(field.row)
            if form is not None:
                form.setRowVisible(field.row, visible)
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
        page = PAGES.index(PAGE_OF_GROUP.get(field.spec.group, "general"))
        self.nav.setCurrentRow(page)
        if field.spec.advanced:
            page_name = PAGE_OF_GROUP.get(field.spec.group, "general")
            toggle = self.findChild(QToolButton, f"toggle:{page_name}:advanced")
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
        if not settings["connection.url"]:
            self.show_error("connection.url", self.tr("Enter the address of your order server."))
            return None
        if settings["connection.protocol"] == "notifier" and not settings["connection.shop"]:
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
        self.secrets_changed = bool(self._typed_secrets() or self._forgotten)
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
        self.nav.setCurrentRow(0)
        self.secret_edits[name].setFocus()

    def test_connection(self) -> None:
        """Try the entered settings off the main thread; the answer appears next to the button."""
        settings = self.collect()
        if settings is None:
            return
        from notifier.core.probe import test_connection

        pending = _PendingSecrets(self.secrets, self._typed_secrets(), set(self._forgotten))
        relay = _ProbeRelay()
        relay.done.connect(self._probe_done)
        self._probe_relay = relay  # kept until the answer arrives
        self.test_connection_button.setEnabled(False)
        self.connection_result.setStyleSheet("")
        self.connection_result.setText(self.tr("Connecting…"))

        def work() -> None:
            try:
                status = test_connection(settings, pending, timeout=PROBE_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - the answer must always come back
                log.exception("connection test failed")
                from notifier.core.connection import ConnState

                status = ConnectionStatus(ConnState.MISCONFIGURED, "", type(exc).__name__)
            relay.done.emit(status)

        threading.Thread(target=work, name="settings-probe", daemon=True).start()

    def _probe_done(self, status: ConnectionStatus) -> None:
        self._probe_relay = None
        self.last_probe = status
        self.test_connection_button.setEnabled(True)
        good = status.healthy
        self.connection_result.setStyleSheet("color: #2e7d32;" if good else ERROR_STYLE)
        self.connection_result.setText(("✓ " if good else "✗ ") + status.sentence())

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


def secret_specs_for(protocol: str) -> list[SecretSpec]:
    """The secrets a connection of this protocol uses (for callers that list them)."""
    return [spec for spec in SECRETS if protocol in spec.used_by]
