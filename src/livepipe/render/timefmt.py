"""How times are shown to people: in the event's zone, with the weekday and the zone named,
in the words of the language's catalogue (i18n: ``[date]`` and ``[zones]``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ..i18n import Phrases, phrases
from ..models import Event
from ..timeutil import get_zone


def offset(dt: datetime) -> str:
    off = dt.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def zone_label(dt: datetime, zone: str, words: Phrases) -> str:
    """``北京时间`` / ``Beijing time, UTC+08:00`` / ``Europe/Berlin, UTC+01:00``."""
    return words.zone(zone, offset(dt))


def day(dt: datetime, words: Phrases) -> str:
    """``2026 年 12 月 3 日（周四）`` / ``Thursday, 3 December 2026``."""
    return words(
        "date.day",
        weekday=words.words("date.weekdays")[dt.weekday()],
        day=dt.day,
        month=dt.month,
        month_name=words.words("date.months")[dt.month - 1],
        year=dt.year,
    )


def when(
    event: Event, lang: str | None = None, zone: str | None = None, site_root: Path | None = None
) -> str:
    """``2022 年 10 月 13 日（周四）20:00–21:00（北京时间）`` or
    ``Thursday, 3 December 2026, 19:00–21:30 (Europe/Berlin, UTC+01:00)``.

    ``zone`` shows the event in another zone (e.g. the site's) instead of its own.
    """
    words = phrases(lang or event.lang, site_root)
    if event.all_day:
        last = event.end - timedelta(days=1)
        if last.date() == event.start.date():
            return words("date.all_day", day=day(event.start, words))
        return f"{day(event.start, words)} – {day(last, words)}"
    tz: ZoneInfo = get_zone(zone or event.timezone)
    start, end = event.start.astimezone(tz), event.end.astimezone(tz)
    label = zone_label(start, zone or event.timezone, words)
    if start.date() == end.date():
        sep = words("date.time_sep")
        span = f"{day(start, words)}{sep}{start:%H:%M}–{end:%H:%M}"
    else:
        sep = words("date.span_sep")
        span = f"{day(start, words)}{sep}{start:%H:%M} – {day(end, words)}{sep}{end:%H:%M}"
    return words("date.with_zone", span=span, zone=label)
