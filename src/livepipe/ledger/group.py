"""Group commit: the ledger writes of a process's sending threads, committed together.

Sixteen threads that each open a write transaction per step of a send (claim, call started,
sent) wait on one another for the database's write lock: in a burst of 1,000 sends on
SQLite they spent most of their time in ``BEGIN IMMEDIATE``. Here one thread owns one
connection and writes for all of them: it takes every write that is waiting, runs them all
in one transaction, commits once, then wakes the callers. A caller returns only after the
commit that holds its write (a claim is committed before the call, the call's start before
the call, the outcome before the send is told); a write that fails (a claim lost to
recovery) undoes only itself: the group is then written again with a savepoint per write.

Outcomes (sent, failed, uncertain, released) are not *durable* writes: a group of nothing
else commits without waiting for the disk (PostgreSQL's ``synchronous_commit = off``, one
fsync less per send: a burst through two workers went from p99 3.2 s to 2.x s). Losing one
to a crash of the database's machine cannot send twice: the send stays claimed with its call
started, which recovery makes *uncertain* (never resent blindly), as a crash of the process
between the call and its outcome does. The claim and the call's start stay durable: losing
either could send again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Concatenate, Generic, ParamSpec, TypeVar

from .base import Ledger

T = TypeVar("T")
P = ParamSpec("P")
MAX_BATCH = 256  # writes in one transaction


class _Write(Generic[T]):
    """One caller's write; ``done`` is held until the commit that holds it (a bare lock:
    a threading.Event per write, its Condition and the wake-up in Python, was a tenth of
    the send path's writes)."""

    __slots__ = ("done", "durable", "error", "result", "write")

    def __init__(self, write: Callable[[Ledger], T], durable: bool) -> None:
        self.write = write
        self.durable = durable
        self.done = threading.Lock()
        self.done.acquire()  # released by the writer thread once committed
        self.result: T | None = None
        self.error: BaseException | None = None


def _through(
    method: Callable[Concatenate[Ledger, P], T], *, durable: bool = True
) -> Callable[Concatenate[GroupCommit, P], T]:
    """``method`` of the ledger, done in the group's next transaction (same signature)."""

    def write(group: GroupCommit, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return group.run(lambda db: method(db, *args, **kwargs), durable=durable)

    write.__name__ = method.__name__
    write.__doc__ = method.__doc__
    return write


class GroupCommit:
    """The send path's writes (the methods a ``Sender`` writes with), through one connection
    and one thread; ``close`` commits what is queued, then closes the connection."""

    def __init__(self, opener: Callable[[], Ledger]) -> None:
        self._ledger = opener()
        self._queue: queue.SimpleQueue[_Write[object] | None] = queue.SimpleQueue()
        self.commits = 0  # transactions so far
        self.writes = 0  # writes in them
        self._thread = threading.Thread(target=self._run, name="livepipe-ledger", daemon=True)
        self._thread.start()

    def run(self, write: Callable[[Ledger], T], *, durable: bool = True) -> T:
        """Do ``write`` in the next group transaction; returns once that is committed
        (not ``durable``: see the module's docstring)."""
        item: _Write[T] = _Write(write, durable)
        self._queue.put(item)  # type: ignore[arg-type]
        item.done.acquire()  # until the writer thread releases it
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[return-value]

    def _run(self) -> None:
        ledger = self._ledger
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                group = [first]
                while len(group) < MAX_BATCH:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        self._queue.put(None)  # stop after this group
                        break
                    group.append(item)
                try:
                    # Usually no write fails: all of them as plain statements of one
                    # transaction (a savepoint costs two more statements each: on
                    # PostgreSQL two more round trips).
                    durable = any(item.durable for item in group)
                    with ledger.batch(savepoints=False, durable=durable):
                        for item in group:
                            item.result = item.write(ledger)
                except Exception:
                    # One failed (a claim lost to recovery, an error of the database): that
                    # transaction is rolled back whole, and the group is written again, each
                    # write in a savepoint, so the one that fails undoes only itself.
                    self._one_by_one(ledger, group)
                self.commits += 1
                self.writes += len(group)
                for item in group:
                    item.done.release()
        finally:
            ledger.close()

    @staticmethod
    def _one_by_one(ledger: Ledger, group: list[_Write[object]]) -> None:
        try:
            with ledger.batch():
                for item in group:
                    item.result, item.error = None, None
                    try:
                        item.result = item.write(ledger)
                    except Exception as exc:  # its savepoint is rolled back
                        item.error = exc
        except Exception as exc:  # the commit failed: none of them happened
            for item in group:
                item.result, item.error = None, exc

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    # -- what a Sender writes: Ledger's own methods, run through the group ---------------
    claim_due = _through(Ledger.claim_due)
    start_call = _through(Ledger.start_call)
    # the outcomes: lost with the database's machine, the send is found uncertain
    mark_sent = _through(Ledger.mark_sent, durable=False)
    mark_failed = _through(Ledger.mark_failed, durable=False)
    mark_uncertain = _through(Ledger.mark_uncertain, durable=False)
    release = _through(Ledger.release, durable=False)
