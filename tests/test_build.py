"""`livepipe build` end to end: determinism, incremental rewrites, revision times, options."""

from __future__ import annotations

import itertools
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from livepipe.build import _slices, build
from livepipe.cli import app
from livepipe.site import Site, load

from .support import CONTENT, bundled_site


def copy_site(tmp_path: Path) -> Path:
    return bundled_site(tmp_path / "site")


def snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_rebuild_is_byte_identical_and_writes_nothing(tmp_path: Path) -> None:
    site = copy_site(tmp_path)
    out = tmp_path / "dist"
    first = build(load(Site.locate(site)), out)
    before = snapshot(out)
    build(load(Site.locate(site)), tmp_path / "dist2")
    assert snapshot(tmp_path / "dist2") == before
    again = build(load(Site.locate(site)), out)
    assert again.report.written == [] and len(again.report.unchanged) == len(first.files)


def test_changed_page_rewrites_only_its_artifacts_and_aggregates(tmp_path: Path) -> None:
    site = copy_site(tmp_path)
    out = tmp_path / "dist"
    build(load(Site.locate(site)), out)
    page = site / "content" / "zh" / "live" / "observability1210-live.md"
    page.write_text(
        page.read_text(encoding="utf-8").replace("20:00-21:00", "19:30-21:00"), encoding="utf-8"
    )
    report = build(load(Site.locate(site)), out).report
    own = {p for p in report.written if "observability1210-live" in p}
    assert own == {
        f"{d}/observability1210-live.{x}"
        for d, x in [
            ("events", "ics"),
            ("wechat", "html"),
            ("wechat", "txt"),
            ("newsletter", "html"),
            ("newsletter", "txt"),
        ]
    }
    aggregates = set(report.written) - own
    assert {
        "calendar.ics",
        "calendar-zh.ics",
        "feed.xml",
        "atom.xml",
        "feed.json",
        "newsletter/digest-2026-W50.html",
    } <= aggregates
    # Nothing about an unrelated event changed.
    assert not any("operators-berlin" in p or "calendar-en" in p for p in report.written)


def test_page_with_error_is_left_out_and_others_build(tmp_path: Path) -> None:
    site = copy_site(tmp_path)
    (site / "content" / "en" / "events" / "broken.md").write_text("---\ntitle: [\n---\n")
    result = load(Site.locate(site))
    built = build(result, tmp_path / "dist")
    assert result.errors == 1 and len(result.events) == 8
    assert (tmp_path / "dist" / "events" / "operators-berlin.en.ics").is_file()
    assert not any("broken" in a.path for a in built.files)


def git(cwd: Path, *args: str, date: str | None = None) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    if date:
        env |= {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def test_dtstamp_is_the_git_commit_time_of_the_page(tmp_path: Path) -> None:
    site = copy_site(tmp_path)
    git(site, "init", "-q")
    git(site, "add", ".")
    git(site, "commit", "-qm", "all", date="2026-11-01T12:00:00+00:00")
    page = site / "content" / "en" / "events" / "operators-berlin.md"
    page.write_text(page.read_text().replace("Two talks", "Three talks"))
    git(site, "commit", "-qam", "edit", date="2026-11-10T09:15:00+00:00")
    out = tmp_path / "dist"
    build(load(Site.locate(site)), out)
    berlin = (out / "events" / "operators-berlin.en.ics").read_bytes()
    assert b"DTSTAMP:20261110T091500Z" in berlin
    assert (
        b"DTSTAMP:20261101T120000Z" in (out / "events" / "community-day-2027.en.ics").read_bytes()
    )
    # An uncommitted edit uses the file's mtime.
    other = site / "content" / "en" / "events" / "community-day-2027.md"
    other.write_text(other.read_text().replace("Workshops", "Hands-on workshops"))
    os.utime(other, (1767225600, 1767225600))  # 2026-01-01T00:00:00Z
    build(load(Site.locate(site)), out)
    assert (
        b"DTSTAMP:20260101T000000Z" in (out / "events" / "community-day-2027.en.ics").read_bytes()
    )
    assert datetime.fromtimestamp(1767225600, UTC).isoformat() == "2026-01-01T00:00:00+00:00"


def test_alarm_only_in_per_event_files(tmp_path: Path) -> None:
    site = copy_site(tmp_path)
    with (site / "livepipe.toml").open("a") as fh:
        fh.write('\n[calendar]\nalarm = "-10m"\n')
    out = tmp_path / "dist"
    build(load(Site.locate(site)), out)
    event = (out / "events" / "operators-berlin.en.ics").read_bytes()
    assert b"BEGIN:VALARM\r\nACTION:DISPLAY\r\n" in event and b"TRIGGER:-PT10M\r\n" in event
    assert b"VALARM" not in (out / "calendar.ics").read_bytes()
    assert b"VALARM" not in (out / "events" / "office-hours-1201.en.ics").read_bytes()  # cancelled


def test_site_templates_override_and_are_sandboxed(tmp_path: Path) -> None:
    site = copy_site(tmp_path)
    tpl = site / "templates" / "wechat"
    tpl.mkdir(parents=True)
    (tpl / "group.zh.txt").write_text("自定义：{{ e.title }}\n", encoding="utf-8")
    out = tmp_path / "dist"
    build(load(Site.locate(site)), out)
    assert (out / "wechat" / "observability1210-live.txt").read_text(encoding="utf-8") == (
        "自定义：云原生可观测性实战：从指标到链路追踪\n"
    )
    (tpl / "group.zh.txt").write_text("{{ e.__class__.__mro__[1].__subclasses__() }}")
    runner = CliRunner()
    result = runner.invoke(app, ["build", str(site), "--out", str(out), "-q"])
    assert result.exit_code == 2
    assert "build failed" in result.output and "unsafe" in result.output


def test_strict_undefined_names_the_template(tmp_path: Path) -> None:
    site = copy_site(tmp_path)
    tpl = site / "templates" / "wechat"
    tpl.mkdir(parents=True)
    (tpl / "group.en.txt").write_text("{{ e.titel }}\n")
    result = CliRunner().invoke(app, ["build", str(site), "--out", str(tmp_path / "d"), "-q"])
    assert result.exit_code == 2
    assert "wechat/group.en.txt" in result.output and "titel" in result.output


def test_cli_build_summary(tmp_path: Path) -> None:
    site = copy_site(tmp_path)
    result = CliRunner().invoke(app, ["build", str(site), "--out", str(tmp_path / "dist")])
    assert result.exit_code == 0, result.output
    assert "calendar.ics" in result.output and "written" in result.output
    manifest = (tmp_path / "dist" / "manifest.json").read_text()
    assert '"media_type": "text/calendar; charset=utf-8"' in manifest


def test_parallel_rendering_gives_the_same_artifacts(monkeypatch) -> None:
    import livepipe.build as build_module

    from .render.helpers import fixed_context

    result = load(Site.locate(CONTENT))
    serial = build_module.render_all(fixed_context(result), workers=1)
    monkeypatch.setattr(build_module, "PARALLEL_MIN_EVENTS", 0)
    parallel = build_module.render_all(fixed_context(result), workers=2)
    assert [(a.path, a.data) for a in parallel] == [(a.path, a.data) for a in serial]
    assert len(serial) > 50


def test_parallel_build_writes_the_same_folder(monkeypatch, tmp_path: Path) -> None:
    """Worker processes write the files of their events themselves: the folder, the manifest
    and the report must be what one process writes."""
    import livepipe.build as build_module
    import livepipe.fast.parallel as parallel_module

    result = load(Site.locate(CONTENT))
    monkeypatch.setattr(parallel_module, "usable_cpus", lambda: 1)
    serial = build(result, tmp_path / "serial")
    monkeypatch.setattr(parallel_module, "usable_cpus", lambda: 2)
    monkeypatch.setattr(build_module, "PARALLEL_MIN_EVENTS", 0)
    parallel = build(result, tmp_path / "parallel")

    def tree(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    assert tree(tmp_path / "parallel") == tree(tmp_path / "serial")
    assert len(tree(tmp_path / "serial")) == len(serial.files) + 1  # + manifest.json
    assert sorted(parallel.report.written) == sorted(serial.report.written)
    # as the manifest lists them (where each process staged its bytes differs)
    assert [f._replace(staged=None) for f in parallel.files] == [
        f._replace(staged=None) for f in serial.files
    ]
    again = build(result, tmp_path / "parallel")
    assert again.report.written == [] and len(again.report.unchanged) == len(serial.files)


def test_helpers_inherit_the_compiled_templates(monkeypatch, tmp_path: Path) -> None:
    """A big build compiles its templates once, before it forks its helpers: each helper
    compiled them all again (a tenth of a second of each helper's time at 10k pages)."""
    import os

    import jinja2

    import livepipe.build as build_module
    import livepipe.fast.parallel as parallel_module

    log = tmp_path / "compiles"
    real = jinja2.Environment._compile

    def counting(self: jinja2.Environment, source: str, filename: str) -> Any:
        with log.open("a") as fh:  # appended to by every process, forked ones too
            fh.write(f"{os.getpid()}\n")
        return real(self, source, filename)

    monkeypatch.setattr(jinja2.Environment, "_compile", counting)
    monkeypatch.setattr(parallel_module, "usable_cpus", lambda: 2)
    monkeypatch.setattr(build_module, "PARALLEL_MIN_EVENTS", 0)
    result = load(Site.locate(CONTENT))
    made = build(result, tmp_path / "dist")
    assert len(made.files) > 50
    assert set(log.read_text().split()) == {str(os.getpid())}  # no helper compiled anything


def test_commit_times_of_pages_with_cjk_names_and_behind_a_symlink(tmp_path: Path) -> None:
    """git quotes non-ASCII names unless told not to; a site reached through a symlink must
    still match git's real paths."""
    from livepipe.sources.revisions import revision_times

    repo = tmp_path / "repo"
    (repo / "content" / "zh").mkdir(parents=True)
    cjk = repo / "content" / "zh" / "云原生-直播.md"
    plain = repo / "content" / "zh" / "plain.md"
    for page in (cjk, plain):
        page.write_text("---\ntitle: x\n---\n", encoding="utf-8")
        os.utime(page, (1000, 1000))
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "all", date="2026-11-01T12:00:00+00:00")
    committed = datetime(2026, 11, 1, 12, tzinfo=UTC)
    times = revision_times(repo / "content", [cjk, plain])
    assert times == {cjk: committed, plain: committed}
    link = tmp_path / "link"
    link.symlink_to(repo)
    through = link / "content" / "zh" / "plain.md"
    assert revision_times(link / "content", [through]) == {through: committed}


def test_build_after_sync_writes_the_same_files(tmp_path: Path) -> None:
    """`sync` and `build` alternate on a site (CI builds, `up` syncs): with the ledger there,
    `build` writes what the sync wrote, byte for byte: the rescheduled event's SEQUENCE, the
    feeds' updated times (from the ledger's change times, not the page's commit)."""
    site = copy_site(tmp_path)
    git(site, "init", "-q")
    git(site, "add", "-A")
    git(site, "commit", "-qm", "pages", date="2026-11-01T10:00:00+00:00")
    now = "2026-11-26T09:00:00+08:00"
    runner = CliRunner()
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    assert runner.invoke(app, ["sync", str(site), "--now", now, "-o", str(d1)]).exit_code == 0
    page = site / "content" / "en" / "events" / "operators-berlin.md"
    text = page.read_text(encoding="utf-8")
    assert "start: 2026-12-03 19:00" in text
    page.write_text(text.replace("start: 2026-12-03 19:00", "start: 2026-12-03 18:00"), "utf-8")
    git(site, "commit", "-qam", "an hour earlier", date="2026-11-20T10:00:00+00:00")
    later = "2026-11-27T09:00:00+08:00"
    synced = runner.invoke(app, ["sync", str(site), "--now", later, "-o", str(d1)])
    assert synced.exit_code == 0, synced.output
    built = runner.invoke(app, ["build", str(site), "--now", later, "-o", str(d2), "-q"])
    assert built.exit_code == 0, built.output
    assert snapshot(d2) == snapshot(d1) != {}
    ics = (d2 / "events" / "operators-berlin.en.ics").read_text(encoding="utf-8")
    assert "SEQUENCE:1" in ics  # the reschedule, as the sync numbered it
    # without a ledger, build still works from the pages alone (and creates no ledger)
    fresh = copy_site(tmp_path / "fresh")
    made = runner.invoke(app, ["build", str(fresh), "-o", str(tmp_path / "d3"), "-q"])
    assert made.exit_code == 0, made.output
    assert not (fresh / ".livepipe").exists()


@pytest.mark.parametrize(
    ("count", "processes"), [(10_000, 2), (10_000, 8), (401, 2), (7, 2), (100, 1)]
)
def test_render_slices_cover_every_event_once_and_shrink_toward_the_end(
    count: int, processes: int
) -> None:
    """Slices shrink as the work runs out (a process that takes the last big slice kept
    the other waiting for it): together they are range(count), in order."""
    bounds = _slices(count, processes)
    assert [i for start, end in bounds for i in range(start, end)] == list(range(count))
    sizes = [end - start for start, end in bounds]
    if processes > 1:
        assert all(a >= b for a, b in itertools.pairwise(sizes))
        assert max(sizes[-processes:]) <= 16  # the last each process takes is small
        assert sizes[0] == min(count, max(16, count // (processes * 8)))
    else:
        assert set(sizes[:-1]) <= {64}
