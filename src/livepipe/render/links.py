"""'Add to calendar' links for the web calendars that take an event in a URL (Google, Outlook).

Both get UTC instants for timed events and exclusive end dates for all-day ones, so the link
means the same instant wherever the viewer is. Google's also carries a recurring event's rule
(``recur=RRULE:…``, expanded on the wall clock of ``ctz``); Outlook's compose link has no
recurrence, so it adds the first occurrence (the .ics link beside it has the series).
"""

from __future__ import annotations

from datetime import UTC
from urllib.parse import urlencode

from ..models import Event

GOOGLE = "https://calendar.google.com/calendar/render"
OUTLOOK = "https://outlook.live.com/calendar/0/action/compose"


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
    return f"{GOOGLE}?{urlencode(query)}"


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
    return f"{OUTLOOK}?{urlencode(query)}"
