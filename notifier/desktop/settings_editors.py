"""The editors of the settings dialog: one small class per kind of value.

Each editor owns its widgets and knows how to show a value of the setting's type (`put`) and
read it back (`get`); `widget` is the part that takes focus and gets the red frame on an
error, `line` what the dialog lays out. Which editor a setting gets is decided by its row in
`settings_layout` (or by its type when the row does not say). Editors do no I/O, except the
voice ones, which ask the announcer for engines and voices when the owner asks for them, and
the printer address, which lists the printers installed here off the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from notifier.core.settings import Setting
from notifier.desktop.settings_layout import Row

log = logging.getLogger(__name__)

HELP_STYLE = "color: palette(mid);"



ERROR_STYLE = "color: #c62828;"


def help_label(text: str, parent: QWidget) -> QLabel:
    """Grey, slightly smaller, wrapping text under a field."""
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setStyleSheet(HELP_STYLE)
    small = QFont(label.font())
    small.setPointSizeF(max(7.0, small.pointSizeF() * 0.9))
    label.setFont(small)
    return label


def _left(widget: QWidget) -> QHBoxLayout:
    line = QHBoxLayout()
    line.setContentsMargins(0, 0, 0, 0)
    line.addWidget(widget)
    line.addStretch(1)
    return line


class Editor:
    """Base: a widget, its layout, and the value in the setting's type."""

    widget: QWidget
    line: QWidget | QLayout
    inline_label = False  # the editor shows the label itself (a check box)

    def get(self) -> Any:
        raise NotImplementedError

    def put(self, value: Any) -> None:
        raise NotImplementedError

    def set_placeholder(self, text: str) -> None:
        if isinstance(self.widget, QLineEdit):
            self.widget.setPlaceholderText(text)


class TextEditor(Editor):
    def __init__(self, spec: Setting, row: Row, parent: QWidget, **_kw):
        self.widget = self.line = QLineEdit(parent)
        self.widget.setPlaceholderText(row.placeholder)

    def get(self) -> str:
        return self.widget.text().strip()

    def put(self, value: Any) -> None:
        self.widget.setText(str(value))


class NumberTextEditor(TextEditor):
    """A float without bounds: typed, checked by the declaration on Save."""

    def put(self, value: Any) -> None:
        self.widget.setText(f"{value:g}")


class CheckEditor(Editor):
    inline_label = True

    def __init__(self, spec: Setting, row: Row, parent: QWidget, **_kw):
        self.widget = self.line = QCheckBox(row.label_text(), parent)

    def get(self) -> bool:
        return self.widget.isChecked()

    def put(self, value: Any) -> None:
        self.widget.setChecked(bool(value))


class ChoiceEditor(Editor):
    def __init__(self, spec: Setting, row: Row, parent: QWidget, **_kw):
        self.widget = QComboBox(parent)
        for choice in spec.choices:
            self.widget.addItem(row.choices.get(choice, choice), choice)
        self.widget.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.line = _left(self.widget)

    def get(self) -> str:
        return self.widget.currentData()

    def put(self, value: Any) -> None:
        self.widget.setCurrentIndex(max(0, self.widget.findData(value)))


class SpinEditor(Editor):
    def __init__(self, spec: Setting, row: Row, parent: QWidget, **_kw):
        self.widget = QSpinBox(parent)
        self.widget.setRange(int(spec.minimum if spec.minimum is not None else -(2**31)),
                             int(spec.maximum if spec.maximum is not None else 2**31 - 1))
        self.widget.setMinimumWidth(self.widget.fontMetrics().horizontalAdvance("0000000") + 40)
        self.widget.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.line = _left(self.widget)

    def get(self) -> int:
        return self.widget.value()

    def put(self, value: Any) -> None:
        self.widget.setValue(int(value))


class SliderEditor(Editor):
    """A bounded float as a percentage slider; a range through 0 is a speed ("normal" at 0)."""

    def __init__(self, spec: Setting, row: Row, parent: QWidget, **_kw):
        self._low = float(spec.minimum)
        self.widget = QSlider(Qt.Orientation.Horizontal, parent)
        self.widget.setRange(round(self._low * 100), round(float(spec.maximum) * 100))
        self.widget.setSingleStep(5)
        self.widget.setPageStep(10)
        self.widget.setMinimumWidth(200)
        self.value_label = QLabel(parent)
        self.value_label.setMinimumWidth(self.value_label.fontMetrics().horizontalAdvance("−100 %") + 8)
        self.widget.valueChanged.connect(self._show_value)
        self.line = QHBoxLayout()
        self.line.setSpacing(8)
        self.line.addWidget(self.widget, 1)
        self.line.addWidget(self.value_label)

    def _show_value(self, position: int) -> None:
        if self._low < 0:
            text = QCoreApplication.translate("SettingsDialog", "normal") if position == 0 else f"{position:+d} %"
        else:
            text = f"{position} %"
        self.value_label.setText(text)

    def get(self) -> float:
        return self.widget.value() / 100.0

    def put(self, value: Any) -> None:
        self.widget.setValue(round(float(value) * 100))
        self._show_value(self.widget.value())


class TimeEditor(TextEditor):
    def __init__(self, spec: Setting, row: Row, parent: QWidget, **_kw):
        super().__init__(spec, row, parent)
        self.widget.setMaxLength(5)
        self.widget.setFixedWidth(self.widget.fontMetrics().horizontalAdvance("00:00") + 40)
        self.line = _left(self.widget)


class PathEditor(TextEditor):
    def __init__(self, spec: Setting, row: Row, parent: QWidget, **_kw):
        super().__init__(spec, row, parent)
        browse = QPushButton(QCoreApplication.translate("SettingsDialog", "Browse…"), parent)
        browse.setObjectName(f"browse:{spec.key}")
        browse.clicked.connect(self._browse)
        self.line = QHBoxLayout()
        self.line.setSpacing(6)
        self.line.addWidget(self.widget, 1)
        self.line.addWidget(browse)

    def _browse(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self.widget.window(), QCoreApplication.translate("SettingsDialog", "Choose the CA certificate"), self.widget.text(),
            QCoreApplication.translate("SettingsDialog", "Certificates (*.pem *.crt *.cer);;All files (*)"))
        if path:
            self.widget.setText(path)


class MultilineEditor(Editor):
    def __init__(self, spec: Setting, row: Row, parent: QWidget, **_kw):
        self.widget = self.line = QPlainTextEdit(parent)
        self.widget.setTabChangesFocus(True)
        self.widget.setFixedHeight(self.widget.fontMetrics().lineSpacing() * 2 + 16)

    def get(self) -> str:
        return self.widget.toPlainText()

    def put(self, value: Any) -> None:
        self.widget.setPlainText(str(value))


class VoiceEditor(Editor):
    """An editable drop-down: empty means automatic; engines listed at once, voices on request."""

    def __init__(self, spec: Setting, row: Row, parent: QWidget, *, voice=None, **_kw):
        self._voice = voice
        self.widget = QComboBox(parent)
        self.widget.setEditable(True)
        self.widget.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.widget.setMinimumWidth(220)
        self.widget.lineEdit().setPlaceholderText(QCoreApplication.translate("SettingsDialog", "Automatic"))
        self.line = QHBoxLayout()
        self.line.setSpacing(6)
        self.line.addWidget(self.widget, 1)
        if row.editor == "voice_engine" and voice is not None:
            try:
                self.widget.addItems(voice.engines())
            except Exception:  # noqa: BLE001 - a broken engine list must not break Settings
                log.exception("listing speech engines failed")
        if row.editor == "voice_name":
            more = QPushButton(QCoreApplication.translate("SettingsDialog", "List voices"), parent)
            more.setObjectName("list_voices")
            more.setEnabled(voice is not None)
            more.clicked.connect(self._list_voices)
            self.line.addWidget(more)
        self.line.addStretch(0)

    def _list_voices(self) -> None:
        from notifier.core.i18n import language

        current = self.widget.currentText()
        try:
            names = self._voice.voices(language())
        except Exception:  # noqa: BLE001
            log.exception("listing voices failed")
            names = []
        self.widget.clear()
        self.widget.addItems(names)
        self.widget.setEditText(current)
        self.widget.showPopup()

    def get(self) -> str:
        return self.widget.currentText().strip()

    def put(self, value: Any) -> None:
        self.widget.setEditText(str(value))


def installed_printers() -> list[str]:
    """The names of the printers installed on this computer (CUPS, the Windows spooler)."""
    from PySide6.QtPrintSupport import QPrinterInfo

    return list(QPrinterInfo.availablePrinterNames())


class PrinterAddressEditor(Editor):
    """Where the printer is: typed for a receipt printer (host:port, serial port, USB ids), or
    for a printer of this computer picked from the ones installed here (empty: the default one).

    The installed printers are listed off the GUI thread when the dialog opens (a stuck print
    service must not freeze it); the drop-down follows the printer kind chosen above it."""

    list_printers: Callable[[], list[str]] = staticmethod(installed_printers)

    def __init__(self, spec: Setting, row: Row, parent: QWidget, **_kw):
        from notifier.desktop.settings_io import in_background

        self.combo = QComboBox(parent)
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.setObjectName("printer_choice")
        self.widget = self.combo.lineEdit()  # what is typed or picked; text, like a line field
        self.line = self.combo
        self.installed: list[str] | None = None  # None: still being listed
        self._kind = ""
        self._placeholder = row.placeholder
        in_background(self.list_printers, self._listed, lambda _exc: [], "settings-printers")

    def follow_kind(self, kind: QComboBox) -> None:
        """Offer the installed printers while `kind` says "system", a typed address otherwise."""
        kind.currentIndexChanged.connect(lambda _index: self._show_kind(kind.currentData()))
        self._show_kind(kind.currentData())

    def _listed(self, names: list[str]) -> None:
        self.installed = list(names)
        self._show_kind(self._kind)

    def _show_kind(self, kind: str) -> None:
        self._kind = kind
        text = self.get()
        self.combo.blockSignals(True)
        self.combo.clear()
        if kind == "system":
            self.combo.addItems(self.installed or [])
            if self.installed is None:
                placeholder = QCoreApplication.translate("SettingsDialog", "Looking for printers…")
            elif self.installed:
                placeholder = QCoreApplication.translate("SettingsDialog", "The default printer")
            else:
                placeholder = QCoreApplication.translate(
                    "SettingsDialog", "No printer is installed on this computer")
        else:
            placeholder = {"escpos_serial": "/dev/ttyUSB0", "escpos_usb": "0416:5011"}.get(
                kind, self._placeholder)
        self.combo.setEditText(text)
        self.combo.blockSignals(False)
        self.widget.setPlaceholderText(placeholder)

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self._show_kind(self._kind)

    def get(self) -> str:
        return self.widget.text().strip()

    def put(self, value: Any) -> None:
        self.combo.setEditText(str(value))


EDITORS: dict[str, type[Editor]] = {
    "time": TimeEditor, "path": PathEditor, "multiline": MultilineEditor,
    "voice_engine": VoiceEditor, "voice_name": VoiceEditor, "printer_address": PrinterAddressEditor,
}


def editor_class(spec: Setting, row: Row) -> type[Editor]:
    """The row's editor, else the one the setting's type calls for."""
    if row.editor in EDITORS:
        return EDITORS[row.editor]
    if spec.type is bool:
        return CheckEditor
    if spec.choices:
        return ChoiceEditor
    if spec.type is int:
        return SpinEditor
    if spec.type is float:
        bounded = spec.minimum is not None and spec.maximum is not None
        return SliderEditor if bounded else NumberTextEditor
    if spec.kind == "multiline":
        return MultilineEditor
    return TextEditor


def make_editor(spec: Setting, row: Row, parent: QWidget, *, voice=None) -> Editor:
    editor = editor_class(spec, row)(spec, row, parent, voice=voice)
    editor.widget.setObjectName(spec.key)
    return editor


class SecretEditor:
    """A password field that never shows what is stored: only whether something is.

    Whether a secret is stored is read from the keyring by the dialog's worker thread; until it
    answers, the field says it is checking, and Remove stays hidden.
    """

    def __init__(self, name: str, parent: QWidget, forget: Callable[[str], None]):
        self.name = name
        self.widget = QLineEdit(parent)
        self.widget.setObjectName(f"secret:{name}")
        self.widget.setEchoMode(QLineEdit.EchoMode.Password)
        self.widget.setClearButtonEnabled(True)
        self.forget_button = QPushButton(QCoreApplication.translate("SettingsDialog", "Remove"), parent)
        self.forget_button.setObjectName(f"forget:{name}")
        self.forget_button.hide()
        self.forget_button.clicked.connect(lambda _c=False: forget(name))
        self.line = QHBoxLayout()
        self.line.setSpacing(6)
        self.line.addWidget(self.widget, 1)
        self.line.addWidget(self.forget_button)
        self.saved: bool | None = None  # None: not known yet
        self.forgotten = False

    def show_saved(self, saved: bool) -> None:
        self.saved = saved
        if not self.forgotten:
            self.widget.setPlaceholderText(QCoreApplication.translate("SettingsDialog", "Saved — type to replace") if saved else "")
            self.forget_button.setVisible(saved)

    def forget(self) -> None:
        self.forgotten = True
        self.widget.clear()
        self.widget.setPlaceholderText(QCoreApplication.translate("SettingsDialog", "Will be removed when you save"))
        self.forget_button.hide()

    def typed(self) -> str:
        return self.widget.text()
