"""parallel.shared_map: this process and forked helpers share the tasks; results come out in
order, a helper's error reaches the caller, a helper that dies is noticed, nothing hangs."""

from __future__ import annotations

import os
import signal
import time

import pytest

from livepipe.fast.parallel import shared_map

pytestmark = pytest.mark.timeout(60)


def test_results_in_order_and_shared_between_processes() -> None:
    me = os.getpid()

    def task(i: int, remote: bool) -> tuple[int, int, bool]:
        time.sleep(0.01)  # long enough that every process gets some
        return i, os.getpid(), remote

    out = list(shared_map(task, 40, 3))
    assert [i for i, _, _ in out] == list(range(40))
    pids = {pid for _, pid, _ in out}
    assert me in pids and len(pids) == 3  # this process and two helpers
    assert all(remote == (pid != me) for _, pid, remote in out)


def test_one_process_or_one_task_runs_here() -> None:
    me = os.getpid()
    assert list(shared_map(lambda i, remote: (i, os.getpid(), remote), 5, 1)) == [
        (i, me, False) for i in range(5)
    ]
    assert list(shared_map(lambda i, remote: (os.getpid(), remote), 1, 4)) == [(me, False)]
    assert list(shared_map(lambda i, remote: i, 0, 4)) == []


def test_a_helpers_error_reaches_the_caller() -> None:
    me = os.getpid()

    def task(i: int, remote: bool) -> int:
        if remote:
            raise ValueError(f"task {i} failed in a helper")
        time.sleep(0.05)
        return i

    with pytest.raises(ValueError, match="failed in a helper"):
        list(shared_map(task, 20, 2))
    assert os.getpid() == me


def test_an_error_that_cannot_be_pickled_still_arrives_as_text() -> None:
    class Local(Exception):  # a local class: pickling it fails
        pass

    def task(i: int, remote: bool) -> int:
        if remote:
            raise Local("the local failure")
        time.sleep(0.05)
        return i

    with pytest.raises(RuntimeError, match="the local failure"):
        list(shared_map(task, 20, 2))


def test_a_helper_killed_mid_task_is_an_error_not_a_hang() -> None:
    def task(i: int, remote: bool) -> int:
        if remote:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.05)
        return i

    with pytest.raises(RuntimeError, match="exited before finishing"):
        list(shared_map(task, 20, 2))


def test_an_error_here_stops_the_helpers() -> None:
    started = time.monotonic()

    def task(i: int, remote: bool) -> int:
        if not remote:
            raise KeyError("here")
        time.sleep(5)  # a helper still busy when this process gives up
        return i

    with pytest.raises(KeyError):
        list(shared_map(task, 4, 2))
    assert time.monotonic() - started < 4  # the busy helper was stopped, not waited for


def _refuse_to_load() -> None:
    raise ValueError("this result does not unpickle")


class Unloadable:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_refuse_to_load, ())


def test_a_result_that_does_not_unpickle_here_is_an_error_not_a_hang() -> None:
    def task(i: int, remote: bool) -> object:
        time.sleep(0.02)
        return Unloadable() if remote else i

    with pytest.raises(ValueError, match="does not unpickle"):
        list(shared_map(task, 20, 2))


def test_a_helpers_error_carries_its_traceback() -> None:
    def failing_in_a_helper(i: int, remote: bool) -> int:
        if remote:
            raise ValueError("boom")
        time.sleep(0.05)
        return i

    with pytest.raises(ValueError) as caught:
        list(shared_map(failing_in_a_helper, 20, 2))
    assert any("failing_in_a_helper" in note for note in caught.value.__notes__)
