"""Recurring events: ``repeat: {rrule, until, count, except}`` → the occurrences (pure).

An event's ``start``/``end`` are its first occurrence; ``rrule`` is the RFC 5545 rule
(``FREQ=WEEKLY;BYDAY=TU``, UNTIL in UTC, or COUNT) and ``exdates`` the starts of cancelled
occurrences. Occurrences are expanded on the wall clock of the event's zone, so a weekly
19:00 in Europe/Berlin stays 19:00 across the change to summer time (its UTC instant moves),
as RFC 5545 and every calendar program do.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from .limits import TimeLimitExceeded, time_limit
from .models import Event
from .timeutil import elapsed, get_zone, later, localize

FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
MAX_OCCURRENCES = 1000  # a rule is expanded this far at most (a daily rule for ~3 years)
EXPAND_SECONDS = 1.0  # … and for this long at most


def rule_text(
    rrule: str, *, until: date | datetime | None, count: int | None, zone: str, all_day: bool
) -> str:
    """The RRULE value as written to ICS: upper case, without a ``RRULE:`` prefix, with
    UNTIL (UTC for timed events, a date for all-day ones) or COUNT. Raises ValueError."""
    text = rrule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    parts = [p.strip() for p in text.upper().split(";") if p.strip()]
    names = [p.split("=", 1)[0] for p in parts]
    if not parts or any("=" not in p for p in parts):
        raise ValueError(f"{rrule!r} is not an RRULE such as FREQ=WEEKLY;BYDAY=TU")
    freq = dict(p.split("=", 1) for p in parts).get("FREQ")
    if freq not in FREQUENCIES:
        raise ValueError(f"FREQ must be one of {', '.join(FREQUENCIES)} (got {freq or 'none'})")
    if "DTSTART" in names or len(set(names)) != len(names):
        raise ValueError(f"{rrule!r}: no DTSTART, and each part once")
    if (until is not None or count is not None) and ({"UNTIL", "COUNT"} & set(names)):
        raise ValueError("give until/count either in the rule or beside it, not both")
    if until is not None and count is not None:
        raise ValueError("give until or count, not both")
    if until is not None:
        if all_day:
            parts.append(f"UNTIL={until:%Y%m%d}")
        else:
            if not isinstance(until, datetime):  # the whole last day, in the event's zone
                until = localize(datetime.combine(until, time(23, 59, 59)), get_zone(zone))[0]
            elif until.tzinfo is None:
                until = localize(until, get_zone(zone))[0]
            parts.append(f"UNTIL={until.astimezone(UTC):%Y%m%dT%H%M%SZ}")
    if count is not None:
        if count < 1:
            raise ValueError("count must be at least 1")
        parts.append(f"COUNT={count}")
    value = ";".join(parts)
    from dateutil.rrule import rrulestr

    rrulestr(value, dtstart=datetime(2026, 1, 1, tzinfo=UTC) if not all_day else None)
    return value


def rule_until(rule: str) -> date | datetime | None:
    """The UNTIL of an RRULE value (a date, or a UTC date-time), if it has one."""
    for part in rule.split(";"):
        name, _, value = part.partition("=")
        if name != "UNTIL":
            continue
        try:
            if "T" in value:
                return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            return datetime.strptime(value, "%Y%m%d").date()
        except ValueError:
            return None
    return None


def starts(event: Event) -> Iterator[datetime]:
    """Every occurrence's start (aware, in the event's zone), cancelled ones left out; at
    most MAX_OCCURRENCES. A non-recurring event has one."""
    if not event.rrule:
        return iter((event.start,))
    found, _ = expand(event.rrule, event.start, event.timezone, event.all_day, event.exdates)
    return iter(found)


@functools.lru_cache(maxsize=4096)
def expand(
    rule: str, first: datetime, zone_name: str, all_day: bool, exdates: tuple[datetime, ...]
) -> tuple[tuple[datetime, ...], bool]:
    """(the occurrences' starts, whether the expansion finished): at most MAX_OCCURRENCES,
    within EXPAND_SECONDS. A rule can make dateutil search for ever (``BYMONTH=2;
    BYMONTHDAY=30`` never occurs: it walks every year to 9999), so the search itself is
    interrupted at the budget; ``check`` refuses such rules, this keeps everything else
    safe from one that got through. Cached: each rule is expanded once per process."""
    from dateutil.rrule import rrulestr  # imported here, never inside the time limit

    zone = get_zone(zone_name)
    naive = first.astimezone(zone).replace(tzinfo=None)
    if not all_day and "UNTIL=" in rule:  # dateutil compares UNTIL to naive starts
        head, _, tail = rule.partition("UNTIL=")
        stamp, sep, rest = tail.partition(";")
        until_utc = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        rule = f"{head}UNTIL={until_utc.astimezone(zone):%Y%m%dT%H%M%S}{sep}{rest}"
    walls: list[datetime] = []
    finished = True
    try:
        with time_limit(EXPAND_SECONDS):
            for wall in rrulestr(rule, dtstart=naive):
                walls.append(wall)
                if len(walls) >= MAX_OCCURRENCES:
                    break
    except TimeLimitExceeded:
        finished = False
    cancelled = set(exdates)
    out = []
    for wall in walls:
        start = localize(wall, zone)[0]
        if start not in cancelled:
            out.append(start)
    return tuple(out), finished


def check_rule(
    rule: str, first: datetime, zone_name: str, all_day: bool, least: timedelta
) -> str | None:
    """Why a rule cannot be published, or None: it never occurs, it takes too long to
    expand, or it repeats more often than ``least`` (``[pages] min_repeat_interval``:
    ``FREQ=DAILY`` with BYHOUR/BYMINUTE/BYSECOND lists is sub-daily too)."""
    found, finished = expand(rule, first, zone_name, all_day, ())
    if not found:
        return "it never occurs (check BYMONTH/BYMONTHDAY/BYDAY: e.g. February has no 30th)"
    if not finished:
        return f"it takes more than {EXPAND_SECONDS:g} s to find its dates: simplify it"
    for a, b in itertools.pairwise(found):
        if b - a < least:
            return (
                f"it repeats every {_span(b - a)} ({a:%Y-%m-%d %H:%M:%S} and "
                f"{b:%H:%M:%S}); events may repeat at most every {_span(least)} "
                "([pages] min_repeat_interval)"
            )
    return None


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} s"


def upcoming(event: Event, after: datetime, limit: int) -> list[datetime]:
    """Starts of the first ``limit`` occurrences that end after ``after``."""
    length = elapsed(event.start, event.end)
    return list(itertools.islice((s for s in starts(event) if later(s, length) > after), limit))


def last_start(event: Event) -> datetime:
    """The start of the last occurrence (of the first MAX_OCCURRENCES)."""
    if not event.rrule:
        return event.start
    found, _ = expand(event.rrule, event.start, event.timezone, event.all_day, event.exdates)
    return found[-1] if found else event.start


def between(event: Event, after: datetime, before: datetime) -> list[datetime]:
    """Starts of the occurrences that end after ``after`` and start before ``before``."""
    length = elapsed(event.start, event.end)
    out = []
    for start in starts(event):
        if start >= before:
            break
        if later(start, length) > after:
            out.append(start)
    return out


def at(event: Event, start: datetime) -> Event:
    """The event as the occurrence starting at ``start``."""
    zone = get_zone(event.timezone)
    return replace(
        event,
        start=start.astimezone(zone),
        end=later(start, elapsed(event.start, event.end)).astimezone(zone),
    )


def current(event: Event, now: datetime) -> Event:
    """The occurrence happening now or next; the last one when all are over."""
    length = elapsed(event.start, event.end)
    last = event.start
    for start in starts(event):
        last = start
        if later(start, length) > now:
            return at(event, start)
    return at(event, last)


def occurrence_key(start: datetime) -> str:
    """How a send names its occurrence (the same text a one-off reminder has always used)."""
    return start.astimezone(UTC).isoformat()


def parse_occurrence(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


_DAY_NAMES = {
    "monday": "MO", "tuesday": "TU", "wednesday": "WE", "thursday": "TH",
    "friday": "FR", "saturday": "SA", "sunday": "SU",
}  # fmt: skip
_LISTS = {  # table key → (RRULE part, lowest, highest)
    "by_hour": ("BYHOUR", 0, 23),
    "by_minute": ("BYMINUTE", 0, 59),
    "by_month": ("BYMONTH", 1, 12),
    "by_month_day": ("BYMONTHDAY", -31, 31),
}
_TABLE_KEYS = {"frequency", "interval", "by_day", "until", "count", *_LISTS}


def rule_from_table(table: Mapping[str, object]) -> tuple[str, object, int | None]:
    """A rule written as a table (rust-lang/calendar's ``recurrence_rules``: ``{frequency =
    "weekly", interval = 2, by_day = [{day = "tuesday"}], by_hour = [16], until, count}``)
    → (the RRULE without UNTIL/COUNT, the until as written, the count). Raises ValueError."""
    unknown = sorted(set(map(str, table)) - _TABLE_KEYS)
    if unknown:
        raise ValueError(
            f"unknown rule keys {', '.join(unknown)} (known: {', '.join(sorted(_TABLE_KEYS))})"
        )
    freq = str(table.get("frequency", "")).upper()
    if freq not in FREQUENCIES:
        raise ValueError(
            f"frequency must be one of {', '.join(f.lower() for f in FREQUENCIES)}, not "
            f"{table.get('frequency')!r}"
        )
    parts = [f"FREQ={freq}"]
    interval = table.get("interval")
    if interval is not None:
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"interval must be a whole number of at least 1, not {interval!r}")
        parts.append(f"INTERVAL={interval}")
    days = table.get("by_day")
    if days is not None:
        parts.append("BYDAY=" + ",".join(_by_day(d) for d in _listed(days, "by_day")))
    for key, (name, low, high) in _LISTS.items():
        if key in table:
            values = _listed(table[key], key)
            if any(isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high
                   for v in values) or not values:  # fmt: skip
                raise ValueError(f"{key} must be whole numbers from {low} to {high}")
            parts.append(f"{name}={','.join(map(str, values))}")
    count = table.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        raise ValueError(f"count must be a number, not {count!r}")
    return ";".join(parts), table.get("until"), count


def _listed(value: object, key: str) -> list[object]:
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list")
    return value


def _by_day(item: object) -> str:
    """``{day = "sunday", num = -1}`` / ``"tuesday"`` / ``"TU"`` → ``-1SU`` / ``TU``."""
    day, num = (item.get("day"), item.get("num")) if isinstance(item, Mapping) else (item, None)
    text = str(day).strip().lower()
    code = _DAY_NAMES.get(text) or (text.upper() if text.upper() in _DAY_NAMES.values() else None)
    if code is None:
        raise ValueError(f"by_day: {day!r} is not a weekday")
    if num is None:
        return code
    if isinstance(num, bool) or not isinstance(num, int) or num == 0 or not -5 <= num <= 5:
        raise ValueError(f"by_day: num {num!r} must be 1 to 5 or -1 to -5")
    return f"{num}{code}"
