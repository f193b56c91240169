"""Another user of the same PC cannot make the notifier believe it is already running.

Found: without $XDG_RUNTIME_DIR the single-instance socket was `/tmp/<predictable name>`; another
user binding it first made `notifier` hand over to *their* socket and exit 0 "already running"
(no orders announced). Here a second local user (made with useradd, run with setpriv) squats
every name the first launch might use: the old one in /tmp, the new per-user folder's name, and
a shared folder passed as $XDG_RUNTIME_DIR; its sockets answer "ok" like a running notifier.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QDir

from notifier.desktop.single_instance import SingleInstance, instance_name, socket_path
from tests.fakes.local_user import make_local_user, remove_local_user

SQUATTER = textwrap.dedent(
    """
    import os, socket, sys
    listeners = []
    for path in sys.argv[1:]:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        os.chmod(path, 0o777)
        sock.listen(8)
        listeners.append(sock)
    print("ready", flush=True)
    import selectors
    selector = selectors.DefaultSelector()
    for sock in listeners:
        selector.register(sock, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            conn, _ = key.fileobj.accept()
            conn.recv(1024)
            conn.sendall(b"ok\\n")
            conn.close()
    """
)


@pytest.fixture(scope="module")
def other_user():
    try:
        user = make_local_user()
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"no second local user: {exc}")
    yield user
    remove_local_user(user)


@pytest.fixture
def squatted(other_user, monkeypatch, tmp_path):
    """The other user's sockets at every name a launch of ours could pick; yields the shared
    folder it also squats (as an $XDG_RUNTIME_DIR a broken session could hand us)."""
    monkeypatch.setenv("TMPDIR", "/tmp")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    # A home as short as a real one (~/.local/share/…): a socket path must fit in 107 bytes.
    home = Path(f"/tmp/nfy-h-{os.urandom(3).hex()}")
    monkeypatch.setenv("NOTIFIER_HOME", str(home))
    name = instance_name()
    shared = Path("/tmp") / f"nfy-shared-{os.getpid()}-{os.urandom(3).hex()}"
    shared.mkdir(mode=0o1777)
    shared.chmod(0o1777)
    ours = Path(QDir.tempPath()) / f"order-notifier-{os.geteuid()}"
    if ours.exists():
        pytest.fail(f"{ours} exists already; this test needs the name free for the squatter")
    targets = [Path(QDir.tempPath()) / name, ours / name, shared / name]
    squatter = other_user.start("/usr/bin/python3", "-c", SQUATTER, *map(str, targets),
                                stdout=subprocess.PIPE, text=True)
    try:
        assert squatter.stdout.readline().strip() == "ready"
        yield shared
    finally:
        squatter.kill()
        squatter.wait(5)
        for path in (targets[0], ours, shared, home):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


def test_another_users_socket_does_not_make_the_notifier_exit(qapp, squatted, other_user):
    first = SingleInstance()
    try:
        assert first.acquire(), "a squatter must not make us hand over and exit"
        where = Path(socket_path(first.name))
        info = where.parent.stat()
        assert info.st_uid == os.geteuid() and info.st_mode & 0o077 == 0
        assert SingleInstance().acquire() is False, "our own second launch still hands over"
    finally:
        first.release()


def test_a_shared_runtime_folder_is_not_trusted_and_a_foreign_peer_is_refused(
        qapp, squatted, other_user, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(squatted))
    assert not socket_path(instance_name()).startswith(str(squatted))
    first = SingleInstance()
    try:
        assert first.acquire()
    finally:
        first.release()
    import socket

    from notifier.desktop.single_instance import peer_uid

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(squatted / instance_name()))
        assert peer_uid(sock) == other_user.uid
