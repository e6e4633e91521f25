"""The page cache: unchanged pages come from the last run, changed ones are read again, and
nothing stale ever survives an edit, a deletion, a settings change or a damaged file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from livepipe import site as site_module
from livepipe.fast import pagecache as cache_module
from livepipe.fast import parallel as parallel_module
from livepipe.site import LoadResult, Site, load

from .support import CONTENT, ROOT


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIVEPIPE_CACHE_DIR", str(tmp_path / "user-cache"))
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(ROOT / "livepipe.toml", site / "livepipe.toml")
    shutil.copytree(CONTENT, site / "content")
    bad = site / "content" / "en" / "events" / "bad.md"
    bad.write_text("---\ntitle: Bad\nstart: [x\n---\n", encoding="utf-8")
    return site


def cache_file(root: Path) -> Path:
    site = Site.locate(root)
    path = cache_module.PageCache(site.settings, site.content_root).path
    assert path is not None
    return path


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pages actually read (not taken from the cache), by name."""
    seen: list[str] = []
    real = site_module._load_one

    def counting(site: Site, path: Path):  # type: ignore[no-untyped-def]
        seen.append(path.name)
        return real(site, path)

    monkeypatch.setattr(site_module, "_load_one", counting)
    return seen


def fresh(root: Path) -> LoadResult:
    return load(Site.locate(root), workers=1)


def same(a: LoadResult, b: LoadResult) -> bool:
    return (a.events, a.problems, a.pages, a.drafts, a.failed) == (
        b.events,
        b.problems,
        b.pages,
        b.drafts,
        b.failed,
    )


def test_second_load_reads_nothing_and_gives_the_same_result(root: Path, reads: list) -> None:
    first = fresh(root)
    assert len(reads) == 10 and cache_file(root).is_file()
    assert root not in cache_file(root).parents  # never inside the site tree
    reads.clear()
    second = fresh(root)
    assert reads == [] and same(first, second)
    assert second.errors == 1 and second.problems[0].line == 3  # the bad page's problem too


def test_an_edited_page_is_read_again(root: Path, reads: list) -> None:
    fresh(root)
    reads.clear()
    page = root / "content" / "en" / "events" / "operators-berlin.md"
    page.write_text(
        page.read_text(encoding="utf-8").replace("Operators in Practice", "Operators Now"),
        encoding="utf-8",
    )
    result = fresh(root)
    assert reads == ["operators-berlin.md"]
    assert "Operators Now: Berlin" in [e.title for e in result.events]
    os.utime(page, ns=(1, 1))  # same size, other mtime: read again
    reads.clear()
    fresh(root)
    assert reads == ["operators-berlin.md"]


def test_a_fixed_page_loses_its_problem(root: Path, reads: list) -> None:
    assert fresh(root).errors == 1
    bad = root / "content" / "en" / "events" / "bad.md"
    bad.write_text("---\ntitle: Good now\nstart: 2026-12-30 10:00\n---\n", encoding="utf-8")
    result = fresh(root)
    assert result.errors == 0 and "Good now" in [e.title for e in result.events]


def test_a_deleted_page_is_gone(root: Path, reads: list) -> None:
    before = fresh(root)
    (root / "content" / "en" / "events" / "wasm-edge-0114.md").unlink()
    after = fresh(root)
    assert len(after.events) == len(before.events) - 1
    assert "en/events/wasm-edge-0114.md" not in [e.source for e in after.events]


def test_changed_settings_read_every_page(root: Path, reads: list) -> None:
    fresh(root)
    config = root / "livepipe.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'timezone = "Asia/Shanghai"', 'timezone = "UTC"'
        ),
        encoding="utf-8",
    )
    reads.clear()
    result = fresh(root)
    assert len(reads) == 10
    assert result.site.settings.site.timezone == "UTC"


@pytest.mark.parametrize("junk", [b"", b"not a pickle", b"\x80\x05garbage"])
def test_a_damaged_cache_is_ignored_and_rewritten(root: Path, reads: list, junk: bytes) -> None:
    first = fresh(root)
    cache_file(root).write_bytes(junk)
    reads.clear()
    assert same(fresh(root), first) and len(reads) == 10
    reads.clear()
    fresh(root)
    assert reads == []


def test_problems_name_pages_from_the_current_folder(
    root: Path, reads: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)
    assert fresh(root).problems[0].path == "content/en/events/bad.md"
    monkeypatch.chdir(root / "content")
    assert fresh(root).problems[0].path == "en/events/bad.md"


def test_the_cache_can_be_turned_off(
    root: Path, reads: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEPIPE_CACHE", "0")
    fresh(root)
    reads.clear()
    fresh(root)
    assert len(reads) == 10 and not cache_module.cache_dir().exists()


def test_checking_one_page_keeps_the_others_cached(root: Path, reads: list) -> None:
    fresh(root)
    page = root / "content" / "en" / "events" / "operators-berlin.md"
    one = load(Site.locate(page), workers=1)
    assert [e.title for e in one.events] == ["Operators in Practice: Berlin"]
    reads.clear()
    fresh(root)
    assert reads == []


def test_worker_shards_are_kept_as_written_and_only_the_edited_page_is_read(
    root: Path, reads: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    from livepipe.fast.pagecache import PageCache

    monkeypatch.setattr(site_module, "PARALLEL_MIN_PAGES", 0)
    monkeypatch.setattr(site_module, "CHUNK_MIN_PAGES", 2)
    monkeypatch.setattr(parallel_module, "usable_cpus", lambda: 2)
    site = Site.locate(root)
    parallel = load(site)  # helpers pickle their pages; those bytes are the cache shards
    shards = PageCache(site.settings, site.content_root).shards
    assert len(shards) > 1 and sum(len(s.keys) for s in shards) == 10
    reads.clear()  # what this process read itself (its share of the chunks)
    assert same(fresh(root), parallel) and reads == []

    page = root / "content" / "en" / "events" / "operators-berlin.md"
    page.write_text(
        page.read_text(encoding="utf-8").replace("Practice: Berlin", "Practice: Bonn"),
        encoding="utf-8",
    )
    pickled: list[int] = []
    real_of = cache_module.Shard.of.__func__  # type: ignore[attr-defined]

    def counting_of(cls, keys, results):  # type: ignore[no-untyped-def]
        pickled.append(len(keys))
        return real_of(cls, keys, results)

    monkeypatch.setattr(cache_module.Shard, "of", classmethod(counting_of))
    edited = fresh(root)
    assert reads == ["operators-berlin.md"]
    assert sum(pickled) == 2  # the edited page, and the one that shared its shard
    assert "Operators in Practice: Bonn" in [e.title for e in edited.events]
    after = PageCache(site.settings, site.content_root).shards
    untouched = [s for s in shards if str(page) not in [p for p, _ in s.keys]]
    assert all(s in after for s in untouched)  # the same bytes, not pickled again
    assert sorted(p for s in after for p, _ in s.keys) == sorted(
        p for s in shards for p, _ in s.keys
    )
    reads.clear()
    assert same(fresh(root), edited) and reads == []

    page.unlink()
    fresh(root)
    cached = PageCache(site.settings, site.content_root).entries
    assert str(page) not in cached and len(cached) == 9


def test_a_page_that_met_a_bug_is_read_again(
    root: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An internal error is not a fact about the page: once livepipe is fixed (same version
    while developing), the page must not stay failed from the cache."""
    real = site_module._load_page

    def broken(ctx, settings):  # type: ignore[no-untyped-def]
        if ctx.page.path.name == "operators-berlin.md":
            raise TypeError("a bug")
        return real(ctx, settings)

    monkeypatch.setattr(site_module, "_load_page", broken)
    first = fresh(root)
    assert "en/events/operators-berlin.md" in first.failed
    monkeypatch.setattr(site_module, "_load_page", real)
    reads.clear()
    again = fresh(root)
    assert reads == ["operators-berlin.md"]  # only that page is read anew
    assert "en/events/operators-berlin.md" not in again.failed
    assert any(e.source == "en/events/operators-berlin.md" for e in again.events)
    reads.clear()
    fresh(root)
    assert reads == []  # and cached from then on
