"""The server's full garbage collections walk only what is new, and garbage is still collected.

No store here: this is the collector policy of the `notifier server run` process (gc_policy.py).
The pause it saves is measured in docs/benchmarks.md (2,000 streams: the 70-140 ms pauses while
a crowd connects are gone); here, what it does."""

from __future__ import annotations

import gc

import pytest

from notifier.server.gc_policy import FOUND_LITTLE, THAW_EVERY_S, QuietFullCollections


@pytest.fixture(autouse=True)
def only_the_collections_we_start():
    """Automatic collections would come at moments of their own choosing in the middle of a test."""
    gc.disable()
    yield
    gc.enable()


@pytest.fixture
def clock() -> list[float]:
    return [0.0]


@pytest.fixture
def policy(clock):
    """The policy installed, with the test process's own garbage collected first."""
    installed = QuietFullCollections(clock=lambda: clock[0])
    installed.install()
    gc.unfreeze()
    gc.collect()  # whatever garbage the test process had
    yield installed
    installed.uninstall()


class Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the collector can free it


def test_survivors_of_a_full_collection_that_found_nothing_are_left_out_of_the_next_ones(policy):
    streams = [{"stream": n} for n in range(20000)]  # what open streams hold on to
    gc.collect()
    assert gc.get_freeze_count() >= len(streams), "the survivors are frozen"
    assert policy.frozen_times >= 1
    policy.uninstall()
    assert gc.get_freeze_count() == 0, "uninstalling lets everything back in"


def test_a_cycle_that_becomes_garbage_after_the_freeze_is_collected_after_the_thaw(policy, clock):
    node = Node()
    gc.collect()  # found nothing: `node` is frozen with the rest
    assert gc.get_freeze_count() > 0
    gc.callbacks.append(found := _Counter())
    try:
        del node  # now it is garbage, but frozen: a collection does not see it
        gc.collect()
        assert found.collected == 0
        clock[0] += THAW_EVERY_S + 1
        gc.collect()  # time to thaw: let everything back in ...
        gc.collect()  # ... and the next full collection frees the cycle
        assert found.collected >= 1
    finally:
        gc.callbacks.remove(found)


def test_a_full_collection_that_found_garbage_freezes_nothing(policy):
    gc.unfreeze()
    policy.frozen_times = 0
    for _ in range(5 * FOUND_LITTLE):
        Node()  # cycles that are garbage at once
    gc.collect()
    assert policy.frozen_times == 0 and gc.get_freeze_count() == 0


class _Counter:
    def __init__(self):
        self.collected = 0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "stop":
            self.collected += info["collected"]
