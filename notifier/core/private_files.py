"""Files only their owner can read: the order history, settings, logs and outboxes hold customers'
names, phones, addresses and amounts, and another user of the same PC must not read them.

Folders the notifier keeps are 0700 and its files 0600 (POSIX; on Windows the user's own profile
folders already keep other users out). Older versions made them with the process's umask (often
0755 / 0644), so every folder is made private again when it is first used in a process, with the
files directly in it: an upgrade fixes what is already there. Only what belongs to this user is
changed; anything else is left alone and logged.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

FOLDER_MODE = 0o700
FILE_MODE = 0o600
_PRIVATE = os.name == "posix"


def private_folder(folder: Path) -> Path:
    """`folder`, made if missing, entered and read by its owner only, with the files in it."""
    folder.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    if not _PRIVATE:
        return folder
    _tighten(folder, FOLDER_MODE)
    try:
        children = list(folder.iterdir())
    except OSError as exc:
        log.warning("cannot look into %s to make its files private: %s", folder, exc)
        return folder
    for child in children:
        _tighten(child, FILE_MODE, files_only=True)
    return folder


def private_file(path: Path) -> Path:
    """`path` created empty if missing, readable and writable by its owner only.

    An existing file is never opened here, only chmod-ed: closing any descriptor of a SQLite
    file drops every POSIX lock this process holds on it, which another connection of the same
    process (the ledger, while the print queue opens) relies on."""
    if not _PRIVATE:
        return path
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        return path
    except FileExistsError:
        pass
    except OSError as exc:
        log.warning("cannot create %s: %s", path, exc)
        return path
    _tighten(path, FILE_MODE)
    return path


def open_private(path: Path, flags: int) -> int:
    """os.open that creates the file 0600 (and tightens one an older version made)."""
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    if _PRIVATE:
        info = os.fstat(fd)
        if info.st_uid == os.geteuid() and info.st_mode & 0o077:
            os.fchmod(fd, FILE_MODE)
    return fd


def _tighten(path: Path, mode: int, *, files_only: bool = False) -> None:
    try:
        info = path.lstat()
    except OSError:
        return
    if files_only and not stat.S_ISREG(info.st_mode):
        return
    if info.st_uid != os.geteuid() or not info.st_mode & 0o077:
        return
    try:
        path.chmod(stat.S_IMODE(info.st_mode) & mode)
        log.info("made %s private (was %04o)", path, stat.S_IMODE(info.st_mode))
    except OSError as exc:
        log.warning("cannot make %s private: %s", path, exc)
