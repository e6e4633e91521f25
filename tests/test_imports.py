"""Imported calendars (`[imports.NAME]`): feeds in the shapes Google Calendar, Meetup and Luma
publish (tests/sites/feeds/, written by hand from their documented output) served by a
loopback server; fetched through the outbound layer on sync, conditionally; their events in
the calendars with their own UIDs; reminders only where the import asks; an event gone from
the feed withdrawn; a feed that fails kept. Every instant was worked out by hand."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livepipe import recurrence
from livepipe.imports import refresh_imports
from livepipe.ledger import Ledger, open_ledger
from livepipe.models import Event
from livepipe.pipeline import sync
from livepipe.records import SendState
from livepipe.site import Site, load

from .support.receiver import serve_app

FEEDS = Path(__file__).resolve().parent / "sites" / "feeds"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@dataclass
class FeedServer:
    """Serves feeds by name, with an ETag; records each request's conditional headers."""

    bodies: dict[str, bytes] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    seen: list[tuple[str, str | None]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def feed(request: Request) -> Response:
            name = request.path_params["name"]
            self.seen.append((name, request.headers.get("if-none-match")))
            if name in self.status:
                return Response("<html>oops</html>", self.status[name], media_type="text/html")
            body = self.bodies[name]
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers={"ETag": etag})
            return Response(body, media_type="text/calendar", headers={"ETag": etag})

        return Starlette(routes=[Route("/{name}.ics", feed)])


@pytest.fixture
def feeds() -> Iterator[tuple[FeedServer, str]]:
    server = FeedServer({p.stem: p.read_bytes() for p in FEEDS.glob("*.ics")})
    with serve_app(server.app()) as url:
        yield server, url


def make_site(tmp_path: Path, url: str, *, allow: bool = True) -> Path:
    (tmp_path / "content").mkdir()
    (tmp_path / "livepipe.toml").write_text(
        '[site]\nname = "Imports"\nbase_url = "https://imports.example"\n'
        'timezone = "America/Los_Angeles"\ndefault_language = "en"\nlanguages = ["en"]\n'
        + ('[network]\nallow = ["127.0.0.0/8"]\n' if allow else "")
        + f'[imports.google]\nurl = "{url}/google.ics"\nslots = ["reminder-1d"]\n'
        f'refresh = "0s"\n[imports.meetup]\nurl = "{url}/meetup.ics"\n'
        f'[imports.luma]\nurl = "{url}/luma.ics"\nlink = "https://imports.example/luma/"\n'
    )
    return tmp_path


@contextmanager
def synced(site: Path) -> Iterator[tuple[Site, Ledger, datetime]]:
    """The site synced once (imports fetched, sends planned) into a ledger of its own."""
    site_obj = Site.locate(site)
    now = utc(2027, 2, 1)
    ledger = open_ledger(site_obj.settings, str(site / "ledger.sqlite"))
    try:
        sync(site_obj, ledger, now, out=None)
        yield site_obj, ledger, now
    finally:
        ledger.close()


def events_of(site: Path) -> dict[str, Event]:
    return {e.uid: e for e in load(Site.locate(site), cache=False).events}


def test_feeds_become_events_with_their_own_uids(feeds, tmp_path: Path) -> None:
    _server, url = feeds
    site = make_site(tmp_path, url)
    done = refresh_imports(Site.locate(site).settings, utc(2027, 1, 1))
    assert [(f.name, f.outcome) for f in done] == [
        ("google", "updated"),
        ("meetup", "updated"),
        ("luma", "updated"),
    ]
    events = events_of(site)
    weekly = events["3k9v0abcdefghijkl@google.com"]
    # Tuesdays 18:00 Pacific from 2 March 2027 until 30 March 23:59:59 PDT; the 16th is an
    # EXDATE and the 23rd moved (RECURRENCE-ID); PST until 14 March, then PDT
    assert [s.astimezone(UTC) for s in recurrence.starts(weekly)] == [
        utc(2027, 3, 3, 2),
        utc(2027, 3, 10, 2),
        utc(2027, 3, 31, 1),
    ]
    assert weekly.timezone == "America/Los_Angeles"
    assert weekly.location == "Pioneer Square, Portland, OR"
    assert weekly.end - weekly.start == utc(2027, 1, 1, 1, 30) - utc(2027, 1, 1)
    moved = events["3k9v0abcdefghijkl@google.com#20270324T010000Z"]
    assert (moved.start, moved.end) == (utc(2027, 3, 26, 1), utc(2027, 3, 26, 2, 30))
    assert moved.title == "Cloud Native Office Hours (moved to Thursday)"
    hackathon = events["5m2z9hackathonxyz@google.com"]  # DTEND 12 April: the 10th and 11th
    assert hackathon.all_day and hackathon.start_date.isoformat() == "2027-04-10"
    assert hackathon.end.date().isoformat() == "2027-04-12"
    assert events["7q1cancelledxyz@google.com"].cancelled
    meetup = events["event_300000001@meetup.com"]  # 18:30 EST on 11 March 2027 = 23:30Z
    assert (meetup.start, meetup.end) == (utc(2027, 3, 11, 23, 30), utc(2027, 3, 12, 1, 30))
    assert meetup.url == "https://www.meetup.com/example-k8s-nyc/events/300000001/"
    assert meetup.timezone == "America/New_York"
    luma = events["evt-AbCdEf123456@events.lu.ma"]
    assert (luma.start, luma.end) == (utc(2027, 4, 20, 16), utc(2027, 4, 20, 17))
    assert luma.url == "https://lu.ma/ama-2027"
    outlook = events["evt-WinTz000001@events.lu.ma"]  # "Pacific Standard Time", in May: PDT
    assert outlook.start == utc(2027, 5, 5, 17) and outlook.timezone == "America/Los_Angeles"
    assert events["evt-AbCdEf123456@events.lu.ma"].source == ".livepipe/imports/luma.ics#" + (
        "evt-AbCdEf123456@events.lu.ma"
    )


def test_sync_fetches_conditionally_sends_only_what_the_import_asks_and_withdraws_the_gone(
    feeds, tmp_path: Path
) -> None:
    server, url = feeds
    site = make_site(tmp_path, url)
    with synced(site) as (site_obj, ledger, now):
        sends = ledger.sends(SendState.PENDING)
        by_uid: dict[str, set[str]] = {}
        for s in sends:
            by_uid.setdefault(s.uid, set()).add(s.slot)
        # google asked for reminder-1d only; meetup and luma for nothing
        assert by_uid["5m2z9hackathonxyz@google.com"] == {"reminder-1d"}
        assert all(slots == {"reminder-1d"} for slots in by_uid.values()), by_uid
        assert not any("meetup" in uid or "lu.ma" in uid for uid in by_uid)
        hackathon = [s for s in sends if s.uid == "5m2z9hackathonxyz@google.com"]
        # the all-day hackathon on 10 April: the day before at 09:00 in the site's zone
        # (all_day_reminder_at), PDT: 16:00Z
        assert [s.due for s in hackathon] == [utc(2027, 4, 9, 16)]

        # the next sync asks again: the server answers 304 to the ETag it gave
        server.seen.clear()
        sync(site_obj, ledger, now, out=None)
        assert ("google", None) not in server.seen and len(server.seen) == 1
        # meetup and luma are not due for 15 minutes (their refresh), google's is 0s

        # the hackathon is gone from the feed: withdrawn like a deleted page
        body = server.bodies["google"].decode()
        start = body.index("BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20270410")
        end = body.index("END:VEVENT\r\n", start) + len("END:VEVENT\r\n")
        server.bodies["google"] = (body[:start] + body[end:]).encode()
        sync(site_obj, ledger, now, out=None)
        states = {s.state for s in ledger.sends() if s.uid == "5m2z9hackathonxyz@google.com"}
        assert states == {SendState.WITHDRAWN}
        assert "5m2z9hackathonxyz@google.com" not in events_of(site)

        # the feed fails (HTTP 500, then 503, each with an HTML page): the last copy is kept
        pending = {s.key for s in ledger.sends(SendState.PENDING)}
        for status in (500, 503):
            server.status["google"] = status
            sync(site_obj, ledger, now, out=None)
            assert {s.key for s in ledger.sends(SendState.PENDING)} == pending
        assert "3k9v0abcdefghijkl@google.com" in events_of(site)


def test_an_answer_that_is_no_calendar_keeps_the_last_copy(feeds, tmp_path: Path) -> None:
    server, url = feeds
    site = make_site(tmp_path, url)
    settings = Site.locate(site).settings
    refresh_imports(settings, utc(2027, 1, 1))
    server.bodies["google"] = b"<html><body>Sign in to view this calendar</body></html>"
    done = refresh_imports(settings, utc(2027, 1, 2), force=True)
    google = next(f for f in done if f.name == "google")
    assert google.outcome == "kept" and "not an iCalendar file" in google.detail
    assert "3k9v0abcdefghijkl@google.com" in events_of(site)


def test_a_feed_on_an_internal_address_is_not_fetched(feeds, tmp_path: Path) -> None:
    """Imports go through the public-only policy: loopback needs [network] allow."""
    server, url = feeds
    site = make_site(tmp_path, url, allow=False)
    done = refresh_imports(Site.locate(site).settings, utc(2027, 1, 1))
    assert {f.outcome for f in done} == {"no copy"}
    assert all("internal" in f.detail or "loopback" in f.detail for f in done), done
    assert server.seen == []
    result = load(Site.locate(site), cache=False)
    assert not result.events
    assert {p.code for p in result.problems} == {"import-missing"}


def test_a_feed_that_never_came_keeps_the_events_it_had(feeds, tmp_path: Path) -> None:
    """The copy is gone (a fresh checkout on another machine): nothing is withdrawn until a
    fetch succeeds."""
    server, url = feeds
    site = make_site(tmp_path, url)
    with synced(site) as (site_obj, ledger, now):
        pending = {s.key for s in ledger.sends(SendState.PENDING)}
        assert pending
        for copy in (tmp_path / ".livepipe" / "imports").glob("*"):
            copy.unlink()
        server.status["google"] = 502
        sync(site_obj, ledger, now, out=None)
        assert {s.key for s in ledger.sends(SendState.PENDING)} == pending


def test_imported_events_reach_the_calendar_with_their_rules(feeds, tmp_path: Path) -> None:
    from livepipe.build import context, render_all

    _server, url = feeds
    site = make_site(tmp_path, url)
    refresh_imports(Site.locate(site).settings, utc(2027, 1, 1))
    result = load(Site.locate(site), cache=False)
    arts = {a.path: a.data for a in render_all(context(result, now=utc(2027, 1, 1)))}
    calendar = arts["calendar.ics"].decode()
    assert "UID:3k9v0abcdefghijkl@google.com\r\n" in calendar
    weekly = calendar.split("UID:3k9v0abcdefghijkl@google.com\r\n")[1].split("END:VEVENT")[0]
    assert "RRULE:FREQ=WEEKLY;UNTIL=20270331T065959Z;BYDAY=TU;WKST=SU" in weekly
    assert "EXDATE;TZID=America/Los_Angeles:20270316T180000,20270323T180000" in weekly
    assert "UID:event_300000001@meetup.com" in calendar


def test_hostile_feeds_are_bounded_and_one_bad_event_does_not_drop_the_others(
    feeds, tmp_path: Path
) -> None:
    server, url = feeds
    site = make_site(tmp_path, url)
    toml = site / "livepipe.toml"
    toml.write_text(toml.read_text() + "max_bytes = 100000\n")  # luma's cap
    settings = Site.locate(site).settings
    refresh_imports(settings, utc(2027, 1, 1))
    # luma grows past its cap: not read to the end, the last copy kept
    server.bodies["luma"] = server.bodies["luma"].replace(
        b"END:VCALENDAR", b"X-PAD:" + b"x" * 200_000 + b"\r\nEND:VCALENDAR"
    )
    # meetup adds a recurrence bomb (every second of every day) beside its good event
    bomb = (
        "BEGIN:VEVENT\r\nUID:bomb@meetup.com\r\nDTSTART:20270301T000000Z\r\n"
        "DTEND:20270301T000001Z\r\nSUMMARY:Bomb\r\n"
        "RRULE:FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,"
        "23;BYMINUTE=0,1,2,3,4,5;BYSECOND=0,1,2,3\r\nEND:VEVENT\r\n"
    )
    server.bodies["meetup"] = server.bodies["meetup"].replace(
        b"END:VCALENDAR", bomb.encode() + b"END:VCALENDAR"
    )
    done = {
        f.name: f for f in refresh_imports(Site.locate(site).settings, utc(2027, 1, 2), force=True)
    }
    assert done["luma"].outcome == "kept" and "longer than 100,000 bytes" in done["luma"].detail
    assert done["meetup"].outcome == "updated"
    result = load(Site.locate(site), cache=False)
    uids = {e.uid for e in result.events}
    assert "evt-AbCdEf123456@events.lu.ma" in uids  # from the copy kept
    assert "event_300000001@meetup.com" in uids and "bomb@meetup.com" not in uids
    (bad,) = [p for p in result.problems if p.severity == "error"]
    assert bad.code == "bad-repeat" and bad.path.endswith("meetup.ics#bomb@meetup.com")


def test_livepipe_sync_fetches_the_imports_and_says_so(feeds, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from livepipe.cli import app

    server, url = feeds
    site = make_site(tmp_path, url)
    runner = CliRunner()
    args = ["sync", str(site), "--now", "2027-02-01T00:00:00Z", "--out", str(tmp_path / "d")]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "import google: updated" in out.output and "import luma: updated" in out.output
    assert "BEGIN:VEVENT" in (tmp_path / "d" / "calendar.ics").read_text()
    assert "event_300000001@meetup.com" in (tmp_path / "d" / "calendar.ics").read_text()
    again = runner.invoke(app, args)
    assert "import google: not modified" in again.output  # google's refresh is 0s
    assert "import luma" not in again.output  # not due for 15 minutes
    assert len(server.seen) == 4
