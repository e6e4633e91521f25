"""What real client programs need from the files (issue 15), checked on the built bytes; the
programs themselves run in tests/clients/."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar

from livepipe.build import context, render_all
from livepipe.ledger import open_ledger
from livepipe.pipeline import sync
from livepipe.site import Site, load

from ..support import CONTENT
from ..test_build import git
from .helpers import artifacts, build_memory

XML = "http://www.w3.org/XML/1998/namespace"


def _calendar_lines(data: bytes) -> list[bytes]:
    """The calendar's own lines: before its first component."""
    lines = data.split(b"\r\n")
    return lines[: next(i for i, line in enumerate(lines) if i and line.startswith(b"BEGIN:V"))]


def test_no_calendar_level_uid_or_method() -> None:
    """vdirsyncer takes a file's first UID line as every item's UID (one event survived a
    subscription); METHOD:PUBLISH without ORGANIZER fails libical's iTIP restriction check."""
    _, built = build_memory(CONTENT)
    for path in ("calendar.ics", "calendar-en.ics", "events/community-day-2027.en.ics"):
        head = _calendar_lines(built[path])
        assert head[0] == b"BEGIN:VCALENDAR"
        assert not [line for line in head if line.startswith((b"UID", b"METHOD"))], path
        assert any(line.startswith(b"URL:") for line in head)
        assert any(line.startswith(b"NAME:") for line in head)
        first_uid = next(line for line in built[path].split(b"\r\n") if line.startswith(b"UID"))
        cal = icalendar.Calendar.from_ical(built[path])
        assert first_uid == b"UID:" + str(cal.walk("VEVENT")[0]["UID"]).encode()


def test_all_day_alarm_fires_at_nine_on_the_day(site: Path, write_page: Callable) -> None:
    (site / "livepipe.toml").write_text(
        (site / "livepipe.toml").read_text() + '[calendar]\nalarm = "-10m"\n'
    )
    write_page("day.md", "---\ntitle: Day\nstart: 2027-01-16\n---\nbody\n")
    write_page("talk.md", "---\ntitle: Talk\nstart: 2027-01-16T10:00:00+08:00\n---\nbody\n")
    arts = {a.path: a.data for a in artifacts(load(Site.locate(site)))}
    triggers = {}
    for path, data in arts.items():
        if path.startswith("events/") and path.endswith(".ics"):
            (ev,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
            (alarm,) = ev.walk("VALARM")
            triggers[str(ev["SUMMARY"])] = alarm["TRIGGER"].dt
    # 00:00 + 9 h = 09:00 on the day, not 23:50 the evening before
    assert triggers == {"Day": timedelta(hours=9), "Talk": timedelta(minutes=-10)}


def test_hybrid_with_unknown_venue_says_so(site: Path, write_page: Callable) -> None:
    write_page(
        "live/hybrid.md",
        "---\ntitle: 混合活动\nsection1:\n  time: 2026-12-10 19:00-20:00\n  base: 线下 + 线上\n"
        "---\n## 活动时间和地点\n\n- 地点：线下（地点待定）\n",
    )
    write_page(
        "live/online.md",
        "---\ntitle: 线上活动\nsection1:\n  time: 2026-12-11 19:00-20:00\n  base: 线上\n---\nx\n",
    )
    arts = {a.path: a.data for a in artifacts(load(Site.locate(site)))}
    cal = icalendar.Calendar.from_ical(arts["calendar.ics"])
    where = {str(ev["SUMMARY"]): str(ev.get("LOCATION")) for ev in cal.walk("VEVENT")}
    assert where == {"混合活动": "线下（地点待定） + 线上直播", "线上活动": "线上"}


ATOM = "http://www.w3.org/2005/Atom"


def test_atom_is_in_the_default_namespace() -> None:
    """rss-parser and @extractus/feed-extractor reject a prefixed `atom:feed`."""
    _, built = build_memory(CONTENT)
    data = built["atom.xml"]
    assert b"atom:" not in data
    root = ET.fromstring(data)
    assert root.tag == f"{{{ATOM}}}feed" and root.get(f"{{{XML}}}lang") == "zh"
    entries = root.findall(f"{{{ATOM}}}entry")
    assert len(entries) == len(json.loads(built["feed.json"])["items"]) > 0
    for entry in entries:
        assert entry.find(f"{{{ATOM}}}link[@rel='alternate']") is not None
    # RSS keeps atom:link rel=self (RSS has no element of its own for it)
    rss = ET.fromstring(built["feed.xml"])
    assert rss.find(f"channel/{{{ATOM}}}link[@rel='self']") is not None


def test_feed_dates_are_first_and_last_commit_and_distinct(tmp_path: Path) -> None:
    """Two pages added in one commit, one added later, one edited later: published is the
    first commit, updated the last; items sharing a commit get distinct times, in feed order."""
    repo = tmp_path / "site"
    (repo / "content").mkdir(parents=True)
    (repo / "livepipe.toml").write_text(
        '[site]\nname = "T"\nbase_url = "https://t.example"\ntimezone = "UTC"\n'
    )

    def page(name: str, day: int, title: str = "x") -> None:
        (repo / "content" / f"{name}.md").write_text(
            f"---\ntitle: {title}\nstart: 2027-01-{day:02d}T10:00:00Z\n---\nbody\n"
        )

    page("a", 10)
    page("b", 11)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first", date="2026-11-01T12:00:00+00:00")
    page("c", 12)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "second", date="2026-11-03T08:00:00+00:00")
    page("a", 10, title="a, edited")
    git(repo, "commit", "-qam", "edit", date="2026-11-05T18:30:00+00:00")

    result = load(Site.locate(repo))
    arts = {a.path: a.data for a in render_all(context(result))}
    items = {
        i["url"].rstrip("/").rsplit("/", 1)[1]: i for i in json.loads(arts["feed.json"])["items"]
    }
    dates = {k: (i["date_published"], i["date_modified"]) for k, i in items.items()}
    assert dates == {
        "c": ("2026-11-03T08:00:00Z", "2026-11-03T08:00:00Z"),
        "b": ("2026-11-01T12:00:00Z", "2026-11-01T12:00:00Z"),  # shares "first" with a
        "a": (
            "2026-11-01T11:59:59Z",
            "2026-11-05T18:30:00Z",
        ),  # a second before b: later in the feed
    }
    rss = ET.fromstring(arts["feed.xml"])
    assert [i.findtext("pubDate") for i in rss.iter("item")] == [
        "Tue, 03 Nov 2026 08:00:00 GMT",
        "Sun, 01 Nov 2026 12:00:00 GMT",
        "Sun, 01 Nov 2026 11:59:59 GMT",
    ]
    atom = ET.fromstring(arts["atom.xml"])
    updated = [e.findtext(f"{{{ATOM}}}updated") for e in atom.iter(f"{{{ATOM}}}entry")]
    assert updated == ["2026-11-03T08:00:00Z", "2026-11-01T12:00:00Z", "2026-11-05T18:30:00Z"]


def test_feeds_carry_a_language_without_a_configured_default(
    site: Path, write_page: Callable
) -> None:
    """A KubeSphere site whose livepipe.toml names no default language (the corpus's)."""
    (site / "livepipe.toml").write_text(
        '[site]\nname = "KS"\nbase_url = "https://ks.example"\ntimezone = "Asia/Shanghai"\n'
    )
    for n in range(3):
        write_page(
            f"live/p{n}.md",
            f"---\ntitle: 直播 {n}\nsection1:\n  time: 2026-12-1{n} 19:00-20:00\n"
            "  base: 线上\n---\nx\n",
        )
    arts = {a.path: a.data for a in artifacts(load(Site.locate(site)))}
    assert ET.fromstring(arts["feed.xml"]).findtext("channel/language") == "zh"
    assert ET.fromstring(arts["atom.xml"]).get(f"{{{XML}}}lang") == "zh"
    feed = json.loads(arts["feed.json"])
    assert feed["language"] == "zh"
    assert all(i["_event"]["about"].startswith("https://") for i in feed["items"])


def test_feed_updated_is_the_last_significant_change(
    tmp_path: Path, ledger_url: str, monkeypatch
) -> None:
    """With the ledger (sync, serve): a typo fix leaves `updated` at the first publication; a
    reschedule moves it to the commit that made it."""
    repo = tmp_path / "site"
    (repo / "content").mkdir(parents=True)
    (repo / "livepipe.toml").write_text(
        '[site]\nname = "T"\nbase_url = "https://t.example"\ntimezone = "UTC"\n'
    )
    # the operator's ledger (outside the site: only from the environment, not livepipe.toml)
    monkeypatch.setenv("LIVEPIPE_LEDGER_URL", ledger_url)

    def page(name: str, start: str, body: str = "body") -> None:
        (repo / "content" / f"{name}.md").write_text(
            f"---\ntitle: {name}\nstart: {start}\n---\n{body}\n"
        )

    def synced(commit_date: str, sync_at: datetime) -> dict[str, tuple[str, str]]:
        git(repo, "add", ".")
        git(repo, "commit", "-qm", commit_date, date=commit_date)
        site = Site.locate(repo)
        ledger = open_ledger(site.settings)
        try:
            result = sync(site, ledger, sync_at, out=tmp_path / "dist")
        finally:
            ledger.close()
        assert result.build is not None
        items = json.loads((tmp_path / "dist" / "feed.json").read_text())["items"]
        return {i["title"]: (i["date_published"], i["date_modified"]) for i in items}

    page("typo", "2027-01-10T10:00:00Z")
    page("moved", "2027-01-11T10:00:00Z")
    git(repo, "init", "-q")
    synced("2026-11-01T12:00:00+00:00", datetime(2026, 11, 1, 12, 5, tzinfo=UTC))
    page("typo", "2027-01-10T10:00:00Z", body="body, spelled right")  # insignificant
    page("moved", "2027-01-18T10:00:00Z")  # rescheduled: significant
    dates = synced("2026-11-03T09:00:00+00:00", datetime(2026, 11, 3, 9, 2, tzinfo=UTC))
    assert dates == {
        "moved": ("2026-11-01T12:00:00Z", "2026-11-03T09:00:00Z"),  # the reschedule's commit
        "typo": ("2026-11-01T11:59:59Z", "2026-11-01T11:59:59Z"),  # never significantly changed
    }
