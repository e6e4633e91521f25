"""Imported calendars, read: the last copy of each ``[imports.NAME]`` feed (imports.py fetches
it) → one event per VEVENT, through the same mapping, checks and renderers as pages.

- Each event keeps the feed's own ``UID`` (a moved instance, with RECURRENCE-ID, is
  ``UID#<its original start, UTC>`` and its original start an exception of the series).
- DTSTART/DTEND with a TZID (an IANA name, a Windows name such as "Pacific Standard Time",
  or a zone defined in the file), UTC, floating (the site's zone) or a date; DURATION; RRULE
  with UNTIL in any form; EXDATE; STATUS (CANCELLED cancels it); LOCATION, URL, DESCRIPTION.
- Nothing is sent about imported events unless the import names the slots
  (``slots = ["reminder_1d"]``): the others are skipped for them.
- A feed that was never fetched (or whose copy is gone) keeps every event it had.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path, PurePosixPath

from ..config import FieldMapping, ImportSettings
from ..errors import ContentError
from .base import Draft, PageContext, RawPage
from .mapped import MappedSchema

IMPORTS_DIR = Path(".livepipe") / "imports"


def feed_path(root: Path, name: str) -> Path:
    """Where the last copy of ``[imports.NAME]`` is kept (imports.py writes it)."""
    return root / IMPORTS_DIR / f"{name}.ics"


_MAPPING = FieldMapping(
    title=("title",),
    start=("start",),
    end=("end",),
    timezone=("timezone",),
    location=("location",),
    description=("description",),
    status=("status",),
    repeat=("repeat",),
    tags=("tags",),
)


class ImportSchema(MappedSchema):
    """An imported feed's events: its own UIDs, and only the import's slots."""

    def __init__(
        self, name: str, feed: ImportSettings, site_zone: str | None, link: str, slots: list[str]
    ) -> None:
        super().__init__(name, _MAPPING, site_zone, link)
        self.skip = [s for s in slots if s not in feed.slots]

    def extract(self, ctx: PageContext) -> Draft:
        draft = super().extract(ctx)
        meta = ctx.page.meta
        draft.uid = str(meta["uid"])
        url = meta.get("url")
        draft.url = str(url) if isinstance(url, str) and url else self.link
        draft.options = {"skip": list(self.skip)} if self.skip else None
        return draft


def read_feed(
    name: str, path: Path, rel: str, display: str, language: str | None
) -> tuple[list[RawPage], ContentError | None]:
    """The feed's events as pages for ImportSchema to read; or why the copy is unusable."""
    import icalendar

    try:
        data = path.read_bytes()
    except OSError:
        return [], ContentError(
            "import-missing",
            f"imports.{name} has not been fetched yet (or its copy is gone): its events "
            "are kept as they were",
            path=display,
            hint="run `livepipe sync` (it fetches imports) and check the import's url",
        )
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except (ValueError, KeyError, IndexError, TypeError, RecursionError) as exc:
        return [], ContentError(
            "invalid-ics", f"the copy does not parse: {exc}"[:200], path=display
        )
    masters: dict[str, dict[str, object]] = {}
    moved: list[dict[str, object]] = []
    for vevent in calendar.walk("VEVENT"):
        meta = _meta(vevent)
        if meta is None:
            continue
        if "recurrence_id" in meta:
            moved.append(meta)
        else:
            masters[str(meta["uid"])] = meta
    for meta in moved:  # an instance moved or cancelled: an exception of its series
        rid = meta.pop("recurrence_id")
        master = masters.get(str(meta["uid"]))
        if master is not None and isinstance(master.get("repeat"), dict):
            master["repeat"]["except"].append(rid)  # type: ignore[index]
        if meta.get("status") != "cancelled":
            when = rid.astimezone(UTC) if isinstance(rid, datetime) else rid
            stamp = f"{when:%Y%m%dT%H%M%SZ}" if isinstance(when, datetime) else f"{when:%Y%m%d}"
            meta["uid"] = f"{meta['uid']}#{stamp}"
            masters[str(meta["uid"])] = meta
    pages = []
    for uid, meta in masters.items():
        pages.append(
            RawPage(
                path=path,
                rel=PurePosixPath(f"imports/{name}/{uid}"),
                display=f"{display}#{uid}",  # problems name the event
                lang=language,
                meta=meta,
                fm_lines=(),
                body="",
                body_line=0,
                source=f"{rel}#{uid}",
            )
        )
    return pages, None


def _meta(vevent: object) -> dict[str, object] | None:
    """A VEVENT as the fields the mapping reads; None without a UID or a start."""
    get = vevent.get  # type: ignore[attr-defined]
    uid, start = get("UID"), get("DTSTART")
    if not uid or start is None:
        return None
    begin = start.dt
    meta: dict[str, object] = {"uid": str(uid), "title": str(get("SUMMARY") or "(no title)")}
    zone = _zone_name(begin)
    meta["start"] = _in_zone(begin, zone)
    if zone:
        meta["timezone"] = zone
    end = get("DTEND")
    if end is not None:
        meta["end"] = _last(begin, _in_zone(end.dt, zone))
    elif get("DURATION") is not None:
        length = vevent.decoded("DURATION")  # type: ignore[attr-defined]
        if isinstance(length, timedelta) and length > timedelta(0):
            meta["end"] = _last(begin, _in_zone(begin + length, zone))
    for key, field in (("LOCATION", "location"), ("DESCRIPTION", "description"), ("URL", "url")):
        value = get(key)
        if value:
            meta[field] = str(value).strip()
    status = str(get("STATUS") or "").lower()
    meta["status"] = "cancelled" if status == "cancelled" else "scheduled"
    categories = get("CATEGORIES")
    if categories is not None:
        items = categories if isinstance(categories, list) else [categories]
        meta["tags"] = [str(c) for item in items for c in getattr(item, "cats", [item])]
    rule = get("RRULE")
    if rule is not None:
        meta["repeat"] = spec = _repeat(rule[0] if isinstance(rule, list) else rule, zone)
        spec["except"].extend(_exdates(vevent, zone))  # type: ignore[attr-defined]
    if get("RECURRENCE-ID") is not None:
        meta["recurrence_id"] = _in_zone(get("RECURRENCE-ID").dt, zone)
    return meta


def _zone_name(value: object) -> str | None:
    """The IANA name of a start's zone (a Windows name mapped), None for UTC, floating
    times, dates and zones with no IANA name."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None
    tz = value.tzinfo
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    if key is None:
        from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

        named = str(getattr(tz, "_tzid", "") or value.tzname() or "")
        key = WINDOWS_TO_OLSON.get(named, named)
    try:
        zoneinfo.ZoneInfo(str(key))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return None if key == "UTC" else str(key)


def _in_zone(value: object, zone: str | None) -> object:
    """A date as it is; a time in the named zone (its wall clock there), else as an instant
    (UTC), else floating (naive: the site's zone)."""
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:
        return value
    if zone:
        return value.astimezone(zoneinfo.ZoneInfo(zone))
    return value.astimezone(UTC)


def _last(start: object, end: object) -> object:
    """DTEND of an all-day event is the day after; livepipe's end is the last day."""
    if isinstance(end, date) and not isinstance(end, datetime):
        if isinstance(start, date) and not isinstance(start, datetime) and end > start:
            return end - timedelta(days=1)
    return end


def _repeat(rule: Mapping[str, object], zone: str | None) -> dict[str, object]:
    """RRULE → {rrule, until, count, except}: UNTIL and COUNT beside the rule, so that
    normalize writes them as every calendar reads them (UNTIL in UTC)."""
    parts = dict(rule)
    until = parts.pop("UNTIL", [None])
    count = parts.pop("COUNT", [None])
    text = _rule_text(parts)
    first = until[0] if isinstance(until, list) and until else until
    if isinstance(first, datetime) and first.tzinfo is not None and zone:
        first = first.astimezone(zoneinfo.ZoneInfo(zone))
    counted = count[0] if isinstance(count, list) and count else count
    return {"rrule": text, "until": first, "count": counted, "except": []}


def _rule_text(parts: Mapping[str, object]) -> str:
    from icalendar import vRecur

    return str(vRecur(parts).to_ical().decode())  # type: ignore[no-untyped-call]


def _exdates(vevent: object, zone: str | None) -> Iterator[object]:
    """EXDATE values of a VEVENT (several properties, several values each)."""
    found = vevent.get("EXDATE")  # type: ignore[attr-defined]
    if found is None:
        return
    for prop in found if isinstance(found, list) else [found]:
        for item in getattr(prop, "dts", []):
            yield _in_zone(item.dt, zone)
