"""Where the notifier keeps its files.

`NOTIFIER_HOME` overrides every user directory at once: portable installs and tests point it at
one folder and nothing else on the machine is touched. Every folder handed out here is private
(0700, its files 0600; see private_files), also one an older version made open to others.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

from notifier.core.private_files import private_folder

APP_NAME = "order-notifier"
APP_AUTHOR = "OrderNotifier"


def _home() -> Path | None:
    value = os.environ.get("NOTIFIER_HOME")
    return Path(value).expanduser() if value else None


_made_private: set[Path] = set()


def _ensure(path: Path) -> Path:
    # Once per folder and process: the first use fixes what an older version left open.
    if path not in _made_private:
        private_folder(path)
        _made_private.add(path)
    elif not path.is_dir():  # removed while we ran
        private_folder(path)
    return path


def config_dir() -> Path:
    home = _home()
    if home:
        return _ensure(home / "config")
    return _ensure(Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)))


def data_dir() -> Path:
    home = _home()
    if home:
        return _ensure(home / "data")
    return _ensure(Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR)))


def log_dir() -> Path:
    home = _home()
    if home:
        return _ensure(home / "logs")
    return _ensure(Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR)))


def cache_dir() -> Path:
    """What can be made again, kept between starts to make them cheaper."""
    home = _home()
    if home:
        return _ensure(home / "cache")
    return _ensure(Path(platformdirs.user_cache_dir(APP_NAME, APP_AUTHOR)))


def config_file() -> Path:
    return config_dir() / "settings.toml"


def ledger_file() -> Path:
    return data_dir() / "ledger.sqlite3"


def resources_dir() -> Path:
    """The shipped icons, chimes and translations: in a PyInstaller bundle `_MEIPASS/resources`;
    installed from a wheel (or a .deb built from one) inside the package, `notifier/resources`
    (see setup.py); in a source checkout or an editable install, the checkout's `resources/`."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    package = Path(__file__).resolve().parents[1]
    installed = package / "resources"
    if (installed / "translations").is_dir():
        return installed
    return package.parent / "resources"


# What the program needs from resources_dir(): checked by `notifier doctor`.
NEEDED_RESOURCES = (
    "icons/order-notifier-64.png", "icons/order-notifier-256.png",
    "sounds/new_order.wav", "sounds/reminder.wav", "sounds/alert.wav",
    "translations/core_zh_CN.json", "translations/notifier_zh_CN.qm", "translations/notifier_en.qm",
)


def missing_resources() -> list[str]:
    """The needed resource files that are not there (empty when all are)."""
    folder = resources_dir()
    return [name for name in NEEDED_RESOURCES if not (folder / name).is_file()]
