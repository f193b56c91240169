"""Desktop subcommands for the `notifier` command: `doctor` (and the hidden `speech-helper`)."""

from __future__ import annotations

import argparse

from notifier.core.launch import Launch


def _cmd_doctor(args: argparse.Namespace, launch: Launch) -> int:
    from notifier.desktop.doctor import run_doctor

    return run_doctor(launch.settings, voices=not args.no_voices, send_test=args.send_test)


def _cmd_speech_helper(_args: argparse.Namespace) -> int:
    from notifier.desktop.speech_helper import run_helper

    return run_helper()


def add_desktop_commands(sub) -> None:
    doctor = sub.add_parser("doctor", help="print what works on this machine (notifications, voice, keyring, tray)")
    doctor.add_argument("--no-voices", action="store_true", help="skip listing voices (can be slow)")
    doctor.add_argument("--send-test", action="store_true",
                        help="send a test message to the phone alert targets (escalation)")
    # uses_settings: the entry point resolves the settings (--config, --set …) and passes them.
    doctor.set_defaults(func=_cmd_doctor, uses_settings=True)
    # The speech helper process the app starts (desktop/speech_helper.py); not for people.
    helper = sub.add_parser("speech-helper", help=argparse.SUPPRESS)
    helper.set_defaults(func=_cmd_speech_helper)
