"""Recurring events: `repeat:` → RRULE/EXDATE in the event's zone, occurrences that keep their
wall-clock time across DST (Europe/Berlin, America/Los_Angeles), one cancelled occurrence;
the expansion checked against recurring-ical-events; reminders per occurrence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
import recurring_ical_events

from livepipe import recurrence
from livepipe.models import Event
from livepipe.site import Site, load

from .render.helpers import artifacts


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


BERLIN = (
    "---\ntitle: Berlin weekly\nstart: 2027-03-16T19:00:00\ntimezone: Europe/Berlin\n"
    "end: 2027-03-16T20:00:00\n"
    "repeat: {rrule: FREQ=WEEKLY;BYDAY=TU, until: 2027-04-13, except: [2027-03-30]}\n---\nx\n"
)
LA = (
    "---\ntitle: LA monthly\nstart: 2026-10-10T09:30:00-07:00\ntimezone: America/Los_Angeles\n"
    "repeat:\n  rrule: FREQ=MONTHLY;BYMONTHDAY=10\n  count: 3\n---\nx\n"
)


@pytest.fixture
def site_events(site: Path, write_page: Callable) -> tuple[dict[str, Event], dict[str, bytes]]:
    write_page("berlin.md", BERLIN)
    write_page("la.md", LA)
    result = load(Site.locate(site), cache=False)
    assert not [p for p in result.problems if p.severity == "error"], result.problems
    arts = {a.path: a.data for a in artifacts(result)}
    return {e.title: e for e in result.events}, arts


def test_occurrences_keep_their_wall_clock_time_across_dst(site_events) -> None:
    events, _ = site_events
    berlin = list(recurrence.starts(events["Berlin weekly"]))
    # Tuesdays 19:00 Berlin time: 16 and 23 March are CET (18:00Z); summer time starts on
    # 28 March 2027, so 6 and 13 April are CEST (17:00Z); 30 March is cancelled.
    assert [s.astimezone(UTC) for s in berlin] == [
        utc(2027, 3, 16, 18),
        utc(2027, 3, 23, 18),
        utc(2027, 4, 6, 17),
        utc(2027, 4, 13, 17),
    ]
    assert all(f"{s:%H:%M}" == "19:00" for s in berlin)
    la = list(recurrence.starts(events["LA monthly"]))
    # 09:30 in Los Angeles: PDT on 10 October (16:30Z), PST after 1 November (17:30Z)
    assert [s.astimezone(UTC) for s in la] == [
        utc(2026, 10, 10, 16, 30),
        utc(2026, 11, 10, 17, 30),
        utc(2026, 12, 10, 17, 30),
    ]


def test_ics_has_rrule_and_exdate_and_a_peer_expands_it_the_same(site_events) -> None:
    events, arts = site_events
    data = arts["calendar.ics"]
    assert b"RRULE:FREQ=WEEKLY;UNTIL=20270413T215959Z;BYDAY=TU\r\n" in data
    assert b"EXDATE;TZID=Europe/Berlin:20270330T190000\r\n" in data
    assert b"RRULE:FREQ=MONTHLY;COUNT=3;BYMONTHDAY=10\r\n" in data
    cal = icalendar.Calendar.from_ical(data)
    # the VTIMEZONE covers every occurrence (Berlin's summer time of 2027 included)
    seen = recurring_ical_events.of(cal).between(date(2026, 1, 1), date(2028, 1, 1))
    theirs = sorted((str(o["SUMMARY"]), o["DTSTART"].dt.astimezone(UTC)) for o in seen)
    ours = sorted(
        (title, s.astimezone(UTC)) for title, e in events.items() for s in recurrence.starts(e)
    )
    assert theirs == ours and len(ours) == 7


def test_the_fast_ics_writer_gives_icalendars_bytes_for_recurring_events(
    site: Path, write_page: Callable
) -> None:
    from .render.test_ics_fast import assert_same

    write_page("berlin.md", BERLIN)
    write_page("la.md", LA)
    write_page(
        "days.md",
        "---\ntitle: Days\nstart: 2027-01-04\n"
        "repeat: {rrule: FREQ=DAILY, count: 3, except: [2027-01-05]}\n---\n",
    )
    assert assert_same(site) >= 4


def test_bad_repeat_values_are_file_line_problems(site: Path, write_page: Callable) -> None:
    write_page(
        "bad.md",
        "---\ntitle: Bad\nstart: 2027-03-16T19:00:00+01:00\nrepeat: {rrule: FREQ=SECONDLY}\n---\n",
    )
    write_page("good.md", BERLIN)
    result = load(Site.locate(site), cache=False)
    assert [e.title for e in result.events] == ["Berlin weekly"]
    (problem,) = [p for p in result.problems if p.severity == "error"]
    assert (Path(problem.path).name, problem.line, problem.code) == ("bad.md", 4, "bad-value")
    assert "FREQ must be one of" in problem.message


def test_reminders_per_occurrence_and_one_cancelled_occurrence_withdraws_only_its_own(
    site: Path, write_page: Callable
) -> None:
    from livepipe.ledger import open_ledger
    from livepipe.models import SlotKind
    from livepipe.pipeline import sync
    from livepipe.records import SendState

    weekly = (
        "---\ntitle: Office hours\nstart: 2027-03-16T19:00:00\ntimezone: Europe/Berlin\n"
        "repeat: {rrule: FREQ=WEEKLY;BYDAY=TU%s}\n---\nx\n"
    )
    write_page("hours.md", weekly % "")
    now = utc(2027, 3, 10, 12)  # the horizon (8 weeks) reaches 5 May: 8 Tuesdays
    site_obj = Site.locate(site)
    ledger = open_ledger(site_obj.settings, str(site / "ledger.sqlite"))
    try:
        sync(site_obj, ledger, now, out=None)
        reminders = [s for s in ledger.sends() if s.kind == SlotKind.REMINDER]
        by_slot: dict[str, list[str]] = {}
        for s in reminders:
            by_slot.setdefault(s.slot, []).append(s.occurrence)
        # each reminder slot once per occurrence, its key naming that occurrence
        expected = [
            "2027-03-16T18:00:00+00:00",
            "2027-03-23T18:00:00+00:00",
            "2027-03-30T17:00:00+00:00",  # summer time from 28 March: 19:00 is 17:00Z
            "2027-04-06T17:00:00+00:00",
            "2027-04-13T17:00:00+00:00",
            "2027-04-20T17:00:00+00:00",
            "2027-04-27T17:00:00+00:00",
            "2027-05-04T17:00:00+00:00",
        ]
        assert by_slot and all(sorted(occ) == expected for occ in by_slot.values()), by_slot
        assert len({s.key for s in reminders}) == len(reminders)
        day_before = {s.occurrence: s.due for s in reminders if s.slot == "reminder-1d"}
        assert day_before["2027-03-30T17:00:00+00:00"] == utc(2027, 3, 29, 17)
        announce = [s for s in ledger.sends() if s.kind == SlotKind.ANNOUNCE]
        assert len(announce) == len({s.channel for s in announce})  # once, not per week

        write_page("hours.md", (weekly % "").replace("}", ", except: [2027-03-30]}"))
        sync(Site.locate(site), ledger, now + timedelta(hours=1), out=None)
        states = {
            (s.slot, s.occurrence): s.state for s in ledger.sends() if s.kind == SlotKind.REMINDER
        }
        withdrawn = {k for k, v in states.items() if v is SendState.WITHDRAWN}
        # the text of an occurrence's reminder speaks of that occurrence, not the first one
        from livepipe.render.messages import render_message
        from livepipe.render.templating import Templates

        send = next(
            s
            for s in ledger.sends()
            if s.slot == "reminder-1d" and s.occurrence == "2027-04-06T17:00:00+00:00"
        )
        (event,) = load(Site.locate(site), cache=False).events
        text = render_message(send, event, site_obj.settings, Templates()).text
        # 6 April 19:00 in Berlin (CEST) is 17:00Z, 01:00 on Wednesday 7 April in Beijing,
        # the zh page's zone; the first occurrence would read 3 月 17 日 02:00
        assert "2027 年 4 月 7 日（周三）01:00" in text and "3 月 17 日" not in text, text
        assert withdrawn == {(slot, "2027-03-30T17:00:00+00:00") for slot in by_slot}
        assert all(v is SendState.PENDING for k, v in states.items() if k not in withdrawn)
    finally:
        ledger.close()


def test_feeds_and_the_subscription_page_show_the_next_occurrences(
    site: Path, write_page: Callable, tmp_path: Path
) -> None:
    import json

    import httpx

    from livepipe.build import context, render_all
    from livepipe.serve import Rebuilder, ServeApp

    from .support.serving import serve_dist

    write_page("berlin.md", BERLIN)
    now = utc(2027, 3, 24, 12)  # after the second Tuesday; the 30th is cancelled
    ctx = context(load(Site.locate(site), cache=False), now=now)
    arts = {a.path: a.data for a in render_all(ctx)}
    (item,) = json.loads(arts["feed.json"])["items"]
    assert item["_event"]["rrule"] == "FREQ=WEEKLY;BYDAY=TU;UNTIL=20270413T215959Z"
    assert item["_event"]["next"] == ["2027-04-06T19:00:00+02:00", "2027-04-13T19:00:00+02:00"]
    # in the event's own zone: Tuesday 6 April 19:00, summer time (UTC+02:00) by then
    next_line = (
        "近期场次：</strong> 2027 年 4 月 6 日（周二）19:00–20:00（Europe/Berlin 时间，UTC+02:00）"
    )
    assert next_line in item["content_html"]
    assert "重复：</strong>每周二 19:00，至 4 月 13 日" in item["content_html"]

    rebuilder = Rebuilder(site, tmp_path / "dist", clock=lambda: now)
    assert rebuilder.check()
    app = ServeApp(tmp_path / "dist", rebuilder, interval=0.2, clock=lambda: now)
    with serve_dist(app, follow=True) as url:
        html = httpx.get(url + "/?lang=zh").text
    card = html[html.index('<article class="card event') : html.index("</article>")]
    # listed at its next occurrence (the 30th is cancelled), then the 13th
    assert "2027 年 4 月 6 日（周二）19:00–20:00（Europe/Berlin 时间，UTC+02:00）" in card
    assert "之后: 2027 年 4 月 13 日（周二）19:00" in card
    assert '<div class="muted repeats">每周二 19:00，至 4 月 13 日</div>' in card
    # the Google link adds the series (from its first occurrence), not one date
    assert "recur=RRULE%3AFREQ%3DWEEKLY%3BBYDAY%3DTU%3BUNTIL%3D20270413T215959Z" in card
    assert "dates=20270316T180000Z" in card


def test_the_weekly_digest_lists_this_weeks_occurrence(site: Path, write_page: Callable) -> None:
    from livepipe.ledger import open_ledger
    from livepipe.models import SlotKind
    from livepipe.pipeline import sync
    from livepipe.send import Sender

    (site / "livepipe.toml").write_text(
        (site / "livepipe.toml").read_text() + '[slots.digest]\nchannels = ["outbox"]\n'
    )
    write_page("berlin.md", BERLIN)
    now = utc(2027, 4, 5, 6)  # Monday 14:00 in Beijing: this week's digest (09:00) is due
    site_obj = Site.locate(site)
    url = str(site / "ledger.sqlite")
    ledger = open_ledger(site_obj.settings, url)
    try:
        sync(site_obj, ledger, now, out=None)
        digests = [s for s in ledger.sends() if s.kind == SlotKind.DIGEST]
    finally:
        ledger.close()
    # the first occurrence was on 16 March; this week has the one on 6 April, next week the
    # one on 13 April (the planner plans this week's and next week's digests)
    assert sorted(d.occurrence for d in digests) == ["2027-W14", "2027-W15"]
    digests.sort(key=lambda d: d.occurrence)
    with Sender.open(site_obj.settings, clock=lambda: now, ledger_url=url) as sender:
        text = sender.message(digests[0], now).text
    assert "4 月 7 日" in text and "3 月 17 日" not in text, text  # 01:00 on the 7th in Beijing
