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


@pytest.fixture
def squatted(other_user, monkeypatch, tmp_path):
    """The other user's sockets at every name a launch of ours could pick; yields the shared
    folder it also squats (as an $XDG_RUNTIME_DIR a broken session could hand us)."""
    # A temp folder like /tmp (everyone may create in it, sticky) of this test's own, so what
    # earlier runs left in /tmp does not matter; a shared folder; a home as short as a real one
    # (~/.local/share/…: a socket path must fit in 107 bytes).
    tag = os.urandom(3).hex()
    temp, shared, home = (Path(f"/tmp/nfy-{part}-{tag}") for part in ("tmp", "shared", "home"))
    squatter = None
    try:
        for folder in (temp, shared):
            folder.mkdir()
            folder.chmod(0o1777)
        monkeypatch.setenv("TMPDIR", str(temp))
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
        monkeypatch.setenv("NOTIFIER_HOME", str(home))
        name = instance_name()
        ours = Path(QDir.tempPath()) / f"order-notifier-{os.geteuid()}"
        targets = [Path(QDir.tempPath()) / name, ours / name, shared / name]
        squatter = other_user.start("/usr/bin/python3", "-c", SQUATTER, *map(str, targets),
                                    stdout=subprocess.PIPE, text=True)
        assert squatter.stdout.readline().strip() == "ready"
        yield shared
    finally:
        if squatter is not None:
            squatter.kill()
            squatter.wait(5)
            squatter.stdout.close()
        for folder in (temp, shared, home):
            shutil.rmtree(folder, ignore_errors=True)


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
