"""The settings file: read (upgrading a file from before the list of connections in place) and
written atomically, owner-only.

Apart from `settings` because the file holds both the flat settings and the connections list
(`notifier.core.connections`), which is built on the settings' declarations.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import tomli_w

from notifier.core import paths
from notifier.core.atomic import write_atomic
from notifier.core.connections import load_tables, toml_tables
from notifier.core.i18n import tr
from notifier.core.settings import Settings, SettingsError

log = logging.getLogger(__name__)


def load(path: Path | None = None) -> Settings:
    """Settings from the TOML file (defaults where it is missing); SettingsError when invalid.
    A file from before the list of connections is written back with its connection as the
    list's first (every value kept; see connections.load_tables)."""
    path = path or paths.config_file()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    try:
        tables = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(str(path), tr("is not a valid settings file: {error}", error=exc)) from None
    settings, upgraded = load_tables(tables)
    if upgraded:
        try:
            save(settings, path)
            log.info("settings file %s upgraded to a list of connections", path)
        except OSError as exc:
            log.warning("could not upgrade the settings file %s (%s); using it as it is", path, exc)
    return settings


def save(settings: Settings, path: Path | None = None) -> Path:
    path = path or paths.config_file()
    data = tomli_w.dumps(toml_tables(settings, settings.as_toml_dict())).encode("utf-8")
    write_atomic(path, b"# Order Notifier settings. Secrets are kept in the system keyring.\n" + data)
    return path
