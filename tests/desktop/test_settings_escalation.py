"""The settings dialog's escalation page: its own page, the phone targets as a keyring secret,
and "Send a test message" sending to what is typed (saved or not) off the GUI thread, to a
phone service double on 127.0.0.1, with one line per target."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt

from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from notifier.desktop.i18n import install_translators
from notifier.desktop.settings_dialog import SettingsDialog
from notifier.desktop.settings_layout import PAGES
from tests.fakes.phone_services import PhoneServices

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def make_dialog(qapp, qtbot):
    install_translators(qapp, "en")
    made = []

    def make(secrets) -> SettingsDialog:
        dialog = SettingsDialog(Settings({"general.language": "en", "printer.shop_name": "Noodle Bar"}), secrets)
        dialog.show()
        qtbot.waitExposed(dialog)
        qtbot.waitUntil(lambda: all(e.saved is not None for e in dialog.secret_editors.values()))
        made.append(dialog)
        return dialog

    yield make
    for dialog in made:
        dialog.close()


def test_the_escalation_settings_have_their_page(make_dialog):
    dialog = make_dialog(MemorySecrets())
    page = dialog.pages.widget(PAGES.index("escalation"))
    assert dialog.nav.item(PAGES.index("escalation")).text() == "Escalation"
    for key in ("escalation.louder_after", "escalation.phone_after", "escalation.connection_after",
                "escalation.connection_when", "escalation.shop_name"):
        assert page.isAncestorOf(dialog.fields[key].row), key
    assert page.isAncestorOf(dialog.secret_edits["escalation_targets"])
    assert dialog.fields["escalation.louder_after"].get() == 3
    assert dialog.fields["escalation.phone_after"].get() == 5


def test_send_a_test_message_to_the_typed_targets_off_the_gui_thread(qtbot, make_dialog):
    with PhoneServices() as phone:
        secrets = MemorySecrets()
        dialog = make_dialog(secrets)
        dialog.secret_edits["escalation_targets"].setText(
            f"ntfy://127.0.0.1:{phone.port}/shop   json://127.0.0.1:{phone.port}/hook")
        phone.hold()  # the services take their time: the click must return at once anyway
        started = time.perf_counter()
        qtbot.mouseClick(dialog.phone_test_button, Qt.MouseButton.LeftButton)
        assert time.perf_counter() - started < 0.2
        assert not dialog.phone_test_button.isEnabled()
        phone.release()
        qtbot.waitUntil(dialog.phone_test_button.isEnabled, timeout=10_000)
        assert dialog.phone_result.text() == ("✓ ntfy at 127.0.0.1: sent\n"
                                              "✓ JSON webhook at 127.0.0.1: sent")
        assert [r.json()["title"] for r in phone.requests] == ["[Noodle Bar] Test message"] * 2
    assert secrets.get("escalation_targets")[0] is None  # testing saved nothing


def test_a_failing_or_missing_target_is_said_per_target(qtbot, make_dialog):
    with PhoneServices() as phone:
        dialog = make_dialog(MemorySecrets({"escalation_targets": f"ntfy://127.0.0.1:{phone.port}/shop"}))
        phone.fail_next(1, 502)
        qtbot.mouseClick(dialog.phone_test_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(dialog.phone_test_button.isEnabled, timeout=10_000)
        assert dialog.phone_result.text() == "✗ ntfy at 127.0.0.1: the service answered HTTP 502"

    dialog = make_dialog(MemorySecrets())
    qtbot.mouseClick(dialog.phone_test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.phone_test_button.isEnabled, timeout=10_000)
    assert dialog.phone_result.text() == "No phone alert target is saved: enter one and try again."


def test_saving_the_targets_keeps_them_in_the_keyring_and_does_not_reconnect(qtbot, make_dialog):
    secrets = MemorySecrets()
    dialog = make_dialog(secrets)
    dialog.fields["connection.url"].put("ws://127.0.0.1:9/ws")
    dialog.fields["connection.shop"].put("noodle")
    dialog.secret_edits["escalation_targets"].setText("ntfy://ntfy.example.com/secret-topic")
    assert dialog.save()
    assert secrets.get("escalation_targets")[0] == "ntfy://ntfy.example.com/secret-topic"
    assert dialog.secrets_changed is False  # the connection keeps running
    from notifier.core import paths

    assert "secret-topic" not in paths.config_file().read_text(encoding="utf-8")
