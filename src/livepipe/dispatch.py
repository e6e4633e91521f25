"""The dispatcher: every due send delivered on time, from the ledger, in threads of this process.

It reads the due times from the ledger, sleeps until the next one, then claims and sends
everything due with a pool of threads (each its own ledger connection, all sharing the
channels). It is the only sender of a process (``up``, ``worker``, a ``deliver`` run);
exactly once holds through the ledger's claims, whichever process gets a send first.
Every outcome is reported by the sender that made it (``Livepipe.on_outcome``: the
``deliver`` flow run records each as a task run); every few seconds it takes back claims
whose lease expired (recovery).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import timedelta
from typing import TYPE_CHECKING

from .records import SendState
from .send import Outcome, Result, Sender

if TYPE_CHECKING:
    from .app import Livepipe

log = logging.getLogger(__name__)

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
        # Set while nothing is due in the next LOOKAHEAD: bookkeeping in the same process
        # (recording outcomes in Prefect) waits for it, so a burst has the CPU to itself.
        self.idle = threading.Event()
        self.idle.set()

    def _sender(self) -> Sender:
        """This thread's sender, on its own ledger connection."""
        sender: Sender | None = getattr(self._local, "sender", None)
        if sender is None:
            sender = self._local.sender = self.app.sender()
            with self._lock:
                self._senders.append(sender)
        return sender

    def _drain(self) -> list[Outcome]:
        """What this thread sent until nothing was due."""
        return self._sender().send_due()

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: wait for the next due send, then drain everything due."""
        lookout = self.app.sender()  # reads due times, takes expired claims back
        ledger = lookout.ledger
        try:
            with ThreadPoolExecutor(self.threads, thread_name_prefix="livepipe-send") as pool:
                # Every thread makes its sender (a ledger connection) now, not in a burst.
                ready_all = threading.Barrier(self.threads)

                def warm() -> None:
                    self._sender()
                    ready_all.wait(timeout=60)

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
                    healthy = set(lookout.channels) - set(lookout.broken) - set(paused)
                    pending = [
                        s
                        for s in ledger.sends(SendState.PENDING)
                        if s.channel in healthy and s.valid_until > now
                    ]
                    ready = [max(s.due, s.not_before or s.due) for s in pending]
                    due = sum(at <= now for at in ready)
                    soon = now + LOOKAHEAD
                    if due or any(at <= soon for at in ready):
                        self.idle.clear()
                    else:
                        self.idle.set()
                    if due:
                        workers = min(self.threads, due)
                        done = wait([pool.submit(self._drain) for _ in range(workers)])
                        handled = 0
                        for future in done.done:
                            if future.exception() is not None:
                                log.error("dispatcher: %s", future.exception())
                                continue
                            for outcome in future.result():  # each reported by its sender
                                handled += 1
                                self.sent += outcome.state is Result.SENT
                        if handled:
                            continue
                        # Due but not claimable here (another process holds them): no spin.
                        stop.wait(self.poll)
                        continue
                    later = [at for at in ready if at > now]
                    timeout = self.poll
                    if later:
                        timeout = min(timeout, (min(later) - now).total_seconds())
                    stop.wait(max(0.0, timeout))  # wakes at once on stop, too
        finally:
            self.idle.set()
            lookout.close()
            for sender in self._senders:  # the pool has finished: no thread uses them now
                sender.close()
            self._senders.clear()
