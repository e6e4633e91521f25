"""VTIMEZONEs are made with a zone that ends after the calendar's range (icalendar otherwise
searches to the year 9999 for zones without DST); the bytes must be what icalendar makes
with the plain zone, for zones of every kind."""

from __future__ import annotations

from datetime import date

import pytest
from icalendar import Timezone

from livepipe.render import ics
from livepipe.timeutil import get_zone

ZONES = [
    "Asia/Shanghai",  # no DST since 1991: the slow case
    "Asia/Kolkata",
    "America/New_York",
    "Europe/Berlin",
    "Africa/Casablanca",  # DST suspended every Ramadan
    "Australia/Lord_Howe",  # 30-minute DST
    "America/Sao_Paulo",  # DST abolished in 2019
    "Pacific/Apia",  # skipped a whole day in 2011, DST ended 2021
    "Europe/Dublin",  # negative DST in tzdata
    "Antarctica/Troll",  # +2 hour DST
]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(("first", "last"), [(2010, 2010), (2018, 2022), (2026, 2027)])
def test_same_bytes_as_icalendar_with_the_plain_zone(zone: str, first: int, last: int) -> None:
    ics._vtimezone.cache_clear()
    ours = ics._vtimezone(zone, first, last)
    plain = Timezone.from_tzinfo(
        get_zone(zone),
        tzid=zone,
        first_date=date(first - 1, 12, 1),
        last_date=date(last + 1, 1, 31),
    )
    plain.pop("COMMENT", None)  # ours leaves it out: RFC 5545 has no COMMENT on VTIMEZONE
    assert ours == ics.serialize(plain)
    assert b"COMMENT" not in ours
    assert ours.startswith(b"BEGIN:VTIMEZONE\r\nTZID:" + zone.encode())
