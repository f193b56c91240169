"""How the app's windows present themselves to the desktop: icon and translated name.

Every window gets the bell icon (`_NET_WM_ICON` on X11; the taskbar and Alt+Tab show it), and
window titles end in the app's name in the owner's language ("… — 订单提醒"). The X11 class
stays "Order Notifier" (it is Latin-1 only); the .desktop file names that class in
StartupWMClass, so desktops find the entry and show its translated name for the group.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QWidget

from notifier.core.paths import resources_dir

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)
_icon: QIcon | None = None


def app_icon() -> QIcon:
    """The bell in every size the desktop may ask for (loaded once)."""
    global _icon
    if _icon is None:
        _icon = QIcon()
        for size in ICON_SIZES:
            path = resources_dir() / "icons" / f"order-notifier-{size}.png"
            if path.exists():
                _icon.addFile(str(path))
    return _icon


def display_name() -> str:
    return QCoreApplication.translate("Identity", "Order Notifier")


def apply_identity(app: QApplication) -> None:
    """Icon and translated display name for the whole app; call again after a language change."""
    app.setWindowIcon(app_icon())
    app.setApplicationDisplayName(display_name())


def give_icon(window: QWidget) -> None:
    """The icon on one window, also when it is made outside the app (tests, tools)."""
    window.setWindowIcon(app_icon())
