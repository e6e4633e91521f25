"""The render cache: a warm build makes again only the events (and weekly digests) whose
inputs changed, and its output is always byte for byte what a build without the cache makes:
after an edited page, setting, site template or catalogue, a new SEQUENCE, a file name
collision, the clock of a recurring event, a file changed or deleted in dist/, a damaged or
planted cache file, or a change in livepipe itself."""

from __future__ import annotations

import pickle
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from livepipe import build as build_module
from livepipe.build import BuildResult, build
from livepipe.fast import rendercache
from livepipe.render import RENDERERS
from livepipe.site import Site, load

from .support import bundled_site

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIVEPIPE_CACHE_DIR", str(tmp_path / "user-cache"))
    return bundled_site(tmp_path / "site")


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The events rendered (not taken from the build before), by uid, once per build."""
    seen: list[str] = []
    ics = RENDERERS["ics"]
    real = ics.render_event

    def counting(e, ctx):  # type: ignore[no-untyped-def]
        if e not in ctx.tombstones:
            seen.append(e.uid)
        return real(e, ctx)

    monkeypatch.setattr(ics, "render_event", counting)
    return seen


def snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def make(site: Path, out: Path, **options: object) -> BuildResult:
    return build(load(Site.locate(site), workers=1), out, **options)  # type: ignore[arg-type]


def fresh(site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: object) -> dict:
    """What a build without any cache makes of the site as it is now."""
    with monkeypatch.context() as m:
        m.setenv("LIVEPIPE_CACHE", "0")
        out = tmp_path / f"fresh-{time.monotonic_ns()}"
        make(site, out, **options)
    return snapshot(out)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_warm_build_renders_nothing_and_equals_a_fresh_one(
    site: Path, tmp_path: Path, rendered: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "dist"
    first = make(site, out)
    assert len(rendered) == len(first.load.events) == 8
    rendered.clear()
    again = make(site, out)
    assert rendered == []
    assert again.report.written == [] and again.report.removed == []
    assert [f.path for f in again.files] == [f.path for f in first.files]
    assert snapshot(out) == fresh(site, tmp_path, monkeypatch)


def test_an_edited_page_renders_its_event_and_nothing_else(
    site: Path, tmp_path: Path, rendered: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "dist"
    make(site, out)
    rendered.clear()
    edit(site / "content/en/events/operators-berlin.md", "An evening of", "A night of")
    report = make(site, out).report
    assert [uid.split("@")[0] for uid in rendered] == ["en/events/operators-berlin"]
    assert "wechat/operators-berlin.en.txt" in report.written
    assert snapshot(out) == fresh(site, tmp_path, monkeypatch)


def _settings(site: Path) -> None:
    edit(site / "livepipe.toml", 'name = "Example', 'name = "Renamed')


def _site_template(site: Path) -> None:
    (site / "templates" / "wechat").mkdir(parents=True)
    (site / "templates" / "wechat" / "group.txt").write_text("{{ e.title }} (ours)\n")


def _site_catalogue(site: Path) -> None:
    (site / "i18n").mkdir()
    (site / "i18n" / "en.toml").write_text('[place]\nonline = "On the internet"\n')


def _collision(site: Path) -> None:
    # a second page named like one in another folder: both get a uid suffix in their names
    page = site / "content/en/events/operators-berlin.md"
    (site / "content/en/more").mkdir()
    (site / "content/en/more/operators-berlin.md").write_text(
        page.read_text(encoding="utf-8").replace("An evening of", "Twin of", 1)
    )


def _deleted_page(site: Path) -> None:
    (site / "content/en/events/operators-berlin.md").unlink()


@pytest.mark.parametrize(
    "change", [_settings, _site_template, _site_catalogue, _collision, _deleted_page]
)
def test_a_change_outside_the_pages_is_never_hidden_by_the_cache(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change
) -> None:
    out = tmp_path / "dist"
    make(site, out)
    before = snapshot(out)
    change(site)
    make(site, out)
    after = snapshot(out)
    assert after != before  # the change shows in the files…
    assert after == fresh(site, tmp_path, monkeypatch)  # …exactly as a fresh build shows it


def test_sequence_and_change_times_from_the_ledger_are_inputs(
    site: Path, tmp_path: Path, rendered: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "dist"
    events = make(site, out).load.events
    uid = next(e.uid for e in events if "operators-berlin" in e.uid)
    rendered.clear()
    make(site, out, sequence={uid: 3})
    assert rendered == [uid]
    assert b"SEQUENCE:3" in (out / "events" / "operators-berlin.en.ics").read_bytes()
    assert snapshot(out) == fresh(site, tmp_path, monkeypatch, sequence={uid: 3})


def test_an_event_changed_after_loading_is_keyed_by_its_new_value(
    site: Path, tmp_path: Path, rendered: list[str]
) -> None:
    """Pages' events carry their fingerprint from the page cache; one changed after loading
    (the replay URL the stream watcher found, as `build` with a ledger does) has none and is
    keyed by what it now is, not by the page's fingerprint."""
    out = tmp_path / "dist"
    loaded = load(Site.locate(site), workers=1)
    assert all(e.fingerprint for e in loaded.events)
    build(loaded, out)
    target = next(e for e in loaded.events if "operators-berlin" in e.uid)
    changed = replace(target, replay_url="https://video.example.org/replay/42")
    assert changed.fingerprint == b"" and replace(target) == target  # not in equality
    events = tuple(changed if e is target else e for e in loaded.events)
    rendered.clear()
    build(replace(loaded, events=events), out)
    assert rendered == [target.uid]
    assert "https://video.example.org/replay/42" in (out / "feed.json").read_text()
    rendered.clear()
    build(load(Site.locate(site), workers=1), out)  # the page's event again, from the cache
    assert rendered == [target.uid]
    assert "replay/42" not in (out / "feed.json").read_text()


def test_a_recurring_event_follows_the_clock(
    site: Path, tmp_path: Path, rendered: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (site / "content/en/events/weekly.md").write_text(
        "---\ntitle: Weekly sync\nstart: 2026-12-01T10:00:00Z\nend: 2026-12-01T11:00:00Z\n"
        "location: online\nrepeat: {rrule: FREQ=WEEKLY, count: 30}\n---\nWeekly.\n"
    )
    out = tmp_path / "dist"
    make(site, out, now=NOW)
    later = datetime(2027, 2, 1, tzinfo=UTC)
    rendered.clear()
    make(site, out, now=NOW)
    assert rendered == []  # the same clock: nothing to make again
    make(site, out, now=later)
    assert [uid.split("@")[0] for uid in rendered] == ["en/events/weekly"]  # only the series
    assert snapshot(out) == fresh(site, tmp_path, monkeypatch, now=later)


@pytest.mark.parametrize("ahead", [False, True], ids=["checked-here", "checked-ahead"])
def test_files_changed_or_deleted_in_dist_are_made_again(
    site: Path, tmp_path: Path, rendered: list[str], monkeypatch: pytest.MonkeyPatch, ahead: bool
) -> None:
    """Also when `build` checked dist/ in a forked process while the pages loaded."""
    import livepipe.timeutil
    from livepipe import writer

    out = tmp_path / "dist"
    make(site, out)
    expected = snapshot(out)
    (out / "wechat" / "operators-berlin.en.html").unlink()
    edited = out / "newsletter" / "gitops1022-live.txt"
    edited.write_bytes(edited.read_bytes().replace(b"GitOps", b"GitOff"))  # same size
    digest = next((out / "newsletter").glob("digest-*.html"))
    digest.write_text("tampered")
    rendered.clear()
    if ahead:
        monkeypatch.setattr(writer, "AHEAD_MIN_BYTES", 0)
        monkeypatch.setattr(livepipe.timeutil, "usable_cpus", lambda: 2)
        assert writer.check_ahead(out)
    make(site, out)
    assert snapshot(out) == expected
    assert sorted(uid.split("@")[0] for uid in rendered) == [
        "en/events/operators-berlin",
        "zh/live/gitops1022-live",
    ]


@pytest.mark.parametrize(
    "content",
    [
        b"not a pickle at all",
        pickle.dumps(("scope", {"uid": "not an entry"})),
        # a planted file that would run a command when unpickled by plain pickle
        b"cos\nsystem\n(S'touch /tmp/livepipe-planted'\ntR.",
    ],
)
def test_a_damaged_or_planted_cache_file_is_ignored(
    site: Path, tmp_path: Path, rendered: list[str], content: bytes
) -> None:
    out = tmp_path / "dist"
    first = make(site, out)
    caches = list((tmp_path / "user-cache").glob("renders-*.pickle"))
    assert len(caches) == 1 and site not in caches[0].parents
    caches[0].write_bytes(content)
    rendered.clear()
    again = make(site, out)
    assert len(rendered) == len(first.load.events)  # nothing trusted: every event made again
    assert not Path("/tmp/livepipe-planted").exists()
    assert [f.sha256 for f in again.files] == [f.sha256 for f in first.files]


def test_a_change_in_livepipe_itself_renders_everything(
    site: Path, tmp_path: Path, rendered: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"
    (code / "render").mkdir(parents=True)
    (code / "render" / "ics.py").write_text("# one version\n")
    monkeypatch.setattr(rendercache, "code_folder", lambda: code)
    out = tmp_path / "dist"
    make(site, out)
    rendered.clear()
    make(site, out)
    assert rendered == []
    (code / "render" / "ics.py").write_text("# another version\n")
    make(site, out)
    assert len(rendered) == 8


def test_cache_off_writes_no_cache_file(
    site: Path, tmp_path: Path, rendered: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEPIPE_CACHE", "0")
    out = tmp_path / "dist"
    make(site, out)
    rendered.clear()
    make(site, out)
    assert len(rendered) == 8
    assert not list((tmp_path / "user-cache").glob("renders-*"))


def test_a_weekly_digest_is_made_again_only_when_one_of_its_events_changed(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real = RENDERERS["newsletter"].digest  # type: ignore[attr-defined]

    def counting(ctx, week, events):  # type: ignore[no-untyped-def]
        made.append(week)
        return real(ctx, week, events)

    monkeypatch.setattr(RENDERERS["newsletter"], "digest", counting)
    out = tmp_path / "dist"
    make(site, out)
    weeks = list(made)
    assert len(weeks) >= 3
    made.clear()
    make(site, out)
    assert made == []
    edit(site / "content/en/events/operators-berlin.md", "An evening of", "A night of")
    make(site, out)
    assert len(made) == 1 and made[0] in weeks
    assert snapshot(out) == fresh(site, tmp_path, monkeypatch)


def test_render_all_neither_reads_nor_writes_the_cache(site: Path, tmp_path: Path) -> None:
    """render_all (preview, tests) keeps everything in memory: every event is rendered."""
    make(site, tmp_path / "dist")
    (cache,) = (tmp_path / "user-cache").glob("renders-*.pickle")
    before = cache.stat().st_mtime_ns
    ctx = build_module.context(load(Site.locate(site), workers=1))
    arts = build_module.render_all(ctx, workers=1)
    assert len([a for a in arts if a.path.startswith("events/")]) == 8
    assert cache.stat().st_mtime_ns == before


def test_aggregate_calendars_are_made_again_only_when_one_of_their_events_changed(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    ics = RENDERERS["ics"]
    real = ics._calendars  # type: ignore[attr-defined]

    def counting(ctx, specs, blobs):  # type: ignore[no-untyped-def]
        made.extend(path for path, _, _ in specs)
        return real(ctx, specs, blobs)

    monkeypatch.setattr(ics, "_calendars", counting)
    out = tmp_path / "dist"
    first = make(site, out)
    assert "calendar.ics" in made
    made.clear()
    make(site, out)
    assert made == []
    # a deleted page kept in the calendars as cancelled (the ledger's tombstone)
    gone = next(e for e in first.load.events if "operators-berlin" in e.uid)
    (site / "content/en/events/operators-berlin.md").unlink()
    make(site, out, tombstones=(gone,))
    assert "calendar.ics" in made
    assert b"operators-berlin" in (out / "calendar.ics").read_bytes()
    assert snapshot(out) == fresh(site, tmp_path, monkeypatch, tombstones=(gone,))


def test_another_version_of_a_rendering_library_renders_everything(
    site: Path, tmp_path: Path, rendered: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jinja2, markdown-it, icalendar and markupsafe make the files: their versions (read
    from their metadata, not by importing them, once per process) are part of every key."""
    import importlib.metadata

    out = tmp_path / "dist"
    make(site, out)
    rendered.clear()
    make(site, out)
    assert rendered == []
    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata,
        "version",
        lambda name: "99.0" if name == "markdown-it-py" else real(name),
    )
    make(site, out)
    assert rendered == []  # this process renders with the code it loaded: its version
    rendercache._version.cache_clear()  # a new process: the upgraded package
    try:
        make(site, out)
    finally:
        rendercache._version.cache_clear()  # no made-up version left for later tests
    assert len(rendered) == 8
    assert rendercache._version(("no-such-distribution", "json")) == str(
        __import__("json").__version__
    )


def test_dist_is_checked_ahead_only_when_the_build_before_left_renderings(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold build (no renderings kept: none yet, the cache removed or off) reuses no file:
    checking them all beside the page readers would only take a CPU from them."""
    import shutil

    import livepipe.timeutil
    from livepipe import writer
    from livepipe.build import check_ahead

    monkeypatch.setattr(writer, "AHEAD_MIN_BYTES", 0)
    monkeypatch.setattr(livepipe.timeutil, "usable_cpus", lambda: 2)
    settings = Site.locate(site).settings
    out = tmp_path / "dist"
    assert not check_ahead(settings, out)  # nothing built yet
    make(site, out)
    assert check_ahead(settings, out)
    make(site, out)  # takes the answer
    shutil.rmtree(tmp_path / "user-cache")
    assert not check_ahead(settings, out)  # dist/ is there, the renderings are not
    make(site, out)
    monkeypatch.setenv("LIVEPIPE_CACHE", "0")
    assert not check_ahead(settings, out)


def test_a_warm_build_pickles_again_only_the_shards_of_what_it_made(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The render cache is kept in shards: after one edited page, only the entries of the
    shards that changed are pickled again (the others are written as the bytes they were
    read as), and the file still holds every entry, equal to what the build made."""
    monkeypatch.setattr(rendercache.RenderCache, "SHARD", 2)
    pickled: list[int] = []  # entries pickled anew, per shard
    real = pickle.dumps

    def counting(value: object, protocol: int | None = None) -> bytes:
        first = value[0] if isinstance(value, list) and value else None
        if isinstance(first, tuple) and isinstance(first[0], bytes):
            pickled.append(len(value))  # a shard of render entries (key, outputs)
        return real(value, protocol=protocol)

    monkeypatch.setattr(rendercache.pickle, "dumps", counting)
    out = tmp_path / "dist"
    make(site, out)
    total = sum(pickled)
    assert total >= 10 and len(pickled) == (total + 1) // 2  # 8 events and the parts
    edit(site / "content/en/events/operators-berlin.md", "An evening of", "A night of")
    pickled.clear()
    build(load(Site.locate(site), workers=1), out)
    assert 1 <= sum(pickled) <= 8  # the event's shard and those of the parts showing it
    [path] = (tmp_path / "user-cache").glob("renders-*.pickle")
    cache = rendercache.RenderCache.__new__(rendercache.RenderCache)
    cache.path, cache.scope = path, pickle.loads(path.read_bytes())[0]
    again = make(site, out)  # and what the file holds is whole: nothing made again
    assert again.report.written == []
    assert len(cache._read()) == total
