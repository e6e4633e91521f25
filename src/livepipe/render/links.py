"""'Add to calendar' links for the web calendars that take an event in a URL (Google, Outlook).

Both get UTC instants for timed events and exclusive end dates for all-day ones, so the link
means the same instant wherever the viewer is. Google's also carries a recurring event's rule
(``recur=RRULE:…``, expanded on the wall clock of ``ctz``); Outlook's compose link has no
recurrence, so it adds the first occurrence (the .ics link beside it has the series).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC

from ..models import Event

GOOGLE = "https://calendar.google.com/calendar/render"
OUTLOOK = "https://outlook.live.com/calendar/0/action/compose"


# What urllib's quote_plus keeps as it is (and the space, which becomes "+").
_QUOTED = re.compile(r"[^A-Za-z0-9_.~ -]+")


def _quote_plus(value: str) -> str:
    """urllib.parse.quote_plus(value), a run of characters at a time: quote_plus turns a
    title or a description into bytes and looks them up one by one (two links per event:
    3 % of a build)."""
    return _QUOTED.sub(lambda m: "%" + m[0].encode().hex("%").upper(), value).replace(" ", "+")


def _query(fields: Mapping[str, str]) -> str:
    """urllib.parse.urlencode(fields)"""
    return "&".join(f"{_quote_plus(k)}={_quote_plus(v)}" for k, v in fields.items())


def _details(event: Event) -> str:
    lines = [event.url]
    if event.live_url:
        lines.append(event.live_url)
    return "\n".join(lines)


def _where(event: Event) -> str:
    return event.location or event.live_url or ""


def google(event: Event) -> str:
    if event.all_day:
        dates = f"{event.start:%Y%m%d}/{event.end:%Y%m%d}"
    else:
        start, end = event.start.astimezone(UTC), event.end.astimezone(UTC)
        dates = f"{start:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}"
    query = {
        "action": "TEMPLATE",
        "text": event.title,
        "dates": dates,
        "details": _details(event),
        "location": _where(event),
        "ctz": event.timezone,
    }
    if event.rrule:  # the whole series: a click adds every occurrence, not the first
        query["recur"] = f"RRULE:{event.rrule}"
    return f"{GOOGLE}?{_query(query)}"


def outlook(event: Event) -> str:
    if event.all_day:
        times = {"startdt": event.start.date().isoformat(), "enddt": event.end.date().isoformat()}
        times["allday"] = "true"
    else:
        times = {
            "startdt": event.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "enddt": event.end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    query = {
        "rru": "addevent",
        "subject": event.title,
        **times,
        "body": _details(event),
        "location": _where(event),
    }
    return f"{OUTLOOK}?{_query(query)}"
