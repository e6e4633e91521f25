"""Small helpers: time zones and durations (pure, no clock reads here), and the CPUs the
worker pools of load and build may use."""

from __future__ import annotations

import difflib
import functools
import re
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

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


_WORD_UNITS = {
    "weeks": "w", "week": "w", "wk": "w",
    "days": "d", "day": "d",
    "hours": "h", "hour": "h", "hrs": "h", "hr": "h",
    "minutes": "m", "minute": "m", "mins": "m", "min": "m",
    "seconds": "s", "second": "s", "secs": "s", "sec": "s",
}  # fmt: skip
_WORDS = re.compile(
    r"(\d+(?:\.\d+)?)\s*(" + "|".join(sorted(_WORD_UNITS, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
_MAP_UNITS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


def human_duration(value: object) -> timedelta:
    """A duration as pages write it: ``90 minutes``, ``1 hour``, ``1h30m``, ``1 day``,
    ``2 hours 30 minutes``, ``{minutes: 90}``, or a number of minutes."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, (int, float)):
        return timedelta(minutes=value)
    if isinstance(value, dict):
        unknown = set(map(str, value)) - set(_MAP_UNITS)
        if unknown or not value:
            raise ValueError(f"invalid duration {value!r}: use keys {', '.join(_MAP_UNITS)}")
        try:
            return timedelta(seconds=sum(float(v) * _MAP_UNITS[str(k)] for k, v in value.items()))
        except (TypeError, ValueError):
            raise ValueError(f"invalid duration {value!r}: the values must be numbers") from None
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}")
    text = _WORDS.sub(lambda m: m[1] + _WORD_UNITS[m[2].lower()], value.strip().lower())
    text = re.sub(r"\s*(,|and)\s*", "", text)
    return parse_duration(text)


_OFFSET = re.compile(r"^(?:(?:UTC|GMT)\s*)?([+-])\s*(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


def parse_offset(text: str) -> timedelta | None:
    """``UTC -7``, ``UTC+05:30``, ``GMT+8``, ``-0800``, ``+08:00``, ``UTC``, ``Z`` → the
    offset; None when ``text`` is not an offset (an IANA name, say)."""
    raw = text.strip()
    if raw.upper() in {"UTC", "GMT", "Z"}:
        return timedelta(0)
    m = _OFFSET.match(raw)
    if m is None:
        return None
    hours, minutes = int(m[2]), int(m[3] or 0)
    if hours > 14 or minutes >= 60:
        return None
    sign = -1 if m[1] == "-" else 1
    return sign * timedelta(hours=hours, minutes=minutes)


def offset_zone(offset: timedelta) -> str | None:
    """The IANA name of a fixed whole-hour offset (``Etc/GMT+7`` is UTC−7: POSIX signs);
    None for offsets IANA has no fixed zone for (UTC+05:30)."""
    if offset == timedelta(0):
        return "UTC"
    hours, rest = divmod(int(offset.total_seconds()), 3600)
    if rest or not -12 <= hours <= 14:
        return None
    return f"Etc/GMT{-hours:+d}"


_LOOSE_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*"
    r"(Z|[+-]\d{2}:?\d{2}|[+-]\d{1,2}|(?:UTC|GMT)\s*[+-]\s*\d{1,2}(?::?\d{2})?|UTC|GMT)?$",
    re.IGNORECASE,
)


def parse_time_value(value: object) -> datetime | date:
    """A start/end as pages write it: a YAML date or date-time, ISO 8601 / RFC 3339 text
    (milliseconds, ``Z``), ``YYYY-MM-DD HH:MM[:SS] ±HHMM`` (what PyYAML leaves a string),
    naive date-times, dates. Raises ValueError."""
    if isinstance(value, (datetime, date)):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date or a date-time")
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    try:
        return datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        pass
    m = _LOOSE_TIME.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a date or a date-time")
    hour, _, rest = m[2].partition(":")
    clock = f"{int(hour):02d}:{rest}" + ("" if rest.count(":") else ":00")
    naive = datetime.fromisoformat(f"{m[1]}T{clock}")
    if not m[3]:
        return naive
    offset = parse_offset(m[3])
    if offset is None:
        raise ValueError(f"{text!r}: the offset {m[3]!r} is not one")
    return naive.replace(tzinfo=timezone(offset))


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


def later(start: datetime, length: timedelta) -> datetime:
    """``start`` plus ``length`` of elapsed time, in ``start``'s zone. Python adds wall-clock
    time to an aware datetime (01:30 + 1 h on the night the clocks go back is 02:30, two
    hours later); a duration of an event is elapsed time (1 h means 1 h)."""
    return (start.astimezone(UTC) + length).astimezone(start.tzinfo)


def elapsed(start: datetime, end: datetime) -> timedelta:
    """The elapsed time from ``start`` to ``end`` (Python subtracts wall clocks when both
    are in the same zone)."""
    return end.astimezone(UTC) - start.astimezone(UTC)


# Zone abbreviations as event pages write them, each read as the region's zone on the event's
# date: "PT", "PST" and "PDT" all mean Los Angeles wall-clock time (a page that says "PST"
# in July means the Pacific time of that day, not UTC−8). Ambiguous ones (IST, CST: India or
# Ireland, Central or China) are left out: the page gets a warning instead of a guess.
_ABBREVIATIONS = {
    "America/Los_Angeles": ("PT", "PST", "PDT", "PACIFIC"),
    "America/Denver": ("MT", "MST", "MDT", "MOUNTAIN"),
    "America/Chicago": ("CT", "CDT", "CENTRAL"),
    "America/New_York": ("ET", "EST", "EDT", "EASTERN"),
    "America/Anchorage": ("AKT", "AKST", "AKDT"),
    "Pacific/Honolulu": ("HST",),
    "Europe/London": ("BST", "UK"),
    "Europe/Lisbon": ("WET", "WEST"),
    "Europe/Berlin": ("CET", "CEST", "MEZ", "MESZ"),
    "Europe/Athens": ("EET", "EEST"),
    "Europe/Moscow": ("MSK",),
    "Asia/Shanghai": ("BJT", "北京时间"),
    "Asia/Hong_Kong": ("HKT",),
    "Asia/Singapore": ("SGT",),
    "Asia/Tokyo": ("JST",),
    "Asia/Seoul": ("KST",),
    "Australia/Sydney": ("AET", "AEST", "AEDT"),
    "Australia/Perth": ("AWST",),
    "Pacific/Auckland": ("NZT", "NZST", "NZDT"),
    "UTC": ("UTC", "GMT", "Z"),
}
ZONE_ABBREVIATIONS = {abbr: zone for zone, names in _ABBREVIATIONS.items() for abbr in names}

_CLOCK = r"(\d{1,2})(?:[:.](\d{2}))?\s*([ap])?\.?\s*(m\.?)?"
_RANGE = re.compile(
    rf"^\s*{_CLOCK}\s*(?:(?:-|–|—|~|to|until)\s*{_CLOCK})?\s*"
    r"(?:\(\s*([^()]{1,40}?)\s*\)|((?:UTC|GMT)\s*[+-]\s*\d{1,2}(?::?\d{2})?"
    r"|(?-i:[A-Z]{1,6})|[A-Za-z_]+/[A-Za-z_/+\-0-9]+|北京时间))?\s*$",
    re.IGNORECASE,
)


def parse_time_range(text: str) -> tuple[time, time | None, str | None]:
    """A free-text time of day or range, as event pages write it: ``5:00PM - 8:00PM (PT)``,
    ``17:00–20:00 CET``, ``9am–5pm ET``, ``6-8pm``, ``19:00``. Returns (start, end or None,
    the zone as written or None). Raises ValueError."""
    m = _RANGE.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a time range (write e.g. 5:00PM - 8:00PM (PT))")
    first_half = m[3].lower() if m[3] else None
    second_half = m[7].lower() if m[7] else None
    if first_half is None and second_half is not None:
        # "6-8pm": the start shares the end's half of the day when that keeps it earlier
        same = int(m[1]) % 12 <= int(m[5]) % 12
        first_half = second_half if same else ("a" if second_half == "p" else "p")
    start = _clock(m[1], m[2], first_half, text)
    end = _clock(m[5], m[6], second_half, text) if m[5] else None
    zone = (m[9] or m[10] or "").strip() or None
    return start, end, zone


def _clock(hour: str, minute: str | None, half: str | None, text: str) -> time:
    h, mins = int(hour), int(minute or 0)
    if half is not None:
        if not 1 <= h <= 12:
            raise ValueError(f"{text!r}: {h} is not an hour of a 12-hour clock")
        h = h % 12 + (12 if half == "p" else 0)
    if h > 23 or mins > 59:
        raise ValueError(f"{text!r}: {hour}:{minute or '00'} is not a time of day")
    return time(h, mins)


def zone_of(written: str) -> str | timedelta | None:
    """What a zone written beside a time means: an IANA name (``PT`` → America/Los_Angeles,
    ``Europe/Paris`` as is), a fixed offset (``UTC+2``), or None when unknown."""
    key = written.strip().upper().replace(".", "")
    if key in ZONE_ABBREVIATIONS:
        return ZONE_ABBREVIATIONS[key]
    offset = parse_offset(written)
    if offset is not None:
        return offset
    if "/" in written:
        try:
            get_zone(written.strip())
        except ValueError:
            return None
        return written.strip()
    return None


@functools.lru_cache(maxsize=64)
def zone_offsets(name: str, year: int) -> frozenset[timedelta]:
    """The UTC offsets zone ``name`` uses at some time of ``year`` (both of a DST zone's)."""
    zone = get_zone(name)
    return frozenset(
        offset
        for month in range(1, 13)
        for day in (1, 15)
        if (offset := datetime(year, month, day, 12, tzinfo=zone).utcoffset()) is not None
    )
