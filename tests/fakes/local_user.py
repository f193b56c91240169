"""A second local user on this machine, for tests of what another user of the shop PC can reach.

Made with `useradd` for one test (the tests run as root) and removed after it; commands run as
it with `setpriv` (its uid and gid, no supplementary groups). Also a world-traversable folder
like a home directory on Debian (0755), since pytest's own temp folders are closed to others and
would hide exactly what is being tested.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class LocalUser:
    name: str
    uid: int
    gid: int

    def run(self, *command: str, timeout: float = 30.0, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
                               "--clear-groups", "--", *command],
                              capture_output=True, timeout=timeout, **kwargs)

    def can_read(self, path: Path) -> bool:
        """Whether this user can read `path` (a file's bytes, or a folder's list)."""
        command = ["ls", "-A", str(path)] if path.is_dir() else ["cat", str(path)]
        return self.run(*command).returncode == 0

    def start(self, *command: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
                                 "--clear-groups", "--", *command], **kwargs)


def make_local_user() -> LocalUser:
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv"):
        raise RuntimeError("a second local user needs root, useradd and setpriv")
    name = f"nfy{os.getpid() % 100000}{os.urandom(2).hex()}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True, timeout=30)
    entry = pwd.getpwnam(name)
    return LocalUser(name, entry.pw_uid, entry.pw_gid)


def remove_local_user(user: LocalUser) -> None:
    subprocess.run(["userdel", user.name], capture_output=True, timeout=30)


def open_folder() -> Path:
    """A new folder under /tmp that every user may pass through (0755), as a home folder is."""
    folder = Path(tempfile.mkdtemp(prefix="nfy-home-", dir="/tmp"))
    folder.chmod(0o755)
    return folder
