"""Field-mapped schemas (`[schemas.NAME]`): a Jekyll-style site and a Hugo page-bundle site
of our own (tests/sites/), each instant checked by hand; the zone rule and its warnings;
mapped fields missing or of the wrong type."""

from __future__ import annotations

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
        ("title: A\nwhen:\n  start: 2026-12-03 19:00\nlength: soon\n", 5, "bad-value", "length"),
        (
            "title: A\nwhen:\n  start: 2026-12-03 19:00\ntz: Mars/Olympus\n",
            5,
            "unknown-timezone",
            "Mars/Olympus",
        ),
        ("when:\n  start: 2026-12-03 19:00\n", 1, "missing-field", "'title' is missing"),
        ("title: A\nwhen:\n  start: 2026-12-03 19:00\nwhere: [x]\n", 5, "bad-value", "where"),
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
