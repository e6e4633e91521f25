"""How times are shown to people: in the event's zone, with the weekday and the zone named."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..models import Event
from ..timeutil import get_zone

_ZH_WEEKDAYS = "一二三四五六日"
# English names without strftime: the same words whatever the process locale, and no libc call.
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_ZH_ZONES = {
    "Asia/Shanghai": "北京时间",
    "Asia/Chongqing": "北京时间",
    "Asia/Hong_Kong": "香港时间",
    "Asia/Taipei": "台北时间",
    "Asia/Tokyo": "东京时间",
    "Asia/Singapore": "新加坡时间",
    "UTC": "UTC",
}
_EN_ZONES = {"Asia/Shanghai": "Beijing time", "UTC": "UTC"}


def offset(dt: datetime) -> str:
    off = dt.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def zone_label(dt: datetime, zone: str, lang: str) -> str:
    if lang == "zh":
        name = _ZH_ZONES.get(zone)
        return name if name else f"{zone} 时间，{offset(dt)}"
    name = _EN_ZONES.get(zone, zone)
    return name if zone == "UTC" else f"{name}, {offset(dt)}"


def _day(dt: datetime, lang: str) -> str:
    if lang == "zh":
        return f"{dt.year} 年 {dt.month} 月 {dt.day} 日（周{_ZH_WEEKDAYS[dt.weekday()]}）"
    return f"{_EN_WEEKDAYS[dt.weekday()]}, {dt.day} {_EN_MONTHS[dt.month - 1]} {dt.year}"


def when(event: Event, lang: str | None = None, zone: str | None = None) -> str:
    """``2022 年 10 月 13 日（周四）20:00–21:00（北京时间）`` or
    ``Thursday, 3 December 2026, 19:00–21:30 (Europe/Berlin, UTC+01:00)``.

    ``zone`` shows the event in another zone (e.g. the site's) instead of its own.
    """
    lang = lang or event.lang
    if event.all_day:
        last = event.end - timedelta(days=1)
        all_day = "全天" if lang == "zh" else "all day"
        if last.date() == event.start.date():
            return f"{_day(event.start, lang)}{'' if lang == 'zh' else ', '}{all_day}"
        return f"{_day(event.start, lang)} – {_day(last, lang)}"
    tz: ZoneInfo = get_zone(zone or event.timezone)
    start, end = event.start.astimezone(tz), event.end.astimezone(tz)
    label = zone_label(start, zone or event.timezone, lang)
    if start.date() == end.date():
        sep = "" if lang == "zh" else ", "
        span = f"{_day(start, lang)}{sep}{start:%H:%M}–{end:%H:%M}"
    else:
        sep = "" if lang == "zh" else " "
        span = f"{_day(start, lang)}{sep}{start:%H:%M} – {_day(end, lang)}{sep}{end:%H:%M}"
    return f"{span}（{label}）" if lang == "zh" else f"{span} ({label})"
