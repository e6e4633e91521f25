"""Pages of any shape, read through a ``[schemas.NAME]`` table of livepipe.toml.

Each field of the table is a dotted path into the front matter (``location.city``). Pages
whose path (relative to the content root) matches one of the table's ``match`` globs are
read by it; they then get the same uid rule, checks, renderers and plan as the built-in
schemas.

Times: the value may be a YAML date/date-time or text (ISO 8601 / RFC 3339 with
milliseconds, ``2023-03-06 12:00:00 -0800``, naive, a date for all-day). Zones: **an offset
written in the time value wins; the zone field applies to naive times; else the site's
zone.** The zone field may be an IANA name or an offset (``UTC -7``, ``GMT+8``, ``-0800``).
Two warnings catch hand-typed mistakes: ``zone-conflict`` (the value's offset is not the
IANA zone field's offset on that date) and ``offset-mismatch`` (an offset and no zone field,
and the offset is not the site zone's on that date: −0800 typed in Pacific summer).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import ClassVar, TypeVar

from ..config import SchemaMapping
from ..models import Status
from ..timeutil import get_zone, human_duration, offset_zone, parse_offset, parse_time_value
from .base import Draft, PageContext, bool_value, tags_value, text_value
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
_T = TypeVar("_T")


class MappedSchema:
    """A site's own page schema, declared in livepipe.toml."""

    default_timezone: ClassVar[str] = "UTC"
    default_language: ClassVar[str] = "en"

    def __init__(self, name: str, mapping: SchemaMapping, site_zone: str | None) -> None:
        self.name = name  # an instance attribute here: one object per [schemas.NAME] table
        self.mapping = mapping
        self.site_zone = site_zone

    def matches(self, rel: str) -> bool:
        return any(_glob(rel, pattern) for pattern in self.mapping.match)

    def detect(self, meta: Mapping[str, object]) -> bool:
        return False  # chosen by path (matches), never by sniffing the front matter

    def extract(self, ctx: PageContext) -> Draft:
        m = self.mapping
        title = self._text(ctx, m.title, required=True)
        start = self._time(ctx, m.start, required=True)
        assert start is not None
        zone = self._zone(ctx)
        start = self._place_in_zone(ctx, start, m.start, zone)
        end = self._time(ctx, m.end, required=False) if m.end else None
        duration = None
        if end is not None:
            end = self._place_in_zone(ctx, end, m.end or "", zone, warn=False)
        elif m.duration:
            end, duration = self._end_from_duration(ctx, start, m.duration)

        location = self._text(ctx, m.location) or None
        live_url = self._text(ctx, m.live_url) or None
        online, in_person, location = self._where(ctx, location, live_url)
        status_text = (self._text(ctx, m.status) or "scheduled").lower()
        if status_text not in _STATUS:
            raise ctx.error(
                "bad-value",
                f"{m.status} {status_text!r} is not one of {', '.join(_STATUS)}",
                line=self._line(ctx, m.status or ""),
                hint="map status to a field holding scheduled or cancelled, or remove it",
            )
        body = ctx.page.body
        sections = split_sections(body)
        bio = find_section(sections, "Speakers", "Speaker", "About the speakers", "讲师简介")
        summary = find_section(sections, "About", "Abstract", "Summary", "Description")
        tags_path = m.tags
        tags_raw = self._get(ctx, tags_path) if tags_path else None
        return Draft(
            title=title,
            start=start,
            start_line=self._line(ctx, m.start),
            end=end,
            end_line=self._line(ctx, m.end or m.duration or m.start),
            duration=duration,
            timezone=zone.name if zone else None,
            timezone_line=self._line(ctx, m.timezone) if m.timezone else 0,
            description=self._text(ctx, m.description),
            summary=summary.text if summary else _lead(body),
            location=location,
            online=online,
            in_person=in_person,
            live_url=live_url,
            register_url=self._text(ctx, m.register_url) or None,
            replay_url=self._text(ctx, m.replay_url) or None,
            cover_image=self._text(ctx, m.cover) or None,
            tags=tags_value(ctx, None if tags_raw is _MISSING else tags_raw, tags_path or "tags"),
            status=_STATUS[status_text],
            speakers=speakers(bio.text) if bio else (),
            uid=self._text(ctx, m.uid) or None,
            repeat=None if m.repeat is None else _none(self._get(ctx, m.repeat)),
            repeat_line=self._line(ctx, m.repeat) if m.repeat else 0,
            draft=bool_value(ctx, ctx.page.meta.get("draft"), "draft"),
        )

    # -- reading fields ------------------------------------------------------------------

    def _get(self, ctx: PageContext, path: str) -> object:
        value: object = ctx.page.meta
        for part in path.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return _MISSING
            value = value[part]
        return value

    def _parse(
        self, ctx: PageContext, path: str, parse: Callable[[], _T], code: str, hint: str
    ) -> _T:
        """``parse()``, its ValueError made a problem at the mapped key's line."""
        try:
            return parse()
        except ValueError as exc:
            raise ctx.error(code, f"{path}: {exc}", line=self._line(ctx, path), hint=hint) from None

    def _line(self, ctx: PageContext, path: str) -> int:
        return ctx.page.line_of(*path.split(".")) if path else 1

    def _text(self, ctx: PageContext, path: str | None, *, required: bool = False) -> str:
        if not path:
            return ""
        value = self._get(ctx, path)
        if value is _MISSING or value is None or value == "":
            if required:
                raise ctx.error(
                    "missing-field",
                    f"'{path}' is missing (schemas.{self.name} maps it)",
                    line=self._line(ctx, path),
                    hint=f"add '{path}:' to the page, or map another key in livepipe.toml",
                )
            return ""
        return text_value(ctx, value, *path.split("."))

    def _time(self, ctx: PageContext, path: str, *, required: bool) -> datetime | date | None:
        value = self._get(ctx, path)
        line = self._line(ctx, path)
        if value is _MISSING or value is None or value == "":
            if required:
                raise ctx.error(
                    "missing-time",
                    f"'{path}' is missing (schemas.{self.name} maps the start to it)",
                    line=line,
                    hint=f"add '{path}: 2026-12-03 19:00:00 +0800'",
                )
            return None
        return self._parse(
            ctx,
            path,
            lambda: parse_time_value(value),
            "bad-time",
            "write e.g. 2026-12-03T19:00:00+08:00, 2026-12-03 19:00 -0800, or 2026-12-03",
        )

    def _zone(self, ctx: PageContext) -> _ZoneField | None:
        """The zone field, if the mapping has one and the page fills it."""
        path = self.mapping.timezone
        raw = self._text(ctx, path) if path else ""
        if not path or not raw:
            return None
        offset = parse_offset(raw)
        if offset is not None:
            name = offset_zone(offset)
            # IANA has no fixed zone for e.g. UTC+05:30: times are fixed to the offset, and
            # the event is shown in UTC
            return _ZoneField(path, raw, name or "UTC", None if name else timezone(offset), False)
        self._parse(
            ctx,
            path,
            lambda: get_zone(raw),
            "unknown-timezone",
            "use an IANA name (America/Los_Angeles) or an offset (UTC -7)",
        )
        return _ZoneField(path, raw, raw, None, True)

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
        wins, with a warning when it contradicts the zone it should be in."""
        if not isinstance(value, datetime):
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=field.fixed) if field and field.fixed else value
        if not warn:
            return value
        offset = value.utcoffset()
        line = self._line(ctx, path)
        if field is not None and field.iana:
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
            if expected != offset:
                ctx.warn(
                    "offset-mismatch",
                    f"{path} has the offset {_fmt(offset)}, but the site zone "
                    f"{self.site_zone} is {_fmt(expected)} on {value:%Y-%m-%d} (a summer or "
                    "winter offset typed by hand?); the offset in the time wins",
                    line=line,
                    hint="fix the offset, or map a zone field for events in another zone",
                )
        return value

    def _end_from_duration(
        self, ctx: PageContext, start: datetime | date, path: str
    ) -> tuple[date | None, timedelta | None]:
        """(the last day, for an all-day start; or the elapsed duration, for a timed one)."""
        value = self._get(ctx, path)
        if value is _MISSING or value is None or value == "":
            return None, None
        length = self._parse(
            ctx,
            path,
            lambda: human_duration(value),
            "bad-value",
            'write e.g. "90 minutes", "1 hour", "1h30m", "1 day" or {minutes: 90}',
        )
        if length <= timedelta(0):
            raise ctx.error(
                "bad-value", f"{path}: the duration must be positive", line=self._line(ctx, path)
            )
        if isinstance(start, datetime):
            return None, length  # elapsed from the start, once it has its zone (normalize)
        days = max(1, math.ceil(length / timedelta(days=1)))
        return start + timedelta(days=days - 1), None  # the last day, inclusive

    def _where(
        self, ctx: PageContext, location: str | None, live_url: str | None
    ) -> tuple[bool, bool, str | None]:
        """(online, in_person, location) from the location and online fields."""
        path = self.mapping.online
        flag = self._get(ctx, path) if path else _MISSING
        lowered = (location or "").strip().lower()
        online_only = lowered in _ONLINE_WORDS
        if online_only or lowered in _IN_PERSON_WORDS:
            location = None
        if flag is _MISSING or flag is None:
            online = online_only or live_url is not None
        elif isinstance(flag, str) and flag.strip().lower() in _ONLINE_WORDS:
            online, online_only = True, True
        elif isinstance(flag, str) and flag.strip().lower() in _IN_PERSON_WORDS:
            online = False
        else:
            online = bool_value(ctx, flag, *(path or "online").split("."))
        in_person = not online_only and (location is not None or lowered in _IN_PERSON_WORDS)
        if not online and not in_person and location is None:
            in_person = True  # neither said: somewhere, to be announced
        return online, in_person, location


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


def _none(value: object) -> object:
    return None if value is _MISSING else value


def _lead(body: str) -> str:
    """The body's first paragraph, for pages without an "About" section."""
    for block in body.strip().split("\n\n"):
        text = block.strip()
        if text and not text.startswith(("#", "<", "!", "{%", "{{")):
            return text
    return ""
