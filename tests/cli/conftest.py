"""Fixtures for the command tests: run `notifier …` in this process, with English reset after."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from notifier.cli import main
from notifier.core import i18n

LOCALE_VARS = ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")


@dataclass
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def english_afterwards(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Commands set the process-wide language; each test starts from an English system and leaves
    English behind. No keyring is reachable from here: nothing a test runs can touch one."""
    for name in LOCALE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("NOTIFIER_INGEST_SECRET", raising=False)
    yield
    i18n.set_language("en")


@pytest.fixture
def notifier(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """notifier(*argv, stdin="") -> Ran: `notifier.cli.main` in-process, its output captured."""

    def run(*argv: str, stdin: str = "") -> Ran:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run
