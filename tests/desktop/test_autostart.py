"""Start at login: the Linux XDG autostart file is written for real; Windows and macOS entries
are checked by the content they would write (no registry or launchd here)."""

from __future__ import annotations

import configparser
import plistlib
import shlex

from notifier.desktop import autostart


def _read_entry(path):
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive in desktop entries
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser["Desktop Entry"]


def test_linux_autostart_file_is_written_and_removed(notifier_home):
    command = ["/opt/order notifier/bin/python", "-m", "notifier"]
    where = autostart.set_enabled(True, command, platform="linux")

    assert where == notifier_home / "autostart" / "order-notifier.desktop"
    assert autostart.is_enabled(platform="linux")
    entry = _read_entry(where)
    assert entry["Type"] == "Application"
    assert entry["Name[zh_CN]"] == "订单提醒"
    # The path with a space is quoted as the Desktop Entry spec asks, so the session can run it.
    assert shlex.split(entry["Exec"]) == command
    assert entry["X-GNOME-Autostart-enabled"] == "true"

    autostart.set_enabled(False, command, platform="linux")
    assert not where.exists()
    assert not autostart.is_enabled(platform="linux")


def test_linux_entry_uses_xdg_config_home_without_notifier_home(tmp_path, monkeypatch):
    monkeypatch.delenv("NOTIFIER_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert autostart.linux_autostart_file() == tmp_path / "xdg" / "autostart" / "order-notifier.desktop"


def test_exec_escapes_reserved_characters():
    line = autostart._desktop_exec(["/a b/py$thon", "100%"])
    assert line == '"/a b/py\\$thon" 100%%'


def test_windows_run_value_content_fake_registry_not_available_here():
    key, name, value = autostart.windows_run_value(
        [r"C:\Users\Shop Owner\AppData\Local\Programs\Order Notifier\notifier.exe"]
    )
    assert key == r"Software\Microsoft\Windows\CurrentVersion\Run"
    assert name == "OrderNotifier"
    # Quoted, or Windows would try to run "C:\Users\Shop".
    assert value == r'"C:\Users\Shop Owner\AppData\Local\Programs\Order Notifier\notifier.exe"'


def test_macos_launch_agent_content_and_file(notifier_home):
    command = ["/Applications/Order Notifier.app/Contents/MacOS/notifier"]
    data = plistlib.loads(autostart.macos_launch_agent(command))
    assert data["Label"] == "org.ordernotifier.notifier"
    assert data["ProgramArguments"] == command
    assert data["RunAtLoad"] is True
    assert data["KeepAlive"] is False

    path = autostart.set_enabled(True, command, platform="darwin")
    assert path == notifier_home / "LaunchAgents" / "org.ordernotifier.notifier.plist"
    assert plistlib.loads(path.read_bytes())["ProgramArguments"] == command
    autostart.set_enabled(False, command, platform="darwin")
    assert not path.exists()


def test_launch_command_runs_this_package_from_source():
    command = autostart.launch_command()
    assert command[1:] == ["-m", "notifier"]
