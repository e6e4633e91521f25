"""Read back what readers get: the deployed calendars and feeds, fetched from each target's
``public_url`` through the bounded, public-only outbound layer, compared with the build —
per event (UID, SEQUENCE, DTSTART, DTEND, STATUS) for calendars, per item (id, updated)
for feeds. A stale CDN copy, a deploy that failed half way, a file edited on the server:
each difference is named, with the event it is about."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from ..config import Settings
from ..errors import FetchError
from ..net import Client, Policy
from . import Build

CHECKED = ("calendar.ics", "atom.xml", "feed.json")
ATOM = "{http://www.w3.org/2005/Atom}"


@dataclass
class Drift:
    target: str
    url: str
    found: list[str] = field(default_factory=list)  # one line per difference

    def lines(self) -> list[str]:
        return [f"{self.target}: {line}" for line in self.found]


def verify(
    settings: Settings, dist: Path, names: list[str] | None = None, *, client: Client | None = None
) -> list[Drift]:
    """Each target with a ``public_url``: what differs from the build (empty: nothing)."""
    build = Build(dist)
    allow = settings.network.networks() if settings.network.allow else ()
    http = client or Client(Policy.public(allow))
    out = []
    try:
        for name, target in settings.deploy.items():
            if (names and name not in names) or not target.public_url:
                continue
            drift = Drift(name, target.public_url)
            base = target.public_url.rstrip("/") + "/"
            for path in CHECKED:
                if path in build.entries:
                    drift.found += _compare(
                        http, base + path, path, build.data(path), target.deadline
                    )
            out.append(drift)
    finally:
        if client is None:
            http.close()
    return out


def _compare(http: Client, url: str, path: str, built: bytes, deadline: float) -> list[str]:
    try:
        answer = http.get(url, deadline=deadline, max_bytes=max(4 * len(built), 1 << 20))
    except FetchError as exc:
        return [f"{path}: could not be read ({exc})"]
    if not answer.ok:
        return [f"{path}: HTTP {answer.status} at {url}"]
    if answer.body == built:
        return []
    try:
        if path.endswith(".ics"):
            return [f"{path}: {line}" for line in _calendar(answer.body, built)]
        if path.endswith(".xml"):
            return [f"{path}: {line}" for line in _items(_atom(answer.body), _atom(built))]
        return [f"{path}: {line}" for line in _items(_json_feed(answer.body), _json_feed(built))]
    except (ValueError, KeyError, TypeError, ET.ParseError) as exc:
        return [f"{path}: what is published does not parse ({type(exc).__name__})"]


def _events(data: bytes) -> dict[str, dict[str, str]]:
    import icalendar

    out = {}
    for v in icalendar.Calendar.from_ical(data).walk("VEVENT"):
        uid = str(v.get("UID"))
        if v.get("RECURRENCE-ID") is not None:
            uid += "#" + _instant(v.get("RECURRENCE-ID").dt)
        out[uid] = {
            "title": str(v.get("SUMMARY", "")),
            "SEQUENCE": str(v.get("SEQUENCE", 0)),
            "DTSTART": _instant(v.get("DTSTART").dt) if v.get("DTSTART") else "",
            "DTEND": _instant(v.get("DTEND").dt) if v.get("DTEND") else "",
            "STATUS": str(v.get("STATUS", "")),
        }
    return out


def _instant(value: object) -> str:
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _calendar(published: bytes, built: bytes) -> list[str]:
    have, want = _events(published), _events(built)
    out = []
    for uid, fields in sorted(want.items()):
        shown = f"event {fields['title']!r} ({uid})"
        got = have.get(uid)
        if got is None:
            out.append(f"{shown} is missing")
            continue
        for key in ("DTSTART", "DTEND", "STATUS", "SEQUENCE"):
            if got[key] != fields[key]:
                out.append(
                    f"{shown}: {key} is {got[key] or 'absent'}, built {fields[key] or 'absent'}"
                )
    for uid in sorted(set(have) - set(want)):
        out.append(f"event {have[uid]['title']!r} ({uid}) is published but no longer built")
    return out  # bytes that differ while every event agrees (folded lines, order): no drift


def _atom(data: bytes) -> dict[str, tuple[str, str]]:
    from defusedxml.ElementTree import fromstring

    root = fromstring(data)
    return {
        (e.findtext(f"{ATOM}id") or ""): (
            e.findtext(f"{ATOM}title") or "",
            e.findtext(f"{ATOM}updated") or "",
        )
        for e in root.iter(f"{ATOM}entry")
    }


def _json_feed(data: bytes) -> dict[str, tuple[str, str]]:
    items = json.loads(data)["items"]
    return {str(i["id"]): (str(i.get("title", "")), str(i.get("date_modified", ""))) for i in items}


def _items(have: dict[str, tuple[str, str]], want: dict[str, tuple[str, str]]) -> list[str]:
    out = []
    for key, (title, updated) in sorted(want.items()):
        got = have.get(key)
        if got is None:
            out.append(f"item {title!r} ({key}) is missing")
        elif got[1] != updated:
            out.append(f"item {title!r} ({key}): updated {got[1]}, built {updated}")
    for key in sorted(set(have) - set(want)):
        out.append(f"item {have[key][0]!r} ({key}) is published but no longer built")
    return out
