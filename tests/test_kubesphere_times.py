"""Time and place shapes of KubeSphere live pages, checked against hand-computed values."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from livepipe.sources.kubesphere import parse_base, parse_time


@pytest.mark.parametrize(
    ("text", "start", "end", "next_day"),
    [
        ("2022-10-13 20:00-21:00", datetime(2022, 10, 13, 20), datetime(2022, 10, 13, 21), False),
        ("2021-7-29 14:00-17:00", datetime(2021, 7, 29, 14), datetime(2021, 7, 29, 17), False),
        ("2024-01-18 20:00", datetime(2024, 1, 18, 20), None, False),
        ("2022-04-16", date(2022, 4, 16), None, False),
        ("2022-04-16 ", date(2022, 4, 16), None, False),
        ("2022-12-31 23:00-01:00", datetime(2022, 12, 31, 23), datetime(2023, 1, 1, 1), True),
        ("2022-10-13 20:00-24:00", datetime(2022, 10, 13, 20), datetime(2022, 10, 14, 0), False),
        (
            "2022-10-13 20:00 - 21:30",
            datetime(2022, 10, 13, 20),
            datetime(2022, 10, 13, 21, 30),
            False,
        ),
        ("2022-10-13 20:00～21:00", datetime(2022, 10, 13, 20), datetime(2022, 10, 13, 21), False),
        ("2022-10-13 9:30-11:00", datetime(2022, 10, 13, 9, 30), datetime(2022, 10, 13, 11), False),
    ],
)
def test_time_shapes(text: str, start: object, end: object, next_day: bool) -> None:
    assert parse_time(text) == (start, end, next_day)


@pytest.mark.parametrize("text", ["next thursday", "2022/10/13 20:00", "20:00-21:00", "2022-10"])
def test_unrecognised_times(text: str) -> None:
    assert parse_time(text) is None


@pytest.mark.parametrize("text", ["2022-02-30 20:00-21:00", "2022-13-01", "2022-10-13 25:00"])
def test_impossible_times_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


@pytest.mark.parametrize(
    ("text", "location", "online", "in_person"),
    [
        ("线上", None, True, False),
        ("线下 + 线上", None, True, True),
        ("成都 + 线上", "成都", True, True),
        ("上海+ 线上", "上海", True, True),
        (" 杭州 + 线上同步直播", "杭州", True, True),
        (
            "北京市东城区建国门内大街 9 号北京国际饭店 + 线上同步直播",
            "北京市东城区建国门内大街 9 号北京国际饭店",
            True,
            True,
        ),
        ("杭州", "杭州", False, True),
        ("", None, False, False),
    ],
)
def test_base_shapes(text: str, location: str | None, online: bool, in_person: bool) -> None:
    assert parse_base(text) == (location, online, in_person)
