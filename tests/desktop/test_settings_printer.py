"""The settings dialog's printer page: its own page with readable choices, and "Print test page"
printing what is entered (saved or not) on a real ESC/POS peer on 127.0.0.1, off the GUI thread,
with a sentence when the printer is not there."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QPushButton

from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from notifier.desktop.i18n import install_translators
from notifier.desktop.settings_dialog import SettingsDialog
from tests.fakes.escpos_server import EscposPrinterServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def dialog(qapp, qtbot):
    install_translators(qapp, "en")
    made = SettingsDialog(Settings({"general.language": "en"}), MemorySecrets())
    made.show()
    qtbot.waitExposed(made)
    yield made
    made.close()


@pytest.fixture
def printer():
    server = EscposPrinterServer().start()
    yield server
    server.stop()


def test_printer_settings_have_a_page_of_their_own_with_words_for_choices(dialog):
    kind = dialog.fields["printer.kind"].editor
    assert [kind.itemText(i) for i in range(kind.count())] == [
        "Receipt printer on the network (ESC/POS)", "Receipt printer on a serial port (ESC/POS)",
        "Receipt printer on USB (ESC/POS)", "A printer of this computer"]
    when = dialog.fields["printer.print_on"].editor
    assert when.itemText(0) == "Never"
    assert dialog.fields["general.language"].editor.window() is dialog
    # The printer's rows are not on the General page any more.
    general = dialog._sections[("general", "general")]
    assert not general.isAncestorOf(kind)


def test_print_test_page_prints_what_is_entered_and_says_so(dialog, printer, qtbot):
    dialog.fields["printer.address"].editor.setText(printer.address)
    button = dialog.findChild(QPushButton, "print_test_page")
    button.click()
    qtbot.waitUntil(lambda: dialog.print_result.text()[:1] in ("✓", "✗"), timeout=10_000)
    assert dialog.print_result.text().startswith("✓"), dialog.print_result.text()
    tickets = printer.wait_for_tickets(1, timeout=10)
    assert "Printer test page" in tickets[0].text
    qtbot.waitUntil(lambda: dialog.print_result.text().startswith("✓"), timeout=10_000)
    assert button.isEnabled()


def test_print_test_page_on_a_printer_that_is_not_there_says_why(dialog, printer, qtbot):
    address = printer.address
    printer.refuse()
    dialog.fields["printer.address"].editor.setText(address)
    dialog.findChild(QPushButton, "print_test_page").click()
    qtbot.waitUntil(lambda: dialog.print_result.text().startswith("✗"), timeout=15_000)
    assert len(dialog.print_result.text()) > 5 and "Traceback" not in dialog.print_result.text()
