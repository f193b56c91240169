"""The settings dialog: built from the declaration, secrets to the keyring only, inline errors,
Save/Cancel, and Test connection against a real WebSocket server."""

from __future__ import annotations

import threading
import time

import pytest
import shiboken6
from fakes.ws_token_server import WsServer
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLabel, QLineEdit, QPushButton, QWidget

from notifier.core import paths
from notifier.core import settings_file as core_settings
from notifier.core.connection import ConnState
from notifier.core.secrets import MemorySecrets, SecretStore
from notifier.core.settings import SECRETS, SETTINGS, Settings
from notifier.desktop.i18n import install_translators
from notifier.desktop.settings_dialog import LABEL_MAX_WIDTH, SettingsDialog
from notifier.desktop.settings_layout import PAGES

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def english(qapp):
    install_translators(qapp, "en")
    yield
    install_translators(qapp, "en")


@pytest.fixture
def make_dialog(qtbot):
    made: list[SettingsDialog] = []

    def make(settings: Settings | None = None, secrets=None, *, wait_keyring: bool = True, **kw) -> SettingsDialog:
        dialog = SettingsDialog(settings or Settings(), secrets if secrets is not None else MemorySecrets(), **kw)
        dialog.show()
        qtbot.waitExposed(dialog)
        if wait_keyring:  # the keyring is read by a worker thread; most tests want its answer
            qtbot.waitUntil(lambda: all(e.saved is not None for e in dialog.secret_editors.values()),
                            timeout=10_000)
        made.append(dialog)
        return dialog

    yield make
    for dialog in made:
        if shiboken6.isValid(dialog):
            shiboken6.delete(dialog)


def shown(dialog: SettingsDialog, widget: QWidget) -> bool:
    """Visible to the user on its page (pages not on screen count as shown when their row is)."""
    return widget.isVisibleTo(dialog.pages.widget(dialog.pages.indexOf(_page_of(dialog, widget))))


def _page_of(dialog: SettingsDialog, widget: QWidget) -> QWidget:
    while widget.parentWidget() is not None and widget.parentWidget() is not dialog.pages:
        widget = widget.parentWidget()
    return widget


def row_visible(dialog: SettingsDialog, key: str) -> bool:
    return shown(dialog, dialog.fields[key].row)


def secret_visible(dialog: SettingsDialog, name: str) -> bool:
    return shown(dialog, dialog.secret_edits[name])


def choose_protocol(dialog: SettingsDialog, protocol: str) -> None:
    combo = dialog.fields["connection.protocol"].editor
    combo.setCurrentIndex(combo.findData(protocol))


def error_text(dialog: SettingsDialog, key: str) -> str:
    label = dialog.fields[key].error
    return label.text() if label.isVisibleTo(dialog) or not label.isHidden() else ""


def test_every_declared_setting_and_secret_has_a_field(make_dialog):
    dialog = make_dialog()
    assert set(dialog.fields) == {spec.key for spec in SETTINGS}
    assert set(dialog.secret_edits) == {spec.name for spec in SECRETS}
    for edit in dialog.secret_edits.values():
        assert edit.echoMode() is QLineEdit.EchoMode.Password
    # Widgets follow the types: a check box for a bool, bounds on numbers.
    assert isinstance(dialog.fields["alerts.chime"].editor, QCheckBox)
    spin = dialog.fields["alerts.repeat_interval"].editor
    assert (spin.minimum(), spin.maximum()) == (0, 3600)
    assert [dialog.nav.item(i).text() for i in range(dialog.nav.count())] == \
        ["Connection", "Connections", "Alerts", "Escalation", "Voice", "Printer", "General"]


def test_only_the_chosen_protocols_fields_are_shown(make_dialog):
    dialog = make_dialog(Settings({"connection.protocol": "notifier"}))
    assert row_visible(dialog, "connection.shop") and secret_visible(dialog, "notifier_token")
    assert not row_visible(dialog, "skytakeout.admin_user")
    assert not row_visible(dialog, "json.order_id_field")
    assert not secret_visible(dialog, "skytakeout_admin_password")

    choose_protocol(dialog, "skytakeout")
    assert row_visible(dialog, "skytakeout.admin_url") and secret_visible(dialog, "skytakeout_admin_password")
    assert not row_visible(dialog, "connection.shop") and not secret_visible(dialog, "notifier_token")
    assert not row_visible(dialog, "json.order_id_field")
    assert "/ws/" in dialog.fields["connection.url"].editor.placeholderText()

    choose_protocol(dialog, "json")
    assert row_visible(dialog, "json.order_id_field") and secret_visible(dialog, "json_token")
    assert not row_visible(dialog, "skytakeout.admin_url") and not row_visible(dialog, "connection.shop")
    # Settings for every protocol stay: alerts, voice, general.
    assert row_visible(dialog, "alerts.repeat_interval") and row_visible(dialog, "general.language")


def test_secret_fields_say_where_they_are_stored(make_dialog):
    dialog = make_dialog(secrets=MemorySecrets({"notifier_token": "abc"}))
    note = dialog.findChild(QLabel, "stored:notifier_token").text()
    assert "memory (demo)" in note and "never in the settings file" in note
    # A saved secret is never put back into the field, only announced.
    assert dialog.secret_edits["notifier_token"].text() == ""
    assert "Saved" in dialog.secret_edits["notifier_token"].placeholderText()


def test_save_writes_settings_and_secrets_and_emits_saved(qtbot, make_dialog):
    secrets = MemorySecrets()
    dialog = make_dialog(secrets=secrets)
    qtbot.keyClicks(dialog.fields["connection.url"].editor, "wss://orders.example.com/ws")
    qtbot.keyClicks(dialog.fields["connection.shop"].editor, "noodle-bar")
    qtbot.keyClicks(dialog.secret_edits["notifier_token"], "tok-123")
    dialog.fields["alerts.repeat_interval"].editor.setValue(120)
    with qtbot.waitSignal(dialog.saved, timeout=1000) as saved:
        qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Save), Qt.MouseButton.LeftButton)
    new = saved.args[0]
    assert new["connection.url"] == "wss://orders.example.com/ws"
    assert new["alerts.repeat_interval"] == 120
    assert core_settings.load() == new
    assert secrets.get("notifier_token") == ("tok-123", None)
    assert "tok-123" not in paths.config_file().read_text(encoding="utf-8")
    assert dialog.secrets_changed
    assert not dialog.isVisible()


def test_cancel_changes_nothing(qtbot, make_dialog):
    secrets = MemorySecrets({"notifier_token": "old"})
    dialog = make_dialog(Settings({"connection.url": "ws://a/ws", "connection.shop": "s"}), secrets)
    dialog.fields["connection.url"].editor.setText("ws://b/ws")
    dialog.secret_edits["notifier_token"].setText("new")
    qtbot.mouseClick(dialog.findChild(QPushButton, "forget:notifier_token"), Qt.MouseButton.LeftButton)
    with qtbot.assertNotEmitted(dialog.saved):
        qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    assert not paths.config_file().exists()
    assert secrets.get("notifier_token") == ("old", None)


def test_invalid_values_are_shown_next_to_their_field_and_nothing_is_saved(qtbot, make_dialog):
    dialog = make_dialog(Settings({"connection.url": "ws://a/ws", "connection.shop": "s"}))
    dialog.fields["connection.url"].editor.setText("http://shop:8080/ws")
    assert not dialog.save()
    error = dialog.fields["connection.url"].error
    assert not error.isHidden() and "ws://" in error.text()
    assert dialog.nav.currentRow() == 0
    assert not paths.config_file().exists()

    dialog.fields["connection.url"].editor.setText("ws://a/ws")
    dialog.fields["alerts.quiet_start"].editor.setText("25:00")
    assert not dialog.save()
    assert dialog.fields["connection.url"].error.isHidden()
    assert "22:30" in dialog.fields["alerts.quiet_start"].error.text()
    assert dialog.nav.currentRow() == PAGES.index("alerts")  # the dialog went to the page with the problem

    dialog.fields["alerts.quiet_start"].editor.setText("22:30")
    dialog.fields["alerts.quiet_end"].editor.setText("07:00")
    assert dialog.save()
    assert core_settings.load()["alerts.quiet_start"] == "22:30"


def test_an_advanced_field_with_an_error_is_unfolded(make_dialog):
    dialog = make_dialog(Settings({"connection.url": "ws://a/ws", "connection.shop": "s"}))
    toggle = dialog.findChild(QWidget, "toggle:connection:advanced")
    assert not toggle.isChecked()
    dialog.fields["connection.ping_interval"].editor.setValue(10)
    dialog.fields["connection.ping_timeout"].editor.setValue(20)
    assert not dialog.save()
    assert toggle.isChecked()
    assert "ping interval" in dialog.fields["connection.ping_timeout"].error.text()


def test_errors_and_labels_are_chinese_in_chinese(qapp, make_dialog):
    install_translators(qapp, "zh_CN")
    dialog = make_dialog(Settings({"connection.url": "ws://a/ws", "connection.shop": "s"}))
    assert dialog.nav.item(0).text() == "连接"
    assert dialog.findChild(QLabel, "stored:notifier_token").text().startswith("仅保存在")
    dialog.fields["alerts.quiet_end"].editor.setText("7点")
    assert not dialog.save()
    assert "22:30" in dialog.fields["alerts.quiet_end"].error.text()
    assert "必须" in dialog.fields["alerts.quiet_end"].error.text()


def test_first_run_shows_a_welcome(make_dialog):
    assert make_dialog(first_run=True).findChild(QWidget, "welcome") is not None
    assert make_dialog().findChild(QWidget, "welcome") is None


def test_remove_clears_a_saved_secret_on_save(qtbot, make_dialog):
    secrets = MemorySecrets({"notifier_token": "old"})
    dialog = make_dialog(Settings({"connection.url": "ws://a/ws", "connection.shop": "s"}), secrets)
    qtbot.mouseClick(dialog.findChild(QPushButton, "forget:notifier_token"), Qt.MouseButton.LeftButton)
    assert dialog.save()
    assert secrets.get("notifier_token")[0] is None


def test_test_connection_runs_off_the_main_thread_and_uses_the_typed_token(qtbot, make_dialog):
    with WsServer(token="typed-not-saved") as server:
        secrets = MemorySecrets()
        dialog = make_dialog(Settings({"connection.protocol": "json",
                                       "connection.url": f"ws://127.0.0.1:{server.port}/ws"}), secrets)
        button = dialog.test_connection_button
        dialog.secret_edits["json_token"].setText("wrong")
        started = time.perf_counter()
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        assert time.perf_counter() - started < 0.2  # the click returns at once
        assert not button.isEnabled()
        qtbot.waitUntil(button.isEnabled, timeout=5000)
        assert dialog.last_probe.state is ConnState.UNAUTHORIZED
        assert "Wrong password or token" in dialog.connection_result.text()

        dialog.secret_edits["json_token"].setText("typed-not-saved")
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(button.isEnabled, timeout=5000)
        assert dialog.last_probe.state is ConnState.CONNECTED
        assert dialog.connection_result.text().startswith("✓ Connected to 127.0.0.1")
    assert secrets.get("json_token")[0] is None  # testing saved nothing


class RecordingVoice:
    """Stand-in with the Announcer's settings-facing interface (test_voice.py tests real speech)."""

    def __init__(self, available: bool):
        self._available = available
        self.tested: list[Settings] = []

    def available(self) -> bool:
        return self._available

    def problem(self) -> str:
        return "" if self._available else "No speech engine is installed."

    def engines(self) -> list[str]:
        return ["speechd"]

    def voices(self, language: str) -> list[str]:
        return ["Mandarin", "English (America)"]

    def test(self, settings: Settings) -> None:
        self.tested.append(settings)


def test_test_voice_speaks_with_the_values_on_screen(qtbot, make_dialog):
    voice = RecordingVoice(available=True)
    dialog = make_dialog(voice=voice)
    dialog.fields["voice.volume"].editor.setValue(40)
    qtbot.mouseClick(dialog.test_voice_button, Qt.MouseButton.LeftButton)
    assert [s["voice.volume"] for s in voice.tested] == [0.4]


def test_test_voice_says_why_there_is_no_voice(qtbot, make_dialog):
    voice = RecordingVoice(available=False)
    dialog = make_dialog(voice=voice)
    assert "No speech engine" in dialog.voice_result.text()
    qtbot.mouseClick(dialog.test_voice_button, Qt.MouseButton.LeftButton)
    assert voice.tested == []


@pytest.mark.needs_session
def test_secrets_go_to_the_session_keyring_only(qtbot, make_dialog, fresh_keyring):
    dialog = make_dialog(Settings({"connection.protocol": "skytakeout"}), SecretStore())
    assert "Secret Service" in dialog.findChild(QLabel, "stored:skytakeout_admin_password").text()
    dialog.fields["connection.url"].editor.setText("ws://shop:8080/ws/")
    dialog.fields["skytakeout.admin_url"].editor.setText("http://shop:8080")
    dialog.fields["skytakeout.admin_user"].editor.setText("admin")
    dialog.secret_edits["skytakeout_admin_password"].setText("pa55-word")
    assert dialog.save()
    assert fresh_keyring.items() == {"skytakeout_admin_password": "pa55-word"}
    assert "pa55" not in paths.config_file().read_text(encoding="utf-8")


class SlowKeyringStandIn(MemorySecrets):
    """A keyring that takes as long as the test wants to answer (a stand-in: the session's real
    gnome-keyring cannot be told to hang, but a locked one waiting on a prompt does)."""

    def __init__(self, values):
        super().__init__(values)
        self.release = threading.Event()

    def get(self, name):
        self.release.wait(10)
        return super().get(name)


def test_a_slow_keyring_does_not_hold_up_the_dialog(qtbot, make_dialog):
    secrets = SlowKeyringStandIn({"notifier_token": "abc"})
    started = time.perf_counter()
    dialog = make_dialog(secrets=secrets, wait_keyring=False)
    assert time.perf_counter() - started < 2.0  # the dialog is up while the keyring still thinks
    note = dialog.findChild(QLabel, "stored:notifier_token")
    assert "Checking" in note.text()
    assert dialog.findChild(QPushButton, "forget:notifier_token").isHidden()
    secrets.release.set()
    qtbot.waitUntil(lambda: "memory (demo)" in note.text(), timeout=5000)
    assert "Saved" in dialog.secret_edits["notifier_token"].placeholderText()
    assert not dialog.findChild(QPushButton, "forget:notifier_token").isHidden()


def test_quiet_hours_fields_show_different_examples(make_dialog):
    dialog = make_dialog()
    start = dialog.fields["alerts.quiet_start"].editor.placeholderText()
    end = dialog.fields["alerts.quiet_end"].editor.placeholderText()
    assert start and end and start != end


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_no_row_label_wraps_or_widens_the_dialog(qapp, make_dialog, language):
    install_translators(qapp, language)
    dialog = make_dialog()
    too_wide = []
    for label in dialog.findChildren(QLabel):
        if label.buddy() is not None:
            width = label.fontMetrics().horizontalAdvance(label.text())
            if label.wordWrap() or width > LABEL_MAX_WIDTH:
                too_wide.append((label.text(), width))
    assert not too_wide


def test_the_chinese_keyring_note_has_no_stray_spaces(qapp, make_dialog):
    install_translators(qapp, "zh_CN")
    dialog = make_dialog(secrets=MemorySecrets())
    assert dialog.findChild(QLabel, "stored:notifier_token").text().startswith("仅保存在内存（演示）中")


def test_fixed_values_are_shown_but_not_saved(make_dialog):
    """The demo's server and shop are shown (the tray says it is connected to them); the
    owner's own settings file keeps its values."""
    fixed = {"connection.protocol": "notifier", "connection.url": "ws://127.0.0.1:4321/ws",
             "connection.shop": "demo-shop"}
    for own in (Settings({"connection.url": "ws://mine/ws", "connection.shop": "mine"}), Settings()):
        dialog = make_dialog(own, fixed=fixed)
        assert dialog.fields["connection.url"].editor.text() == "ws://127.0.0.1:4321/ws"
        assert dialog.fields["connection.shop"].editor.text() == "demo-shop"
        assert not dialog.fields["connection.url"].editor.isEnabled()
        dialog.fields["alerts.repeat_interval"].editor.setValue(30)
        assert dialog.save()  # also when the owner's own file has no server yet
        saved = core_settings.load()
        assert (saved["connection.url"], saved["connection.shop"]) == (own["connection.url"], own["connection.shop"])
        assert saved["alerts.repeat_interval"] == 30


def test_closing_the_dialog_before_the_keyring_answers_is_harmless(qtbot):
    from notifier.desktop import settings_io

    secrets = SlowKeyringStandIn({"notifier_token": "abc"})
    dialog = SettingsDialog(Settings(), secrets)
    dialog.show()
    qtbot.waitExposed(dialog)
    shiboken6.delete(dialog)
    secrets.release.set()
    # The late answer arrives on the GUI thread and is dropped; pytest-qt fails the test on any
    # exception raised in that slot.
    qtbot.waitUntil(lambda: not settings_io._waiting, timeout=5000)


def test_no_internal_setting_name_is_shown_in_chinese(qapp, make_dialog):
    """Before: the printer page's QR help said "(alerts.order_url)". A setting's key is for the
    settings file, not for the shop owner. (Choice values such as `escpos_network` in the
    printer kind's declared help belong to the printer page's own rework.)"""
    import re

    from PySide6.QtWidgets import QAbstractButton

    from notifier.core.settings import SETTINGS

    install_translators(qapp, "zh_CN")
    dialog = make_dialog()
    keys = {spec.key for spec in SETTINGS}
    shown = [w.text() for w in dialog.findChildren(QLabel)] + \
            [w.text() for w in dialog.findChildren(QAbstractButton)] + \
            [w.toolTip() for w in dialog.findChildren(QWidget)]
    named = sorted({(text, key) for text in shown for key in re.findall(r"[a-z]+\.[a-z_]+", text)
                    if key in keys})
    assert not named, named
