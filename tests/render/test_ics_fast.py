"""The fast ICS writer (VEVENT lines written directly, values escaped by icalendar's types)
must give exactly the bytes of the reference path that builds icalendar components."""

from __future__ import annotations

from pathlib import Path

import pytest

from livepipe.render.context import BuildContext
from livepipe.render.ics import IcsRenderer
from livepipe.site import Site, load

from ..support import CONTENT
from .helpers import fixed_context
from .test_injection import hostile_site


def ics_files(renderer: IcsRenderer, ctx: BuildContext) -> dict[str, bytes]:
    files, blobs = {}, {}
    for e in ctx.events:
        out = renderer.render_event(e, ctx)
        blobs[e.uid] = out.fragment or b""
        files.update({a.path: a.data for a in out.artifacts})
    files.update({a.path: a.data for a in renderer.render_site(ctx, blobs)})
    return files


def assert_same(path: Path, *, sequence: int = 0) -> int:
    ctx = fixed_context(load(Site.locate(path)))
    ctx.sequence = {e.uid: sequence for e in ctx.events}
    fast = ics_files(IcsRenderer(fast=True), ctx)
    reference = ics_files(IcsRenderer(fast=False), ctx)
    assert fast.keys() == reference.keys()
    for name, data in reference.items():
        assert fast[name] == data, name
    return len(fast)


@pytest.mark.parametrize("sequence", [0, 7])
def test_bundled_content(sequence: int) -> None:
    assert assert_same(CONTENT, sequence=sequence) > 20


@pytest.mark.corpus
def test_real_corpus(corpus: Path) -> None:
    assert assert_same(corpus) > 185


def test_hostile_text(site: Path) -> None:
    assert assert_same(hostile_site(site)) >= 2


def test_every_shape_of_event(site: Path, write_page) -> None:  # type: ignore[no-untyped-def]
    pages = {
        "utc.md": "title: 'UTC; with, commas'\nstart: 2026-12-01T10:00:00Z\ntimezone: UTC\n"
        "location: online\nlive_url: https://x.test/a?b=1&c=2\n",
        "allday.md": "title: Day\nstart: 2026-12-02\nend: 2026-12-04\nlocation: 'Hall \\\\ 1'\n"
        "cover: https://x.test/c.png\ntags: ['x;y', 'z']\n",
        "ny.md": "title: NY\nstart: 2026-03-08 01:30\nend: 2026-03-08 03:30\n"
        "timezone: America/New_York\nstatus: cancelled\nlocation: NYC\n",
        "inperson.md": "title: 线下\nstart: 2026-12-05 14:00\nlocation: 成都\n",
    }
    for name, meta in pages.items():
        write_page(name, f"---\n{meta}---\nBody with \\ backslash; and, commas.\n")
    assert assert_same(site) == 7  # 4 events, calendar.ics, 2 tag calendars
