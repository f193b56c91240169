"""Where every process of the program starts: `python -m notifier` and the frozen executable.

The speech helper (desktop/speech_helper.py), a child the tray app starts for itself, goes
straight to its loop. The command line it would otherwise pass through (the settings,
every subcommand's module, the keyring's hashing) is ~3 MB of memory the helper never uses, and the
helper runs for as long as the app does.
"""

from __future__ import annotations

import sys

# desktop/speech_helper.py's SUBCOMMAND (tests/desktop/test_speech_entry.py keeps them equal):
# not imported from there, so a server or `listen` process loads nothing of the desktop.
SPEECH_HELPER = "speech-helper"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == [SPEECH_HELPER]:
        from notifier.desktop.speech_helper import run_helper

        return run_helper()
    from notifier.cli import main as command_line

    return command_line(argv)
