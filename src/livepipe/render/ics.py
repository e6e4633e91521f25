"""ICS (RFC 5545 + RFC 7986): per-event files and subscription calendars, via icalendar.

Rules (write them down, keep them stable):
- PRODID ``-//livepipe//<site host>//EN``; calendar UID ``<name>@<site host>``.
- UID = Event.uid; DTSTAMP = LAST-MODIFIED = the page's last revision (UTC), never the clock.
- Timed events use TZID + a VTIMEZONE generated for the whole years the calendar spans (UTC
  events use Z); all-day events use VALUE=DATE with an exclusive DTEND. Never floating times.
- SEQUENCE comes from the ledger (0 until an event's significant fields change).
- calendar.ics holds one entry per translated event (the site's default language wins);
  calendar-<lang>.ics and tags/<tag>.ics exist when there is more than one language / tag.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from datetime import UTC, date, timedelta
from typing import ClassVar

from icalendar import STATUS, Alarm, Calendar, Timezone, vDuration
from icalendar import Event as VEvent

from ..identity import site_host
from ..models import Event
from ..timeutil import get_zone
from .context import Artifact, BuildContext, tag_file

MEDIA_TYPE = "text/calendar; charset=utf-8"
_NAME_UNSAFE = str.maketrans({",": " ", ";": " ", "\\": " "})  # icalendar leaves NAME unescaped


class IcsRenderer:
    name: ClassVar[str] = "ics"
    extension: ClassVar[str] = ".ics"
    media_type: ClassVar[str] = MEDIA_TYPE

    def render(self, ctx: BuildContext) -> Iterator[Artifact]:
        site = ctx.settings.site
        # Each VEVENT is serialised once and its bytes reused in every calendar it belongs to.
        blobs = {e.uid: self.vevent(e, ctx).to_ical() for e in ctx.events}
        alarm = ctx.settings.calendar.alarm
        for e in ctx.events:
            blob = blobs[e.uid] if alarm is None else self.vevent(e, ctx, alarm=alarm).to_ical()
            yield self._calendar(ctx, f"events/{ctx.stems[e.uid]}.ics", e.title, [e], {e.uid: blob})
        yield self._calendar(ctx, "calendar.ics", site.name, primary_events(ctx), blobs)
        by_lang: dict[str, list[Event]] = {}
        for e in ctx.events:
            by_lang.setdefault(e.lang, []).append(e)
        if len(by_lang) > 1:
            for lang, events in sorted(by_lang.items()):
                yield self._calendar(
                    ctx, f"calendar-{lang}.ics", f"{site.name} ({lang})", events, blobs
                )
        by_tag: dict[str, tuple[str, list[Event]]] = {}
        for e in ctx.events:
            for tag in e.tags:
                by_tag.setdefault(tag_file(tag), (tag, []))[1].append(e)
        if len(by_tag) > 1:
            for file, (tag, events) in sorted(by_tag.items()):
                yield self._calendar(ctx, f"tags/{file}.ics", f"{site.name} – {tag}", events, blobs)

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
            location=self._location(e, ctx),
            description=ctx.templates.render("ics", "description.txt", e.lang, e=ctx.view(e)),
            categories=list(e.tags),
        )
        if e.live_url:
            label = "直播" if e.lang == "zh" else "Livestream"
            v.add("conference", e.live_url,
                  parameters={"VALUE": "URI", "FEATURE": "VIDEO", "LABEL": label})  # fmt: skip
        if e.cover_image:
            v.add("image", e.cover_image, parameters={"VALUE": "URI", "DISPLAY": "BADGE"})
        if alarm is not None and not e.cancelled:
            a = Alarm()
            a.add("action", "DISPLAY")
            a.add("description", e.title)
            a.add("trigger", alarm)
            v.add_component(a)
        return v

    def _location(self, e: Event, ctx: BuildContext) -> str | None:
        if e.location:
            return e.location
        if e.online:
            return e.live_url or ("线上" if e.lang == "zh" else "Online")
        return None

    def _calendar(
        self,
        ctx: BuildContext,
        path: str,
        title: str,
        events: Iterable[Event],
        blobs: dict[str, bytes],
    ) -> Artifact:
        site = ctx.settings.site
        host = site_host(site.base_url)
        events = list(events)
        refresh = ctx.settings.calendar.refresh_interval
        cal = Calendar.new(
            prodid=f"-//livepipe//{host}//EN",
            name=title.translate(_NAME_UNSAFE),
            description=(site.description or site.name).translate(_NAME_UNSAFE),
            url=f"{site.base_url}/{path}",
            uid=f"{path.removesuffix('.ics')}@{host}",
            calscale="GREGORIAN",
            method="PUBLISH",
        )
        # RFC 7986 wants VALUE=DURATION spelled out; X-PUBLISHED-TTL is its older twin.
        cal.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
        cal.add("x-published-ttl", _duration_text(refresh))
        if site.timezone:
            cal.add("x-wr-timezone", site.timezone)
        years: dict[str, tuple[int, int]] = {}
        for e in events:
            if not e.all_day and e.timezone != "UTC":
                lo, hi = years.get(e.timezone, (e.start.year, e.end.year))
                years[e.timezone] = (min(lo, e.start.year), max(hi, e.end.year))
        head, end = cal.to_ical().rsplit(b"END:VCALENDAR", 1)
        parts = [head]
        parts.extend(_vtimezone(zone, lo, hi) for zone, (lo, hi) in sorted(years.items()))
        parts.extend(blobs[e.uid] for e in events)
        parts.append(b"END:VCALENDAR" + end)
        return Artifact(path, MEDIA_TYPE, b"".join(parts), tuple(e.uid for e in events))


@functools.lru_cache(maxsize=512)
def _vtimezone(zone: str, first_year: int, last_year: int) -> bytes:
    """VTIMEZONE covering whole years (cached: generating one scans the zone's history)."""
    tz = Timezone.from_tzinfo(
        get_zone(zone), tzid=zone, first_date=date(first_year - 1, 12, 1),
        last_date=date(last_year + 1, 1, 31),
    )  # fmt: skip
    data: bytes = tz.to_ical()
    return data


def _duration_text(value: timedelta) -> str:
    text: bytes = vDuration(value).to_ical()  # type: ignore[no-untyped-call]
    return text.decode("ascii")


def _ics_time(e: Event, *, end: bool = False) -> date:
    value = e.end if end else e.start
    if e.timezone == "UTC":
        return value.astimezone(UTC)
    return value.astimezone(get_zone(e.timezone))


def primary_events(ctx: BuildContext) -> list[Event]:
    """One event per translation group; the site's default language (then the first) wins."""
    default = ctx.settings.site.default_language
    chosen: dict[str, Event] = {}
    for e in ctx.events:
        key = e.translation_key
        current = chosen.get(key)
        if current is None or (e.lang == default and current.lang != default):
            chosen[key] = e
    keep = {e.uid for e in chosen.values()}
    return [e for e in ctx.events if e.uid in keep]
