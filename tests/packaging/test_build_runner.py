"""A build that overruns its budget leaves nothing running: the script and every program it
started are killed together (the .deb build used to leave build-deb.sh and dpkg-deb behind)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.packaging.build_runner import BuildTimedOut, run_build


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _script_starting_children(marker: Path) -> list[str]:
    # Like build-all.sh: a script whose work runs in programs it starts (here two sleeps).
    return ["bash", "-c", f'sleep 300 & sleep 300 & echo "$$" >{marker}; wait']


def test_a_build_past_its_budget_is_stopped_with_every_program_it_started(tmp_path):
    marker = tmp_path / "pgid"
    started = time.monotonic()
    with pytest.raises(BuildTimedOut, match="ran longer than 1 s"):
        run_build(_script_starting_children(marker), budget_s=1)
    assert time.monotonic() - started < 15
    assert _group_members(int(marker.read_text())) == []

