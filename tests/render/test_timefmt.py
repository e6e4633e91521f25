"""Times shown to people, checked against a calendar by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from livepipe.models import Event
from livepipe.render.timefmt import when


def event(start: datetime, hours: float = 1, *, zone: str, lang: str, all_day: bool = False):
    return Event(
        uid="u",
        source="s.md",
        slug="s",
        lang=lang,
        schema="native",
        url="https://x/s/",
        title="T",
        description="",
        start=start,
        end=start + timedelta(hours=hours),
        timezone=zone,
        all_day=all_day,
    )


SH = ZoneInfo("Asia/Shanghai")
BER = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("ev", "expected"),
    [
        # 2022-10-13 was a Thursday (the issue's own example).
        (
            event(datetime(2022, 10, 13, 20, tzinfo=SH), zone="Asia/Shanghai", lang="zh"),
            "2022 年 10 月 13 日（周四）20:00–21:00（北京时间）",
        ),
        (
            event(datetime(2026, 12, 3, 19, tzinfo=BER), 2.5, zone="Europe/Berlin", lang="en"),
            "Thursday, 3 December 2026, 19:00–21:30 (Europe/Berlin, UTC+01:00)",
        ),
        # Summer time in Berlin is UTC+2 (2026-07-04 was a Saturday).
        (
            event(datetime(2026, 7, 4, 10, tzinfo=BER), zone="Europe/Berlin", lang="zh"),
            "2026 年 7 月 4 日（周六）10:00–11:00（Europe/Berlin 时间，UTC+02:00）",
        ),
        (
            event(datetime(2022, 12, 31, 23, tzinfo=SH), 2, zone="Asia/Shanghai", lang="zh"),
            "2022 年 12 月 31 日（周六）23:00 – 2023 年 1 月 1 日（周日）01:00（北京时间）",
        ),
        (
            event(
                datetime(2027, 1, 16, tzinfo=SH), 24, zone="Asia/Shanghai", lang="en", all_day=True
            ),
            "Saturday, 16 January 2027, all day",
        ),
        (
            event(
                datetime(2023, 3, 31, tzinfo=SH), 24, zone="Asia/Shanghai", lang="zh", all_day=True
            ),
            "2023 年 3 月 31 日（周五）全天",
        ),
    ],
)
def test_when(ev: Event, expected: str) -> None:
    assert when(ev) == expected


def test_when_in_site_zone() -> None:
    ev = event(datetime(2026, 12, 3, 19, tzinfo=BER), 2.5, zone="Europe/Berlin", lang="zh")
    # 19:00 CET = 18:00 UTC = 02:00 next day in Beijing.
    assert when(ev, zone="Asia/Shanghai") == ("2026 年 12 月 4 日（周五）02:00–04:30（北京时间）")


def test_english_day_names_match_the_c_locale_for_every_day_of_two_years() -> None:
    import locale
    from datetime import UTC, datetime, timedelta

    from livepipe.i18n import phrases
    from livepipe.render.timefmt import day as day_of

    assert locale.setlocale(locale.LC_TIME) == "C"  # strftime's names are English only here
    day = datetime(2026, 1, 1, 12, tzinfo=UTC)
    for _ in range(730):
        assert day_of(day, phrases("en")) == f"{day:%A}, {day.day} {day:%B %Y}"
        day += timedelta(days=1)
