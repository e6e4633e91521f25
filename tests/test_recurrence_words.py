"""Recurrence said everywhere: the rule in words in each language (every phrase below was
written by hand from the rule and the calendar), the next dates in messages, newsletters,
WeChat articles, feeds and the subscription page, the Google link's ``recur=``, and
invitations that carry the whole series."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import icalendar
import pytest

from livepipe.i18n import phrases
from livepipe.models import Event, SlotKind
from livepipe.render import links
from livepipe.render.messages import render_message
from livepipe.render.templating import Templates
from livepipe.render.timefmt import repeats
from livepipe.site import Site, load
from livepipe.timeutil import get_zone

from .support import make_send
from .test_recurrence import BERLIN, LA


def event(rrule: str | None, start: str, zone: str = "Europe/Berlin", **fields) -> Event:
    begin = datetime.fromisoformat(start).replace(tzinfo=get_zone(zone))
    return Event(
        uid="u@x", source="u.md", slug="u", lang="en", schema="native", url="https://x/u/",
        title="T", description="", start=begin, end=begin + timedelta(hours=1), timezone=zone,
        rrule=rrule, **fields,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("rrule", "start", "en", "zh", "ja"),
    [
        (
            "FREQ=WEEKLY;BYDAY=TU;UNTIL=20270413T215959Z",
            "2027-03-16T19:00",
            "every Tuesday at 19:00 until 13 April",
            "每周二 19:00，至 4 月 13 日",
            "毎週火曜日 19:00、4月13日まで",
        ),
        (
            "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            "2027-03-15T08:30",
            "every Monday, Wednesday and Friday at 08:30",
            "每周一、周三、周五 08:30",
            "毎週月曜日・水曜日・金曜日 08:30",
        ),
        (
            "FREQ=WEEKLY;INTERVAL=2",  # no BYDAY: the start's weekday (16 March 2027: Tue)
            "2027-03-16T19:00",
            "every 2 weeks on Tuesday at 19:00",
            "每 2 周的周二 19:00",
            "2週間ごとの火曜日 19:00",
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=10;COUNT=3",
            "2026-10-10T09:30",
            "on day 10 of every month at 09:30, 3 times",
            "每月 10 日 09:30，共 3 次",
            "毎月10日 09:30、全3回",
        ),
        (
            "FREQ=MONTHLY;BYDAY=-1FR",
            "2027-01-29T18:00",
            "on the last Friday of every month at 18:00",
            "每月最后一个周五 18:00",
            "毎月最終金曜日 18:00",
        ),
        (
            "FREQ=MONTHLY;BYDAY=2TH;UNTIL=20280101T000000Z",  # the until in the next year
            "2027-01-14T17:00",
            "on the second Thursday of every month at 17:00 until 1 January 2028",
            "每月第二个周四 17:00，至 2028 年 1 月 1 日",
            "毎月第2木曜日 17:00、2028年1月1日まで",
        ),
        (
            "FREQ=DAILY;COUNT=5",
            "2027-05-01T07:00",
            "every day at 07:00, 5 times",
            "每天 07:00，共 5 次",
            "毎日 07:00、全5回",
        ),
        (
            "FREQ=YEARLY",
            "2027-06-05T10:00",
            "every year on 5 June at 10:00",
            "每年 6 月 5 日 10:00",
            "毎年6月5日 10:00",
        ),
        (
            "FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2",  # not said in words: the dates are listed
            "2027-01-12T19:00",
            "on the dates the calendar lists",
            "日期见日历",
            "日程はカレンダーをご覧ください",
        ),
    ],
)
def test_the_rule_in_words(rrule: str, start: str, en: str, zh: str, ja: str) -> None:
    e = event(rrule, start)
    assert [repeats(e, phrases(lang)) for lang in ("en", "zh", "ja")] == [en, zh, ja]


def test_the_until_is_the_last_day_in_the_events_zone() -> None:
    """UNTIL 2027-04-14T03:59:59Z is still 13 April in Los Angeles (20:59 PDT)."""
    e = event("FREQ=WEEKLY;UNTIL=20270414T035959Z", "2027-03-16T19:00", "America/Los_Angeles")
    assert repeats(e, phrases("en")) == "every Tuesday at 19:00 until 13 April"


def test_an_all_day_series_has_no_time_and_a_one_off_has_no_words() -> None:
    day = dataclasses.replace(event("FREQ=YEARLY", "2027-06-05T00:00"), all_day=True)
    assert repeats(day, phrases("en")) == "every year on 5 June"
    assert repeats(event(None, "2027-06-05T10:00"), phrases("en")) == ""


def test_the_google_link_adds_the_whole_series() -> None:
    """Before: no recur=, so a click added one occurrence of a weekly event."""
    e = event("FREQ=WEEKLY;BYDAY=TU;UNTIL=20270413T215959Z", "2027-03-16T19:00")
    query = parse_qs(urlsplit(links.google(e)).query)
    assert query["recur"] == ["RRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20270413T215959Z"]
    assert query["dates"] == ["20270316T180000Z/20270316T190000Z"]
    assert query["ctz"] == ["Europe/Berlin"]  # Google expands on Berlin's wall clock
    assert "recur" not in parse_qs(urlsplit(links.google(event(None, "2027-03-16T19:00"))).query)


@pytest.fixture
def series(site: Path, write_page: Callable) -> tuple[Site, Event, Event]:
    write_page("berlin.md", BERLIN)
    write_page("la.md", LA)
    site_obj = Site.locate(site)
    result = load(site_obj, cache=False)
    events = {e.title: e for e in result.events}
    return site_obj, events["Berlin weekly"], events["LA monthly"]


def _message(site_obj: Site, e: Event, kind: SlotKind, occurrence: datetime, now: datetime):
    send = make_send(
        uid=e.uid, slot=str(kind), kind=kind, occurrence=occurrence.astimezone(UTC).isoformat(),
        due=now, valid_until=now + timedelta(days=1),
    )  # fmt: skip
    templates = Templates(site_obj.settings.root / "templates")
    return render_message(send, e, site_obj.settings, templates, now=now)


def test_messages_newsletters_and_articles_say_the_rule_and_the_next_dates(series) -> None:
    site_obj, berlin, _ = series
    # the reminder a day before the second Tuesday (23 March; the 30th is cancelled)
    second = datetime(2027, 3, 23, 18, tzinfo=UTC)  # 19:00 CET
    m = _message(site_obj, berlin, SlotKind.ANNOUNCE, second, second - timedelta(days=3))
    assert "🔁 重复：每周二 19:00，至 4 月 13 日" in m.text, m.text  # the group text
    assert m.html is not None and m.article is not None
    for body in (m.html, m.article):
        assert "每周二 19:00，至 4 月 13 日" in body
        # the dates after this occurrence: 6 April (summer time by then) and 13 April
        assert "2027 年 4 月 6 日（周二）19:00–20:00（Europe/Berlin 时间，UTC+02:00）" in body
        assert "2027 年 4 月 13 日（周二）19:00–20:00" in body
        assert "3 月 30 日" not in body and "3 月 16 日" not in body  # cancelled; past


def test_an_invitation_for_an_occurrence_carries_the_series(series) -> None:
    """The announcement is about the next occurrence (its text, its time), but the
    invitation puts the whole series in the reader's calendar: DTSTART the first
    occurrence, RRULE and EXDATE as in the subscription calendars."""
    from livepipe.render.ics import invitation

    site_obj, berlin, la = series
    second = datetime(2026, 11, 10, 17, 30, tzinfo=UTC)  # LA's second occurrence, 09:30 PST
    m = _message(site_obj, la, SlotKind.ANNOUNCE, second, second - timedelta(days=2))
    assert m.event is not None and m.event.start == second  # the text is about this one
    assert m.series is la
    data = invitation(
        m.series or m.event, method="REQUEST", sequence=0, organizer=("T", "t@x.test"),
        attendee="a@x.test", now=m.due, description=m.text, site_host_name="live.test",
    )  # fmt: skip
    (v,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert v["DTSTART"].dt == datetime(2026, 10, 10, 16, 30, tzinfo=UTC)  # 09:30 PDT
    assert dict(v["RRULE"]) == {"FREQ": ["MONTHLY"], "BYMONTHDAY": [10], "COUNT": [3]}
    first = datetime(2027, 3, 16, 18, tzinfo=UTC)
    m = _message(site_obj, berlin, SlotKind.ANNOUNCE, first, first - timedelta(days=3))
    data = invitation(
        m.series or m.event, method="REQUEST", sequence=0, organizer=("T", "t@x.test"),
        attendee="a@x.test", now=m.due, description=m.text, site_host_name="live.test",
    )  # fmt: skip
    (v,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert b"20270330" in v["EXDATE"].to_ical()
