"""Single instance: a second launch hands over to the first and exits; a stale socket left by a
crashed instance does not block the next start. Both endpoints run here for real: the Unix
socket Linux and macOS use, and QLocalServer, which Windows uses (here also over a Unix socket)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from notifier.desktop.single_instance import SingleInstance, instance_name, socket_path

ROOT = Path(__file__).resolve().parents[2]

SECOND_LAUNCH = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QCoreApplication
    from notifier.desktop.single_instance import SingleInstance
    app = QCoreApplication(sys.argv[:1])
    first = SingleInstance(sys.argv[1], use_qt_local_server=sys.argv[2] == "qt").acquire("show")
    sys.exit(3 if first else 0)
    """
)

ENDPOINTS = ["unix", "qt"]


@pytest.fixture
def name():
    return f"order-notifier-test-{uuid.uuid4().hex[:12]}"


def launch_second(name: str, endpoint: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SECOND_LAUNCH, name, endpoint], cwd=ROOT,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_second_launch_hands_over_and_first_is_asked_to_show(qtbot, name, endpoint):
    first = SingleInstance(name, use_qt_local_server=endpoint == "qt")
    assert first.acquire()
    messages: list[str] = []
    first.activated.connect(messages.append)

    second = launch_second(name, endpoint)
    # The first instance must keep its event loop turning to answer: wait with qtbot.
    qtbot.waitUntil(lambda: second.poll() is not None, timeout=10_000)
    assert second.returncode == 0  # handed over, not a second notifier
    assert messages == ["show"]
    first.release()


def test_the_socket_is_the_users_alone_and_gone_after_release(qtbot, name):
    first = SingleInstance(name, use_qt_local_server=False)
    assert first.acquire()
    path = socket_path(name)
    mode = os.stat(path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    first.release()
    assert not os.path.exists(path)
    assert not [p for p in os.listdir(os.path.dirname(path)) if p.startswith(".order-notifier-")]


def test_a_stranger_on_the_socket_does_not_stop_the_next_hand_over(qtbot, name):
    first = SingleInstance(name, use_qt_local_server=False)
    assert first.acquire()
    messages: list[str] = []
    first.activated.connect(messages.append)
    silent = socket.socket(socket.AF_UNIX)
    silent.connect(socket_path(name))  # connects and never says anything
    junk = socket.socket(socket.AF_UNIX)
    junk.connect(socket_path(name))
    junk.sendall(b"x" * 5000)  # no line, too long: dropped
    second = launch_second(name, "unix")
    qtbot.waitUntil(lambda: second.poll() is not None, timeout=10_000)
    assert second.returncode == 0 and messages == ["show"]
    silent.close()
    junk.close()
    first.release()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_stale_socket_from_a_crashed_instance_is_replaced(name, endpoint):
    if endpoint == "qt":
        from PySide6.QtCore import QDir

        path = os.path.join(QDir.tempPath(), name)  # where QLocalServer puts it on Unix
    else:
        path = socket_path(name)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)  # bound and never listened on or removed: what a killed process leaves
    stale.close()
    assert os.path.exists(path)

    instance = SingleInstance(name, use_qt_local_server=endpoint == "qt")
    assert instance.acquire()
    instance.release()


def test_name_depends_on_the_settings_folder(tmp_path, monkeypatch):
    a = instance_name()
    monkeypatch.setenv("NOTIFIER_HOME", str(tmp_path / "other"))
    assert instance_name() != a


def test_a_running_instance_answers_questions_without_showing_itself(qtbot, tmp_path):
    """`notifier doctor` asks the running app for its voice status this way."""
    import threading

    first = SingleInstance(name=f"test-ask-{os.getpid()}")
    assert first.acquire()
    first.answer("voice-status", lambda: '{"state": "ready"}')
    shown: list[str] = []
    first.activated.connect(shown.append)
    answers: list[str | None] = []
    # Asked from another thread: this one must keep serving the socket.
    asker = threading.Thread(target=lambda: answers.append(SingleInstance(name=first.name).ask("voice-status")))
    asker.start()
    qtbot.waitUntil(lambda: bool(answers), timeout=5_000)
    asker.join()
    first.release()
    assert answers == ['{"state": "ready"}']
    assert shown == []
    assert SingleInstance(name=first.name).ask("voice-status", timeout_ms=500) is None  # none running
