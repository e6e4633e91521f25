"""Group commit: the ledger writes of a process's sending threads, committed together.

Sixteen threads that each open a write transaction per step of a send (claim, call started,
sent) wait on one another for the database's write lock: in a burst of 1,000 sends on
SQLite they spent most of their time in ``BEGIN IMMEDIATE``. Here one thread owns one
connection and writes for all of them: it takes every write that is waiting, runs each in a
savepoint of one transaction, commits once, then wakes the callers. A caller returns only
after the commit that holds its write, so durability is what it was (a claim is committed
before the call, the call's start before the call, the outcome before the send is told);
a write that fails (a claim lost to recovery) undoes only itself.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from ..records import SendRecord
from .base import DEFAULT_LEASE, Ledger

T = TypeVar("T")
MAX_BATCH = 256  # writes in one transaction


class _Write(Generic[T]):
    __slots__ = ("done", "error", "result", "write")

    def __init__(self, write: Callable[[Ledger], T]) -> None:
        self.write = write
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


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

    def run(self, write: Callable[[Ledger], T]) -> T:
        """Do ``write`` in the next group transaction; returns once that is committed."""
        item: _Write[T] = _Write(write)
        self._queue.put(item)  # type: ignore[arg-type]
        item.done.wait()
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
                    with ledger.batch():
                        for item in group:
                            try:
                                item.result = item.write(ledger)
                            except Exception as exc:  # its savepoint is rolled back
                                item.error = exc
                except Exception as exc:  # the commit failed: none of them happened
                    for item in group:
                        item.result, item.error = None, exc
                self.commits += 1
                self.writes += len(group)
                for item in group:
                    item.done.set()
        finally:
            ledger.close()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    # -- what a Sender writes (the same signatures as Ledger's) ----------------------------
    def claim_due(
        self,
        now: datetime,
        worker: str,
        channels: Sequence[str],
        limit: int,
        *,
        lease: timedelta = DEFAULT_LEASE,
    ) -> list[SendRecord]:
        return self.run(lambda db: db.claim_due(now, worker, channels, limit, lease=lease))

    def start_call(self, key: str, worker: str, now: datetime) -> None:
        self.run(lambda db: db.start_call(key, worker, now))

    def mark_sent(
        self,
        key: str,
        worker: str,
        now: datetime,
        *,
        remote_id: str | None = None,
        remote_url: str | None = None,
        note: str | None = None,
    ) -> None:
        self.run(
            lambda db: db.mark_sent(
                key, worker, now, remote_id=remote_id, remote_url=remote_url, note=note
            )
        )

    def mark_failed(self, key: str, worker: str, now: datetime, error: str) -> None:
        self.run(lambda db: db.mark_failed(key, worker, now, error))

    def mark_uncertain(self, key: str, worker: str, now: datetime, note: str) -> bool:
        return self.run(lambda db: db.mark_uncertain(key, worker, now, note))

    def release(
        self, key: str, worker: str, now: datetime, not_before: datetime, error: str
    ) -> None:
        self.run(lambda db: db.release(key, worker, now, not_before, error))
