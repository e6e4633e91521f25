"""How times are shown to people: in the event's zone, with the weekday and the zone named,
in the words of the language's catalogue (i18n: ``[date]`` and ``[zones]``)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .. import recurrence
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


_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_SAID = {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "UNTIL", "COUNT", "WKST"}


def repeats(event: Event, words: Phrases) -> str:
    """A recurring event's rule in the catalogue's words, at the event's time of day in its
    zone: ``every Tuesday at 19:00 until 13 April`` / ``每周二 19:00，至 4 月 13 日``; ""
    for a one-off event. A rule these words cannot say (BYSETPOS, BYHOUR…) is
    ``repeat.other``: the dates themselves are listed beside it."""
    if not event.rrule:
        return ""
    start = event.start.astimezone(get_zone(event.timezone))
    parts = dict(p.split("=", 1) for p in event.rrule.split(";") if "=" in p)
    rule = _rule(parts, start, words) if set(parts) <= _SAID else None
    if rule is None:
        return words("repeat.other")
    if not event.all_day:
        rule = words("repeat.at", rule=rule, time=f"{start:%H:%M}")
    if "COUNT" in parts:
        return words("repeat.count", rule=rule, n=parts["COUNT"])
    until = recurrence.rule_until(event.rrule)
    if until is None:
        return rule
    if isinstance(until, datetime):
        until = until.astimezone(start.tzinfo).date()
    key = "repeat.date" if until.year == start.year else "repeat.date_year"
    return words("repeat.until", rule=rule, date=_date(until, words, key))


def _rule(parts: dict[str, str], start: datetime, words: Phrases) -> str | None:
    freq, n = parts.get("FREQ", ""), parts.get("INTERVAL", "1")
    if not n.isdigit() or int(n) < 1:
        return None
    every = "" if n == "1" else "_n"
    days = parts.get("BYDAY", "").split(",") if "BYDAY" in parts else []
    names = words.words("repeat.weekdays")
    if freq in ("DAILY", "WEEKLY") and "BYMONTHDAY" not in parts and "BYMONTH" not in parts:
        if freq == "DAILY" and not days:
            return words(f"repeat.daily{every}", n=n)
        if not all(d in _DAYS for d in days):
            return None
        if freq == "DAILY" and every:
            return None  # every other day, on Tuesdays only: not said in words
        chosen = [names[_DAYS.index(d)] for d in days] or [names[start.weekday()]]
        head, last = chosen[:-1], chosen[-1]
        listed = words("repeat.day_sep").join(head) + words("repeat.day_last") + last
        return words(f"repeat.weekly{every}", n=n, days=listed if head else last)
    if freq == "MONTHLY" and "BYMONTH" not in parts:
        if days:
            m = (
                re.fullmatch(r"([+-]?\d)(MO|TU|WE|TH|FR|SA|SU)", days[0])
                if len(days) == 1
                else None
            )
            if m is None or "BYMONTHDAY" in parts or int(m[1]) not in (1, 2, 3, 4, 5, -1):
                return None
            nth = words("repeat.last") if m[1] == "-1" else words.words("repeat.nth")[int(m[1]) - 1]
            return words(
                f"repeat.monthly_nth{every}", n=n, nth=nth, weekday=names[_DAYS.index(m[2])]
            )
        day = parts.get("BYMONTHDAY", str(start.day))
        return words(f"repeat.monthly{every}", n=n, day=day) if day.isdigit() else None
    if freq == "YEARLY" and not days and "BYMONTHDAY" not in parts and "BYMONTH" not in parts:
        return words(f"repeat.yearly{every}", n=n, date=_date(start.date(), words, "repeat.date"))
    return None


def _date(value: date, words: Phrases, key: str) -> str:
    return words(
        key,
        day=value.day,
        month=value.month,
        month_name=words.words("date.months")[value.month - 1],
        year=value.year,
    )
