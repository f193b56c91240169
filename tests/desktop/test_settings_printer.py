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


def _cups_queue_ready() -> bool:
    import shutil
    import subprocess

    if not shutil.which("lpstat"):
        return False
    done = subprocess.run(["lpstat", "-p", "PDF"], capture_output=True, text=True, timeout=10)
    return done.returncode == 0 and "enabled" in done.stdout


@pytest.mark.needs_system("cups")
def test_a_system_printer_is_picked_from_the_printers_installed_here(dialog, qtbot):
    """Found: the system-printer setting was a free-text box with no list of the printers."""
    if not _cups_queue_ready():
        pytest.fail("no CUPS queue PDF: run .ci/setup.d/60-cups.sh")
    kind = dialog.fields["printer.kind"].editor
    kind.setCurrentIndex(kind.findData("system"))
    address = dialog.fields["printer.address"].editor_part
    qtbot.waitUntil(lambda: address.installed is not None, timeout=10_000)
    names = [address.combo.itemText(i) for i in range(address.combo.count())]
    assert "PDF" in names, names
    assert address.widget.placeholderText() == "The default printer"
    address.combo.setCurrentIndex(names.index("PDF"))
    assert dialog.values()["printer.address"] == "PDF"
    kind.setCurrentIndex(kind.findData("escpos_network"))
    assert address.combo.count() == 0, "a network printer's address is typed, not picked"
    assert address.widget.placeholderText() == "192.168.1.50:9100"
    assert dialog.values()["printer.address"] == "PDF", "what was entered stays"


def test_the_printer_page_and_the_doctor_name_no_setting_under_chinese(qapp, qtbot, printer):
    """Found: `escpos_network` and `alerts.order_url` shown to a Chinese shop owner."""
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel

    from notifier.core import i18n
    from notifier.desktop.doctor import printer_finding

    install_translators(qapp, "zh_CN")
    try:
        made = SettingsDialog(Settings({"general.language": "zh_CN"}), MemorySecrets())
        page = made._sections[("printer", "printer")].parentWidget()
        texts = [w.text() for w in page.findChildren(QLabel) + page.findChildren(QAbstractButton)]
        texts += [box.itemText(i) for box in page.findChildren(QComboBox) for i in range(box.count())]
        texts += [made.fields["printer.address"].editor.placeholderText()]
        made.close()
        on = Settings({"printer.print_on": "new_order", "printer.address": printer.address})
        texts += [printer_finding(Settings()).line(), printer_finding(on).line()]
    finally:
        install_translators(qapp, "en")
        i18n.set_language("en")
    internal = [t for t in texts if any(word in t for word in ("escpos", "alerts.", "printer.", "order_url"))]
    assert not internal, internal
    assert "网络小票打印机 127.0.0.1:" in texts[-1] and "未开启打印" in texts[-2]
