"""The dispatcher: every due send delivered on time, from the ledger, in threads of this process.

Why it exists: a Prefect flow run per send costs several API calls (on a SQLite server, each
can wait 2 s on a busy database), so 200 sends due at one instant arrived up to a minute late
when the runs did the sending. The dispatcher reads the due times from the ledger, sleeps
until the next one, then claims and sends everything due with a pool of threads (each its own
ledger connection). The publish runs stay: they still claim through the ledger, so whoever is
first sends and the other finds the send done; a run that finds its send already delivered
completes and records who sent it and when (flows/publish.py), so the Prefect UI still shows
one run per send. Exactly once holds as before: the ledger's claim is the only way to send.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta

from .config import Settings
from .records import SendState
from .send import Result, Sender

log = logging.getLogger(__name__)


LOOKAHEAD = timedelta(seconds=3)
RECOVER_SECONDS = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    """Sleeps until the next due send, then sends all that are due, ``threads`` at a time."""

    def __init__(
        self,
        settings: Settings,
        *,
        threads: int = 16,
        poll_seconds: float = 1.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.settings = settings
        self.threads = threads
        self.poll = poll_seconds
        self.clock = clock
        self.sent = 0
        self._local = threading.local()
        self._senders: list[Sender] = []
        self._lock = threading.Lock()
        # Set while nothing is due in the next LOOKAHEAD: the publish runs' bookkeeping in the
        # same process waits for it, so a burst has the CPU (and the GIL) to itself.
        self.idle = threading.Event()
        self.idle.set()

    def _sender(self) -> Sender:
        """This thread's sender, on its own ledger connection."""
        sender: Sender | None = getattr(self._local, "sender", None)
        if sender is None:
            sender = self._local.sender = Sender.open(self.settings, clock=self.clock)
            with self._lock:
                self._senders.append(sender)
        return sender

    def _drain(self) -> tuple[int, int]:
        """(sends handled, sends sent) by this thread until nothing is due."""
        outcomes = self._sender().send_due()
        return len(outcomes), sum(o.state is Result.SENT for o in outcomes)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: wait for the next due send, then drain everything due."""
        lookout = Sender.open(self.settings, clock=self.clock)  # reads due times, sends nothing
        ledger = lookout.ledger
        healthy = set(lookout.channels) - set(lookout.broken)
        try:
            with ThreadPoolExecutor(self.threads, thread_name_prefix="livepipe-send") as pool:
                # Every thread makes its sender (ledger connection, channels, templates: ~0.1 s
                # of CPU each) now, not when a burst is due.
                ready_all = threading.Barrier(self.threads)

                def warm() -> None:
                    self._sender()
                    ready_all.wait(timeout=60)

                wait([pool.submit(warm) for _ in range(self.threads)])
                recovered_at = 0.0
                while not stop.is_set():
                    if time.monotonic() - recovered_at >= RECOVER_SECONDS:
                        # claims whose lease expired (a thread wedged in a call, here or
                        # elsewhere) or whose process died: taken back by the README's rules
                        recovered_at = time.monotonic()
                        for rec, state in lookout.recover():
                            log.warning(
                                "send %s (%s → %s): %s", rec.key, rec.slot, rec.channel, state
                            )
                    now = self.clock()
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
                            tried, sent = future.result()
                            handled += tried
                            self.sent += sent
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
