"""Desktop subcommands for the `notifier` command: `doctor`."""

from __future__ import annotations

import argparse


def _cmd_doctor(args: argparse.Namespace) -> int:
    from notifier.cli import settings_from_args
    from notifier.desktop.doctor import run_doctor

    return run_doctor(settings_from_args(args), voices=not args.no_voices)


def add_desktop_commands(sub) -> None:
    doctor = sub.add_parser("doctor", help="print what works on this machine (notifications, voice, keyring, tray)")
    doctor.add_argument("--no-voices", action="store_true", help="skip listing voices (can be slow)")
    doctor.set_defaults(func=_cmd_doctor)
