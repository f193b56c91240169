"""Asking why an order is rejected (or cancelled by the shop after 接单: `ReasonDialog` is the
shape both use): the dialog names the order and preselects no reason.

The customer sees the reason, and a rejected order is lost money: so the dialog says which order
(number, amount, customer), offers the usual reasons without choosing one, and its "Reject"
button stays disabled until a reason is chosen or typed. Enter on the empty dialog rejects
nothing.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from notifier.core import wording
from notifier.core.events import OrderEvent
from notifier.core.text import plain

MAX_REASON_CHARS = 200


def reject_reasons() -> list[str]:
    """The short list offered when rejecting (the owner may also type one)."""
    translate = QCoreApplication.translate
    return [translate("OrderDecisions", "Sold out"), translate("OrderDecisions", "Too busy right now"),
            translate("OrderDecisions", "Outside the delivery area"),
            translate("OrderDecisions", "Closing soon")]


def order_summary(event: OrderEvent, language: str) -> str:
    """"#1234 · 56.50 元 · 张三": how the dialog names the order."""
    parts = [f"#{plain(event.display_number, 40)}"]
    amount = wording.display_amount(event.amount, language, event.currency)
    if amount:
        parts.append(amount)
    if event.customer:
        parts.append(plain(event.customer, 40))
    return " · ".join(parts)


class ReasonDialog(QDialog):
    """Names the order, asks for a reason from `reasons` or typed, and confirms with `confirm`
    only once there is one. `title` and `question` hold %1 for the order."""

    def __init__(self, event: OrderEvent, language: str, parent: QWidget | None = None, *,
                 title: str, question: str, reasons: list[str], confirm: str):
        super().__init__(parent)
        translate = QCoreApplication.translate
        number = plain(event.display_number, 40)
        self.setWindowTitle(title.replace("%1", number))
        layout = QVBoxLayout(self)
        self.question = QLabel(question.replace("%1", order_summary(event, language)), self)
        self.question.setWordWrap(True)
        layout.addWidget(self.question)
        self.reason = QComboBox(self)
        self.reason.setEditable(True)
        self.reason.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.reason.addItems(reasons)
        self.reason.setCurrentIndex(-1)  # no reason chosen for the owner
        self.reason.lineEdit().setPlaceholderText(translate("OrderDecisions", "Choose or type a reason"))
        self.reason.lineEdit().setMaxLength(MAX_REASON_CHARS)
        layout.addWidget(self.reason)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.reject_button = self.buttons.addButton(confirm, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self._confirm)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.reason.editTextChanged.connect(self._update)
        self._update()

    def chosen(self) -> str:
        return self.reason.currentText().strip()[:MAX_REASON_CHARS]

    def _update(self) -> None:
        enabled = bool(self.chosen())
        self.reject_button.setEnabled(enabled)
        self.reject_button.setDefault(enabled)  # Enter rejects only once a reason is there

    def _confirm(self) -> None:
        if self.chosen():
            self.accept()


class RejectDialog(ReasonDialog):
    def __init__(self, event: OrderEvent, language: str, parent: QWidget | None = None):
        translate = QCoreApplication.translate
        super().__init__(event, language, parent,
                         title=translate("OrderDecisions", "Reject order %1"),
                         question=translate("OrderDecisions", "Reject order %1? The customer sees the reason."),
                         reasons=reject_reasons(), confirm=translate("OrderDecisions", "Reject order"))


def ask_reject_reason(event: OrderEvent, language: str, parent: QWidget | None = None) -> str | None:
    """The reason picked or typed, or None when the owner thought better of it."""
    return ask_reason(RejectDialog(event, language, parent))


def ask_reason(dialog: ReasonDialog) -> str | None:
    """Run `dialog`: the reason picked or typed, or None when the owner thought better of it."""
    try:
        return dialog.chosen() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()
