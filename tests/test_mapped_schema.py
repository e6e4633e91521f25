"""Field-mapped schemas (`[schemas.NAME]`): a Jekyll-style site and a Hugo page-bundle site
of our own (tests/sites/), each instant checked by hand; the zone rule and its warnings;
mapped fields missing or of the wrong type."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from livepipe.config import load_settings
from livepipe.errors import ConfigError
from livepipe.models import Event, Problem
from livepipe.site import Site, load

SITES = Path(__file__).resolve().parent / "sites"


def loaded(site: Path) -> tuple[dict[str, Event], list[Problem]]:
    result = load(Site.locate(site), cache=False)
    return {e.title: e for e in result.events}, list(result.problems)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_jekyll_site_reads_through_its_mapping() -> None:
    events, problems = loaded(SITES / "jekyll")
    # _posts/ is not an event section; every _events/*.markdown page is an event
    assert sorted(events) == [
        "Community Summit",
        "Contributor Workshop",
        "India Hangout",
        "Maintainer Office Hours (July)",
        "Release Retrospective",
        "Spring Meetup",
    ]
    meetup = events["Spring Meetup"]
    # 18:30 -08:00 (the page's offset wins over PDT) = 02:30Z on the 11th; 2 hours long
    assert (meetup.start, meetup.end) == (utc(2026, 3, 11, 2, 30), utc(2026, 3, 11, 4, 30))
    assert meetup.timezone == "America/Los_Angeles"
    assert f"{meetup.start:%H:%M %Z}" == "19:30 PDT"
    assert meetup.location == "Portland, Oregon" and meetup.in_person and not meetup.online
    assert meetup.register_url == "https://jekyll-community.example/signup/spring"
    assert meetup.tags == ("meetup", "portland")
    # no zone field: 10:00 -08:00 = 18:00Z, an hour after the site zone's 10:00 PDT
    hours = events["Maintainer Office Hours (July)"]
    assert (hours.start, hours.end) == (utc(2026, 7, 1, 18), utc(2026, 7, 1, 19))  # default 1h
    assert hours.online and hours.live_url == "https://www.youtube.com/watch?v=abcdefghijk"
    # "UTC -7" and a naive time: 09:00 at UTC-7 = 16:00Z, 90 minutes
    workshop = events["Contributor Workshop"]
    assert (workshop.start, workshop.end) == (utc(2026, 11, 5, 16), utc(2026, 11, 5, 17, 30))
    assert workshop.timezone == "Etc/GMT+7" and workshop.online and not workshop.in_person
    # "UTC+05:30" has no IANA zone: 19:00 there = 13:30Z, shown in UTC; an explicit end
    india = events["India Hangout"]
    assert (india.start, india.end) == (utc(2026, 12, 1, 13, 30), utc(2026, 12, 1, 15))
    assert india.timezone == "UTC" and india.uid == "india-hangout-2026"
    # a date and "2 days": all day on the 20th and 21st (the end is exclusive)
    summit = events["Community Summit"]
    assert summit.all_day and summit.start_date.isoformat() == "2026-09-20"
    assert summit.end.date().isoformat() == "2026-09-22"
    # RFC 3339 with milliseconds and Z: UTC on purpose, no warning
    retro = events["Release Retrospective"]
    assert retro.start == utc(2026, 4, 2, 12) and retro.online and not retro.in_person
    assert retro.replay_url == "https://www.youtube.com/watch?v=retro000001"
    codes = sorted((Path(p.path).name, p.line, p.code) for p in problems)
    assert codes == [
        ("2026-03-10-spring-meetup.markdown", 4, "zone-conflict"),
        ("office-hours-july.markdown", 3, "offset-mismatch"),
    ]
    conflict = next(p for p in problems if p.code == "zone-conflict")
    assert (
        "UTC-08:00" in conflict.message and "America/Los_Angeles is UTC-07:00" in conflict.message
    )


def test_a_hugo_page_bundle_site_reads_through_its_mapping() -> None:
    events, problems = loaded(SITES / "hugo-bundles")
    assert not problems, problems
    seattle = events["IaC Day Seattle"]
    # 09:00 -07:00 (PDT in August) for 90 minutes
    assert (seattle.start, seattle.end) == (utc(2024, 8, 14, 16), utc(2024, 8, 14, 17, 30))
    assert seattle.source == "events/pulumi-up-seattle/index.md"
    assert seattle.url == "https://hugo-bundles.example/events/pulumi-up-seattle/"
    online = events["IaC Workshop: Getting Started"]
    # 10:00 -08:00 (PST in December), "1 hour 30 minutes", "virtual" = online only
    assert (online.start, online.end) == (utc(2024, 12, 3, 18), utc(2024, 12, 3, 19, 30))
    assert online.online and not online.in_person and online.location is None
    london = events["London Cloud Engineering Meetup"]
    assert london.timezone == "Europe/London" and london.start == utc(2024, 10, 30, 18)
    assert london.end == utc(2024, 10, 30, 20)


def _site(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "livepipe.toml").write_text(
        '[site]\nname = "T"\nbase_url = "https://t.example"\ntimezone = "Europe/Berlin"\n'
        'content_dir = "."\n[pages]\nsections = ["_events"]\n'
        '[schemas.c]\nmatch = ["_events/**"]\nstart = "when.start"\nduration = "length"\n'
        'timezone = "tz"\nlocation = "where"\n' + extra
    )
    (tmp_path / "_events").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("front", "line", "code", "words"),
    [
        ("title: A\n", 1, "missing-time", "'when.start' is missing"),
        ("title: A\nwhen:\n  start: next tuesday\n", 4, "bad-time", "when.start: 'next tuesday'"),
        ("title: [a, b]\nwhen:\n  start: 2026-12-03 19:00\n", 2, "bad-value", "title must be"),
        (
            "title: A\nwhen:\n  start: 2026-12-03 19:00\ntz: Mars/Olympus\n",
            5,
            "unknown-timezone",
            "Mars/Olympus",
        ),
        ("when:\n  start: 2026-12-03 19:00\n", 1, "missing-field", "'title' is missing"),
    ],
)
def test_mapped_fields_missing_or_of_the_wrong_type_are_file_line_problems(
    tmp_path: Path, front: str, line: int, code: str, words: str
) -> None:
    site = _site(tmp_path)
    (site / "_events" / "bad.md").write_text(f"---\n{front}---\nbody\n")
    (site / "_events" / "good.md").write_text(
        "---\ntitle: Good\nwhen:\n  start: 2026-12-03 19:00\nlength: 1h30m\n---\nbody\n"
    )
    events, problems = loaded(site)
    assert [e.title for e in events.values()] == ["Good"]  # the other page still builds
    (problem,) = [p for p in problems if p.severity == "error"]
    assert (Path(problem.path).name, problem.line, problem.code) == ("bad.md", line, code)
    assert words in problem.message, problem.message
    good = events["Good"]  # naive, no zone field: the site's zone (CET in December)
    assert (good.start, good.end) == (utc(2026, 12, 3, 18), utc(2026, 12, 3, 19, 30))


@pytest.mark.parametrize(
    ("front", "line", "words", "end"),
    [
        # before: an unreadable duration was a bad-value error and the event was dropped
        ("length: soon\n", 5, "length: 'soon' cannot be read", utc(2026, 12, 3, 19)),
        ("length: Evening workshop\n", 5, "'Evening workshop'", utc(2026, 12, 3, 19)),
        ("length: -1h\n", 5, "must be positive", utc(2026, 12, 3, 19)),
        ("where: [x]\n", 5, "where: ['x'] cannot be read", utc(2026, 12, 3, 19)),
        ("link: [1, 2]\n", 5, "link: [1, 2]", utc(2026, 12, 3, 19)),
        ("state: postponed\n", 5, "'postponed' is not one of", utc(2026, 12, 3, 19)),
        ("zoom: maybe\n", 5, "zoom: 'maybe'", utc(2026, 12, 3, 19)),
    ],
)
def test_an_optional_field_that_cannot_be_read_is_ignored_with_a_warning(
    tmp_path: Path, front: str, line: int, words: str, end: datetime
) -> None:
    """Only title and start are required: anything else unreadable is an ignored-field
    warning naming the value, and the event builds with the default (an hour, no venue)."""
    site = _site(tmp_path, 'live_url = "link"\nstatus = "state"\nonline = "zoom"\n')
    (site / "_events" / "odd.md").write_text(
        f"---\ntitle: Odd\nwhen:\n  start: 2026-12-03 19:00\n{front}---\nbody\n"
    )
    events, problems = loaded(site)
    odd = events["Odd"]
    assert (odd.start, odd.end) == (utc(2026, 12, 3, 18), end)
    assert odd.location is None and odd.live_url is None and not odd.cancelled
    (problem,) = problems
    assert (problem.severity, problem.code, problem.line) == ("warning", "ignored-field", line)
    assert words in problem.message and "builds without it" in problem.message, problem.message


def test_a_schema_may_not_take_a_built_in_name(tmp_path: Path) -> None:
    (tmp_path / "livepipe.toml").write_text('[schemas.native]\nmatch = ["x/**"]\nstart = "when"\n')
    with pytest.raises(ConfigError, match="built-in"):
        load_settings(tmp_path / "livepipe.toml")


def test_pages_outside_every_match_keep_the_built_in_schemas(
    tmp_path: Path, write_page: Callable
) -> None:
    site = _site(tmp_path)
    (site / "_events" / "mapped.md").write_text(
        "---\ntitle: Mapped\nwhen:\n  start: 2026-12-03 19:00\n---\nx\n"
    )
    (site / "_events" / "native").mkdir()
    (site / "livepipe.toml").write_text(
        (site / "livepipe.toml").read_text().replace('["_events/**"]', '["_events/*.md"]')
    )
    (site / "_events" / "native" / "n.md").write_text(
        "---\ntitle: Native\nstart: 2026-12-04T10:00:00+01:00\n---\nx\n"
    )
    events, _ = loaded(site)
    assert {t: e.schema for t, e in events.items()} == {"Mapped": "c", "Native": "native"}


@pytest.mark.parametrize(
    ("fixture", "folder"),
    [("jekyll", "_events"), ("hugo-bundles", "content/events")],
)
def test_schema_suggest_proposes_a_mapping_that_checks_clean(
    tmp_path: Path, fixture: str, folder: str
) -> None:
    """A new community: pages only, no livepipe.toml. The proposal, saved as it is printed,
    reads every page as an event with no error."""
    import shutil

    from typer.testing import CliRunner

    from livepipe.cli import app

    pages = tmp_path / "repo" / Path(folder).name
    shutil.copytree(SITES / fixture / folder, pages)
    runner = CliRunner()
    out = runner.invoke(app, ["schema", "suggest", str(pages)])
    assert out.exit_code == 0, out.output
    assert "sortable_date" in out.output or "eventdate" in out.output
    toml = out.output[out.output.index("[site]") :]
    (tmp_path / "repo" / "livepipe.toml").write_text(toml)
    checked = runner.invoke(app, ["check", str(tmp_path / "repo"), "--events"])
    assert checked.exit_code == 0, checked.output
    expected = len(list((SITES / fixture / folder).rglob("*.m*")))
    assert f"{expected} pages: {expected} events, 0 errors" in checked.output
    mapping = toml.split("[schemas.community]", 1)[1]
    wanted = {  # what the handwritten mappings of tests/sites/ say, found by the proposal
        "jekyll": ['start = "eventdate"', 'timezone = "tz"', 'location = "location.city"',
                   'register_url = "signup.url"', 'live_url = "stream.url"',
                   'replay_url = "youtube_url"', 'online = "online"', 'uid = "id"'],
        "hugo-bundles": ['start = "sortable_date"', 'duration = "duration"',
                         'location = "location"', 'register_url = "register_url"'],
    }[fixture]  # fmt: skip
    assert all(line in mapping for line in wanted), mapping


def test_schema_suggest_says_when_nothing_looks_like_a_start(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from livepipe.cli import app

    (tmp_path / "posts").mkdir()
    (tmp_path / "posts" / "a.md").write_text("---\ntitle: A post\nauthor: me\n---\ntext\n")
    out = CliRunner().invoke(app, ["schema", "suggest", str(tmp_path / "posts")])
    assert out.exit_code == 2 and "no key holds dates or times" in out.output


def test_a_mapped_repeat_field_makes_a_recurring_event(tmp_path: Path) -> None:
    from livepipe import recurrence

    site = _site(tmp_path, 'repeat = "recurrence_rules"\n')
    (site / "_events" / "weekly.md").write_text(
        "---\ntitle: Weekly\nwhen:\n  start: 2026-10-20 18:00\n"
        "recurrence_rules: FREQ=WEEKLY;COUNT=3\n---\nx\n"
    )
    events, problems = loaded(site)
    assert not problems, problems
    starts = [s.astimezone(UTC) for s in recurrence.starts(events["Weekly"])]
    # 18:00 in Berlin: CEST on 20 October (16:00Z), CET after 25 October (17:00Z)
    assert starts == [utc(2026, 10, 20, 16), utc(2026, 10, 27, 17), utc(2026, 11, 3, 17)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-03-06 12:00:00 -0800", datetime(2023, 3, 6, 20, tzinfo=UTC)),
        ("2023-03-06 9:30 +05:30", datetime(2023, 3, 6, 4, tzinfo=UTC)),
        ("2023-03-06 9:30:00.5 -0800", datetime(2023, 3, 6, 17, 30, 0, 500000, tzinfo=UTC)),
        ("2024-08-14T09:00:00.000-07:00", datetime(2024, 8, 14, 16, tzinfo=UTC)),
        ("2023-03-06 12:00:00 UTC-7", datetime(2023, 3, 6, 19, tzinfo=UTC)),
    ],
)
def test_loose_time_values(text: str, expected: datetime) -> None:
    from livepipe.timeutil import parse_time_value

    value = parse_time_value(text)
    assert isinstance(value, datetime) and value.astimezone(UTC) == expected


def test_a_folder_that_changed_shape_reads_through_one_mapping_of_path_lists() -> None:
    """tests/sites/mixed-shapes: flat keys, the same keys under main:, older pages under
    event: with dates and a free-text time, one page beside the bundles. Every instant
    below was worked out by hand from the page and the zone rules of its date."""
    events, problems = loaded(SITES / "mixed-shapes")
    assert len(events) == 14  # every page (the section's _index.md is not an event)
    flat = events["Flat Webinar"]  # 09:00 -07:00, 90 minutes, "virtual"
    assert (flat.start, flat.end) == (utc(2024, 8, 14, 16), utc(2024, 8, 14, 17, 30))
    assert flat.online and not flat.in_person and flat.tags == ("webinar",)
    nested = events["Nested Main Meetup"]  # main.sortable_date 18:30 -08:00, main.duration 2h
    assert (nested.start, nested.end) == (utc(2024, 2, 8, 2, 30), utc(2024, 2, 8, 4, 30))
    assert nested.location == "San Francisco, CA" and nested.in_person
    old = events["Old Conference"]  # event.start_date..event.end_date, the end inclusive
    assert old.all_day and old.start_date.isoformat() == "2019-05-20"
    assert old.end.date().isoformat() == "2019-05-23" and old.location == "Barcelona, Spain"
    # "5:00PM - 8:00PM (PT)" either side of the 2023 spring-forward (Sunday 12 March)
    before = events["Saturday Social Before DST"]  # PST, UTC-8
    assert (before.start, before.end) == (utc(2023, 3, 12, 1), utc(2023, 3, 12, 4))
    after = events["Monday Social After DST"]  # PDT, UTC-7
    assert (after.start, after.end) == (utc(2023, 3, 14, 0), utc(2023, 3, 14, 3))
    assert before.timezone == after.timezone == "America/Los_Angeles"
    # "17:00–20:00 CET" on 28 October 2023: Berlin is still on summer time (UTC+2) that day
    berlin = events["Berlin Workshop"]
    assert (berlin.start, berlin.end) == (utc(2023, 10, 28, 15), utc(2023, 10, 28, 18))
    assert berlin.timezone == "Europe/Berlin"
    boston = events["Boston Community Day"]  # 9am–5pm ET on 6 November 2023: EST, UTC-5
    assert (boston.start, boston.end) == (utc(2023, 11, 6, 14), utc(2023, 11, 6, 22))
    mystery = events["Mystery Zone Meetup"]  # "XYZ" is no zone: all day, with a warning
    assert mystery.all_day and mystery.start_date.isoformat() == "2022-06-01"
    tagged = events["Advanced Security Session"]  # tags: {level: …, topics: […]}
    assert tagged.tags == ("Advanced", "kubernetes", "security")
    evening = events["Evening Workshop"]  # "Evening workshop" is no duration: the default 1h
    assert (evening.start, evening.end) == (utc(2024, 10, 3, 0), utc(2024, 10, 3, 1))
    new_york = events["New York Meetup"]  # -04:00 is New York's, not a slip: no warning
    assert new_york.start == utc(2024, 7, 16, 22)
    typo = events["Summer Office Hours"]  # -08:00 in a Pacific July: the offset wins, warned
    assert typo.start == utc(2024, 7, 23, 18)
    london = events["London Meetup"]  # -00:00: the UTC instant as written, warned
    assert london.start == utc(2024, 5, 9, 18)
    hackday = events["Seattle Hack Day"]  # beside the bundles; 10:00 -07:00 for 8 hours
    assert (hackday.start, hackday.end) == (utc(2024, 11, 2, 17), utc(2024, 11, 3, 1))
    assert hackday.source == "events/standalone-hackday.md"
    found = sorted((p.path.split("/")[-2], p.line, p.code) for p in problems)
    assert found == [
        ("2022-06-01-unknown-zone", 5, "unknown-zone"),
        ("2024-05-09-london", 3, "offset-unknown"),
        ("2024-07-23-typo-offset", 3, "offset-mismatch"),
        ("2024-10-02-evening", 4, "ignored-field"),
    ]


@pytest.mark.parametrize(
    ("zone", "written", "warned"),
    [
        ("America/Los_Angeles", "2024-07-16T18:00:00-04:00", False),  # New York's summer
        ("America/Los_Angeles", "2024-07-16T18:00:00+09:00", False),  # Tokyo's
        ("America/Los_Angeles", "2024-07-16T18:00:00-08:00", True),  # winter's, in July
        ("America/Los_Angeles", "2024-01-16T18:00:00-07:00", True),  # summer's, in January
        ("America/Los_Angeles", "2024-01-16T18:00:00-08:00", False),  # right
        ("Asia/Shanghai", "2024-07-16T18:00:00+09:00", False),  # no DST: nothing to slip
        ("Europe/Berlin", "2024-12-03T18:00:00+02:00", True),  # CEST in December
        ("Europe/Berlin", "2024-12-03T18:00:00+00:00", False),  # UTC on purpose
    ],
)
def test_offset_mismatch_is_the_site_zones_other_offset_not_another_zones(
    tmp_path: Path, zone: str, written: str, warned: bool
) -> None:
    """Before: every offset not the site zone's on that date warned, so each event held
    in another zone did, and the real slip (a winter offset typed in summer) drowned."""
    site = _site(tmp_path)
    toml = site / "livepipe.toml"
    toml.write_text(toml.read_text().replace("Europe/Berlin", zone))
    (site / "_events" / "e.md").write_text(f"---\ntitle: E\nwhen:\n  start: {written}\n---\nx\n")
    events, problems = loaded(site)
    assert events["E"].start == datetime.fromisoformat(written)
    assert [p.code for p in problems] == (["offset-mismatch"] if warned else [])


@pytest.mark.parametrize(
    ("written", "unknown"),
    [
        ("2024-05-09T18:00:00-00:00", True),
        ("2024-05-09 18:00:00 -0000", True),
        ('"2024-05-09T18:00:00.000-00:00"', True),
        ("2024-05-09T18:00:00+00:00", False),
        ("2024-05-09T18:00:00Z", False),
    ],
)
def test_minus_zero_offset_says_the_local_time_is_unknown(
    tmp_path: Path, written: str, unknown: bool
) -> None:
    """RFC 3339 -00:00: the UTC instant is known, the local offset is not. Before, it was
    read as UTC without a word."""
    site = _site(tmp_path)
    (site / "_events" / "e.md").write_text(f"---\ntitle: E\nwhen:\n  start: {written}\n---\nx\n")
    events, problems = loaded(site)
    assert events["E"].start == utc(2024, 5, 9, 18)
    assert [(p.code, p.line) for p in problems] == ([("offset-unknown", 4)] if unknown else [])


@pytest.mark.parametrize(
    ("text", "start", "end", "zone"),
    [
        ("5:00PM - 8:00PM (PT)", (17, 0), (20, 0), "PT"),
        ("17:00–20:00 CET", (17, 0), (20, 0), "CET"),
        ("9am–5pm ET", (9, 0), (17, 0), "ET"),
        ("6-8pm", (18, 0), (20, 0), None),
        ("11-1pm", (11, 0), (13, 0), None),
        ("10:30 a.m. - 12 p.m. EDT", (10, 30), (12, 0), "EDT"),
        ("9pm to 1am (Europe/Paris)", (21, 0), (1, 0), "Europe/Paris"),
        ("19:00", (19, 0), None, None),
        ("12am-12pm UTC+2", (0, 0), (12, 0), "UTC+2"),
    ],
)
def test_free_text_time_ranges(
    text: str, start: tuple[int, int], end: tuple[int, int] | None, zone: str | None
) -> None:
    from datetime import time

    from livepipe.timeutil import parse_time_range

    assert parse_time_range(text) == (time(*start), time(*end) if end else None, zone)


@pytest.mark.parametrize("text", ["lunch", "25:00", "13pm", "5pm - 8pm (PT", "Evening"])
def test_what_is_not_a_time_range(text: str) -> None:
    from livepipe.timeutil import parse_time_range

    with pytest.raises(ValueError):
        parse_time_range(text)


def test_a_time_range_past_midnight_ends_the_next_day(tmp_path: Path) -> None:
    site = _site(tmp_path, 'time = "hours"\n')
    (site / "_events" / "late.md").write_text(
        "---\ntitle: Late\nwhen:\n  start: 2026-12-03\nhours: 10pm-1am\n---\nx\n"
    )
    events, problems = loaded(site)  # the site zone, Berlin: CET, UTC+1
    assert not problems
    assert (events["Late"].start, events["Late"].end) == (
        utc(2026, 12, 3, 21),
        utc(2026, 12, 4, 0),
    )


def test_schema_suggest_lists_every_key_a_changed_folder_uses(tmp_path: Path) -> None:
    """The mixed-shapes folder: one key per field reads 3 of 14 pages; the proposal lists
    the keys at each depth (and under each name) the pages use, and checks with no error."""
    import shutil

    from typer.testing import CliRunner

    from livepipe.cli import app

    shutil.copytree(SITES / "mixed-shapes" / "content" / "events", tmp_path / "repo" / "events")
    runner = CliRunner()
    out = runner.invoke(app, ["schema", "suggest", str(tmp_path / "repo" / "events")])
    assert out.exit_code == 0, out.output
    toml = out.output[out.output.index("[site]") :]
    mapping = toml.split("[schemas.community]", 1)[1]
    starts = mapping.split("start = ", 1)[1].split("\n", 1)[0]
    assert sorted(json.loads(starts)) == [
        "event.start_date",
        "main.sortable_date",
        "sortable_date",
    ]
    assert 'time = "event.time"' in mapping and 'end = "event.end_date"' in mapping
    assert 'duration = ["duration", "main.duration"]' in mapping, mapping
    (tmp_path / "repo" / "livepipe.toml").write_text(
        toml.replace("# timezone =", 'timezone = "America/Los_Angeles" #')
    )
    checked = runner.invoke(app, ["check", str(tmp_path / "repo")])
    assert checked.exit_code == 0, checked.output
    assert "14 pages: 14 events, 0 errors" in checked.output, checked.output
