"""Single instance: a second launch hands over to the first and exits; a stale socket left by a
crashed instance does not block the next start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from PySide6.QtCore import QDir

from notifier.desktop.single_instance import SingleInstance, instance_name

ROOT = Path(__file__).resolve().parents[2]

SECOND_LAUNCH = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QCoreApplication
    from notifier.desktop.single_instance import SingleInstance
    app = QCoreApplication(sys.argv[:1])
    first = SingleInstance(sys.argv[1]).acquire("show")
    sys.exit(3 if first else 0)
    """
)


@pytest.fixture
def name():
    return f"order-notifier-test-{uuid.uuid4().hex[:12]}"


def test_second_launch_hands_over_and_first_is_asked_to_show(qtbot, name):
    first = SingleInstance(name)
    assert first.acquire()
    messages: list[str] = []
    first.activated.connect(messages.append)

    second = subprocess.Popen(
        [sys.executable, "-c", SECOND_LAUNCH, name], cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    # The first instance must keep its event loop turning to answer: wait with qtbot.
    qtbot.waitUntil(lambda: second.poll() is not None, timeout=10_000)
    assert second.returncode == 0  # handed over, not a second notifier
    assert messages == ["show"]
    first.release()


def test_stale_socket_from_a_crashed_instance_is_replaced(name):
    path = os.path.join(QDir.tempPath(), name)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)  # bound and never listened on or removed: what a killed process leaves
    stale.close()
    assert os.path.exists(path)

    instance = SingleInstance(name)
    assert instance.acquire()
    instance.release()


def test_name_depends_on_the_settings_folder(tmp_path, monkeypatch):
    a = instance_name()
    monkeypatch.setenv("NOTIFIER_HOME", str(tmp_path / "other"))
    assert instance_name() != a
