"""Rules for every test: its own NOTIFIER_HOME, no proxies, and honest handling of the desktop
session.

Tests that need the desktop session (display, keyring, audio, speech, tray, notification
recorder; see tests/harness/desktop-session) carry `@pytest.mark.needs_session`. Run through
`tests/run` they run for real. Run with plain pytest they are skipped with the reason, except
when CI=true: CI must run everything for real, so there they fail instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    # `from helpers import ...` from any test folder, without making tests/ a package.
    sys.path.insert(0, str(TESTS_DIR))

from helpers import IN_SESSION, keyring_env  # noqa: E402

PROXY_VARS = (
    "http_proxy", "https_proxy", "all_proxy", "no_proxy", "ws_proxy", "wss_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
)
SESSION_REASON = "needs the desktop session: run through tests/run"

if not IN_SESSION:
    # No display outside the session: Qt draws off screen instead of failing to connect.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_session: needs the desktop session of tests/run (skipped outside it, "
        "failed outside it when CI=true)",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if IN_SESSION or item.get_closest_marker("needs_session") is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{SESSION_REASON} (CI=true, so not skipped)", pytrace=False)
    pytest.skip(SESSION_REASON)


@pytest.fixture(autouse=True)
def keyring_choice_per_test():
    """`keyring` picks its backend once per process, at its first call: a test that runs with
    PYTHON_KEYRING_BACKEND=fail must not leave that choice to the tests after it."""
    try:
        import keyring.core
    except ImportError:
        yield
        return
    backend = keyring.core._keyring_backend
    yield
    keyring.core._keyring_backend = backend


@pytest.fixture(autouse=True)
def notifier_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own NOTIFIER_HOME (settings, ledger, logs), and no proxy in the way."""
    home = tmp_path / "notifier-home"
    home.mkdir()
    monkeypatch.setenv("NOTIFIER_HOME", str(home))
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def fresh_keyring():
    """The session keyring with no order-notifier items before or after the test.

    Yields a helpers.KeyringView: `.items()` shows what is stored, seen from outside the app.
    """
    if not IN_SESSION:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"fresh_keyring {SESSION_REASON} (CI=true)", pytrace=False)
        pytest.skip(f"fresh_keyring {SESSION_REASON}")
    with keyring_env() as view:
        yield view


@pytest.fixture
def keyring_session(tmp_path, monkeypatch):
    """A private session bus with its own unlocked gnome-keyring (tests.fakes.keyring_session),
    for tests that lock it or start listeners against it. Yields the KeyringSession; its `.env`
    holds DBUS_SESSION_BUS_ADDRESS."""
    from tests.fakes.keyring_session import KeyringSession

    # No display for the private keyring daemon: on a display a locked keyring opens an unlock
    # prompt and waits for a person; here "locked" must mean locked with nobody to unlock it.
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    try:
        session = KeyringSession(tmp_path / "keyring")
    except RuntimeError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"keyring_session: {exc} (CI=true, so not skipped)", pytrace=False)
        pytest.skip(str(exc))
    yield session
    session.close()


@pytest.fixture(scope="module")
def other_user():
    """A second local user of this machine (tests.fakes.local_user), for what another user of the
    shop PC can reach; made for the module's tests and removed after them."""
    from tests.fakes.local_user import make_local_user, remove_local_user

    try:
        user = make_local_user()
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"no second local user: {exc}")
    yield user
    remove_local_user(user)
