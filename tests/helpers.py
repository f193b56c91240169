"""Small tools every test shares: waiting on a condition, free ports, and the test session's
notification log, audio recorder and keyring.

The session parts (NotificationLog, AudioRecorder, keyring_env) need the desktop session started
by tests/run (tests/harness/desktop-session); tests using them carry `@pytest.mark.needs_session`.
Nothing here imports Qt, so core and server tests can use it too. In Qt tests prefer
`qtbot.waitUntil`, which keeps the event loop turning while it waits.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SERVICE = "order-notifier"  # the keyring service name of notifier.core.secrets
IN_SESSION = os.environ.get("NOTIFIER_TEST_SESSION") == "1"



def orders_in_main_file(path: Path, scratch: Path) -> int:
    """Events in a ledger's database file itself, without its WAL (what the background checkpoint
    copied in), read from a copy made in `scratch`; -1 when not even the table is there yet, or
    when the copy caught a checkpoint half-way through writing the file (a torn copy)."""
    from contextlib import closing

    copy = scratch / "main-only.sqlite3"
    shutil.copyfile(path, copy)
    with closing(sqlite3.connect(copy)) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        except sqlite3.DatabaseError:  # OperationalError (no table yet) or a torn copy
            return -1


def ledger_file_of_version(path: Path, version: int, *statements: str) -> Path:
    """An order history file as version `version` of the app left it (its first `version`
    migrations only), with these SQL statements run in it: what an upgrade test opens."""
    from notifier.core import ledger_schema

    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN")
        for step in ledger_schema.MIGRATIONS[:version]:
            step(db)
        for statement in statements:
            db.execute(statement)
        db.execute(f"PRAGMA user_version={version}")
        db.execute("COMMIT")
    finally:
        db.close()
    return path


def wait_until(
    predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01, message: str = ""
) -> T:
    """Poll `predicate` until it returns something truthy, and return that.

    Raises AssertionError (with `message` and the last value seen) when `timeout` seconds pass
    first. Exceptions from the predicate are not swallowed: a predicate that may fail while
    things start up should catch what it expects itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = f" (last value: {value!r})"
            raise AssertionError(f"{message or 'condition not met'} within {timeout} s{detail}")
        time.sleep(interval)


class ManualClock:
    """A monotonic clock the test moves: `clock()` reads it, `clock.advance(s)` moves it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# Under pytest-xdist each worker takes its ports from a range of its own, below the kernel's
# ephemeral ports (32768 up on Linux): a port another worker was just given, or one the kernel
# hands an outgoing connection, is never the one a test is about to bind — or bind again when it
# restarts a server it killed on the same port. Test runs started at the same time on one machine
# (several working copies) take different ranges, chosen by the run's id: with one fixed range
# per worker name, one run's gw1 bound the port another run's gw1 had just killed its server on,
# and that run's orders went to the wrong server (401 bad_signature).
WORKER_PORTS_FROM = 20_000
WORKER_PORTS_EACH = 1_000
WORKER_RANGES = 12  # 20,000-31,999
_next_worker_port = itertools.count()


def print_jobs(ledger_path: str | os.PathLike[str], state: str | None = None) -> list[tuple[str, str, int]]:
    """(key, state, attempts) of every print job in the ledger file, oldest first: what is on disk."""
    sql = "SELECT key, state, attempts FROM print_jobs" + (" WHERE state=?" if state else "")
    with contextlib.closing(sqlite3.connect(ledger_path)) as db:
        return [tuple(r) for r in db.execute(sql + " ORDER BY id", (state,) if state else ())]


def outbox_actions(ledger_path: str | os.PathLike[str]) -> list[tuple[str, str, int, str | None]]:
    """(key, state, attempts, last error) of every action in the ledger file's outbox, oldest first."""
    with contextlib.closing(sqlite3.connect(ledger_path)) as db:
        return [tuple(r) for r in db.execute(
            "SELECT key, state, attempts, last_error FROM action_outbox ORDER BY id")]


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM (the app quits cleanly on it), then SIGKILL if it has not ended within `timeout`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def malloc_thread_arenas(maps: str) -> int:
    """glibc's thread arenas in a process's /proc/PID/maps text: each is a 64 MiB aligned
    reservation, its used start read-write and the rest inaccessible (notifier.core.malloc_arenas)."""
    lines = [line for line in maps.splitlines() if line.strip()]
    arenas = 0
    for line, after in zip(lines, lines[1:], strict=False):
        fields, next_fields = line.split(), after.split()
        start = int(fields[0].split("-")[0], 16)
        next_end = int(next_fields[0].split("-")[1], 16)
        if (start % (64 << 20) == 0 and len(fields) == 5 and fields[1] == "rw-p" and next_fields[1] == "---p"
                and next_end - start == 64 << 20):
            arenas += 1
    return arenas


def worker_port_range(worker: str, workers: int, run_id: str) -> range | None:
    """The ports of worker "gwN" of a run of `workers` workers with xdist's run id; None when
    the worker has no range (more workers than ranges: the kernel picks)."""
    if not worker[2:].isdigit() or not 0 < workers <= WORKER_RANGES or int(worker[2:]) >= workers:
        return None
    runs = WORKER_RANGES // workers  # how many runs side by side get ranges of their own
    run = int(hashlib.sha256(run_id.encode()).hexdigest(), 16) % runs
    first = WORKER_PORTS_FROM + (run * workers + int(worker[2:])) * WORKER_PORTS_EACH
    return range(first, first + WORKER_PORTS_EACH)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (in this worker's range under xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ...
    try:
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    except ValueError:
        workers = 0
    ports = worker_port_range(worker, workers, os.environ.get("PYTEST_XDIST_TESTRUNUID", ""))
    if ports is None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    for _ in range(len(ports)):
        port = ports[next(_next_worker_port) % len(ports)]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use, or still closing from an earlier test
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1} for {worker}")


# --- notifications --------------------------------------------------------------------------

class NotificationLog:
    """What the session's notification recorder saw: one dict per Notify call.

    Keys: t, t_mono_ns, app_name, replaces_id, app_icon, summary, body, actions (flat list
    key, label, key, label...), hints_keys, expire_timeout, id.
    """

    BUS_NAME = "org.freedesktop.Notifications"
    OBJECT_PATH = "/org/freedesktop/Notifications"

    def __init__(self, path: str | os.PathLike[str] | None = None):
        path = path or os.environ.get("NOTIFIER_TEST_NOTIFY_LOG")
        if not path:
            raise RuntimeError("NOTIFIER_TEST_NOTIFY_LOG is not set: run inside tests/run's session")
        self.path = Path(path)
        self._start = 0

    def _all(self) -> list[dict[str, Any]]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        # Only complete lines: the recorder may be half-way through writing the last one (even
        # half-way through one of its characters, so the bytes are cut before being decoded).
        return [json.loads(line.decode("utf-8")) for line in data.split(b"\n")[:-1] if line]

    def entries(self) -> list[dict[str, Any]]:
        """Notifications shown since the last mark() (all of them if never marked)."""
        return self._all()[self._start:]

    def mark(self) -> int:
        """Forget what was shown so far; returns how many entries that was."""
        self._start = len(self._all())
        return self._start

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        """The first entry since mark() that matches `predicate` (any entry if None)."""
        def found():
            return next((e for e in self.entries() if predicate is None or predicate(e)), None)

        deadline = time.monotonic() + timeout
        while (entry := found()) is None:
            if time.monotonic() >= deadline:
                seen = [(e["summary"], e["body"]) for e in self.entries()]
                raise AssertionError(f"no matching notification within {timeout} s; seen: {seen}")
            time.sleep(0.01)
        return entry

    def closed_by_the_app(self) -> list[int]:
        """Ids of the notifications the app closed (CloseNotification), oldest first."""
        path = self.path.with_name(self.path.stem + "-closed.jsonl")  # notification_recorder.closed_log
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line)["id"] for line in text.split("\n")[:-1] if line]

    def invoke_action(self, notification_id: int, action_key: str) -> None:
        """Click an action button: the recorder emits ActionInvoked, then NotificationClosed."""
        self._call_test_method("InvokeAction", "us", (notification_id, action_key))

    def dismiss(self, notification_id: int) -> None:
        """Close a notification as the user would (NotificationClosed, reason 2)."""
        self._call_test_method("Dismiss", "u", (notification_id,))

    def _call_test_method(self, method: str, signature: str, body: tuple) -> None:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        address = DBusAddress(self.OBJECT_PATH, self.BUS_NAME, "org.notifier.Test")
        with open_dbus_connection(bus="SESSION") as conn:
            reply = conn.send_and_get_reply(
                new_method_call(address, method, signature, body), timeout=5
            )
        if reply.header.message_type.name == "error":
            raise RuntimeError(f"recorder refused {method}: {reply.body}")


# --- audio ----------------------------------------------------------------------------------

def _sox_stat(path: Path, field: str) -> float:
    result = subprocess.run(
        ["sox", str(path), "-n", "stat"], capture_output=True, text=True, timeout=30,
        env={**os.environ, "LC_ALL": "C"},
    )
    match = re.search(rf"^{re.escape(field)}:\s*([-0-9.e]+)", result.stderr, re.MULTILINE)
    if result.returncode != 0 or not match:
        raise RuntimeError(f"sox could not measure {path}: {result.stderr.strip()}")
    return float(match.group(1))


def rms(path: str | os.PathLike[str]) -> float:
    """RMS amplitude of a recording, 0.0 (silence) to 1.0, measured by sox."""
    return _sox_stat(Path(path), "RMS     amplitude")


def max_amplitude(path: str | os.PathLike[str]) -> float:
    """Peak amplitude of a recording (absolute, 0.0 to 1.0), measured by sox."""
    return _sox_stat(Path(path), "Maximum amplitude")


def duration(path: str | os.PathLike[str]) -> float:
    """Length of a recording in seconds."""
    return _sox_stat(Path(path), "Length (seconds)")


def _trimmed_length(path: Path, effects: list[str]) -> float:
    result = subprocess.run(["sox", str(path), "-n", *effects, "stat"], capture_output=True, text=True,
                            timeout=30, env={**os.environ, "LC_ALL": "C"})
    match = re.search(r"^Length \(seconds\):\s*([0-9.]+)", result.stderr, re.MULTILINE)
    if not match:
        return 0.0  # nothing above the threshold: sox has no samples left to measure
    return float(match.group(1))


def sound_span(path: str | os.PathLike[str], threshold: str = "0.5%") -> tuple[float, float] | None:
    """(first, last) second of the recording that is louder than `threshold` (sox's silence
    effect), or None when it is silent throughout."""
    path = Path(path)
    total = duration(path)
    after_start = _trimmed_length(path, ["silence", "1", "0.02", threshold])
    if after_start <= 0:
        return None
    until_end = _trimmed_length(path, ["reverse", "silence", "1", "0.02", threshold, "reverse"])
    return total - after_start, until_end


class AudioRecorder:
    """Records what plays on the session's null sink (its monitor source) into a WAV file.

    with AudioRecorder(tmp_path) as rec: ...play...
    rms(rec.path) > 0.01
    """

    WAV_HEADER = 44
    RATE = 44100
    CHANNELS = 2
    BYTES_PER_SECOND = RATE * CHANNELS * 2  # s16le

    def __init__(self, directory: str | os.PathLike[str], name: str = "recording.wav",
                 sink: str | None = None):
        self.path = Path(directory) / name
        self.sink = sink or os.environ.get("NOTIFIER_TEST_SINK", "notifier_null")
        self._proc: subprocess.Popen | None = None

    def start(self, timeout: float = 5.0) -> AudioRecorder:
        """Start recording; returns once samples are arriving, so nothing played later is lost.
        `started_at` (time.monotonic) is then about the recording's second 0."""
        self._proc = subprocess.Popen(
            ["parecord", f"--device={self.sink}.monitor", "--file-format=wav",
             f"--rate={self.RATE}", f"--channels={self.CHANNELS}", "--format=s16le",
             str(self.path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

        def recording() -> bool:
            if self._proc.poll() is not None:
                raise RuntimeError(f"parecord exited: {self._proc.stderr.read().decode().strip()}")
            return self.path.exists() and self.path.stat().st_size > self.WAV_HEADER

        wait_until(recording, timeout, message=f"parecord recording from {self.sink}.monitor")
        self.started_at = time.monotonic() - self.seconds_recorded()
        return self

    def seconds_recorded(self) -> float:
        """How much has been recorded so far (the WAV header is only complete after stop())."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return 0.0
        return max(0, size - self.WAV_HEADER) / self.BYTES_PER_SECOND

    def stop(self) -> Path:
        """Stop recording and return the finished WAV file."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)  # parecord finishes the WAV header on TERM
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc is not None and self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None
        return self.path

    def __enter__(self) -> AudioRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- keyring --------------------------------------------------------------------------------

class KeyringView:
    """The session's Secret Service seen from outside the app (through secretstorage)."""

    def __init__(self, service: str = SERVICE):
        self.service = service

    @contextlib.contextmanager
    def _collection(self) -> Iterator[Any]:
        import secretstorage

        conn = secretstorage.dbus_init()
        try:
            yield secretstorage.get_default_collection(conn)
        finally:
            conn.close()

    def items(self) -> dict[str, str]:
        """{secret name: value} of everything stored under the service."""
        with self._collection() as collection:
            return {
                item.get_attributes().get("username", item.get_label()):
                    item.get_secret().decode("utf-8")
                for item in collection.search_items({"service": self.service})
            }

    def clear(self) -> None:
        """Delete every item stored under the service."""
        with self._collection() as collection:
            for item in collection.search_items({"service": self.service}):
                item.delete()


@contextlib.contextmanager
def keyring_env(service: str = SERVICE) -> Iterator[KeyringView]:
    """The session keyring with no `service` items before the block and none left after it."""
    if not IN_SESSION:
        raise RuntimeError("keyring_env needs the test session's keyring (run tests/run)")
    view = KeyringView(service)
    view.clear()
    try:
        yield view
    finally:
        view.clear()


def wait_voice_ready(qtbot: Any, announcer: Any, timeout_s: float = 40.0) -> None:
    """Wait until the announcer can speak, through the app's own replacement of a first helper.

    A cold speech-dispatcher loads its voice module before the probe is said; on the 2-core CI
    machine beside the session lane's heaviest tests that once took over the probe's 12 s, and
    the app then replaced the helper (as it does for a shop) and the second one spoke. Tests
    that are about something else wait for that, and fail with the announcer's own sentence.
    """
    try:
        qtbot.waitUntil(lambda: announcer.wait_ready(0), timeout=int(timeout_s * 1000))
    except AssertionError:
        raise AssertionError(f"no voice after {timeout_s:g} s: {announcer.problem()}") from None
