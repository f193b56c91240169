"""The argument parser of every `notifier` command: a mistake is one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn

from notifier.core.i18n import tr


class CommandParser(argparse.ArgumentParser):
    """argparse, but a mistake is said in one line (with where to look) instead of the usage."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message}. " + tr("See `{command} --help`.", command=self.prog), file=sys.stderr)
        raise SystemExit(2)


def port_number(text: str) -> int:
    """A TCP port (0 lets the system pick a free one)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(tr("a port is a number from 0 to 65535 (got {value!r})", value=text))
    return port


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(tr("must be a number above 0 (got {value!r})", value=text))
    return value


def positive_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(tr("must be a whole number above 0 (got {value!r})", value=text))
    return value


class UsageError(Exception):
    """A mistake on the command line, told as one sentence (exit status 2)."""
