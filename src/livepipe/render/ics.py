"""ICS (RFC 5545 + RFC 7986): per-event files and subscription calendars, via icalendar.

Rules (write them down, keep them stable):
- PRODID ``-//livepipe//<site host>//EN``; no calendar-level UID (vdirsyncer takes the
  first UID line of a file as every item's UID, so a subscription kept one event) and no
  METHOD (these are subscription files, not iTIP messages: RFC 5546 PUBLISH would require an
  ORGANIZER, which an event page does not have; Google, Apple, Outlook and Thunderbird
  subscribe to and import files without METHOD).
- UID = Event.uid; DTSTAMP = LAST-MODIFIED = the page's last revision (UTC), never the clock.
- Timed events use TZID + a VTIMEZONE generated for the whole years the calendar spans (UTC
  events use Z); all-day events use VALUE=DATE with an exclusive DTEND. Never floating times.
- SEQUENCE comes from the ledger (0 until an event's significant fields change).
- An alarm (``[calendar] alarm``) is relative to the start of timed events; all-day events
  get theirs at 09:00 on the day (``TRIGGER:PT9H``, as Apple Calendar does), never a
  "-10m" firing at 23:50 the evening before.
- calendar.ics holds one entry per translated event (the site's default language wins);
  calendar-<lang>.ics and tags/<tag>.ics exist when there is more than one language / tag.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import ClassVar

from icalendar import STATUS, Alarm, Calendar, Component, Timezone, vDuration, vRecur, vText
from icalendar import Event as VEvent

from .. import recurrence
from ..i18n import phrases
from ..identity import site_host, url_path
from ..models import Event
from ..timeutil import get_zone
from .context import (
    Artifact,
    BuildContext,
    EventOutput,
    KeyedPart,
    SitePart,
    in_language,
    place,
    tag_file,
)

MEDIA_TYPE = "text/calendar; charset=utf-8"
_CALENDARS_PER_PART = 256
CalendarSpec = tuple[str, str, list[Event]]  # (path, title, events)
ALL_DAY_ALARM = timedelta(hours=9)  # 09:00 on the day of an all-day event
_NAME_UNSAFE = str.maketrans({",": " ", ";": " ", "\\": " "})  # icalendar leaves NAME unescaped


class IcsRenderer:
    name: ClassVar[str] = "ics"
    extension: ClassVar[str] = ".ics"
    media_type: ClassVar[str] = MEDIA_TYPE

    def __init__(self, *, fast: bool = True) -> None:
        # fast: write the VEVENT lines directly (values escaped by icalendar's own types);
        # else build icalendar components. Tests hold both to byte-identical output.
        self.fast = fast

    def prepare(self, ctx: BuildContext) -> None:
        """Make the VTIMEZONEs of the per-event files once, before render workers fork (each
        would otherwise make every one of them again: ~10 ms each)."""
        for e in ctx.calendar_events:
            for zone, (lo, hi) in _years((e,)):
                _vtimezone(zone, lo, hi)

    def render_event(self, e: Event, ctx: BuildContext) -> EventOutput:
        """The event's own file, plus its VEVENT bytes for the aggregate calendars."""
        blob = self.vevent_bytes(e, ctx) if self.fast else serialize(self.vevent(e, ctx))
        alarm = ctx.settings.calendar.alarm
        own = blob if alarm is None else serialize(self.vevent(e, ctx, alarm=alarm))
        art = self._calendar(ctx, f"events/{ctx.stems[e.uid]}.ics", e.title, [e], {e.uid: own})
        return EventOutput((art,), blob)

    def render_site(self, ctx: BuildContext, blobs: Mapping[str, bytes]) -> Iterator[Artifact]:
        for part in self.site_parts(ctx, blobs):
            yield from part()

    def site_parts(self, ctx: BuildContext, blobs: Mapping[str, bytes]) -> list[SitePart]:
        """The aggregate calendars as independent parts (a build with thousands of tags
        makes them in parallel): calendar.ics, per language, per tag in batches."""
        site = ctx.settings.site
        tombstone_files: list[Artifact] = []
        if ctx.tombstones:  # deleted pages stay in the calendars as cancelled for a while
            blobs = dict(blobs)
            for e in ctx.tombstones:
                output = self.render_event(e, ctx)
                blobs[e.uid] = output.fragment or b""
                tombstone_files.extend(output.artifacts)
        specs: list[CalendarSpec] = [("calendar.ics", site.name, primary_events(ctx))]
        by_lang: dict[str, list[Event]] = {}
        for e in ctx.calendar_events:
            by_lang.setdefault(e.lang, []).append(e)
        if len(by_lang) > 1:
            for lang, events in sorted(by_lang.items()):
                specs.append((f"calendar-{lang}.ics", f"{site.name} ({lang})", events))
        by_tag: dict[str, tuple[str, list[Event]]] = {}
        for e in ctx.calendar_events:
            for tag in e.tags:
                by_tag.setdefault(tag_file(tag), (tag, []))[1].append(e)
        if len(by_tag) > 1:
            for file, (tag, events) in sorted(by_tag.items()):
                specs.append((f"tags/{file}.ics", f"{site.name} – {tag}", events))
        parts: list[SitePart] = [functools.partial(iter, tombstone_files)]
        for i in range(0, len(specs), _CALENDARS_PER_PART):
            batch = specs[i : i + _CALENDARS_PER_PART]
            make = functools.partial(self._calendars, ctx, batch, blobs)
            # each calendar is its path, title and events (their VEVENTs and VTIMEZONEs)
            groups = tuple(((path, title), events) for path, title, events in batch)
            parts.append(KeyedPart(f"\0ics/{batch[0][0]}", groups, make))
        return parts

    def _calendars(
        self,
        ctx: BuildContext,
        specs: list[CalendarSpec],
        blobs: Mapping[str, bytes],
    ) -> Iterator[Artifact]:
        for path, title, events in specs:
            yield self._calendar(ctx, path, title, events, blobs)

    def vevent(self, e: Event, ctx: BuildContext, *, alarm: timedelta | None = None) -> VEvent:
        stamp = ctx.revision_time(e).astimezone(UTC)
        start: date = e.start.date() if e.all_day else _ics_time(e)
        end: date = e.end.date() if e.all_day else _ics_time(e, end=True)
        v = VEvent.new(
            uid=e.uid,
            summary=e.title,
            start=start,
            end=end,
            stamp=stamp,
            last_modified=stamp,
            sequence=ctx.sequence.get(e.uid, 0),
            status=STATUS.CANCELLED if e.cancelled else STATUS.CONFIRMED,
            url=e.url,
            location=_location(e, ctx.settings.root),
            description=ctx.templates.render("ics", "description.txt", e.lang, e=ctx.view(e)),
            categories=list(e.tags),
        )
        if not e.tags:
            del v["CATEGORIES"]  # icalendar writes an empty CATEGORIES line for no tags
        if e.rrule:
            _add_recurrence(v, e)
        if e.live_url:
            v.add(
                "conference",
                e.live_url,
                parameters={
                    "VALUE": "URI",
                    "FEATURE": "VIDEO",
                    "LABEL": _conference_label(e, ctx.settings.root),
                },
            )
        if e.cover_image:
            v.add("image", e.cover_image, parameters={"VALUE": "URI", "DISPLAY": "BADGE"})
        if alarm is not None and not e.cancelled:
            a = Alarm()
            a.add("action", "DISPLAY")
            a.add("description", e.title)
            a.add("trigger", ALL_DAY_ALARM if e.all_day else alarm)
            v.add_component(a)
        return v

    def vevent_bytes(self, e: Event, ctx: BuildContext) -> bytes:
        """``serialize(self.vevent(e, ctx))`` without building icalendar components (a tenth
        of the time): the same properties in icalendar's order, values through its types."""
        stamp = f"{ctx.revision_time(e).astimezone(UTC):%Y%m%dT%H%M%SZ}"
        lines = ["BEGIN:VEVENT", "SUMMARY:" + _text(e.title)]
        for name, value in (("DTSTART", e.start), ("DTEND", e.end)):
            if e.all_day:
                lines.append(f"{name};VALUE=DATE:{value:%Y%m%d}")
            elif e.timezone == "UTC":
                lines.append(f"{name}:{value.astimezone(UTC):%Y%m%dT%H%M%SZ}")
            else:
                local = _unambiguous(value.astimezone(get_zone(e.timezone)))
                if local.tzinfo is UTC:
                    lines.append(f"{name}:{local:%Y%m%dT%H%M%SZ}")
                else:
                    lines.append(f"{name};TZID={e.timezone}:{local:%Y%m%dT%H%M%S}")
        lines += [
            f"DTSTAMP:{stamp}",
            "UID:" + _text(e.uid),
            f"SEQUENCE:{ctx.sequence.get(e.uid, 0)}",
        ]
        if e.rrule:  # rare: icalendar's own types write RRULE and EXDATE
            rules = VEvent()
            _add_recurrence(rules, e)
            lines += [line for line in rules.content_lines() if line][1:-1]
        if e.tags:
            lines.append("CATEGORIES:" + ",".join(_text(t) for t in e.tags))
        if e.live_url:
            label = _conference_label(e, ctx.settings.root)
            lines.append(f"CONFERENCE;FEATURE=VIDEO;LABEL={label};VALUE=URI:{e.live_url}")
        description = ctx.templates.render("ics", "description.txt", e.lang, e=ctx.view(e))
        lines.append("DESCRIPTION:" + _text(description))
        if e.cover_image:
            lines.append(f"IMAGE;DISPLAY=BADGE;VALUE=URI:{e.cover_image}")
        lines.append(f"LAST-MODIFIED:{stamp}")
        location = _location(e, ctx.settings.root)
        if location:
            lines.append("LOCATION:" + _text(location))
        lines += [
            "STATUS:" + ("CANCELLED" if e.cancelled else "CONFIRMED"),
            f"URL:{e.url}",
            "END:VEVENT",
        ]
        return b"".join(fold(line) for line in lines)

    def _calendar(
        self,
        ctx: BuildContext,
        path: str,
        title: str,
        events: Iterable[Event],
        blobs: Mapping[str, bytes],
    ) -> Artifact:
        site = ctx.settings.site
        events = list(events)
        name = title.translate(_NAME_UNSAFE)
        url = f"{site.base_url}/{url_path(path)}"
        if self.fast:
            lines = (f"NAME:{_text(name)}", f"X-WR-CALNAME:{_text(name)}", f"URL:{url}")
            own_part = b"".join(fold(line) for line in lines)
        else:
            own = Calendar()
            own.add("name", name)
            own.add("x-wr-calname", name)
            own.add("url", url)
            own_part = serialize(own, inner=True)
        parts = [_calendar_head(ctx), own_part]
        parts.extend(_vtimezone(zone, lo, hi) for zone, (lo, hi) in sorted(_years(events)))
        parts.extend(blobs[e.uid] for e in events)
        parts.append(b"END:VCALENDAR\r\n")
        return Artifact(path, MEDIA_TYPE, b"".join(parts), tuple(e.uid for e in events))


# A TEXT value escaped exactly as icalendar escapes it: the function vText.to_ical() uses,
# without building a vText (and its parameters) each time.
try:
    from icalendar.parser import _escape_char as _text
except ImportError:  # pragma: no cover - a later icalendar: the public, slower way

    def _text(text: str | bytes) -> str:
        escaped: bytes = vText(text).to_ical()
        return escaped.decode("utf-8")


def _location(e: Event, root: Path | None = None) -> str | None:
    """LOCATION: the venue; an in-person event's place while the venue is not known (and
    that it is streamed, if it is); an online event's live URL, else "Online"."""
    if e.location:
        return e.location
    if e.in_person:
        return place(e, phrases(e.lang, root))
    if e.online:
        return e.live_url or phrases(e.lang, root)("ics.online")
    return None


def _conference_label(e: Event, root: Path | None = None) -> str:
    return phrases(e.lang, root)("ics.livestream")


def _calendar_head(ctx: BuildContext) -> bytes:
    """BEGIN:VCALENDAR and the properties every calendar of the site shares (computed once)."""
    key = "ics.head"
    cached = ctx.memo.get(key)
    if cached is None:
        site = ctx.settings.site
        refresh = ctx.settings.calendar.refresh_interval
        cal = Calendar()  # not Calendar.new(): that adds a random UID
        cal.add("version", "2.0")
        cal.add("prodid", f"-//livepipe//{site_host(site.base_url)}//EN")
        cal.add("calscale", "GREGORIAN")
        description = (site.description or site.name).translate(_NAME_UNSAFE)
        cal.add("description", description)
        cal.add("x-wr-caldesc", description)
        # RFC 7986 wants VALUE=DURATION spelled out; X-PUBLISHED-TTL is its older twin.
        cal.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
        cal.add("x-published-ttl", _duration_text(refresh))
        if site.timezone:
            cal.add("x-wr-timezone", site.timezone)
        cached = ctx.memo[key] = serialize(cal).removesuffix(b"END:VCALENDAR\r\n")
    return cached


def _add_recurrence(v: Component, e: Event) -> None:
    """RRULE and EXDATE (in the event's zone, as DTSTART is) of a recurring event."""
    v.add("rrule", vRecur.from_ical(e.rrule or ""))
    if e.exdates:
        if e.all_day:
            v.add("exdate", [d.date() for d in e.exdates])
        else:
            v.add("exdate", [_ics_time(replace(e, start=d)) for d in e.exdates])


def _years(events: Iterable[Event]) -> Iterable[tuple[str, tuple[int, int]]]:
    """Each zone (other than UTC) the timed events use, with the first and last year (of
    the last occurrence, for recurring events)."""
    years: dict[str, tuple[int, int]] = {}
    for e in events:
        if not e.all_day and e.timezone != "UTC":
            last = recurrence.last_start(e).year if e.rrule else e.end.year
            lo, hi = years.get(e.timezone, (e.start.year, last))
            years[e.timezone] = (min(lo, e.start.year), max(hi, last, e.end.year))
    return years.items()


@functools.lru_cache(maxsize=512)
def _vtimezone(zone: str, first_year: int, last_year: int) -> bytes:
    """VTIMEZONE covering whole years (cached: generating one scans the zone's history):
    one STANDARD and one DAYLIGHT with a yearly RRULE, as Outlook, Google and Apple write
    them, when the zone kept one rule through those years (desktop Outlook reads nothing
    else: it reduces a zone to one yearly rule); the explicit transitions otherwise."""
    ruled = _ruled_vtimezone(zone, first_year, last_year)
    return ruled if ruled is not None else _listed_vtimezone(zone, first_year, last_year)


def _listed_vtimezone(zone: str, first_year: int, last_year: int) -> bytes:
    """Every transition of the years, each a STANDARD or DAYLIGHT of its own (icalendar's)."""
    first, last = date(first_year - 1, 12, 1), date(last_year + 1, 1, 31)
    tz = Timezone.from_tzinfo(
        _Until(get_zone(zone), last), tzid=zone, first_date=first, last_date=last
    )
    # icalendar notes the covered range in a COMMENT, which RFC 5545 does not allow on a
    # VTIMEZONE (only inside STANDARD/DAYLIGHT): libical's restriction check rejects it.
    tz.pop("COMMENT", None)
    return serialize(tz)


def _transitions(zone: str, first_year: int, last_year: int) -> list[tuple[datetime, int, int]]:
    """(the onset as a wall-clock time before it, the offset before, the offset after, in
    minutes) of each change of the zone's UTC offset from the start of the year before
    ``first_year`` to the end of the year after ``last_year``."""
    tz = get_zone(zone)
    out = []
    at = datetime(first_year - 1, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 2, 1, 1, tzinfo=UTC)
    step = timedelta(days=1)
    before = at.astimezone(tz).utcoffset()
    while at < end:
        nxt = at + step
        after = nxt.astimezone(tz).utcoffset()
        if after != before:
            lo, hi = at, nxt  # the minute it changed
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid <= lo:
                    break
                if mid.astimezone(tz).utcoffset() == before:
                    lo = mid
                else:
                    hi = mid
            assert before is not None and after is not None
            old, new = int(before.total_seconds()) // 60, int(after.total_seconds()) // 60
            out.append(((hi + timedelta(minutes=old)).replace(tzinfo=None), old, new))
            before = after
        at = nxt
    return out


def _yearly_rule(onsets: list[datetime]) -> tuple[int, str, time] | None:
    """(month, BYDAY such as ``-1SU`` / ``2SU``, local time) when every onset follows it."""
    shapes = set()
    for d in onsets:
        last = (d + timedelta(days=7)).month != d.month
        shapes.add((d.month, d.weekday(), d.time(), "last" if last else (d.day - 1) // 7 + 1))
    months = {(m, w, t) for m, w, t, _ in shapes}
    if len(months) != 1:
        return None
    (month, weekday, at), nths = next(iter(months)), {n for *_, n in shapes}
    day = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[weekday]
    if nths == {"last"} or (len(nths) == 2 and "last" in nths and nths - {"last"} <= {4, 5}):
        return month, f"-1{day}", at
    if len(nths) == 1 and isinstance(n := next(iter(nths)), int) and n <= 4:
        return month, f"{n}{day}", at
    return None


def _offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _ruled_vtimezone(zone: str, first_year: int, last_year: int) -> bytes | None:
    """The zone as one yearly rule per kind, when each year of the range (and the years
    around it) changes the clocks the same two ways on the same rule; None otherwise."""
    changes = _transitions(zone, first_year, last_year)
    tz = get_zone(zone)
    years = range(first_year - 1, last_year + 2)
    if not changes:
        offset = tz.utcoffset(datetime(first_year, 1, 1))
        assert offset is not None
        minutes = int(offset.total_seconds()) // 60
        name = datetime(first_year, 1, 1, tzinfo=tz).tzname() or zone
        return _vtz(
            zone, [("STANDARD", datetime(first_year - 1, 1, 1), minutes, minutes, name, "")]
        )
    kinds: dict[tuple[int, int], list[datetime]] = {}
    for onset, old, new in changes:
        kinds.setdefault((old, new), []).append(onset)
    if len(kinds) != 2 or any(len(v) != len(years) for v in kinds.values()):
        return None
    parts = []
    for (old, new), onsets in sorted(kinds.items()):
        if (new, old) not in kinds or sorted(d.year for d in onsets) != list(years):
            return None
        rule = _yearly_rule(onsets)
        if rule is None:
            return None
        month, byday, _ = rule
        summer = new > old
        name = (onsets[0] + timedelta(hours=12)).replace(tzinfo=tz).tzname() or zone
        parts.append(
            ("DAYLIGHT" if summer else "STANDARD", onsets[0], old, new, name,
             f"FREQ=YEARLY;BYMONTH={month};BYDAY={byday}")
        )  # fmt: skip
    parts.sort(key=lambda p: p[0] != "STANDARD")
    return _vtz(zone, parts)


def _vtz(zone: str, parts: list[tuple[str, datetime, int, int, str, str]]) -> bytes:
    lines = ["BEGIN:VTIMEZONE", f"TZID:{zone}"]
    for kind, onset, old, new, name, rule in parts:
        lines += [f"BEGIN:{kind}", f"DTSTART:{onset:%Y%m%dT%H%M%S}"]
        if rule:
            lines.append(f"RRULE:{rule}")
        lines += [f"TZNAME:{name}", f"TZOFFSETFROM:{_offset(old)}", f"TZOFFSETTO:{_offset(new)}"]
        lines.append(f"END:{kind}")
    lines.append("END:VTIMEZONE")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


class _Until(tzinfo):
    """``zone``, ending a while after ``last``. icalendar's from_tzinfo looks for the end of
    the last offset by stepping 64 days at a time until the zone ends; zoneinfo zones never
    do, so for a zone without DST (Asia/Shanghai) it stepped to the year 9999: 30 ms a
    calendar. Ending here (the OverflowError it expects at the end of a zone) gives the same
    VTIMEZONE: anything after ``last`` is past the range it writes. Tests hold the two equal."""

    def __init__(self, zone: tzinfo, last: date) -> None:
        self.zone = zone
        # from_tzinfo stops at the first step past this, and that step is past ``last``
        self.until = datetime.combine(last, time()) + timedelta(days=1)

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        if dt is not None and dt.replace(tzinfo=None) > self.until:
            raise OverflowError("past the end of the calendar")
        return self.zone.utcoffset(dt)

    def dst(self, dt: datetime | None) -> timedelta | None:
        return self.zone.dst(dt)

    def tzname(self, dt: datetime | None) -> str | None:
        return self.zone.tzname(dt)


def serialize(component: Component, *, inner: bool = False) -> bytes:
    """``component.to_ical()`` with a faster fold: icalendar builds and escapes every content
    line; lines of at most 75 octets (most of them) are emitted as they are, longer ones are
    folded by ``fold`` without splitting a UTF-8 character or an escape sequence.
    ``inner`` leaves out the BEGIN/END lines (properties only)."""
    lines = [line for line in component.content_lines() if line]
    if inner:
        lines = lines[1:-1]
    return b"".join(fold(line) for line in lines)


_ESCAPES = b"\\^"  # the octets an escape sequence starts with


def _odd_run(data: bytes, start: int, cut: int) -> bool:
    """Does data[start:cut] end in an unfinished escape (an odd run of \\ or ^)?"""
    chunk = data[start:cut]
    return any((len(chunk) - len(chunk.rstrip(mark))) % 2 == 1 for mark in (b"\\", b"^"))


def fold(line: str, limit: int = 75) -> bytes:
    data = line.encode("utf-8")
    if len(data) <= limit:
        return data + b"\r\n"
    out: list[bytes] = []
    start = 0
    width = limit  # the first physical line has 75 octets, the next ones a space + 74
    while len(data) - start > width:
        cut = start + width
        while cut > start and (data[cut] & 0xC0) == 0x80:  # inside a UTF-8 character
            cut -= 1
        # Keep an escape (\\ \; \n, or RFC 6868 ^n ^^) on one line, as icalendar does.
        while cut - start > 1 and data[cut - 1] in _ESCAPES and _odd_run(data, start, cut):
            cut -= 1
        out.append(data[start:cut])
        start = cut
        width = limit - 1
    out.append(data[start:])
    return b"\r\n ".join(out) + b"\r\n"


def _duration_text(value: timedelta) -> str:
    text: bytes = vDuration(value).to_ical()  # type: ignore[no-untyped-call]
    return text.decode("ascii")


def _ics_time(e: Event, *, end: bool = False) -> date:
    value = e.end if end else e.start
    if e.timezone == "UTC":
        return value.astimezone(UTC)
    return _unambiguous(value.astimezone(get_zone(e.timezone)))


def _unambiguous(local: datetime) -> datetime:
    """A local time as ICS can name it: the second 01:30 of the night the clocks go back has
    no TZID form (RFC 5545 reads a repeated local time as the first), so it is written in
    UTC; every other time stays local."""
    if local.fold and local.utcoffset() != local.replace(fold=0).utcoffset():
        return local.astimezone(UTC)
    return local


def primary_events(ctx: BuildContext) -> list[Event]:
    """One event per translation group; the site's default language (then the first) wins."""
    return in_language(ctx.calendar_events, ctx.settings.site.default_language)


def invitation(
    e: Event,
    *,
    method: str,
    sequence: int,
    organizer: tuple[str, str],
    attendee: str,
    now: datetime,
    description: str,
    site_host_name: str,
) -> bytes:
    """An iTIP message (RFC 5546) for email: METHOD:REQUEST puts the event in the reader's
    calendar and moves it when a later REQUEST has a higher SEQUENCE; METHOD:CANCEL takes it
    out. UID is the event's, so it is the same entry as the subscription calendars'.
    ``organizer``: (name, address); ``attendee``: the address the message goes to (a list
    address for a Bcc'd newsletter), with RSVP=FALSE: nobody is asked to reply."""
    from icalendar import vCalAddress

    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"method {method!r}: REQUEST or CANCEL")
    cancel = method == "CANCEL"  # a REQUEST is TENTATIVE or CONFIRMED, never CANCELLED
    v = VEvent.new(
        uid=e.uid,
        summary=e.title,
        start=e.start.date() if e.all_day else _ics_time(e),
        end=e.end.date() if e.all_day else _ics_time(e, end=True),
        stamp=now.astimezone(UTC),
        sequence=sequence,
        status=STATUS.CANCELLED if cancel else STATUS.CONFIRMED,
        url=e.url,
        description=description,
    )
    location = _location(e)  # as in every calendar
    if location:
        v.add("location", location)
    if e.rrule:
        _add_recurrence(v, e)
    name, address = organizer
    boss = vCalAddress(f"mailto:{address}")
    boss.params["CN"] = name.translate(_NAME_UNSAFE)
    v.add("organizer", boss)
    guest = vCalAddress(f"mailto:{attendee}")
    guest.params.update({"ROLE": "OPT-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION", "RSVP": "FALSE"})
    v.add("attendee", guest)
    v.add("transp", "OPAQUE")
    cal = Calendar()
    cal.add("version", "2.0")
    cal.add("prodid", f"-//livepipe//{site_host_name}//EN")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    head = serialize(cal).removesuffix(b"END:VCALENDAR\r\n")
    zones = b"".join(_vtimezone(zone, lo, hi) for zone, (lo, hi) in sorted(_years([e])))
    return head + zones + serialize(v) + b"END:VCALENDAR\r\n"
