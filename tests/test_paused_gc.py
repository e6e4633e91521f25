"""paused_gc: no cyclic collection inside load/build (workers inherit it), and the caller's
setting back after, even on errors."""

from __future__ import annotations

import gc
import multiprocessing

import pytest

from livepipe.fast.gc import paused_gc


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
