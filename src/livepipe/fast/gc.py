"""The cyclic garbage collector paused while a site loads and builds."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside (forked workers inherit the pause): loading and
    rendering make millions of short-lived objects and almost no cycles, and every full
    collection walks all of them (0.1 s each at 10k pages). Collection resumes after."""
    if not gc.isenabled():  # nested, or the caller paused it
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def settle() -> None:
    """For a long-running process once it has started (`up`, `worker`): collect, then take
    every object alive now (modules, Prefect's client, the app, the senders) out of all
    later collections. A collection after a burst walked them all again: 30 ms with the
    dispatcher's modules, 70 ms with Prefect's, every time. They live as long as the
    process; what is made later is collected as before."""
    gc.collect()
    gc.freeze()
