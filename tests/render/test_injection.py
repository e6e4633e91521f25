"""Hostile page text must stay text in every artifact: ICS, XML, JSON and HTML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import icalendar
import yaml

from livepipe.site import Site, load

from ..conftest import Validators, failures
from .helpers import artifacts

TITLE = "Evil\r\nEND:VEVENT\r\nBEGIN:VEVENT <script>alert('x')</script> & ]]> 🎉 " + "长" * 300
DESCRIPTION = "desc; with, separators \\ and <b>tags</b> & ]]>"


def hostile_site(site: Path) -> Path:
    meta = {
        "title": TITLE,
        "description": DESCRIPTION,
        "start": "2026-12-01T10:00:00+08:00",
        "location": "Room <1>; A, B \\ C",
        "tags": ["a,b", "<t>"],
        "live_url": "https://live.example/?a=1&b=<2>",
    }
    body = "## About\n\n<script>alert(1)</script><iframe src='https://e'></iframe> ]]> &amp;\n"
    page = site / "content" / "evil.md"
    page.write_text(
        "---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\n" + body, encoding="utf-8"
    )
    return site


def test_hostile_text_round_trips(site: Path) -> None:
    result = load(Site.locate(hostile_site(site)))
    (event,) = result.events
    arts = {a.path: a.data for a in artifacts(result)}

    cal = icalendar.Calendar.from_ical(arts["calendar.ics"])
    (vevent,) = cal.walk("VEVENT")
    assert str(vevent["SUMMARY"]) == event.title  # one event, title intact
    assert str(vevent["LOCATION"]) == "Room <1>; A, B \\ C"
    lines = arts["calendar.ics"].split(b"\r\n")
    assert all(len(line) <= 75 for line in lines)
    assert lines.count(b"BEGIN:VEVENT") == 1

    rss = ET.fromstring(arts["feed.xml"])
    assert rss.findtext("channel/item/title") == event.title
    atom = ET.fromstring(arts["atom.xml"])
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert atom.findtext("a:entry/a:title", namespaces=ns) == event.title
    content = atom.findtext("a:entry/a:content", namespaces=ns) or ""
    assert "<script" not in content and "<iframe" not in content
    assert "alert(1)" not in content  # the body's script is dropped, not escaped
    feed = json.loads(arts["feed.json"])
    assert feed["items"][0]["title"] == event.title
    assert "<script" not in feed["items"][0]["content_html"]

    for path, data in arts.items():
        if path.endswith(".html"):
            text = data.decode("utf-8")
            assert "<script" not in text and "<iframe" not in text, path
            assert "alert(1)" not in text, path


def test_hostile_site_passes_validators(site: Path, tmp_path: Path, validators: Validators) -> None:
    result = load(Site.locate(hostile_site(site)))
    out = tmp_path / "out"
    out.mkdir()
    files = []
    for art in artifacts(result):
        if art.path.endswith((".ics", "feed.xml", "atom.xml", "feed.json")):
            target = out / art.path.replace("/", "_")
            target.write_bytes(art.data)
            files.append(target)
    ics = [f for f in files if f.suffix == ".ics"]
    report = validators.ics(ics)
    assert report["ok"], failures(report)
    report = validators.feed([f for f in files if f.suffix != ".ics"])
    assert report["ok"], failures(report)


def test_unsafe_urls_are_dropped(site: Path, write_page: Callable[..., Path]) -> None:
    (site / "content" / "x.md").write_text(
        "---\ntitle: X\nstart: 2026-12-01 10:00\nlive_url: javascript:alert(1)\n---\n",
        encoding="utf-8",
    )
    result = load(Site.locate(site))
    assert result.events[0].live_url is None
    assert [p.code for p in result.problems] == ["bad-url"]
