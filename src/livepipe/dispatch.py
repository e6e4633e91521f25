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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime

from .config import Settings
from .ledger import Ledger, open_ledger
from .plan import SendState
from .publish import broken_channels, make_channels
from .send import Sender

log = logging.getLogger(__name__)


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

    def _sender(self) -> Sender:
        """This thread's sender, on its own ledger connection."""
        sender: Sender | None = getattr(self._local, "sender", None)
        if sender is None:
            ledger = open_ledger(self.settings)
            channels = make_channels(self.settings, kv=ledger)
            sender = Sender(ledger, self.settings, channels, clock=self.clock)
            self._local.sender = sender
        return sender

    def _drain(self) -> tuple[int, int]:
        """(sends handled, sends sent) by this thread until nothing is due."""
        outcomes = self._sender().send_due()
        return len(outcomes), sum(o.state == "sent" for o in outcomes)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: wait for the next due send, then drain everything due."""
        ledger: Ledger = open_ledger(self.settings)
        channels = make_channels(self.settings)
        healthy = set(channels) - set(broken_channels(channels))
        try:
            with ThreadPoolExecutor(self.threads, thread_name_prefix="livepipe-send") as pool:
                # Every thread makes its sender (ledger connection, channels, templates: ~0.1 s
                # of CPU each) now, not when a burst is due.
                ready_all = threading.Barrier(self.threads)

                def warm() -> None:
                    self._sender()
                    ready_all.wait(timeout=60)

                wait([pool.submit(warm) for _ in range(self.threads)])
                while not stop.is_set():
                    now = self.clock()
                    pending = [
                        s
                        for s in ledger.sends(SendState.PENDING)
                        if s.channel in healthy and s.valid_until > now
                    ]
                    ready = [max(s.due, s.not_before or s.due) for s in pending]
                    due = sum(at <= now for at in ready)
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
            ledger.close()
