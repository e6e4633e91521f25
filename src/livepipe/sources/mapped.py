"""Pages of any shape, read through a ``[schemas.NAME]`` table of livepipe.toml.

Each field of the table is a dotted path into the front matter (``location.city``), or a
list of them tried in order (a folder whose pages changed shape over the years). Only the
title and the start are required: an optional field whose value cannot be read is an
``ignored-field`` warning and the event builds without it. Pages whose path (relative to the
content root) matches one of the table's ``match`` globs are read by it; they then get the
same uid rule, checks, renderers and plan as the built-in schemas.

Times: the value may be a YAML date/date-time or text (ISO 8601 / RFC 3339 with
milliseconds, ``2023-03-06 12:00:00 -0800``, naive, a date for all-day). Zones: **an offset
written in the time value wins; the zone field applies to naive times; else the site's
zone.** The zone field may be an IANA name or an offset (``UTC -7``, ``GMT+8``, ``-0800``).
A date-only start may take its hours from a ``time`` field (``5:00PM - 8:00PM (PT)``).
Warnings catch hand-typed mistakes: ``zone-conflict`` (the value's offset is not the IANA
zone field's offset on that date), ``offset-mismatch`` (no zone field, and the offset is the
site zone's *other* offset of that year: −0800 typed in Pacific summer; an offset the site
zone never uses is an event elsewhere, not a slip) and ``offset-unknown`` (``-00:00``).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import ClassVar, TypeVar

from ..config import FieldMapping, SchemaMapping
from ..errors import ContentError
from ..models import Status
from ..recurrence import rule_from_table
from ..timeutil import (
    get_zone,
    human_duration,
    localize,
    offset_zone,
    parse_offset,
    parse_time_range,
    parse_time_value,
    zone_of,
    zone_offsets,
)
from .base import Draft, PageContext, bool_value, lookup, tags_value, text_value
from .body import find_section, speakers, split_sections

_STATUS = {
    "scheduled": Status.SCHEDULED,
    "confirmed": Status.SCHEDULED,
    "tentative": Status.SCHEDULED,
    "cancelled": Status.CANCELLED,
    "canceled": Status.CANCELLED,
}
_ONLINE_WORDS = {"online", "virtual", "线上", "remote", "livestream", "webinar"}
_IN_PERSON_WORDS = {"in person", "in-person", "offline", "onsite", "on-site", "线下"}
_MISSING = object()
_ZONED_TIME = ("date", "dateTime", "datetime", "date_time")  # a time written as a table
_ZONED_ZONE = ("timezone", "timeZone", "time_zone", "tz")
_NO_TAGS: tuple[str, ...] = ()
_T = TypeVar("_T")


class MappedSchema:
    """A site's own page schema, declared in livepipe.toml."""

    default_timezone: ClassVar[str] = "UTC"
    default_language: ClassVar[str] = "en"

    def __init__(
        self,
        name: str,
        mapping: SchemaMapping | FieldMapping,
        site_zone: str | None,
        link: str | None = None,
    ) -> None:
        self.name = name  # an instance attribute here: one object per [schemas.NAME] table
        self.mapping = mapping
        self.site_zone = site_zone
        self.link = link  # the page of events that are not pages (a data file's)

    def matches(self, rel: str) -> bool:
        match = getattr(self.mapping, "match", ())
        return any(_glob(rel, pattern) for pattern in match)

    def detect(self, meta: Mapping[str, object]) -> bool:
        return False  # chosen by path (matches), never by sniffing the front matter

    def extract(self, ctx: PageContext) -> Draft:
        m = self.mapping
        title_path, title_value = self._find(ctx, m.title)
        title = self._required(ctx, title_path, title_value, m.title, "missing-field")
        title = text_value(ctx, title, *title_path.split("."))
        start_path, start_value = self._find(ctx, m.start)
        self._required(ctx, start_path, start_value, m.start, "missing-time")
        start_value, start_zone = self._zoned(ctx, start_path, start_value)
        start = self._parse(
            ctx,
            start_path,
            lambda: parse_time_value(start_value),
            "bad-time",
            "write e.g. 2026-12-03T19:00:00+08:00, 2026-12-03 19:00 -0800, or 2026-12-03",
        )
        zone = self._zone(ctx) or start_zone
        end_path, end = self._optional(ctx, m.end, _time_value, None)
        time_path, clock = self._optional(ctx, m.time, _time_range, None)
        if clock is not None and not isinstance(start, datetime):
            start, end, zone = self._at_times(ctx, start, end, time_path, clock, zone)
        start = self._place_in_zone(ctx, start, start_path, zone)
        duration = None
        if end is not None:
            end = self._place_in_zone(ctx, end, end_path, zone, warn=False)
        else:
            end_path, length = self._optional(ctx, m.duration, _duration, None)
            if length is not None:
                end, duration = _end_from_duration(start, length)

        location = self._optional_text(ctx, m.location)
        live_url = self._optional_text(ctx, m.live_url)
        online, in_person, location = self._where(ctx, location, live_url)
        _, status = self._optional(ctx, m.status, _status, Status.SCHEDULED)
        body = ctx.page.body
        sections = split_sections(body)
        bio = find_section(sections, "Speakers", "Speaker", "About the speakers", "讲师简介")
        summary = find_section(sections, "About", "Abstract", "Summary", "Description")
        repeat_path, repeat = self._find(ctx, m.repeat)
        repeat = self._repeat(ctx, repeat_path, repeat)
        return Draft(
            title=title,
            start=start,
            start_line=self._line(ctx, start_path),
            end=end,
            end_line=self._line(ctx, end_path or start_path),
            duration=duration,
            timezone=zone.name if zone else None,
            timezone_line=self._line(ctx, zone.path) if zone else 0,
            description=self._optional_text(ctx, m.description) or "",
            summary=summary.text if summary else _lead(body),
            location=location,
            online=online,
            in_person=in_person,
            live_url=live_url,
            register_url=self._optional_text(ctx, m.register_url),
            replay_url=self._optional_text(ctx, m.replay_url),
            cover_image=self._optional_text(ctx, m.cover),
            tags=self._optional(ctx, m.tags, _tags, _NO_TAGS)[1],
            status=status,
            speakers=speakers(bio.text) if bio else (),
            uid=self._uid(ctx),
            url=self._optional_text(ctx, getattr(m, "url", ())) or self.link,
            repeat=None if repeat is _MISSING else repeat,
            repeat_line=self._line(ctx, repeat_path) if repeat is not _MISSING else 0,
            draft=bool_value(ctx, ctx.page.meta.get("draft"), "draft"),
        )

    # -- reading fields ------------------------------------------------------------------

    def _find(self, ctx: PageContext, paths: tuple[str, ...]) -> tuple[str, object]:
        """(the first of ``paths`` the page fills, its value); (the first path, _MISSING)
        when it fills none."""
        for path in paths:
            value = lookup(ctx.page.meta, path, _MISSING)
            if value is not _MISSING and value is not None and value != "":
                return path, value
        return (paths[0] if paths else ""), _MISSING

    def _required(
        self, ctx: PageContext, path: str, value: object, paths: tuple[str, ...], code: str
    ) -> object:
        if value is _MISSING:
            keys = " or ".join(f"'{p}'" for p in paths)
            raise ctx.error(
                code,
                f"{keys} is missing (schemas.{self.name} maps it)",
                line=self._line(ctx, path),
                hint=f"add '{path}:' to the page, or list another key in livepipe.toml",
            )
        return value

    def _optional(
        self,
        ctx: PageContext,
        paths: tuple[str, ...],
        read: Callable[[PageContext, str, object], _T],
        default: _T,
    ) -> tuple[str, _T]:
        """(path, ``read(value)``) of an optional field; the default when the page leaves
        it out, or, with an ``ignored-field`` warning, when its value cannot be read."""
        path, value = self._find(ctx, paths)
        if value is _MISSING:
            return path, default
        try:
            return path, read(ctx, path, value)
        except (ContentError, ValueError) as exc:
            reason, hint = str(exc), ""
            if isinstance(exc, ContentError):
                reason = exc.message.removeprefix(f"{path}: ").removeprefix(f"{path} ")
                hint = exc.hint
            ctx.warn(
                "ignored-field",
                f"{path}: {_shown(value)} cannot be read ({reason}); the event builds without it",
                line=self._line(ctx, path),
                hint=hint or f"fix the value, or stop mapping {path}",
            )
            return path, default

    def _optional_text(self, ctx: PageContext, paths: tuple[str, ...]) -> str | None:
        return self._optional(ctx, paths, _text, None)[1] or None

    def _uid(self, ctx: PageContext) -> str | None:
        path, value = self._find(ctx, self.mapping.uid)
        return None if value is _MISSING else text_value(ctx, value, *path.split(".")) or None

    def _parse(
        self, ctx: PageContext, path: str, parse: Callable[[], _T], code: str, hint: str
    ) -> _T:
        """``parse()``, its ValueError made a problem at the mapped key's line."""
        try:
            return parse()
        except ValueError as exc:
            raise ctx.error(code, f"{path}: {exc}", line=self._line(ctx, path), hint=hint) from None

    def _line(self, ctx: PageContext, path: str) -> int:
        return ctx.page.line_of(*path.split(".")) if path else ctx.page.head_line

    def _zoned(
        self, ctx: PageContext, path: str, value: object
    ) -> tuple[object, _ZoneField | None]:
        """A time written as a table with its zone (``{date = "2024-01-16T10:00:00",
        timezone = "America/New_York"}``, Google's ``{dateTime, timeZone}``) → (the wall
        clock time, the zone); anything else as it is."""
        if not isinstance(value, Mapping):
            return value, None
        inner, name = _time_table(value)
        if inner is _MISSING:
            raise ctx.error(
                "bad-time",
                f"{path}: a table needs a date (and a timezone), e.g. {{date = "
                '"2026-12-03T19:00:00", timezone = "Europe/Berlin"}',
                line=self._line(ctx, path),
            )
        if name is None:
            return inner, None
        raw = text_value(ctx, name, *path.split("."), "timezone")
        self._parse(ctx, path, lambda: get_zone(raw), "unknown-timezone", "use an IANA name")
        return inner, _ZoneField(f"{path}.timezone", raw, raw, None, True)

    def _repeat(self, ctx: PageContext, path: str, raw: object) -> object:
        """The recurrence as normalize reads it ({rrule, until, count, except}), from an
        RRULE text, such a mapping, or one rule written as a table; with the mapped
        exceptions added."""
        exc_path, exceptions = self._find(ctx, self.mapping.exceptions)
        if raw is _MISSING:
            return None
        line = self._line(ctx, path)
        if isinstance(raw, list):
            if len(raw) != 1:
                raise ctx.error(
                    "bad-repeat",
                    f"{path}: {len(raw)} rules; an event page has one (a data file's event "
                    "with several becomes one series per rule)",
                    line=line,
                )
            raw = raw[0]
        if isinstance(raw, Mapping) and "frequency" in raw:
            try:
                rule, until, count = rule_from_table(raw)
            except ValueError as exc:
                raise ctx.error("bad-repeat", f"{path}: {exc}", line=line) from None
            raw = {"rrule": rule, "until": until, "count": count}
        if exceptions is _MISSING:
            return raw
        spec = dict(raw) if isinstance(raw, Mapping) else {"rrule": raw}
        skipped = spec.get("except") or []
        spec["except"] = [
            *(skipped if isinstance(skipped, list) else [skipped]),
            *self._exceptions(ctx, exc_path, exceptions),
        ]
        return spec

    def _exceptions(self, ctx: PageContext, path: str, value: object) -> list[object]:
        """Cancelled occurrences: a list of instants (or dates), or ``{timezone, dates}``
        whose wall-clock times are in that zone."""
        zone = None
        if isinstance(value, Mapping):
            name = value.get("timezone")
            if name is not None:
                raw = text_value(ctx, name, *path.split("."), "timezone")
                zone = self._parse(
                    ctx, path, lambda: get_zone(raw), "unknown-timezone", "use an IANA name"
                )
            value = value.get("dates", [])
        items = value if isinstance(value, list) else [value]
        out: list[object] = []
        for item in items:
            when = self._parse(
                ctx, path, lambda i=item: parse_time_value(i), "bad-value",  # type: ignore[misc]
                "write instants such as 2026-12-24T19:00:00Z, or {timezone, dates}",
            )  # fmt: skip
            if zone is not None and isinstance(when, datetime) and when.tzinfo is None:
                when = localize(when, zone)[0]
            out.append(when)
        return out

    def _zone(self, ctx: PageContext) -> _ZoneField | None:
        """The zone field, if the mapping has one and the page fills it."""
        path, value = self._find(ctx, self.mapping.timezone)
        if value is _MISSING:
            return None
        raw = text_value(ctx, value, *path.split("."))
        offset = parse_offset(raw)
        if offset is not None:
            return _offset_zone(path, raw, offset)
        self._parse(
            ctx,
            path,
            lambda: get_zone(raw),
            "unknown-timezone",
            "use an IANA name (America/Los_Angeles) or an offset (UTC -7)",
        )
        return _ZoneField(path, raw, raw, None, True)

    def _at_times(
        self,
        ctx: PageContext,
        day: datetime | date,
        last_day: datetime | date | None,
        path: str,
        clock: tuple[time, time | None, str | None],
        zone: _ZoneField | None,
    ) -> tuple[datetime | date, datetime | date | None, _ZoneField | None]:
        """A date-only start (and an inclusive last day) with a free-text time range: the
        start and end as wall-clock times in the zone it names (else the zone field's, else
        the site's). An unknown zone: a warning, and the event stays all-day."""
        begins, ends, written = clock
        if written is not None:
            meaning = zone_of(written)
            if meaning is None:
                ctx.warn(
                    "unknown-zone",
                    f"{path}: the zone {written!r} is not one livepipe knows; the event "
                    "is shown all day",
                    line=self._line(ctx, path),
                    hint="write an abbreviation like PT, ET, CET, or an IANA name in "
                    "parentheses: (Europe/Paris)",
                )
                return day, last_day, zone
            if isinstance(meaning, timedelta):
                zone = _offset_zone(path, written, meaning)
            else:
                zone = _ZoneField(path, written, meaning, None, True)
        fixed = zone.fixed if zone else None
        start = datetime.combine(day, begins, tzinfo=fixed)
        if ends is None:
            return start, None, zone
        end_day = last_day if isinstance(last_day, date) and last_day > day else day
        end = datetime.combine(end_day, ends, tzinfo=fixed)
        if end <= start:
            end += timedelta(days=1)  # 9pm-1am: past midnight
        return start, end, zone

    def _place_in_zone(
        self,
        ctx: PageContext,
        value: datetime | date,
        path: str,
        field: _ZoneField | None,
        *,
        warn: bool = True,
    ) -> datetime | date:
        """A naive time stays naive (normalize puts it in the zone field's zone, else the
        site's), unless the zone is an offset IANA has no name for; an offset in the time
        wins, with a warning when it looks like a slip: it contradicts the zone field, or it
        is the site zone's offset of the other half of the year (−0800 in a Pacific July).
        An offset of another zone on a single-zone site is an event elsewhere: no warning."""
        if not isinstance(value, datetime):
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=field.fixed) if field and field.fixed else value
        if not warn:
            return value
        offset = value.utcoffset()
        line = self._line(ctx, path)
        if offset == timedelta(0) and _unknown_offset(ctx, line):
            ctx.warn(
                "offset-unknown",
                f"{path} is written with -00:00 (the UTC time is known, the local one is "
                "not); the event is placed at that UTC instant",
                line=line,
                hint="write the local offset (e.g. +01:00) or map a zone field",
            )
        elif field is not None and field.iana:
            expected = value.astimezone(get_zone(field.name)).utcoffset()
            if expected != offset:
                ctx.warn(
                    "zone-conflict",
                    f"{path} says {_fmt(offset)} but {field.path} {field.raw} is "
                    f"{_fmt(expected)} on {value:%Y-%m-%d}; the offset in the time wins",
                    line=line,
                    hint="fix the offset or the zone so they agree",
                )
        elif field is None and self.site_zone and offset:  # Z / +00:00: UTC on purpose
            expected = value.astimezone(get_zone(self.site_zone)).utcoffset()
            if expected != offset and offset in zone_offsets(self.site_zone, value.year):
                ctx.warn(
                    "offset-mismatch",
                    f"{path} has the offset {_fmt(offset)}, but the site zone "
                    f"{self.site_zone} is {_fmt(expected)} on {value:%Y-%m-%d} (a summer or "
                    "winter offset typed by hand?); the offset in the time wins",
                    line=line,
                    hint="fix the offset, or map a zone field for events in another zone",
                )
        return value

    def _where(
        self, ctx: PageContext, location: str | None, live_url: str | None
    ) -> tuple[bool, bool, str | None]:
        """(online, in_person, location) from the location and online fields."""
        _, flag = self._optional(ctx, self.mapping.online, _online_flag, None)
        lowered = (location or "").strip().lower()
        online_only = lowered in _ONLINE_WORDS
        if online_only or lowered in _IN_PERSON_WORDS:
            location = None
        if flag is None:
            online = online_only or live_url is not None
        elif flag == "online-only":
            online, online_only = True, True
        else:
            online = flag == "yes"
        in_person = not online_only and (location is not None or lowered in _IN_PERSON_WORDS)
        if not online and not in_person and location is None:
            in_person = True  # neither said: somewhere, to be announced
        return online, in_person, location


# -- optional field readers: (ctx, path, value) → what the Draft holds; a ValueError or a
# ContentError makes the field an ignored-field warning -----------------------------------


def _text(ctx: PageContext, path: str, value: object) -> str:
    return text_value(ctx, value, *path.split("."))


def _duration(ctx: PageContext, path: str, value: object) -> timedelta:
    length = human_duration(value)
    if length <= timedelta(0):
        raise ValueError("the duration must be positive")
    return length


def _time_table(value: Mapping[str, object]) -> tuple[object, object]:
    """(the time, or _MISSING; the zone, or None) of a time written as a table."""
    inner = next((value[k] for k in _ZONED_TIME if k in value), _MISSING)
    return inner, next((value[k] for k in _ZONED_ZONE if k in value), None)


def _time_value(ctx: PageContext, path: str, value: object) -> datetime | date:
    """A time, or a ``{date, timezone}`` table: its wall clock placed in its zone."""
    if isinstance(value, Mapping):
        inner, name = _time_table(value)
        when = parse_time_value(None if inner is _MISSING else inner)
        if name is None or not isinstance(when, datetime) or when.tzinfo is not None:
            return when
        return localize(when, get_zone(str(name)))[0]
    return parse_time_value(value)


def _time_range(ctx: PageContext, path: str, value: object) -> tuple[time, time | None, str | None]:
    if not isinstance(value, str):
        raise ValueError("a time range is text, e.g. 5:00PM - 8:00PM (PT)")
    return parse_time_range(value)


def _status(ctx: PageContext, path: str, value: object) -> Status:
    text = text_value(ctx, value, *path.split(".")).lower()
    if text not in _STATUS:
        raise ValueError(f"{text!r} is not one of {', '.join(_STATUS)}")
    return _STATUS[text]


def _tags(ctx: PageContext, path: str, value: object) -> tuple[str, ...]:
    """A list, a comma-separated text, or a mapping ({level: Advanced, topics: [a, b]}):
    the texts it holds, in order."""
    if isinstance(value, Mapping):
        value = list(_leaves(value))
    return tags_value(ctx, value, *path.split("."))


def _leaves(value: object) -> Iterator[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        yield str(value)


def _online_flag(ctx: PageContext, path: str, value: object) -> str:
    """ "online-only", "yes" or "no"."""
    if isinstance(value, str) and value.strip().lower() in _ONLINE_WORDS:
        return "online-only"
    if isinstance(value, str) and value.strip().lower() in _IN_PERSON_WORDS:
        return "no"
    return "yes" if bool_value(ctx, value, *path.split(".")) else "no"


def _end_from_duration(
    start: datetime | date, length: timedelta
) -> tuple[date | None, timedelta | None]:
    """(the last day, for an all-day start; or the elapsed duration, for a timed one)."""
    if isinstance(start, datetime):
        return None, length  # elapsed from the start, once it has its zone (normalize)
    days = max(1, math.ceil(length / timedelta(days=1)))
    return start + timedelta(days=days - 1), None  # the last day, inclusive


def _offset_zone(path: str, raw: str, offset: timedelta) -> _ZoneField:
    name = offset_zone(offset)
    # IANA has no fixed zone for e.g. UTC+05:30: times are fixed to the offset, and the
    # event is shown in UTC
    return _ZoneField(path, raw, name or "UTC", None if name else timezone(offset), False)


_MINUS_ZERO = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*-00:?00(?!\d)")


def _unknown_offset(ctx: PageContext, line: int) -> bool:
    """Whether the time on ``line`` is written with ``-00:00`` (RFC 3339: UTC known, local
    offset unknown); YAML reads it as +00:00, so the source line tells."""
    lines = ctx.page.fm_lines
    return 2 <= line < len(lines) + 2 and _MINUS_ZERO.search(lines[line - 2]) is not None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True, slots=True)
class _ZoneField:
    path: str  # the mapped key
    raw: str  # what the page says
    name: str  # the IANA zone the event is in
    fixed: tzinfo | None  # an offset without an IANA name: naive times are fixed to it
    iana: bool  # the page gave an IANA name (not an offset)


def _glob(rel: str, pattern: str) -> bool:
    """Whole-path glob: ``*`` and ``?`` stay inside one folder, ``**`` crosses folders
    (``_events/**`` is everything below _events, ``**/index.md`` every bundle)."""
    return _glob_re(pattern).fullmatch(rel) is not None


@functools.lru_cache(maxsize=64)
def _glob_re(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def _fmt(offset: timedelta | None) -> str:
    if offset is None:
        return "no offset"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _lead(body: str) -> str:
    """The body's first paragraph, for pages without an "About" section."""
    for block in body.strip().split("\n\n"):
        text = block.strip()
        if text and not text.startswith(("#", "<", "!", "{%", "{{")):
            return text
    return ""
