"""Start at login: XDG autostart on Linux, the HKCU Run key on Windows, a LaunchAgent on macOS.

Each platform's entry is built by a pure function (tested by content everywhere); `set_enabled`
writes or removes it for the platform we run on. With NOTIFIER_HOME set (portable installs,
tests) the Linux and macOS files go under that folder, so nothing else on the machine changes.
"""

from __future__ import annotations

import logging
import os
import plistlib
import shlex
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

APP_ID = "order-notifier"
LAUNCH_AGENT_LABEL = "org.ordernotifier.notifier"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE_NAME = "OrderNotifier"


def launch_command() -> list[str]:
    """How to start this same installation again."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "notifier"]


# -- content, for every platform ----------------------------------------------------------


def _desktop_exec(command: list[str]) -> str:
    # Desktop Entry spec: arguments with reserved characters are double-quoted, with \ " ` $
    # escaped inside the quotes.
    def quote(arg: str) -> str:
        if arg and not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`='):
            return arg
        return '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'

    return " ".join(quote(a).replace("%", "%%") for a in command)


def linux_desktop_entry(command: list[str] | None = None) -> str:
    command = command or launch_command()
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Order Notifier\n"
        "Name[zh_CN]=订单提醒\n"
        "Comment=Announces new shop orders aloud until someone acknowledges them\n"
        "Comment[zh_CN]=语音播报新订单，直到有人确认\n"
        f"Exec={_desktop_exec(command)}\n"
        f"Icon={APP_ID}\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
        "X-GNOME-Autostart-Delay=5\n"
    )


def windows_run_value(command: list[str] | None = None) -> tuple[str, str, str]:
    """(key under HKEY_CURRENT_USER, value name, value data) for the Run key."""
    command = command or launch_command()
    return RUN_KEY, RUN_VALUE_NAME, subprocess.list2cmdline(command)


def macos_launch_agent(command: list[str] | None = None) -> bytes:
    command = command or launch_command()
    return plistlib.dumps(
        {
            "Label": LAUNCH_AGENT_LABEL,
            "ProgramArguments": list(command),
            "RunAtLoad": True,
            # Started once at login; if the owner quits it, it stays quit until the next login.
            "KeepAlive": False,
            "ProcessType": "Interactive",
        }
    )


# -- where the entries live ----------------------------------------------------------------


def _home_override() -> Path | None:
    value = os.environ.get("NOTIFIER_HOME")
    return Path(value).expanduser() if value else None


def linux_autostart_file() -> Path:
    home = _home_override()
    if home:
        return home / "autostart" / f"{APP_ID}.desktop"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autostart" / f"{APP_ID}.desktop"


def macos_launch_agent_file() -> Path:
    home = _home_override()
    base = home if home else Path.home() / "Library"
    return base / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"


# -- applying -------------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> None:
    from notifier.core.atomic import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)


def is_enabled(platform: str = sys.platform) -> bool:
    if platform.startswith("win"):
        import winreg  # type: ignore[import-not-found]

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                winreg.QueryValueEx(key, RUN_VALUE_NAME)
            return True
        except OSError:
            return False
    if platform == "darwin":
        return macos_launch_agent_file().exists()
    return linux_autostart_file().exists()


def set_enabled(enabled: bool, command: list[str] | None = None, platform: str = sys.platform) -> Path | str:
    """Create or remove this platform's login entry; returns where it is (file or registry)."""
    if platform.startswith("win"):
        import winreg  # type: ignore[import-not-found]

        key_path, name, data = windows_run_value(command)
        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, key_path) as key:
            if enabled:
                winreg.SetValueEx(key, name, 0, winreg.REG_SZ, data)
            else:
                try:
                    winreg.DeleteValue(key, name)
                except FileNotFoundError:
                    pass
        return f"HKCU\\{key_path}\\{name}"
    if platform == "darwin":
        path = macos_launch_agent_file()
        content = macos_launch_agent(command)
    else:
        path = linux_autostart_file()
        content = linux_desktop_entry(command).encode("utf-8")
    if enabled:
        _write(path, content)
        log.info("start at login enabled: %s", path)
    else:
        path.unlink(missing_ok=True)
        log.info("start at login disabled")
    return path


def describe(command: list[str]) -> str:
    """The command as a shell would show it (for doctor output)."""
    return shlex.join(command)
