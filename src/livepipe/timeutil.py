"""Small helpers: time zones and durations (pure, no clock reads here); CPUs and the garbage
collector for the worker pools of load and build."""

from __future__ import annotations

import contextlib
import difflib
import functools
import gc
import re
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo

_DURATION = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<u>w|d|h|m|min|s)", re.IGNORECASE)
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "min": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Parse ``1h``, ``90m``, ``1h30m``, ``-1d``, ``-10m`` (sign applies to the whole)."""
    raw = text.strip()
    sign = -1 if raw.startswith("-") else 1
    body = raw.lstrip("+-").replace(" ", "")
    if not body:
        raise ValueError(f"empty duration {text!r}")
    pos = 0
    seconds = 0.0
    for m in _DURATION.finditer(body):
        if m.start() != pos:
            break
        seconds += float(m["n"]) * _UNITS[m["u"].lower()]
        pos = m.end()
    if pos != len(body):
        raise ValueError(f"invalid duration {text!r}: use e.g. 1h, 90m, 1h30m, -1d")
    return timedelta(seconds=sign * seconds)


def format_duration(td: timedelta) -> str:
    total = int(td.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return sign + ("".join(parts) or "0s")


@functools.lru_cache(maxsize=256)
def get_zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone ``name``; raises ``ValueError`` with a did-you-mean when unknown."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        pass
    close = difflib.get_close_matches(name, _all_zones(), n=1, cutoff=0.6)
    suggestion = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown time zone {name!r}{suggestion}")


@functools.lru_cache(maxsize=1)
def _all_zones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def localize(naive: datetime, tz: tzinfo) -> tuple[datetime, str | None]:
    """Attach ``tz`` to a wall-clock time; return the aware time and a note for DST edge cases.

    A time in a DST gap does not exist: it is moved forward by the gap (what clocks do) and
    reported. A time in a DST fold is ambiguous: the first occurrence is used and reported.
    """
    aware = naive.replace(tzinfo=tz, fold=0)
    # astimezone(tz) is a no-op when tzinfo is already tz, so go through UTC.
    normal = aware.astimezone(UTC).astimezone(tz)
    round_trip = normal.replace(tzinfo=None)
    if round_trip != naive:
        return normal, (
            f"{naive:%Y-%m-%d %H:%M} does not exist in {tz} (clocks skip it for DST); "
            f"using {round_trip:%H:%M}"
        )
    other = naive.replace(tzinfo=tz, fold=1)
    if other.utcoffset() != aware.utcoffset():
        return aware, (
            f"{naive:%Y-%m-%d %H:%M} happens twice in {tz} (DST ends); using the first one"
        )
    return aware, None


def midnight(day: date, tz: tzinfo) -> datetime:
    return localize(datetime.combine(day, time()), tz)[0]


def usable_cpus() -> int:
    """CPUs this process may run on (respects taskset/cgroup affinity, unlike cpu_count)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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
