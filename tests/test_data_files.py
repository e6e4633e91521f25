"""Events kept in data files (`[sources.NAME]`): tests/sites/data-files/ (our own fixture in
the shapes communities use: a TOML 1.1 file like rust-lang/calendar's, a TOML 1.0 table of
tables it includes, a YAML file keyed by event, a JSON list). Every instant below was worked
out by hand from the file and the zone rules of its date."""

from __future__ import annotations

import shutil
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from livepipe import recurrence
from livepipe.models import Event, Problem
from livepipe.site import Site, load

SITE = Path(__file__).resolve().parent / "sites" / "data-files"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def loaded(site: Path) -> tuple[dict[str, Event], list[Problem]]:
    result = load(Site.locate(site), cache=False)
    return {e.uid.split("@")[0]: e for e in result.events}, list(result.problems)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    shutil.copytree(SITE, tmp_path / "site")
    return tmp_path / "site"


def test_every_event_of_every_file(site: Path) -> None:
    events, _ = loaded(site)
    assert sorted(events) == [
        "compiler/1704380847852~thursday-10",  # one event, two rules: two series
        "compiler/1704380847852~tuesday-16",
        "compiler/1704380999001",
        "compiler/office-hours-2026-02",  # from the included office.toml (table keys)
        "compiler/planning-2026",
        "events/launch-party",  # the page beside the data files
        "meetups/berlin-2026-04",
        "meetups/tokyo-2026-06",
        "talks/lightning-2026-05",
    ]
    tuesday = events["compiler/1704380847852~tuesday-16"]
    # start = 10:00 New York, but the rule says 16:00 (by_hour): the first occurrence is
    # Tuesday 6 January 16:00 EST = 21:00Z, an hour long (the end's 11:00 minus the start's 10:00)
    assert (tuesday.start, tuesday.end) == (utc(2026, 1, 6, 21), utc(2026, 1, 6, 22))
    assert tuesday.rrule == "FREQ=WEEKLY;BYDAY=TU;BYHOUR=16" and tuesday.title == (
        "Compiler Team Triage"
    )
    assert tuesday.source == "data/team.toml#1704380847852~tuesday-16"
    assert tuesday.url == "https://data-files.example/calendar/"  # the source's link
    thursday = events["compiler/1704380847852~thursday-10"]
    starts = [s.astimezone(UTC) for s in recurrence.starts(thursday)]
    # Thursdays 10:00 New York from 8 January until 31 March 00:00Z; 15 January is an
    # exception written in New York time; EST (15:00Z) until 8 March, then EDT (14:00Z)
    assert starts[:3] == [utc(2026, 1, 8, 15), utc(2026, 1, 22, 15), utc(2026, 1, 29, 15)]
    assert starts[-3:] == [utc(2026, 3, 12, 14), utc(2026, 3, 19, 14), utc(2026, 3, 26, 14)]
    assert len(starts) == 11
    steering = events["compiler/1704380999001"]  # first Friday of the month, 3 times, Paris
    assert [s.astimezone(UTC) for s in recurrence.starts(steering)] == [
        utc(2026, 2, 6, 14),
        utc(2026, 3, 6, 14),
        utc(2026, 4, 3, 13),  # CEST from 29 March
    ]
    assert steering.end - steering.start == (utc(2026, 1, 1, 1, 30) - utc(2026, 1, 1))
    office = events["compiler/office-hours-2026-02"]  # TOML date-times with Z
    assert (office.start, office.end) == (utc(2026, 2, 12, 17), utc(2026, 2, 12, 18))
    assert office.location == "Zulip #t-compiler"
    planning = events["compiler/planning-2026"]  # a TOML date: all day; status cancelled
    assert planning.all_day and planning.cancelled
    berlin = events["meetups/berlin-2026-04"]  # 19:00 CEST = 17:00Z, 2 hours, its own url
    assert (berlin.start, berlin.end) == (utc(2026, 4, 16, 17), utc(2026, 4, 16, 19))
    assert berlin.url == "https://meetups.example/berlin-2026-04"
    assert berlin.location == "c-base, Berlin" and berlin.timezone == "Europe/Berlin"
    tokyo = events["meetups/tokyo-2026-06"]  # 19:30 JST = 10:30Z; "Evening" is no duration
    assert (tokyo.start, tokyo.end) == (utc(2026, 6, 4, 10, 30), utc(2026, 6, 4, 11, 30))
    assert tokyo.url == "https://data-files.example/"  # no link: the site's home
    assert events["talks/lightning-2026-05"].start == utc(2026, 5, 5, 16)


def test_the_team_file_is_toml_1_1(site: Path) -> None:
    """Python 3.11's tomllib rejects it (an inline table over several lines); we read it."""
    with pytest.raises(tomllib.TOMLDecodeError):
        tomllib.loads((site / "data" / "team.toml").read_text())


def test_problems_are_file_line_per_event_and_the_others_build(site: Path) -> None:
    events, problems = loaded(site)
    found = sorted((Path(p.path).name, p.line, p.severity, p.code) for p in problems)
    assert found == [
        ("meetups.yaml", 12, "error", "bad-time"),  # start: someday soon
        ("meetups.yaml", 18, "warning", "ignored-field"),  # duration: Evening
        ("talks.json", 9, "error", "no-uid"),  # a list's event without a uid
    ]
    assert "meetups/berlin-2026-04" in events and "meetups/tokyo-2026-06" in events


def test_an_event_inserted_above_keeps_every_other_events_identity(site: Path) -> None:
    """Identity is the table key or the uid, never the position."""
    before, _ = loaded(site)
    team = site / "data" / "team.toml"
    text = team.read_text()
    first = text.index("[[events]]")
    team.write_text(
        text[:first]
        + '[[events]]\nuid = "new-one"\ntitle = "Inserted"\n'
        + 'start = { date = "2026-01-05T09:00:00", timezone = "UTC" }\n\n'
        + text[first:]
    )
    after, problems = loaded(site)
    assert set(after) == set(before) | {"compiler/new-one"}
    for uid, event in before.items():
        assert after[uid].start == event.start and after[uid].title == event.title
    assert not [p for p in problems if Path(p.path).name == "team.toml"]


def test_a_data_file_that_cannot_be_read_keeps_every_send_it_had(site: Path) -> None:
    """A syntax error in the file must not withdraw the reminders of its forty events."""
    from livepipe.ledger import open_ledger
    from livepipe.pipeline import sync
    from livepipe.records import SendState

    (site / "livepipe.toml").write_text(
        (site / "livepipe.toml").read_text() + '\n[ledger]\nurl = "ledger.sqlite"\n'
    )
    now = utc(2026, 1, 1)
    site_obj = Site.locate(site)
    ledger = open_ledger(site_obj.settings, str(site / "ledger.sqlite"))
    try:
        sync(site_obj, ledger, now, out=None)
        planned = {s.key for s in ledger.sends(SendState.PENDING) if s.uid.startswith("compiler/")}
        assert len(planned) > 5
        team = site / "data" / "team.toml"
        team.write_text(team.read_text().replace('uid = "1704380999001"', 'uid = "170438'))
        result = sync(Site.locate(site), ledger, now, out=None)
        pending = {s.key for s in ledger.sends(SendState.PENDING)}
        assert planned <= pending  # nothing withdrawn, the included file's neither
        problems = [p for p in result.load.problems if p.code == "invalid-toml"]
        assert [(Path(p.path).name, p.line) for p in problems] == [
            ("team.toml", 28)
        ]  # the unclosed string
    finally:
        ledger.close()


def test_data_files_and_their_includes_stay_inside_the_site(site: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.toml").write_text('[events.x]\ntitle = "Secret"\nstart = 2026-01-01\n')
    team = site / "data" / "team.toml"
    team.write_text(team.read_text().replace('["office.toml"]', '["../../secret.toml"]'))
    (site / "data" / "link.yaml").symlink_to(tmp_path / "secret.toml")
    toml = site / "livepipe.toml"
    toml.write_text(toml.read_text() + '\n[sources.linked]\nfile = "data/link.yaml"\nstart = "s"\n')
    events, problems = loaded(site)
    assert not any(e.title == "Secret" for e in events.values())
    outside = sorted(Path(p.path).name for p in problems if p.code == "outside-site")
    assert outside == ["link.yaml", "secret.toml"]
    assert "compiler/1704380999001" in events  # the rest of team.toml still builds

    from livepipe.config import load_settings
    from livepipe.errors import ConfigError

    toml.write_text(toml.read_text().replace('"data/link.yaml"', '"../secret.toml"'))
    with pytest.raises(ConfigError, match="inside the site folder"):
        load_settings(toml)


def test_a_yaml_alias_bomb_in_a_data_file_is_an_error_not_a_hang(site: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for name, prev in zip("bcdefghij", "abcdefghi", strict=True):
        bomb += f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]\n"
    (site / "data" / "meetups.yaml").write_text(bomb + "events: {}\n")
    events, problems = loaded(site)
    (problem,) = [p for p in problems if Path(p.path).name == "meetups.yaml"]
    assert problem.code == "invalid-yaml" and "100,000 values" in problem.message
    assert "talks/lightning-2026-05" in events


def test_the_series_reach_the_calendars(site: Path) -> None:
    from livepipe.build import context, render_all

    result = load(Site.locate(site), cache=False)
    arts = {a.path: a.data for a in render_all(context(result, now=utc(2026, 1, 1)))}
    calendar = arts["calendar.ics"].decode()
    assert "UID:compiler/1704380847852~tuesday-16@data-files.example" in calendar
    assert "RRULE:FREQ=WEEKLY;BYHOUR=16;BYDAY=TU" in calendar
    assert (
        "EXDATE;TZID=America/New_York:20260115T100000"
        not in calendar.split("tuesday-16")[1].split("END:VEVENT")[0]
    )
    assert "DTSTART;TZID=America/New_York:20260106T160000" in calendar
    assert "SUMMARY:Berlin Meetup" in calendar
