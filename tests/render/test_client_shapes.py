"""What real client programs need from the files (issue 15), checked on the built bytes; the
programs themselves run in tests/clients/."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import icalendar

from livepipe.site import Site, load

from ..conftest import CONTENT
from .helpers import artifacts, build_memory


def _calendar_lines(data: bytes) -> list[bytes]:
    """The calendar's own lines: before its first component."""
    lines = data.split(b"\r\n")
    return lines[: next(i for i, line in enumerate(lines) if i and line.startswith(b"BEGIN:V"))]


def test_no_calendar_level_uid_or_method() -> None:
    """vdirsyncer takes a file's first UID line as every item's UID (one event survived a
    subscription); METHOD:PUBLISH without ORGANIZER fails libical's iTIP restriction check."""
    _, built = build_memory(CONTENT)
    for path in ("calendar.ics", "calendar-en.ics", "events/community-day-2027.en.ics"):
        head = _calendar_lines(built[path])
        assert head[0] == b"BEGIN:VCALENDAR"
        assert not [line for line in head if line.startswith((b"UID", b"METHOD"))], path
        assert any(line.startswith(b"URL:") for line in head)
        assert any(line.startswith(b"NAME:") for line in head)
        first_uid = next(line for line in built[path].split(b"\r\n") if line.startswith(b"UID"))
        cal = icalendar.Calendar.from_ical(built[path])
        assert first_uid == b"UID:" + str(cal.walk("VEVENT")[0]["UID"]).encode()


def test_all_day_alarm_fires_at_nine_on_the_day(site: Path, write_page: Callable) -> None:
    (site / "livepipe.toml").write_text(
        (site / "livepipe.toml").read_text() + '[calendar]\nalarm = "-10m"\n'
    )
    write_page("day.md", "---\ntitle: Day\nstart: 2027-01-16\n---\nbody\n")
    write_page("talk.md", "---\ntitle: Talk\nstart: 2027-01-16T10:00:00+08:00\n---\nbody\n")
    arts = {a.path: a.data for a in artifacts(load(Site.locate(site)))}
    triggers = {}
    for path, data in arts.items():
        if path.startswith("events/") and path.endswith(".ics"):
            (ev,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
            (alarm,) = ev.walk("VALARM")
            triggers[str(ev["SUMMARY"])] = alarm["TRIGGER"].dt
    # 00:00 + 9 h = 09:00 on the day, not 23:50 the evening before
    assert triggers == {"Day": timedelta(hours=9), "Talk": timedelta(minutes=-10)}


def test_hybrid_with_unknown_venue_says_so(site: Path, write_page: Callable) -> None:
    write_page(
        "live/hybrid.md",
        "---\ntitle: 混合活动\nsection1:\n  time: 2026-12-10 19:00-20:00\n  base: 线下 + 线上\n"
        "---\n## 活动时间和地点\n\n- 地点：线下（地点待定）\n",
    )
    write_page(
        "live/online.md",
        "---\ntitle: 线上活动\nsection1:\n  time: 2026-12-11 19:00-20:00\n  base: 线上\n---\nx\n",
    )
    arts = {a.path: a.data for a in artifacts(load(Site.locate(site)))}
    cal = icalendar.Calendar.from_ical(arts["calendar.ics"])
    where = {str(ev["SUMMARY"]): str(ev.get("LOCATION")) for ev in cal.walk("VEVENT")}
    assert where == {"混合活动": "线下（地点待定） + 线上直播", "线上活动": "线上"}
