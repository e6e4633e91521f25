"""VTIMEZONEs: a zone that kept one rule through the calendar's years is written as one
STANDARD and one DAYLIGHT with a yearly RRULE (as Outlook, Google and Apple write them), read
back here the way desktop Outlook reads any VTIMEZONE — one yearly rule per kind, nothing
else — and every local time of those years must get zoneinfo's offset. Zones that changed
their rules in those years keep the explicit transitions icalendar writes (same bytes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

import pytest
from icalendar import Calendar, Timezone

from livepipe.render import ics
from livepipe.timeutil import get_zone

ZONES = [
    "Asia/Shanghai",  # no DST since 1991
    "Asia/Kolkata",
    "America/New_York",
    "Europe/Berlin",
    "Africa/Casablanca",  # DST suspended every Ramadan: no yearly rule
    "Australia/Lord_Howe",  # 30-minute DST
    "Australia/Sydney",  # southern hemisphere: summer across the new year
    "America/Sao_Paulo",  # DST abolished in 2019
    "Pacific/Apia",  # skipped a whole day in 2011, DST ended 2021
    "Europe/Dublin",  # negative DST in tzdata
    "Antarctica/Troll",  # +2 hour DST
]
RANGES = [(2010, 2010), (2018, 2022), (2026, 2027)]


def outlook_reader(vtimezone: bytes) -> Callable[[datetime], timedelta]:
    """The offset at a local time as desktop Outlook computes it: from each kind's yearly
    rule (its RRULE month and BYDAY, its DTSTART time of day) and nothing else."""
    (tz,) = Calendar.from_ical(b"BEGIN:VCALENDAR\r\n" + vtimezone + b"END:VCALENDAR\r\n").walk(
        "VTIMEZONE"
    )
    kinds = []
    for part in tz.subcomponents:
        rule = part.get("RRULE")
        to = part["TZOFFSETTO"].td
        if rule is None:  # no DST: one offset
            return lambda _local: to
        kinds.append((rule["BYMONTH"][0], rule["BYDAY"][0], part["DTSTART"].dt.time(), to))

    def offset(local: datetime) -> timedelta:
        onsets = sorted((_onset(local.year, m, d, at), to) for m, d, at, to in kinds)
        now = onsets[-1][1]  # before the year's first onset: the year before's last rule
        for onset, to in onsets:
            if local >= onset:
                now = to
        return now

    return offset


def _onset(year: int, month: int, byday: str, at: time) -> datetime:
    days = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
    weekday, nth = days.index(byday[-2:]), int(byday[:-2])
    if nth > 0:
        first = date(year, month, 1)
        day = first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    else:
        last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
        day = last - timedelta(days=(last.weekday() - weekday) % 7)
    return datetime.combine(day, at)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(("first", "last"), RANGES)
def test_one_rule_where_the_zone_kept_one_and_outlook_reads_it_right(
    zone: str, first: int, last: int
) -> None:
    ics._vtimezone.cache_clear()
    ours = ics._vtimezone(zone, first, last)
    assert ours.startswith(b"BEGIN:VTIMEZONE\r\nTZID:" + zone.encode())
    assert b"COMMENT" not in ours
    if ics._ruled_vtimezone(zone, first, last) is None:
        plain = Timezone.from_tzinfo(
            get_zone(zone), tzid=zone, first_date=date(first - 1, 12, 1),
            last_date=date(last + 1, 1, 31),
        )  # fmt: skip
        plain.pop("COMMENT", None)  # RFC 5545 has no COMMENT on VTIMEZONE
        assert ours == ics.serialize(plain)
        return
    tz = get_zone(zone)
    read = outlook_reader(ours)
    hours = (0, 1, 2, 3, 4, 6, 9, 12, 18, 23)
    checked = 0
    day = date(first, 1, 1)
    while day <= date(last, 12, 31):
        for hour in hours:
            local = datetime.combine(day, time(hour, 30))
            aware = local.replace(tzinfo=tz)
            if aware.astimezone(tz).replace(tzinfo=None) != local:
                continue  # in a gap: no such time
            if local.replace(tzinfo=tz, fold=1).utcoffset() != aware.utcoffset():
                continue  # in a fold: two such times
            assert read(local) == aware.utcoffset(), (zone, local)
            checked += 1
        day += timedelta(days=1)
    assert checked > 3000 * (last - first + 1)


@pytest.mark.parametrize(
    ("zone", "first", "last", "ruled"),
    [
        ("Europe/Berlin", 2026, 2027, True),
        ("America/New_York", 2018, 2022, True),
        ("Australia/Sydney", 2026, 2027, True),
        ("Asia/Shanghai", 2026, 2026, True),
        ("Africa/Casablanca", 2026, 2026, False),  # Ramadan changes: no yearly rule
        ("America/Sao_Paulo", 2018, 2022, False),  # the rule ended in 2019
        ("Pacific/Apia", 2018, 2022, False),
    ],
)
def test_which_zones_get_a_rule(zone: str, first: int, last: int, ruled: bool) -> None:
    assert (ics._ruled_vtimezone(zone, first, last) is not None) is ruled


def test_berlin_as_outlook_and_google_write_it() -> None:
    ics._vtimezone.cache_clear()
    text = ics._vtimezone("Europe/Berlin", 2026, 2027).decode()
    assert text == (
        "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
        "BEGIN:STANDARD\r\nDTSTART:20251026T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
        "TZNAME:CET\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
        "BEGIN:DAYLIGHT\r\nDTSTART:20250330T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
        "TZNAME:CEST\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\n"
        "END:VTIMEZONE\r\n"
    )
