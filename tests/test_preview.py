"""`livepipe preview` on a real git repository: the changed pages since a base ref, their
artifacts and checks, and the send timeline the merge would produce (times checked by hand)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livepipe.cli import app
from livepipe.errors import ConfigError
from livepipe.preview import Preview, make_preview, markdown, own_checks, write_report
from livepipe.site import Site

from .conftest import Validators
from .support import ROOT
from .support.serving import committed_site, pull_request_repo

NOW = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return pull_request_repo(tmp_path)


def preview_of(repo: Path, base: str | None = "HEAD", validators: Path | None = None) -> Preview:
    return make_preview(Site.locate(repo), base=base, now=NOW, validators=validators)


def test_only_the_changed_pages_with_what_changed(repo: Path) -> None:
    p = preview_of(repo)
    by_source = {pv.source: pv for pv in p.events}
    assert set(by_source) == {
        "en/events/operators-berlin.md",
        "en/events/wasm-edge-0114.md",
        "zh/live/meetup-chengdu-20261219.md",
        "en/events/new-event.md",
    }
    what = {src: [c.what for c in pv.changes] for src, pv in by_source.items()}
    assert what == {
        "en/events/operators-berlin.md": ["rescheduled"],
        "en/events/wasm-edge-0114.md": ["cancelled"],
        "zh/live/meetup-chengdu-20261219.md": ["deleted"],
        "en/events/new-event.md": ["added"],
    }
    deleted = by_source["zh/live/meetup-chengdu-20261219.md"]
    assert deleted.event is None and deleted.base is not None and not deleted.artifacts
    berlin = by_source["en/events/operators-berlin.md"]
    assert berlin.base is not None and berlin.event is not None
    assert berlin.event.start - berlin.base.start == datetime(2, 1, 2) - datetime(2, 1, 1)
    assert [pv.source for pv in p.failed] == ["en/events/broken.md"]
    assert p.failed[0].problems[0].line == 3 and not p.ok  # the line of 'start: [nope'


def _sends(p: Preview, source: str) -> set[tuple[str, str, str]]:
    pv = next(pv for pv in p.events if pv.source == source)
    return {(r.slot, r.state, r.due.astimezone(UTC).strftime("%m-%d %H:%MZ")) for r in pv.sends}


def test_timeline_retimes_reminders_and_adds_notices(repo: Path) -> None:
    p = preview_of(repo)
    # Berlin: 19:00 CET = 18:00Z, moved from 3 to 4 December. The announcement went out at
    # the base (due at NOW); the day-before and 10-minute reminders move by a day, and people
    # who were told the old time get a 'changed' notice now.
    assert _sends(p, "en/events/operators-berlin.md") == {
        ("announce", "sent", "11-20 00:00Z"),
        ("reminder-1d", "withdraw", "12-02 18:00Z"),
        ("starting-soon", "withdraw", "12-03 17:50Z"),
        ("reminder-1d", "new", "12-03 18:00Z"),
        ("starting-soon", "new", "12-04 17:50Z"),
        ("changed", "new", "11-20 00:00Z"),
    }
    # Cancelled 20:00 Beijing time on 14 January (12:00Z): reminders withdrawn, a notice now.
    assert _sends(p, "en/events/wasm-edge-0114.md") == {
        ("announce", "sent", "11-20 00:00Z"),
        ("reminder-1d", "withdraw", "01-13 12:00Z"),
        ("starting-soon", "withdraw", "01-14 11:50Z"),
        ("cancelled", "new", "11-20 00:00Z"),
    }
    # Deleted: the same as a cancellation (13:30 Beijing time on 19 December = 05:30Z).
    assert _sends(p, "zh/live/meetup-chengdu-20261219.md") == {
        ("announce", "sent", "11-20 00:00Z"),
        ("reminder-1d", "withdraw", "12-18 05:30Z"),
        ("starting-soon", "withdraw", "12-19 05:20Z"),
        ("cancelled", "new", "11-20 00:00Z"),
    }
    assert _sends(p, "en/events/new-event.md") == {
        ("announce", "new", "11-20 00:00Z"),
        ("reminder-1d", "new", "12-19 10:00Z"),
        ("starting-soon", "new", "12-20 09:50Z"),
    }


def test_without_a_base_every_page_is_new(repo: Path) -> None:
    p = preview_of(repo, base=None)
    assert len(p.events) == 8  # every event of the working tree, the deleted one gone
    assert all([c.what for c in pv.changes] == ["added"] for pv in p.events)
    # new sends, and the live notices of the streamed events, due when the stream goes live
    assert all(r.state in ("new", "on stream start") for pv in p.events for r in pv.sends)
    assert sorted(
        (pv.source, r.slot) for pv in p.events for r in pv.sends if r.state == "on stream start"
    ) == [("zh/live/observability1210-live.md", "live"), ("zh/live/wasm-edge-0114.md", "live")]


def test_artifacts_and_feed_entries_of_each_changed_event(repo: Path) -> None:
    p = preview_of(repo)
    berlin = next(pv for pv in p.events if pv.source == "en/events/operators-berlin.md")
    paths = set(berlin.artifacts)
    assert {
        "events/operators-berlin.en.ics",
        "wechat/operators-berlin.en.html",
        "wechat/operators-berlin.en.json",
        "wechat/operators-berlin.en.txt",
        "newsletter/operators-berlin.en.html",
        "newsletter/operators-berlin.en.txt",
    } <= paths
    ics = berlin.artifacts["events/operators-berlin.en.ics"].data.decode()
    assert "DTSTART;TZID=Europe/Berlin:20261204T190000" in ics
    assert "<title>Operators in Practice: Berlin</title>" in berlin.feed["rss"]
    assert berlin.feed["atom"].startswith("<entry") and "Operators" in berlin.feed["atom"]
    assert '"title": "Operators in Practice: Berlin"' in berlin.feed["json"] and berlin.in_feed


def test_report_html_escapes_and_has_every_section(repo: Path, tmp_path: Path) -> None:
    p = preview_of(repo)
    index = write_report(p, tmp_path / "out")
    html = index.read_text(encoding="utf-8")
    assert "<script" not in html  # the report runs no script, and page text cannot add one
    assert "New &lt;/iframe&gt;&lt;script&gt;alert(1)&lt;/script&gt; Event" in html
    assert html.count('<article class="card event') == 4
    for section in ("wechat", "group-text", "newsletter", "feed"):
        assert html.count(f'<section class="{section}">') == 3, section  # not for the deleted
    for section in ("calendar", "timeline", "validation"):
        assert html.count(f'<section class="{section}">') == 4, section
    assert 'class="card event bad failed-page"' in html and "broken.md:3" in html
    assert "Friday, 4 December 2026, 19:00–21:30 (Europe/Berlin, UTC+01:00)" in html
    assert "2026-12-04 18:00–20:30 UTC" in html
    assert "Thursday, 3 December 2026, 19:00–21:30" in html  # 'was', for the reschedule
    assert (tmp_path / "out" / "files" / "events" / "operators-berlin.en.ics").is_file()


def test_markdown_summary(repo: Path) -> None:
    md = markdown(preview_of(repo))
    assert md.startswith("### ❌ livepipe preview: 4 event page(s) changed since `HEAD`")
    assert "content/en/events/broken.md:3` front matter is not valid YAML" in md
    row = next(line for line in md.splitlines() if line.startswith("| Operators in Practice"))
    assert "rescheduled" in row and "3 new, 2 withdrawn, 1 kept" in row
    assert "| 2026-12-04 02:00 (18:00Z) | reminder-1d → outbox | Operators" in md
    assert "<script>" not in md


def test_cli_exit_codes_and_github_format(repo: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["preview", str(repo), "--now", "2026-11-20T00:00:00Z", "--out", str(tmp_path / "o")]
    bad = runner.invoke(app, [*args, "--base", "HEAD", "--format", "github"])
    assert bad.exit_code == 1 and bad.stdout.startswith("### ❌")
    (repo / "content" / "en" / "events" / "broken.md").unlink()
    good = runner.invoke(app, [*args, "--base", "HEAD"])
    assert good.exit_code == 0, good.stdout
    assert "4 changed event page(s); report:" in good.stdout
    unknown = runner.invoke(app, [*args, "--base", "no-such-ref"])
    assert unknown.exit_code == 2 and "no-such-ref" in unknown.stderr


def test_a_base_ref_that_does_not_exist_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(ConfigError, match=r"'v9\.9\.9' is not a commit"):
        preview_of(repo, base="v9.9.9")


@pytest.mark.validators
def test_generated_files_pass_the_independent_validators(
    repo: Path, validators: Validators
) -> None:
    p = preview_of(repo, validators=validators.folder)
    assert p.validator.startswith("validate-ics / validate-feed")
    checks = [c for pv in p.events for c in pv.checks] + p.site_checks
    assert {c.tool for c in checks} == {"validate-ics", "validate-feed"}
    assert len([c for c in checks if c.tool == "validate-ics"]) == 4  # 3 events + calendar
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]


@pytest.mark.parametrize(
    ("path", "data", "problem"),
    [
        ("a.ics", b"BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n", "CRLF"),
        ("a.ics", b"BEGIN:VCALENDAR\r\nX-LONG:" + b"x" * 80 + b"\r\nEND:VCALENDAR\r\n", "75"),
        (
            "a.ics",
            b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\n"
            b"END:VCALENDAR\r\n",
            "UID",
        ),
        ("feed.xml", b"<rss><channel></rss>", "mismatched"),
        ("feed.json", b'{"version": "1.1"}', "JSON Feed"),
        ("feed.json", b"{", "Expecting"),
    ],
)
def test_own_checks_catch_broken_files(path: str, data: bytes, problem: str) -> None:
    check = own_checks(path, data)
    assert not check.ok and re.search(problem, check.detail), check


def test_own_checks_pass_real_output(repo: Path) -> None:
    p = preview_of(repo)
    assert p.validator == "livepipe's own checks"
    assert all(c.ok and c.tool == "livepipe" for c in p.site_checks)
    assert len(p.site_checks) == 4


def test_a_template_change_shows_every_page(tmp_path: Path) -> None:
    site = committed_site(tmp_path)
    builtin = ROOT / "templates" / "wechat" / "group.txt"  # a site's own, for one language:
    override = site / "templates" / "wechat" / "group.zh.txt"
    override.parent.mkdir(parents=True)
    override.write_text("【新模板】\n" + builtin.read_text(encoding="utf-8"), encoding="utf-8")
    p = make_preview(Site.locate(site), base="HEAD", now=NOW)
    assert p.site_files == ["templates/wechat/group.zh.txt"]
    assert len(p.events) == 8  # nothing in content/ changed, yet every page is shown
    assert all(pv.changes == [] for pv in p.events)  # the events themselves are the same
    chengdu = next(pv for pv in p.events if pv.source == "zh/live/meetup-chengdu-20261219.md")
    group = chengdu.artifact("wechat/", ".txt")
    assert group is not None and group.data.decode().startswith("【新模板】")
    assert "Settings or templates changed (`templates/wechat/group.zh.txt`)" in markdown(p)


def test_base_outside_a_git_repository(tmp_path: Path) -> None:
    from .support.serving import copy_site

    copy_site(tmp_path)
    with pytest.raises(ConfigError, match="not in a git repository"):
        make_preview(Site.locate(tmp_path), base="HEAD", now=NOW)
    assert len(make_preview(Site.locate(tmp_path), now=NOW).events) == 8  # no --base: fine


@pytest.mark.validators
def test_cli_finds_the_validators_from_the_environment(
    repo: Path, validators: Validators, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "content" / "en" / "events" / "broken.md").unlink()
    monkeypatch.setenv("LIVEPIPE_VALIDATORS", str(validators.folder))
    out = tmp_path / "report"
    args = ["preview", str(repo), "--base", "HEAD", "--now", "2026-11-20T00:00:00Z"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--format", "github"])
    assert result.exit_code == 0, result.stdout
    assert "Checked with validate-ics / validate-feed" in result.stdout
    html = (out / "index.html").read_text(encoding="utf-8")
    assert html.count("(validate-ics)") == 3  # the three changed events' own calendars
