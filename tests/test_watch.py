"""Stream watching against loopback stand-ins of bilibili's and YouTube's APIs (their real
answers and error codes, tests/fake_streams.py), with a controlled clock: one poll is one
`RoomWatch.step(now)`, a real HTTP request; what it records and sends goes through the real
ledger (SQLite and PostgreSQL) and the real outbox channel."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from livepipe.config import Settings, WatchSettings, load_settings
from livepipe.ledger import Ledger, open_ledger
from livepipe.models import SlotKind
from livepipe.pipeline import sync
from livepipe.plan import plan
from livepipe.publish import make_channels
from livepipe.records import SendState, StreamStatus
from livepipe.send import Sender
from livepipe.site import Site
from livepipe.streams import StreamRef, sessions, stream_of, targets
from livepipe.timeline import timeline
from livepipe.watch import RoomWatch, http_client, pointer, probe

from .support.receiver import Stats, serve, serve_app, wait_for
from .support.streams import YOUTUBE_KEY, Platforms, Stream, live_site, make_app, watch_settings

CST = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 12, 10, 20, 0, tzinfo=CST)
ROOM = "22580654"
VIDEO = "dQw4w9WgXcQ"
PAGE = """---
title: {title}
start: {start}
end: {end}
location: online
live_url: {live_url}
{extra}---
## About

A livestream.
"""


def at(minutes: float) -> datetime:
    """START + minutes."""
    return START + timedelta(minutes=minutes)


@pytest.fixture(scope="module")
def platforms() -> Iterator[tuple[Platforms, str]]:
    p = Platforms()
    with serve_app(make_app(p)) as url:
        yield p, url


@dataclass
class Site_:
    root: Path
    ledger: Ledger
    platforms: Platforms
    env: dict[str, str]

    @property
    def settings(self) -> Settings:
        return load_settings(self.root / "livepipe.toml")

    def page(self, name: str, live_url: str, start: datetime = START, **extra: str) -> None:
        text = PAGE.format(
            title=extra.pop("title", name),
            start=start.isoformat(),
            end=(start + timedelta(hours=1)).isoformat(),
            live_url=live_url,
            extra="".join(f"{k}: {v}\n" for k, v in extra.items()),
        )
        (self.root / "content" / f"{name}.md").write_text(text, encoding="utf-8")

    def sync(self, now: datetime) -> None:
        sync(Site.locate(self.root), self.ledger, now, out=None)

    def sender(self, now: datetime) -> Sender:
        return Sender(self.ledger, self.settings, make_channels(self.settings), clock=lambda: now)

    def step(self, ref: StreamRef, now: datetime) -> object:
        watch = RoomWatch(self.sender(now), ref, env=self.env)
        try:
            return watch.step(now)
        finally:
            watch.close()

    def delivered(self) -> list[dict]:
        box = self.root / ".livepipe" / "outbox" / "outbox"
        if not box.is_dir():
            return []
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(box.iterdir())]

    def slots(self, *states: SendState) -> list[str]:
        return sorted(s.slot for s in self.ledger.sends(*states))


BILI = StreamRef("bilibili", ROOM)
YT = StreamRef("youtube", VIDEO)


@pytest.fixture
def site(tmp_path: Path, ledger_url: str, platforms: tuple[Platforms, str]) -> Iterator[Site_]:
    p, url = platforms
    p.rooms.clear()
    p.videos.clear()
    p.generic.clear()
    p.mode.clear()
    p.requests.clear()
    p.times.clear()
    root = tmp_path / "site"
    (root / "content").mkdir(parents=True)
    (root / "livepipe.toml").write_text(
        '[site]\nname = "Live"\nbase_url = "https://live.test"\ntimezone = "Asia/Shanghai"\n'
        'default_language = "en"\n'
        "[slots.digest]\nenabled = false\n[slots.announce]\nenabled = false\n"
        "[slots.reminder-1d]\nenabled = false\n" + watch_settings(url),
        encoding="utf-8",
    )
    ledger = open_ledger(load_settings(root / "livepipe.toml"), ledger_url)
    s = Site_(root, ledger, p, {"YOUTUBE_API_KEY": YOUTUBE_KEY})
    yield s
    ledger.close()


def enable_late(site: Site_) -> None:
    with open(site.root / "livepipe.toml", "a", encoding="utf-8") as fh:
        fh.write("[slots.late]\nenabled = true\n")


# -- live URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://live.bilibili.com/22580654", "bilibili:22580654"),
        ("http://live.bilibili.com/22580654", "bilibili:22580654"),
        ("https://live.bilibili.com/h5/22580654?from=share", "bilibili:22580654"),
        ("https://live.bilibili.com/00000001", "bilibili:1"),
        ("https://live.bilibili.com/0", None),  # no room 0
        ("https://live.bilibili.com/", None),
        ("https://live.bilibili.com/abc", None),
        ("https://live.bilibili.com/２２５", None),  # full-width digits are not a room
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=3", "youtube:dQw4w9WgXcQ"),
        ("https://youtube.com/live/dQw4w9WgXcQ?feature=share", "youtube:dQw4w9WgXcQ"),
        ("https://youtu.be/dQw4w9WgXcQ", "youtube:dQw4w9WgXcQ"),
        ("https://www.youtube.com/watch?v=short", None),
        ("https://www.youtube.com/@community", None),
        (
            "https://studio.example.org/rooms/42",
            "generic:studio:https://studio.example.org/rooms/42",
        ),
        ("https://meet.example.org/office-hours", None),
        ("javascript:alert(1)", None),
        ("http://[::1", None),  # not a URL at all
        (None, None),
    ],
)
def test_which_live_urls_are_watched(url: str | None, expected: str | None) -> None:
    watch = WatchSettings.model_validate(
        {
            "generic": {
                "studio": {
                    "match": "https://studio.example.org/",
                    "url": "https://studio.example.org/api/{id}",
                    "pointer": "/live",
                }
            }
        }
    )
    ref = stream_of(url, watch)
    assert (ref.id if ref else None) == expected


def test_a_shared_room_is_one_session_asked_once_per_poll(site: Site_) -> None:
    site.page("zh-talk", f"https://live.bilibili.com/{ROOM}")
    site.page("en-talk", f"http://live.bilibili.com/{ROOM}", start=at(30))
    site.page("other", "https://live.bilibili.com/999", start=at(24 * 60))
    site.sync(at(-600))
    events = [r.event for r in site.ledger.events()]
    found = targets(events, site.settings, at(-600), at(3 * 24 * 60))
    merged = sessions(found)
    assert [(s.stream.id, s.opens, s.closes) for s in merged] == [
        ("bilibili:22580654", at(-30), at(30 + 60 + 30)),
        ("bilibili:999", at(24 * 60 - 30), at(24 * 60 + 90)),
    ]
    site.platforms.go_live(site.platforms.rooms, ROOM, at(5))
    seen = site.step(BILI, at(6))
    assert site.platforms.requests[f"bilibili:{ROOM}"] == 1  # one request …
    assert sorted(r.uid for r in seen.records) == sorted(  # type: ignore[attr-defined]
        r.uid for r in site.ledger.streams()
    )
    assert len(seen.records) == 2  # type: ignore[attr-defined]  # … told both events
    # … but the stream that went live at 00:05 is the talk that starts at 00:00 (the one
    # starting nearest): one notice, for it, none for the talk at 00:30
    assert [(d["slot"], d["event"]["title"]) for d in site.delivered()] == [("live", "zh-talk")]


# -- the scenarios --------------------------------------------------------------------------


def test_live_inside_the_window_sends_one_notice_at_once(site: Site_) -> None:
    site.page("talk", f"https://live.bilibili.com/{ROOM}")
    site.sync(at(-600))
    assert site.step(BILI, at(-40)) is None  # the window opens at start - 30 min
    assert site.platforms.requests[f"bilibili:{ROOM}"] == 0
    site.platforms.go_offline(site.platforms.rooms, ROOM)
    seen = site.step(BILI, at(-29))
    assert seen is not None and seen.observation.status is StreamStatus.OFFLINE  # type: ignore[attr-defined]
    site.platforms.go_live(site.platforms.rooms, ROOM, at(1) + timedelta(seconds=5))
    seen = site.step(BILI, at(1.5))
    assert seen.observation.status is StreamStatus.LIVE  # type: ignore[attr-defined]
    [record] = site.ledger.streams()
    # bilibili's live_time (Beijing wall clock) is when it went live, not when we asked
    assert record.live_at == at(1) + timedelta(seconds=5)
    assert record.revision == site.ledger.events()[0].revision
    [sent] = site.ledger.sends(SendState.SENT)
    assert (sent.slot, sent.kind, sent.due) == ("live", SlotKind.LIVE, record.live_at)
    assert sent.valid_until == record.live_at + timedelta(minutes=30)
    [message] = site.delivered()
    assert message["title"] == "We're live now: talk"
    assert f"https://live.bilibili.com/{ROOM}" in message["text"]
    assert "(since 20:01)" in message["text"]
    # Later polls and syncs keep it: one notice, and the plan does not withdraw it.
    for minute in (2, 3, 10):
        site.step(BILI, at(minute))
    site.sync(at(11))
    assert len(site.delivered()) == 1
    assert site.slots(SendState.WITHDRAWN) == []


def test_flapping_stream_sends_one_live_notice(site: Site_) -> None:
    site.page("talk", f"https://live.bilibili.com/{ROOM}")
    site.sync(at(-600))
    p = site.platforms
    p.go_live(p.rooms, ROOM, at(0))
    site.step(BILI, at(0.5))
    p.go_offline(p.rooms, ROOM)  # the encoder dropped
    site.step(BILI, at(5))
    assert site.ledger.streams()[0].ended_at == at(5)
    p.go_live(p.rooms, ROOM, at(6))  # back, with a new live_time
    site.step(BILI, at(6.5))
    [record] = site.ledger.streams()
    assert record.live_at == at(0) and record.ended_at is None  # the first start stays
    assert [d["slot"] for d in site.delivered()] == ["live"]


def test_never_live_sends_nothing_but_the_late_notice_when_asked(site: Site_) -> None:
    enable_late(site)
    site.page("talk", f"https://live.bilibili.com/{ROOM}")
    site.sync(at(-600))
    site.platforms.go_offline(site.platforms.rooms, ROOM)
    site.platforms.rooms[ROOM].status = "replay"  # the room rotates old videos: not live
    for minute in (-30, -10, 0, 4.5):
        site.step(BILI, at(minute))
    assert site.delivered() == []
    site.step(BILI, at(5.2))  # not live at start + 5 min
    assert [d["title"] for d in site.delivered()] == ["Starting a little late: talk"]
    for minute in range(6, 91, 5):
        site.step(BILI, at(minute))
    assert site.step(BILI, at(91)) is None  # the window closed at end + 30 min
    [record] = site.ledger.streams()
    assert record.live_at is None and record.late_at == at(5.2)
    assert record.polls == 22
    assert [d["slot"] for d in site.delivered()] == ["late"]


def test_late_is_not_sent_when_it_went_live_first(site: Site_) -> None:
    enable_late(site)
    site.page("talk", f"https://live.bilibili.com/{ROOM}")
    site.sync(at(-600))
    site.platforms.go_live(site.platforms.rooms, ROOM, at(-2))
    site.step(BILI, at(-1))
    site.platforms.go_offline(site.platforms.rooms, ROOM)
    site.step(BILI, at(6))  # offline at start + 6: but it has been live
    assert [d["slot"] for d in site.delivered()] == ["live"]


def test_live_before_starting_soon_makes_the_reminder_say_live_now(site: Site_) -> None:
    site.page("talk", f"https://live.bilibili.com/{ROOM}")
    site.sync(at(-600))
    site.platforms.go_live(site.platforms.rooms, ROOM, at(-15))
    site.step(BILI, at(-14.5))
    site.step(BILI, at(-10.2))
    outcomes = site.sender(at(-10)).send_due()
    assert [o.send.slot for o in outcomes] == ["starting-soon"]
    live, soon = site.delivered()
    assert live["slot"] == "live"
    assert soon["title"] == "Live now: talk"
    assert "talk is live now: join here." in soon["text"]


def test_starting_soon_of_a_stream_not_live_says_when_it_starts(site: Site_) -> None:
    site.page("talk", f"https://live.bilibili.com/{ROOM}")
    site.sync(at(-600))
    site.platforms.go_offline(site.platforms.rooms, ROOM)
    site.step(BILI, at(-10.2))
    site.sender(at(-10)).send_due()
    [soon] = site.delivered()
    assert soon["title"] == "Starting in 10 minutes: talk"


def test_api_down_for_the_whole_window_sends_nothing_and_reports(site: Site_) -> None:
    enable_late(site)
    site.page("talk", f"https://live.bilibili.com/{ROOM}")
    site.sync(at(-600))
    site.platforms.mode["bilibili"] = "down"
    site.platforms.go_live(site.platforms.rooms, ROOM, at(0))  # live, but nobody can tell
    for minute in range(-30, 90, 10):
        seen = site.step(BILI, at(minute))
        assert seen.observation.status is StreamStatus.ERROR  # type: ignore[attr-defined]
    [record] = site.ledger.streams()
    assert record.failures == 12 and record.checked_at is None
    assert record.error == "bilibili answered HTTP 502"
    assert site.delivered() == []  # neither "live" nor "late": we do not know


def test_rate_limit_answers_slow_the_room_down(site: Site_) -> None:
    site.page("talk", f"https://live.bilibili.com/{ROOM}")
    site.sync(at(-600))
    p = site.platforms
    p.go_live(p.rooms, ROOM, at(0))
    p.mode["bilibili"] = "limit"
    watch = RoomWatch(site.sender(at(0)), BILI)
    try:
        asked = []
        for second in range(0, 600, 5):  # the loop wakes every 5 s for ten minutes
            now = at(0) + timedelta(seconds=second)
            if watch.step(now) is not None:
                asked.append(second)
        # 30 s interval; after refusals 60, 120, 240 s: 0, 60, 180, 420
        assert asked == [0, 60, 180, 420]
        assert "code -412" in (site.ledger.streams()[0].error or "")
        p.mode["bilibili"] = "limit200"  # the same refusal in an HTTP 200 body
        assert watch.step(at(0) + timedelta(seconds=900)) is not None
        assert watch.refusals == 5  # 8 min after the 4th; the next wait is capped at 10 min
        p.mode.clear()
        watch.step(at(0) + timedelta(seconds=900 + 600))
        assert watch.refusals == 0 and watch.next_at == at(25) + timedelta(seconds=30)
    finally:
        watch.close()
    assert [d["slot"] for d in site.delivered()] == ["live"]


def test_reschedule_while_watching_follows_the_new_time(site: Site_) -> None:
    site.page("talk", f"https://live.bilibili.com/{ROOM}")
    site.sync(at(-600))
    site.platforms.go_offline(site.platforms.rooms, ROOM)
    site.step(BILI, at(-20))
    site.page("talk", f"https://live.bilibili.com/{ROOM}", start=at(120))  # moved 2 h later
    site.sync(at(-19))
    site.platforms.go_live(site.platforms.rooms, ROOM, at(1))  # someone tests the stream
    asked = site.platforms.requests[f"bilibili:{ROOM}"]
    assert site.step(BILI, at(2)) is None  # the old window is no longer watched
    assert site.platforms.requests[f"bilibili:{ROOM}"] == asked
    assert site.delivered() == []
    site.platforms.go_live(site.platforms.rooms, ROOM, at(118))
    site.step(BILI, at(118.5))
    [message] = site.delivered()
    assert message["slot"] == "live"
    [sent] = site.ledger.sends(SendState.SENT)
    assert sent.occurrence == at(120).astimezone(ZoneInfo("UTC")).isoformat()


def test_cancel_while_watching_stops_watching(site: Site_) -> None:
    site.page("talk", f"https://live.bilibili.com/{ROOM}")
    site.sync(at(-600))
    site.platforms.go_offline(site.platforms.rooms, ROOM)
    site.step(BILI, at(-20))
    site.page("talk", f"https://live.bilibili.com/{ROOM}", status="cancelled")
    site.sync(at(-19))
    site.platforms.go_live(site.platforms.rooms, ROOM, at(0))
    assert site.step(BILI, at(1)) is None
    assert site.ledger.sends(SendState.SENT) == []
    assert [s for s in site.ledger.sends() if s.kind is SlotKind.LIVE] == []


def test_youtube_live_then_ended_becomes_the_replay(site: Site_) -> None:
    url = f"https://www.youtube.com/watch?v={VIDEO}"
    site.page("talk", url)
    site.sync(at(-600))
    p = site.platforms
    p.go_offline(p.videos, VIDEO)
    assert site.step(YT, at(-5)).observation.status is StreamStatus.OFFLINE  # type: ignore[attr-defined]
    p.go_live(p.videos, VIDEO, at(0) + timedelta(seconds=40))
    site.step(YT, at(1))
    p.go_offline(p.videos, VIDEO, at(62))  # actualEndTime
    seen = site.step(YT, at(63))
    assert seen.observation.status is StreamStatus.ENDED  # type: ignore[attr-defined]
    [record] = site.ledger.streams()
    assert record.replay_url == f"https://www.youtube.com/watch?v={VIDEO}"
    assert record.live_at == at(0) + timedelta(seconds=40) and record.ended_at == at(62)
    # The replay notice is due at the end, without a page edit, and says the found URL.
    assert [d["slot"] for d in site.delivered()] == ["live", "replay"]
    replay = site.delivered()[1]
    assert record.replay_url in replay["text"]
    # The sync keeps it, and the calendar and feeds carry the replay URL.
    site.page("talk", url)  # (unchanged page)
    out = site.root / "dist"
    sync(Site.locate(site.root), site.ledger, at(70), out=out)
    ics = next(out.rglob("*.ics")).read_text(encoding="utf-8")
    assert VIDEO in ics.replace("\r\n ", "")
    assert VIDEO in (out / "feed.json").read_text(encoding="utf-8")
    assert site.slots(SendState.WITHDRAWN) == []


def test_youtube_errors_are_mapped_and_the_key_never_shows(site: Site_) -> None:
    site.page("talk", f"https://youtu.be/{VIDEO}")
    site.sync(at(-600))
    p = site.platforms
    p.go_live(p.videos, VIDEO, at(0))
    site.env["YOUTUBE_API_KEY"] = "wrong-secret-key"
    seen = site.step(YT, at(1))
    assert seen.observation.status is StreamStatus.ERROR  # type: ignore[attr-defined]
    [record] = site.ledger.streams()
    assert "badRequest" in (record.error or "")
    assert "wrong-secret-key" not in (record.error or "")
    assert "***" in (record.error or "")
    site.env["YOUTUBE_API_KEY"] = YOUTUBE_KEY
    p.mode["youtube"] = "quota"
    watch = RoomWatch(site.sender(at(2)), YT, env=site.env)
    seen = watch.step(at(2))
    watch.close()
    assert seen is not None and seen.observation.rate_limited
    assert "quotaExceeded" in seen.observation.error
    site.env.pop("YOUTUBE_API_KEY")
    p.mode.clear()
    seen = site.step(YT, at(3))
    assert seen.observation.error == "set YOUTUBE_API_KEY to a YouTube Data API key"  # type: ignore[attr-defined]
    assert site.delivered() == []


def test_youtube_video_that_is_not_a_stream_or_missing(site: Site_) -> None:
    settings = site.settings.watch
    env = {"YOUTUBE_API_KEY": YOUTUBE_KEY}
    site.platforms.videos["BBBBBBBBBBB"] = Stream("video")
    with http_client(site.settings) as client:
        missing = probe(client, StreamRef("youtube", "AAAAAAAAAAA"), settings, at(0), env)
        plain = probe(client, StreamRef("youtube", "BBBBBBBBBBB"), settings, at(0), env)
    assert missing.error == "YouTube has no video AAAAAAAAAAA"
    assert plain.error == "YouTube video BBBBBBBBBBB is not a live stream"


def test_generic_watcher_reads_the_json_pointer(site: Site_) -> None:
    site.page("talk", "https://studio.example.org/rooms/42")
    site.sync(at(-600))
    ref = StreamRef("generic:studio", "https://studio.example.org/rooms/42")
    site.platforms.generic["42"] = Stream("offline")
    assert site.step(ref, at(-1)).observation.status is StreamStatus.OFFLINE  # type: ignore[attr-defined]
    site.platforms.generic["42"].status = "live"
    assert site.step(ref, at(0.5)).observation.status is StreamStatus.LIVE  # type: ignore[attr-defined]
    assert [d["slot"] for d in site.delivered()] == ["live"]


def test_hostile_and_odd_answers_are_errors_not_crashes(site: Site_, platforms) -> None:
    _, base = platforms
    watch = site.settings.watch
    with http_client(site.settings) as client:
        gone = probe(client, StreamRef("bilibili", "404404"), watch, at(0))  # no such room
        assert gone.status is StreamStatus.ERROR and "code 1" in gone.error
        closed = watch.model_copy(update={"bilibili_api": "http://127.0.0.1:9"})
        refused = probe(client, BILI, closed, at(0))
        assert refused.status is StreamStatus.ERROR and "ConnectError" in refused.error
        odd = watch.model_copy(update={"bilibili_api": base + "/status/x?"})
        assert probe(client, BILI, odd, at(0)).status is StreamStatus.ERROR
    assert pointer({"a": [{"b/c": 1}]}, "/a/0/b~1c") == 1
    with pytest.raises(KeyError):
        pointer({"a": []}, "/a/0")


def test_plan_shows_live_driven_slots_on_stream_start(site: Site_) -> None:
    enable_late(site)
    site.page("talk", f"https://live.bilibili.com/{ROOM}")
    site.page("offline-meetup", "https://meet.example.org/x")  # not watchable
    the_site = Site.locate(site.root)
    from livepipe.site import load

    loaded = load(the_site)
    state = site.ledger.state()
    p = plan(loaded.events, state, the_site.settings, at(-600))
    rows = [r for r in timeline(state, p) if r.slot in ("live", "late")]
    assert [(r.slot, str(r.state), r.due, r.valid_until) for r in rows] == [
        ("live", "on stream start", at(-30), at(90)),
        ("late", "if not live", at(5), at(30)),
    ]
    # The command line says so too.
    from typer.testing import CliRunner

    from livepipe.cli import app

    out = CliRunner().invoke(
        app,
        ["plan", str(site.root), "--now", at(-600).isoformat(), "--ledger", site.ledger.url],
        env={"COLUMNS": "200"},
    )
    assert "on stream start" in out.output and "if not live" in out.output, out.output


# -- a real watcher process, killed mid-window ------------------------------------------------

LIVEPIPE = str(Path(sys.executable).parent / "livepipe")


@pytest.mark.slow  # waits on purpose (make test-quick leaves it out)
@pytest.mark.timeout(120)
def test_watcher_killed_mid_window_sends_one_notice_after_restart(
    tmp_path: Path, platforms: tuple[Platforms, str]
) -> None:
    """`livepipe watch --follow` is SIGKILLed right after it recorded "live" and made the
    notice due, before sending; the restarted watcher takes the dead one's room lock at
    once and delivers that notice, once, to a receiver that counts every request."""
    p, base = platforms
    p.rooms.clear()
    p.mode.clear()
    p.requests.clear()
    p.times.clear()
    stats = Stats()
    with serve(stats) as hook:
        root = live_site(
            tmp_path / "site", base, hook, "1s", room=ROOM, starts_in=timedelta(minutes=10)
        )
        done = subprocess.run(
            [LIVEPIPE, "sync", str(root)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        p.go_live(p.rooms, ROOM, datetime.now(UTC))
        env = {**os.environ, "LIVEPIPE_CRASH_AT": "after-observe:1"}
        killed = subprocess.run(
            [LIVEPIPE, "watch", str(root), "--follow"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
        settings = load_settings(root / "livepipe.toml")
        ledger = open_ledger(settings)
        try:
            [live] = [s for s in ledger.sends() if s.kind is SlotKind.LIVE]
            assert live.state is SendState.PENDING  # made due, not sent
            assert stats.raw[live.key] == 0
            assert ledger.kv_get(f"watch:bilibili:{ROOM}", datetime.now(UTC)) is not None
            env.pop("LIVEPIPE_CRASH_AT")
            again = subprocess.Popen(
                [LIVEPIPE, "watch", str(root), "--follow"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
            try:
                assert wait_for(lambda: stats.raw[live.key] >= 1, 30)
                polls = p.requests[f"bilibili:{ROOM}"]
                assert wait_for(lambda: p.requests[f"bilibili:{ROOM}"] >= polls + 3, 30)
            finally:
                again.send_signal(signal.SIGTERM)
                out, _ = again.communicate(timeout=30)
            assert again.returncode == 0, out
            assert "is gone: taking over" in out, out  # the dead watcher's lock, at once
            assert "sent       live → hook" in out, out  # the console tells the story
            assert "started    livepipe watch: watching open windows every 1 s" in out
            assert stats.raw[live.key] == 1  # once, however many polls saw it live
            assert ledger.send(live.key).state is SendState.SENT  # type: ignore[union-attr]
            # ≤ 1 request per room per interval (1 s) over the restarted watcher's life: the
            # count over the span, and no two at once (the stand-in notes when a request is
            # handled, which on a busy machine may be a tenth of a second late for one of them)
            times = p.times[f"bilibili:{ROOM}"][1:]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert len(times) <= (times[-1] - times[0]) / 1.0 + 1.2, gaps
            assert min(gaps) >= 0.7, gaps
        finally:
            ledger.close()


def test_a_weekly_event_is_watched_at_each_occurrence(site: Site_) -> None:
    site.page(
        "weekly",
        f"https://live.bilibili.com/{ROOM}",
        repeat="\n  rrule: FREQ=WEEKLY\n  count: 3",
    )
    site.sync(at(-600))
    week = 7 * 24 * 60
    site.platforms.go_live(site.platforms.rooms, ROOM, at(week))
    site.step(BILI, at(week + 1))
    site.sync(at(week + 2))  # the plan keeps the second occurrence's notice
    [sent] = site.ledger.sends(SendState.SENT)
    assert sent.slot == "live"
    assert sent.occurrence == at(week).astimezone(UTC).isoformat()
    [message] = site.delivered()
    assert message["event"]["start"].startswith("2026-12-17T20:00")
    assert site.slots(SendState.WITHDRAWN) == []


def test_watch_command_shows_what_each_watcher_sees(site: Site_) -> None:
    from typer.testing import CliRunner

    from livepipe.cli import app

    site.page("zh-talk", f"https://live.bilibili.com/{ROOM}", title="Talk one")
    site.page("yt-talk", f"https://youtu.be/{VIDEO}", title="Talk two")
    site.platforms.go_live(site.platforms.rooms, ROOM, at(-3))
    site.platforms.go_offline(site.platforms.videos, VIDEO)
    runner = CliRunner()
    env = {"COLUMNS": "200", "YOUTUBE_API_KEY": YOUTUBE_KEY}
    result = runner.invoke(
        app, ["watch", str(site.root), "--now", at(-1).isoformat(), "-f", "json"], env=env
    )
    assert result.exit_code == 0, result.output
    rows = {r["stream"]: r for r in json.loads(result.output)["watching"]}
    assert set(rows) == {f"bilibili:{ROOM}", f"youtube:{VIDEO}"}
    assert rows[f"bilibili:{ROOM}"]["status"] == "live"
    assert rows[f"bilibili:{ROOM}"]["live_since"] == at(-3).isoformat()
    assert rows[f"youtube:{VIDEO}"]["status"] == "offline"
    assert site.ledger.streams() == []  # it only looks: nothing recorded
    text = runner.invoke(app, ["watch", str(site.root), "--now", at(-1).isoformat()], env=env)
    assert "Talk one" in text.output and "live since" in text.output
    # A platform that errs: exit 1, with its answer.
    site.platforms.mode["youtube"] = "quota"
    failing = runner.invoke(app, ["watch", str(site.root), "--now", at(-1).isoformat()], env=env)
    assert failing.exit_code == 1 and "quotaExceeded" in failing.output
    # No window open: says when the next one opens.
    early = runner.invoke(app, ["watch", str(site.root), "--now", at(-600).isoformat()], env=env)
    assert early.exit_code == 0
    assert "no watching window is open" in early.output
    assert f"from {at(-30).isoformat()}" in early.output.replace("\n", "")
    follow = runner.invoke(app, ["watch", str(site.root), "--follow", "--now", at(0).isoformat()])
    assert follow.exit_code == 2 and "leave out --now" in follow.output


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            '[watch]\ninterval = "0s"\n',
            'watch.interval: the interval is at least "1s"',
        ),
        ('[watch]\nbilibili_api = "ftp://x"\n', "watch.bilibili_api: must start with"),
        (
            '[watch.generic.a]\nmatch = "https://a/"\nurl = "https://a/{id}"\npointer = "live"\n',
            'watch.generic.a.pointer: a JSON pointer starts with "/"',
        ),
        ('[slots.late]\noffset = "-5m"\n', "a late slot needs an offset after the start"),
    ],
)
def test_bad_watch_settings_are_clear_errors(tmp_path: Path, table: str, message: str) -> None:
    from livepipe.errors import ConfigError

    path = tmp_path / "livepipe.toml"
    path.write_text(table, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert message in str(caught.value)


def test_one_room_evening_each_talk_gets_its_own_notice_at_its_own_start(site: Site_) -> None:
    """The KubeSphere room hosts every talk of an evening: 19:00-19:40, 19:45-20:25 and
    20:30-21:10 (watching windows from 30 min before each start). The stream goes live for
    each talk a minute after its start and off between talks. Each talk gets one notice,
    at its own start: the first going live is not the third's (whose window opens at
    20:00), and the third's real start sends its notice."""
    for name, start in (("first", 0), ("second", 45), ("third", 90)):
        site.page(name, f"https://live.bilibili.com/{ROOM}", start=at(start))
        text = (site.root / "content" / f"{name}.md").read_text(encoding="utf-8")
        end = (at(start) + timedelta(minutes=40)).isoformat()
        text = text.replace((at(start) + timedelta(hours=1)).isoformat(), end)
        (site.root / "content" / f"{name}.md").write_text(text, encoding="utf-8")
    site.sync(at(-600))
    rooms = site.platforms.rooms
    live_at: dict[str, datetime] = {}

    def poll(minute: float) -> None:
        site.step(BILI, at(minute))
        for d in site.delivered():
            live_at.setdefault(d["event"]["title"], at(minute))

    site.platforms.go_offline(rooms, ROOM)
    for minute, action in [
        (-29, None),
        (1, "live"),  # the first talk
        (2, None),
        (35, None),  # the third talk's window is not open yet; the second's is
        (41, "off"),
        (46, "live"),  # the second talk
        (60, None),  # the third talk's window opened at 60: the stream is the second's
        (86, "off"),
        (91, "live"),  # the third talk
        (100, None),
    ]:
        if action == "live":
            site.platforms.go_live(rooms, ROOM, at(minute))
        elif action == "off":
            site.platforms.go_offline(rooms, ROOM)
        poll(minute + 0.1)
    assert live_at == {"first": at(1.1), "second": at(46.1), "third": at(91.1)}
    sent = site.ledger.sends(SendState.SENT)
    assert sorted((s.uid.split("@")[0], s.due) for s in sent) == [
        ("first", at(1)),
        ("second", at(46)),
        ("third", at(91)),
    ]
    records = {r.uid.split("@")[0]: r for r in site.ledger.streams()}
    assert {name: r.live_at for name, r in records.items()} == {
        "first": at(1),
        "second": at(46),
        "third": at(91),
    }
