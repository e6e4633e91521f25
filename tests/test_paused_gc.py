"""paused_gc: no cyclic collection inside load/build (workers inherit it), and the caller's
setting back after, even on errors."""

from __future__ import annotations

import gc
import multiprocessing

import pytest

from livepipe.fast.gc import paused_gc, settle


def _worker_gc(_: int) -> bool:
    return gc.isenabled()


def test_paused_inside_restored_after() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with multiprocessing.get_context("fork").Pool(1) as pool:
            assert pool.map(_worker_gc, [0]) == [False]
        with paused_gc():  # nested: still paused, and the outer one restores
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), paused_gc():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_caller_that_disabled_it_keeps_it_disabled() -> None:
    gc.disable()
    try:
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_settle_takes_what_lives_out_of_collections_and_still_collects_later_cycles() -> None:
    """`up` settles once started: what lives then is never walked again, and garbage made
    later (a cycle) is still collected; garbage made before is collected first, not kept."""
    import weakref

    before = weakref.ref(_Node())  # unreachable already, kept alive only by its cycle
    alive = _Node()
    try:
        settle()
        assert before() is None  # collected, not frozen for ever
        assert gc.get_freeze_count() > 0
        # tracked, in no generation a collection walks: the frozen one
        assert gc.is_tracked(alive)
        assert not any(o is alive for g in range(3) for o in gc.get_objects(g))
        later = weakref.ref(_Node())
        gc.collect()
        assert later() is None
    finally:
        gc.unfreeze()  # this test process goes on: collect everything again
