"""Time limits for work that runs in this thread (a site template, a recurrence rule's
expansion): past its deadline an exception is raised inside the thread, wherever it is in
pure-Python code, so any loop stops. One watchdog thread per process (forks get their own)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator


class TimeLimitExceeded(Exception):
    """Raised inside a thread whose ``time_limit`` ran out."""


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadlines: dict[int, float] = {}
        self._pid = 0
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self._lock = threading.Lock()
        self._deadlines = {}
        self._pid = 0

    @contextlib.contextmanager
    def limit(self, seconds: float) -> Iterator[None]:
        import ctypes  # here, not at start-up (2 ms), and before any deadline can land

        ident = threading.get_ident()
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._watch, name="livepipe-limits", daemon=True).start()
            outer = self._deadlines.get(ident)
            ends = time.monotonic() + seconds
            self._deadlines[ident] = min(ends, outer) if outer is not None else ends
        try:
            yield
        finally:
            with self._lock:
                if outer is None:
                    self._deadlines.pop(ident, None)
                else:
                    self._deadlines[ident] = outer
                # The block is over: an interrupt the watchdog set just as it ended must not
                # land in the caller's code after it (NULL clears a pending one).
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)

    def _watch(self) -> None:
        import ctypes

        pid = os.getpid()
        while pid == os.getpid():
            time.sleep(0.05)
            now = time.monotonic()
            with self._lock:
                for ident, deadline in list(self._deadlines.items()):
                    if now > deadline:
                        del self._deadlines[ident]
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(ident), ctypes.py_object(TimeLimitExceeded)
                        )


_WATCHDOG = _Watchdog()


def time_limit(seconds: float) -> contextlib.AbstractContextManager[None]:
    """Raise TimeLimitExceeded in this thread if the block runs past ``seconds`` (nested
    limits keep the earliest deadline). Keep the block to the work being bounded: the
    exception lands wherever the thread is when the time is up."""
    return _WATCHDOG.limit(seconds)
