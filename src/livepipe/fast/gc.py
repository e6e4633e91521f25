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
