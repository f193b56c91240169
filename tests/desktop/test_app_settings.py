"""The running app after Save in the settings dialog: a changed token alone reconnects (a real
WebSocket server on 127.0.0.1 sees a new connection with the new token), a changed language
reaches the tray menu at once, and the windows carry the app's icon."""

from __future__ import annotations

import subprocess

import pytest
from fakes.ws_token_server import WsServer

from notifier.core import paths
from notifier.core import settings_file as core_settings
from notifier.core.launch import Launch
from notifier.core.secrets import SecretStore
from notifier.core.settings import Settings
from notifier.desktop.i18n import install_translators

pytestmark = [pytest.mark.needs_session, pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def mock_speech(monkeypatch):
    monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "mock")


@pytest.fixture
def running_app(qapp, qtbot):
    """The app's parts as `NotifierApp.run` starts them, without its event loop and lock."""
    from notifier.desktop.app import NotifierApp

    made = []

    def start(settings: Settings):
        core_settings.save(settings)  # a saved configuration: not a first run
        app = NotifierApp(Launch(settings=settings, config_path=paths.config_file()))
        app.qapp = qapp
        app._start_core()
        app._start_desktop()
        made.append(app)
        return app

    yield start
    for app in made:
        if app.settings_dialog is not None:
            app.settings_dialog.close()
        app.alerts.stop()
        app.announcer.shutdown()
        app.intake.stop()
        app.tray.hide()
        app.notifier.close()
        app.ledger.close()
    install_translators(qapp, "en")


def test_saving_a_new_token_alone_reconnects_with_it(qtbot, running_app, fresh_keyring):
    with WsServer(token="old-token") as server:
        assert SecretStore().set("json_token", "old-token") is None
        app = running_app(Settings({"connection.protocol": "json", "general.language": "en",
                                    "connection.url": f"ws://127.0.0.1:{server.port}/ws"}))
        qtbot.waitUntil(lambda: server.accepted == 1, timeout=10_000)

        server.token = "new-token"  # the shop was given a new token
        app.show_settings()
        dialog = app.settings_dialog
        qtbot.waitUntil(lambda: dialog.secret_editors["json_token"].saved is not None, timeout=10_000)
        dialog.secret_edits["json_token"].setText("new-token")
        assert dialog.save()
        qtbot.waitUntil(lambda: server.accepted == 2, timeout=10_000)
        assert fresh_keyring.items() == {"json_token": "new-token"}


def test_a_language_change_reaches_the_tray_menu_at_once(qtbot, running_app, fresh_keyring):
    app = running_app(Settings({"connection.url": "ws://127.0.0.1:9/ws", "connection.shop": "s",
                                "general.language": "en"}))
    assert app.tray.action_orders.text() == "Orders"
    app.show_settings()
    dialog = app.settings_dialog
    combo = dialog.fields["general.language"].editor
    combo.setCurrentIndex(combo.findData("zh_CN"))
    assert dialog.save()
    assert app.tray.action_orders.text() == "订单"
    assert app.tray.action_quit.text() == "退出"
    assert app.qapp.applicationDisplayName() == "订单提醒"


def _has_x11_icon(window) -> bool:
    out = subprocess.run(["xprop", "-id", str(int(window.winId())), "_NET_WM_ICON"],
                         capture_output=True, text=True, timeout=10).stdout
    return "not found" not in out and "_NET_WM_ICON" in out


def test_the_windows_carry_the_app_icon(qtbot, running_app, fresh_keyring):
    app = running_app(Settings({"connection.url": "ws://127.0.0.1:9/ws", "connection.shop": "s"}))
    app.show_orders()
    app.show_settings()
    for window in (app.orders_window, app.settings_dialog):
        qtbot.waitExposed(window)
        assert not window.windowIcon().isNull()
        # What the taskbar and Alt+Tab read on X11.
        qtbot.waitUntil(lambda w=window: _has_x11_icon(w), timeout=5000)
