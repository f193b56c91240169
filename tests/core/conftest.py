"""Fixtures for the core tests: the sky-take-out double, a ledger, and a running source wired to
the ledger the way the app wires it. (NOTIFIER_HOME and proxies: tests/conftest.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.core.ledger import Ledger
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from tests.fakes.running_source import RunningSource
from tests.fakes.skytakeout_server import SkyTakeOutDouble


@pytest.fixture
def double() -> Iterator[SkyTakeOutDouble]:
    with SkyTakeOutDouble() as server:
        yield server


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    book = Ledger(tmp_path / "ledger.sqlite3")
    yield book
    book.close()


@pytest.fixture
def run_source(ledger: Ledger):
    """Start a source: run_source(settings, password=...) -> RunningSource (stopped afterwards)."""
    started: list[RunningSource] = []

    def start(settings: Settings, *, password: str | None = "123456") -> RunningSource:
        secrets = MemorySecrets({"skytakeout_admin_password": password} if password else {})
        running = RunningSource(settings, ledger, secrets)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
