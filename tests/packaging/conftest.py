"""Shared by the installer tests: the `packaging` marker and the rule for missing build tools.

These tests build real installers. A tool that is missing (PyInstaller, makensis, apt, root) skips
the test with the reason on a developer's machine, and fails it when CI=true: CI must build and
install for real.
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "packaging: builds installers (PyInstaller bundle, .deb, NSIS); skipped without the "
        "tools unless CI=true",
    )


def require(condition: bool, reason: str) -> None:
    """Skip (or, under CI=true, fail) when a build/install tool is missing."""
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true, so not skipped)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(name="require", scope="session")
def require_fixture():
    return require
