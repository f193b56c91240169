"""What one start of the app is asked to do, as plain values.

The entry point (`notifier/cli.py`) turns the command line into a `Launch`: the settings already
resolved (saved file, `--config`, flags and `--set` items), the run's switches, and, for the demo,
what the embedded server hands the client (its settings, its token, a ledger of its own). The app
takes the `Launch` and never sees argparse or the server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from notifier.core.secrets import SecretStore
from notifier.core.settings import Settings


def unchanged(settings: Settings) -> Settings:
    return settings


@dataclass(frozen=True, slots=True)
class Launch:
    # The saved settings plus this run's overrides: what the settings dialog shows and edits.
    settings: Settings
    # The settings file this run read (the saved one unless --config named another).
    config_path: Path
    # The command line changed the settings for this run (--config, a connection flag or --set):
    # the app then connects at once instead of asking for settings first.
    has_overrides: bool = False
    demo: bool = False
    self_test: bool = False
    log_level: str = "INFO"
    # What the connection uses, given what the dialog edits: the same settings, or for the demo
    # the same settings pointed at the embedded server. Applied again whenever settings change.
    connection_settings: Callable[[Settings], Settings] = unchanged
    # Where secrets come from: None means the system keyring; the demo passes its own token.
    secrets: SecretStore | None = None
    # The order history to use: None means the usual one; the demo passes a throwaway file.
    ledger_path: Path | None = None
