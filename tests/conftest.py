"""Rules for every test: its own NOTIFIER_HOME, no proxies, and honest handling of the desktop
session and of the machine's shared parts.

Tests that need the desktop session (display, keyring, audio, speech, tray, notification
recorder; see tests/harness/desktop-session) carry `@pytest.mark.needs_session`. Run through
`tests/run` they run for real. Run with plain pytest they are skipped with the reason, except
when CI=true: CI must run everything for real, so there they fail instead.

Tests that need a program of this machine from outside the project — a server `.ci/setup.d`
installs or starts (redis-server, nginx, RabbitMQ, CUPS), the desktop's keyring daemon in a
private session of its own (gnome-keyring), or apt itself — carry `needs_system(NAME)`. Tests
using the `redis_server` or `keyring_session` fixture, the Redis side of a BOTH_STORES module,
or a module that starts its own RedisServer, redis-server, Nginx or KeyringSession are marked
here. The fast lane (`tests/run --fast`) is every test with neither mark: the project's own
code, its own servers and doubles, and the app and listener as processes.

Tests run in parallel (pytest-xdist, one desktop session per worker: tests/run). The parts of
the machine that every worker — and every other test run on the machine — shares (apt and its
lock, the one RabbitMQ broker, the CUPS queue) are used by one test at a time: a test needing
one holds a lock file for it from its setup to its teardown. A test marked `measures_time`
(it asserts how long something takes) runs alone: it waits until the tests running beside it
are done, and none starts until it is. A module's tests run on one worker (its module fixtures
— the .deb built and installed, a broker account — exist once); the modules with slow tests are
handed out first, so that none starts when the others are done, and those that measure time
last, when waiting for the others to finish costs least.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
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
# Programs from outside the project a test gets from a fixture, or a test module starts itself
# with one of these (found as names in the module).
SYSTEM_FIXTURES = {"redis_server": "redis", "keyring_session": "keyring"}
SYSTEM_STARTERS = {"RedisServer": "redis", "REDIS_BINARY": "redis", "Nginx": "nginx",
                   "KeyringSession": "keyring"}
# One of each per machine, shared by every worker: tests needing it run one at a time.
ONE_PER_MACHINE = ("rabbitmq", "cups", "apt")
ONE_AT_A_TIME_WAIT_S = 900  # the longest holder, the .deb build and install, takes 2-4 minutes

if not IN_SESSION:
    # No display outside the session: Qt draws off screen instead of failing to connect.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_session: needs the desktop session of tests/run (skipped outside it, "
        "failed outside it when CI=true)",
    )
    config.addinivalue_line(
        "markers",
        "measures_time: asserts how long something takes; runs with no other test beside it",
    )
    config.addinivalue_line(
        "markers",
        "needs_system(name): needs a program of this machine from outside the project (redis, "
        "nginx, rabbitmq, cups, keyring, apt); not in the fast lane",
    )


def _system_parts(item: pytest.Item) -> set[str]:
    names = {mark.args[0] for mark in item.iter_markers("needs_system")}
    names |= {SYSTEM_FIXTURES[f] for f in getattr(item, "fixturenames", ()) if f in SYSTEM_FIXTURES}
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("store_kind") == "redis":
        names.add("redis")
    module = getattr(item, "module", None)
    names |= {part for name, part in SYSTEM_STARTERS.items() if hasattr(module, name)}
    return names


@pytest.hookimpl(tryfirst=True)  # before the mark plugin deselects by these marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for name in sorted(_system_parts(item) - {m.args[0] for m in item.iter_markers("needs_system")}):
            item.add_marker(pytest.mark.needs_system(name))
    # tests/run hands out whole modules (their module fixtures are built once, on one worker):
    # the modules with slow tests first, so none starts late when the other workers are done.
    def modules_with(mark: str) -> set[Path]:
        return {item.path for item in items if item.get_closest_marker(mark) is not None}

    slow, timed = modules_with("slow"), modules_with("measures_time")
    items.sort(key=lambda item: 2 if item.path in timed else 0 if item.path in slow else 1)


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outside pytest-timeout: waiting is not the test
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    shared = sorted(_system_parts(item) & set(ONE_PER_MACHINE))
    with contextlib.ExitStack() as held:
        # The turn first, then the parts: a test holding a part never waits for a turn.
        held.enter_context(turn(alone=item.get_closest_marker("measures_time") is not None))
        for name in shared:  # in name order: two tests never wait for each other
            held.enter_context(machine_lock(name))
        return (yield)


def _lock_file(name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"order-notifier-tests.{name}.lock"


def _flock(lock, mode: int, what: str) -> None:
    deadline = time.monotonic() + ONE_AT_A_TIME_WAIT_S
    while True:
        try:
            fcntl.flock(lock, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} was busy with other tests for {ONE_AT_A_TIME_WAIT_S} s "
                                   f"({lock.name})") from None
            time.sleep(0.05)


@contextlib.contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """Hold the machine's lock file for `name` (fcntl: released when the process dies)."""
    with open(_lock_file(name), "a+b") as lock:
        _flock(lock, fcntl.LOCK_EX, name)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def turn(*, alone: bool) -> Iterator[None]:
    """A test's turn on the machine: beside the other tests, or alone. A test waiting to run
    alone holds the turnstile, so no new test starts meanwhile (it cannot be starved)."""
    with open(_lock_file("turnstile"), "a+b") as turnstile, open(_lock_file("tests"), "a+b") as tests:
        _flock(turnstile, fcntl.LOCK_EX, "the turnstile")
        try:
            _flock(tests, fcntl.LOCK_EX if alone else fcntl.LOCK_SH, "the machine")
        finally:
            if not alone:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(tests, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(turnstile, fcntl.LOCK_UN)


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
def root_log_level_per_test() -> Iterator[None]:
    """A test that runs `notifier.cli.main` sets the process's log level (the root logger's):
    the tests after it on the same worker must not log at that level (one left at ERROR
    silenced the warnings another test reads with caplog). Handlers are pytest's business: it
    adds and removes its own around every phase."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


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
