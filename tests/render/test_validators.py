"""Every artifact passes the independent validators: five real ICS parsers (incl. Mozilla's
ical.js) + strict RFC 5545, and feedparser + strict RSS/Atom/JSON Feed checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from livepipe.build import build
from livepipe.render.context import tag_file
from livepipe.site import Site, load

from ..conftest import Validators, failures
from ..support import CONTENT


def _check(out: Path, validators: Validators, expect_ics: int) -> None:
    ics = sorted(out.rglob("*.ics"))
    assert len(ics) == expect_ics
    report = validators.ics(ics)
    assert report["ok"], failures(report)
    feeds = [out / "feed.xml", out / "atom.xml", out / "feed.json"]
    report = validators.feed(feeds)
    assert report["ok"], failures(report)


def test_bundled_content_artifacts_validate(tmp_path: Path, validators: Validators) -> None:
    result = load(Site.locate(CONTENT))
    built = build(result, tmp_path / "dist")
    n_tags = len({tag_file(t) for e in result.events for t in e.tags})
    # per-event files + calendar.ics + 2 language calendars + tag calendars
    _check(built.out, validators, len(result.events) + 1 + 2 + n_tags)


@pytest.mark.slow  # waits on purpose (make test-quick leaves it out)
@pytest.mark.usefixtures("validators")
def test_corpus_artifacts_validate(tmp_path: Path, corpus: Path, validators: Validators) -> None:
    toml = tmp_path / "livepipe.toml"
    toml.write_text(
        '[site]\nname = "KubeSphere 云原生直播间"\nbase_url = "https://kubesphere.io"\n'
        'timezone = "Asia/Shanghai"\ndefault_language = "zh"\n',
        encoding="utf-8",
    )
    result = load(Site.locate(corpus, config=toml))
    assert len(result.events) == 185
    built = build(result, tmp_path / "dist")
    n_tags = len({tag_file(t) for e in result.events for t in e.tags})
    _check(built.out, validators, 185 + 1 + n_tags)
    report = validators.ics([built.out / "calendar.ics"])
    (entry,) = report["files"]
    parsers = [c for c in entry["checks"] if c.get("events") is not None]
    assert parsers and all(len(c["events"]) == 185 for c in parsers)
