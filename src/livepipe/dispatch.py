"""The dispatcher: every due send delivered on time, from the ledger, in threads of this process.

It reads the due times from the ledger and sleeps until the next one. Then one claimer (its
own loop) claims as many due sends as there are free threads, in one statement, and hands
each to a thread of the pool, which renders, calls the channel and records; when a thread
is free again the claimer claims the next. Every ledger write of the claimer and the
threads goes through one group commit (``ledger.group``): one connection and one
transaction for all that is waiting, so sixteen threads never queue for the database's
write lock (in a burst of 1,000 on SQLite they spent most of their time there). Exactly
once holds through the ledger's claims, whichever process gets a send first. Every outcome
is reported by the sender that made it (``Livepipe.on_outcome``: the ``deliver`` flow run
records each as a task run); every few seconds it takes back claims whose lease expired
(recovery).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import timedelta
from typing import TYPE_CHECKING

from .fast.gc import paused_gc
from .ledger.group import GroupCommit
from .records import SendRecord
from .send import Outcome, Result, Sender

if TYPE_CHECKING:
    from .app import Livepipe

log = logging.getLogger(__name__)
# The template folders a send renders from: compiled before anything is due.
MESSAGE_TEMPLATES = ("messages", "newsletter", "wechat")

LOOKAHEAD = timedelta(seconds=3)
RECOVER_SECONDS = 5.0


class Dispatcher:
    """Sleeps until the next due send, then sends all that are due, ``threads`` at a time."""

    def __init__(
        self,
        app: Livepipe,
        *,
        threads: int = 16,
        poll_seconds: float = 1.0,
        on_beat: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.threads = threads
        self.poll = poll_seconds
        self.on_beat = on_beat
        self.sent = 0
        self._local = threading.local()
        self._senders: list[Sender] = []
        self._lock = threading.Lock()
        self._writes: GroupCommit | None = None  # while running
        # Set while nothing is due in the next LOOKAHEAD: bookkeeping in the same process
        # (recording outcomes in Prefect) waits for it, so a burst has the CPU to itself.
        self.idle = threading.Event()
        self.idle.set()

    def _sender(self) -> Sender:
        """This thread's sender: its own ledger connection for reads, the group commit for
        writes."""
        sender: Sender | None = getattr(self._local, "sender", None)
        if sender is None:
            sender = self._local.sender = self.app.sender()
            if self._writes is not None:
                sender.writes = self._writes
            with self._lock:
                self._senders.append(sender)
        return sender

    def _deliver(self, send: SendRecord) -> Outcome:
        """One claimed send, by this thread (reported by its sender)."""
        return self._sender().deliver(send)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: wait for the next due send, then deliver everything due."""
        lookout = self.app.sender()  # reads due times, takes expired claims back
        ledger = lookout.ledger
        self._writes = GroupCommit(self.app.open_ledger)
        try:
            with ThreadPoolExecutor(self.threads, thread_name_prefix="livepipe-send") as pool:
                # Every thread makes its sender (a ledger connection) and its channels' HTTP
                # clients now, not in a burst.
                ready_all = threading.Barrier(self.threads)

                def warm() -> None:
                    self._sender().warm()
                    ready_all.wait(timeout=60)

                self.app.templates.compile_ahead(
                    MESSAGE_TEMPLATES, self.app.settings.site.languages
                )
                wait([pool.submit(warm) for _ in range(self.threads)])
                recovered_at = 0.0
                while not stop.is_set():
                    if self.on_beat is not None:
                        self.on_beat()
                    if time.monotonic() - recovered_at >= RECOVER_SECONDS:
                        recovered_at = time.monotonic()
                        lookout.recover()  # expired leases, dead claimers (told there)
                    now = self.app.clock()
                    paused = ledger.paused()
                    healthy = sorted(set(lookout.channels) - set(lookout.broken) - set(paused))
                    due, earliest = ledger.readiness(now, healthy)
                    if due or (earliest is not None and earliest <= now + LOOKAHEAD):
                        self.idle.clear()
                    else:
                        self.idle.set()
                    if due:
                        # No cyclic GC while sending: a burst makes many short-lived objects
                        # and no cycles, and each full collection walked the whole heap
                        # (a third of a burst's CPU, more in `up` with Prefect loaded).
                        with paused_gc():
                            handled = self._burst(pool, lookout.worker, healthy, stop)
                        if handled:
                            continue
                        # Due but not claimable here (another process holds them): no spin.
                        stop.wait(self.poll)
                        continue
                    timeout = self.poll
                    if earliest is not None:  # nothing may go now: it is later
                        timeout = min(timeout, (earliest - now).total_seconds())
                    stop.wait(max(0.0, timeout))  # wakes at once on stop, too
        finally:
            self.idle.set()
            self._writes.close()
            lookout.close()
            for sender in self._senders:  # the pool has finished: no thread uses them now
                sender.close()
            self._senders.clear()
            self._writes = None

    def _burst(
        self, pool: ThreadPoolExecutor, worker: str, channels: list[str], stop: threading.Event
    ) -> int:
        """Claim what is due, as many as there are free threads, each handed to a thread,
        until nothing more is due and every call has ended; how many were handled."""
        assert self._writes is not None
        lease = self.app.settings.ledger.lease
        # Each call, once it has ended, puts itself here (concurrent.futures.wait looked at
        # every call under way, in Python, each time one ended).
        ended: queue.SimpleQueue[Future[Outcome]] = queue.SimpleQueue()
        running = 0
        handled = 0
        more = True
        while not stop.is_set():
            free = self.threads - running
            if more and free:
                claimed = self._writes.claim_due(
                    self.app.clock(), worker, channels, free, lease=lease
                )
                more = len(claimed) == free
                for send in claimed:
                    pool.submit(self._deliver, send).add_done_callback(ended.put)
                running += len(claimed)
            if not running:
                break
            finished = [ended.get()]
            while not ended.empty():
                finished.append(ended.get())
            running -= len(finished)
            for future in finished:
                error = future.exception()
                if error is not None:
                    log.error("dispatcher: %s", error)
                    continue
                handled += 1
                self.sent += future.result().state is Result.SENT
        for _ in range(running):  # stopping: the calls under way end and are recorded
            ended.get()
        return handled
