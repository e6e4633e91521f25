"""Scenarios with a controlled clock, on a real KubeSphere page edited the way people edit them
(reschedules, cancellations, deletions, broken edits, late replay links, outages, DST).

Each runs on SQLite and on PostgreSQL (skipped with the reason where PostgreSQL is absent).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from livepipe.records import SendState

from .support import CONTENT, CORPUS
from .support.scenario import Scenario

CST = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=CST)  # the page is merged
START = datetime(2026, 12, 10, 20, 0, tzinfo=CST)
PAGE = "argocd0217-live.md"
# A real corpus page when the corpus is there (CI), else the bundled page in the same schema.
SOURCE = (
    (CORPUS / PAGE)
    if (CORPUS / PAGE).is_file()
    else (CONTENT / "zh" / "live" / "observability1210-live.md")
)


def at(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CST)


def set_time(sc: Scenario, value: str) -> None:
    text = sc.page(PAGE).read_text(encoding="utf-8")
    sc.write(PAGE, re.sub(r"(?m)^(  time:).*$", rf"\g<1> {value}", text))


def set_video(sc: Scenario, value: str) -> None:
    text = sc.page(PAGE).read_text(encoding="utf-8")
    sc.write(PAGE, re.sub(r"(?m)^(  videoUrl:).*$", rf"\g<1> {value}", text))


@pytest.fixture
def sc(tmp_path: Path, ledger_url: str) -> Iterator[Scenario]:
    scenario = Scenario(tmp_path / "site", ledger_url)
    scenario.copy(SOURCE, PAGE)
    set_time(scenario, "2026-12-10 20:00-21:00")
    set_video(scenario, "")  # an upcoming event has no replay yet
    yield scenario
    scenario.close()


def slots(sends) -> list[str]:
    return sorted(s.slot for s in sends)


def test_new_event_announces_now_and_reminds_later(sc: Scenario) -> None:
    result = sc.sync(T0)
    assert slots(result.plan.add) == ["announce", "reminder-1d", "starting-soon"]
    by = {s.slot: s for s in result.plan.add}
    assert by["announce"].due == T0 and by["announce"].valid_until == START - timedelta(minutes=30)
    assert by["reminder-1d"].due == at(9, 20) and by["reminder-1d"].valid_until == at(10, 8)
    assert by["starting-soon"].due == at(10, 19, 50)
    assert by["starting-soon"].valid_until == at(10, 20, 15)
    assert [o.send.slot for o in sc.send_due(T0)] == ["announce"]
    assert sc.send_due(T0 + timedelta(minutes=5)) == []  # nothing twice
    assert sc.send_due(at(9, 19, 59)) == []  # not yet due
    assert [
        o.send.slot
        for o in sc.send_due(
            at(
                9,
                20,
                0,
            )
        )
    ] == ["reminder-1d"]
    assert [o.send.slot for o in sc.send_due(at(10, 19, 51))] == ["starting-soon"]
    delivered = sc.delivered()
    assert sorted(d["slot"] for d in delivered) == ["announce", "reminder-1d", "starting-soon"]
    announce = next(d for d in delivered if d["slot"] == "announce")
    assert announce["title"].startswith("【活动预告】")
    assert "2026 年 12 月 10 日（周四）20:00–21:00（北京时间）" in announce["text"]
    soon = next(d for d in delivered if d["slot"] == "starting-soon")
    assert soon["title"].startswith("【9 分钟后开始】")  # it went out at 19:51: nine left
    # Syncing again changes nothing.
    assert sc.sync(at(10, 19, 55)).plan.empty


def test_reschedule_before_the_reminder_went_out(sc: Scenario) -> None:
    sc.sync(T0)
    sc.send_due(T0)  # announced
    set_time(sc, "2026-12-17 20:00-21:00")  # moved a week later on Dec 5
    result = sc.sync(at(5, 9))
    withdrawn = {rec.slot: reason for rec, reason in result.plan.withdraw}
    assert withdrawn == {"reminder-1d": "rescheduled", "starting-soon": "rescheduled"}
    assert slots(result.plan.add) == ["changed", "reminder-1d", "starting-soon"]
    new_1d = next(s for s in result.plan.add if s.slot == "reminder-1d")
    assert new_1d.due == at(16, 20)
    assert [o.send.slot for o in sc.send_due(at(5, 9))] == ["changed"]
    # The old reminder time passes: nothing is sent for it.
    assert sc.send_due(at(9, 20, 30)) == []
    assert [o.send.slot for o in sc.send_due(at(16, 20, 1))] == ["reminder-1d"]
    kinds = sorted(d["slot"] for d in sc.delivered())
    assert kinds == ["announce", "changed", "reminder-1d"]
    changed = next(d for d in sc.delivered() if d["slot"] == "changed")
    assert "2026 年 12 月 17 日（周四）20:00–21:00" in changed["text"]
    ics = (sc.root / "dist" / "events" / "argocd0217-live.ics").read_bytes()
    assert b"SEQUENCE:1\r\n" in ics and b"DTSTART;TZID=Asia/Shanghai:20261217T200000" in ics


def test_reschedule_after_the_reminder_went_out(sc: Scenario) -> None:
    sc.sync(T0)
    sc.send_due(T0)
    sc.send_due(at(9, 20, 1))  # the 1-day reminder went out
    set_time(sc, "2026-12-12 20:00-21:00")  # postponed by two days on the evening of Dec 9
    result = sc.sync(at(9, 22))
    assert {rec.slot for rec, _ in result.plan.withdraw} == {"starting-soon"}
    assert slots(result.plan.add) == ["changed", "reminder-1d", "starting-soon"]
    sc.send_due(at(9, 22))
    sc.send_due(at(10, 19, 55))  # the old start: nothing
    sc.send_due(at(11, 20, 5))
    sc.send_due(at(12, 19, 52))
    kinds = [d["slot"] for d in sorted(sc.delivered(), key=lambda d: d["due"])]
    assert kinds == ["announce", "reminder-1d", "changed", "reminder-1d", "starting-soon"]
    reminders = [d for d in sc.delivered() if d["slot"] == "reminder-1d"]
    assert sorted(d["event"]["start"] for d in reminders) == [
        "2026-12-10T20:00:00+08:00",
        "2026-12-12T20:00:00+08:00",
    ]


def test_cancel_before_announcement_sends_nothing(sc: Scenario) -> None:
    sc.sync(T0)  # planned, but nothing sent yet
    # KubeSphere pages have no status key: the team deletes the page to cancel.
    sc.delete(PAGE)
    result = sc.sync(T0 + timedelta(minutes=30))
    assert sorted(rec.slot for rec, _ in result.plan.withdraw) == [
        "announce",
        "reminder-1d",
        "starting-soon",
    ]
    assert result.plan.add == []
    assert sc.send_due(at(10, 19, 55)) == [] and sc.delivered() == []


def test_native_status_cancelled_before_announcement(sc: Scenario) -> None:
    sc.delete(PAGE)
    sc.write(
        "native.md",
        "---\ntitle: Operators\nstart: 2026-12-10T20:00:00+08:00\nlocation: online\n---\n",
    )
    sc.sync(T0)
    sc.edit("native.md", "location: online", "location: online\nstatus: cancelled")
    result = sc.sync(T0 + timedelta(minutes=1))
    assert len(result.plan.withdraw) == 3 and result.plan.add == []
    assert sc.send_due(at(10, 19, 55)) == [] and sc.delivered() == []


def test_cancel_after_announcement(sc: Scenario, tmp_path: Path) -> None:
    # A native page, cancelled with `status: cancelled` after it was announced.
    sc.delete(PAGE)
    sc.write(
        "native.md",
        "---\ntitle: Operators\nstart: 2026-12-10T20:00:00+08:00\n"
        "location: online\nlive_url: https://live.example/1\n---\nAbout.\n",
    )
    sc.sync(T0)
    sc.send_due(T0)
    sc.edit("native.md", "location: online", "location: online\nstatus: cancelled")
    result = sc.sync(at(3, 9))
    assert [c.what for c in result.plan.changes] == ["cancelled"]
    assert sorted(rec.slot for rec, _ in result.plan.withdraw) == ["reminder-1d", "starting-soon"]
    assert slots(result.plan.add) == ["cancelled"]
    assert [o.send.slot for o in sc.send_due(at(3, 9))] == ["cancelled"]
    assert sc.send_due(at(9, 20, 5)) == [] and sc.send_due(at(10, 19, 55)) == []
    assert sorted(d["slot"] for d in sc.delivered()) == ["announce", "cancelled"]
    ics = (sc.root / "dist" / "events" / "native.ics").read_bytes()
    assert b"STATUS:CANCELLED" in ics and b"SEQUENCE:1\r\n" in ics


def test_page_deleted_after_announcement(sc: Scenario) -> None:
    sc.sync(T0)
    sc.send_due(T0)
    sc.delete(PAGE)
    result = sc.sync(at(2, 9))
    assert [c.what for c in result.plan.changes] == ["deleted"]
    assert slots(result.plan.add) == ["cancelled"]
    sc.send_due(at(2, 9))
    assert sorted(d["slot"] for d in sc.delivered()) == ["announce", "cancelled"]
    # The calendar keeps it as a cancelled tombstone with a higher SEQUENCE.
    cal = (sc.root / "dist" / "calendar.ics").read_bytes()
    assert b"UID:zh/live/argocd0217-live@kubesphere.io" in cal
    assert b"STATUS:CANCELLED" in cal and b"SEQUENCE:1\r\n" in cal
    # Restoring the page brings it back as scheduled.
    sc.copy(SOURCE, PAGE)
    set_time(sc, "2026-12-10 20:00-21:00")
    set_video(sc, "")
    again = sc.sync(at(2, 10))
    assert [c.what for c in again.plan.changes] == ["added"]
    assert b"STATUS:CONFIRMED" in (sc.root / "dist" / "calendar.ics").read_bytes()


def test_broken_edit_keeps_every_send(sc: Scenario) -> None:
    sc.sync(T0)
    sc.send_due(T0)
    good = sc.page(PAGE).read_text(encoding="utf-8")
    sc.write(PAGE, good.replace("  time:", "<<<<<<< HEAD\n  time:", 1))  # a bad merge
    result = sc.sync(at(8, 9))
    assert result.load.errors == 1
    assert result.plan.withdraw == [] and result.plan.add == [] and result.plan.changes == []
    # Still broken when the reminder is due: it goes out, from the last good revision.
    assert [o.send.slot for o in sc.send_due(at(9, 20, 1))] == ["reminder-1d"]
    sc.write(PAGE, good)  # fixed
    fixed = sc.sync(at(10, 9))
    assert fixed.plan.withdraw == [] and fixed.plan.add == []
    assert [o.send.slot for o in sc.send_due(at(10, 19, 55))] == ["starting-soon"]


def test_event_merged_after_it_started_gets_nothing_but_a_replay(sc: Scenario) -> None:
    result = sc.sync(at(10, 20, 30))  # merged half an hour into the event
    assert result.plan.add == []
    assert sc.send_due(at(10, 20, 31)) == []
    set_video(sc, "//player.bilibili.com/player.html?aid=1&bvid=BV1aq4y1t7XJ&cid=2&page=1")
    replay = sc.sync(at(12, 10))  # replay link added two days later
    assert slots(replay.plan.add) == ["replay"]
    (send,) = replay.plan.add
    assert send.due == at(12, 10) and send.valid_until == at(19, 10)
    assert [o.send.slot for o in sc.send_due(at(12, 10, 5))] == ["replay"]
    (msg,) = sc.delivered()
    assert "https://www.bilibili.com/video/BV1aq4y1t7XJ" in msg["text"]


def test_replay_added_two_days_later(sc: Scenario) -> None:
    sc.sync(T0)
    for when in (T0, at(9, 20, 1), at(10, 19, 51)):
        sc.send_due(when)
    set_video(sc, "//player.bilibili.com/player.html?aid=1&bvid=BV1aq4y1t7XJ&cid=2&page=1")
    result = sc.sync(at(12, 21))
    assert slots(result.plan.add) == ["replay"] and result.plan.withdraw == []
    assert [c.what for c in result.plan.changes] == ["replay"]
    sc.send_due(at(12, 21))
    assert sorted(d["slot"] for d in sc.delivered()) == [
        "announce",
        "reminder-1d",
        "replay",
        "starting-soon",
    ]
    # A replay link on a very old event (an import of the archive) announces nothing.
    set_time(sc, "2026-10-01 20:00-21:00")
    assert sc.sync(at(12, 22)).plan.add == []


def test_outage_of_three_days_then_catch_up(sc: Scenario) -> None:
    sc.write(
        "second.md",
        sc.page(PAGE)
        .read_text(encoding="utf-8")
        .replace("2026-12-10 20:00-21:00", "2026-12-12 20:00-21:00"),
    )
    sc.sync(T0)
    sc.send_due(T0)  # both announced
    # Down from Dec 9 08:00 to Dec 12 08:00: nothing ran.
    back = at(12, 8)
    result = sc.sync(back)
    missed = sorted((r.uid.split("@")[0].rsplit("/", 1)[1], r.slot) for r in result.plan.missed)
    assert missed == [
        ("argocd0217-live", "reminder-1d"),
        ("argocd0217-live", "starting-soon"),
        ("second", "reminder-1d"),
    ]
    # Still inside its window (due Dec 11 20:00, valid until Dec 12 08:00)? No: just over.
    assert sc.send_due(back) == []
    states = {(s.uid.split("/")[-1].split("@")[0], s.slot): s.state for s in sc.sends()}
    assert states[("second", "reminder-1d")] is SendState.MISSED
    assert [o.send.slot for o in sc.send_due(at(12, 19, 55))] == ["starting-soon"]


def test_catch_up_sends_what_is_still_valid(sc: Scenario) -> None:
    sc.sync(T0)
    sc.send_due(T0)
    # Back up 3 hours after the 1-day reminder was due (valid for 12 h): it still goes out.
    assert [o.send.slot for o in sc.send_due(at(9, 23))] == ["reminder-1d"]


def test_dst_change_in_a_non_china_zone(tmp_path: Path, ledger_url: str) -> None:
    config = (
        '[site]\nname = "Berlin"\nbase_url = "https://ber.example"\ntimezone = "Europe/Berlin"\n'
    )
    sc = Scenario(tmp_path / "ber", ledger_url, config + "\n[slots.digest]\nenabled = false\n")
    try:
        # Clocks go forward in Berlin on 2026-03-29 at 02:00.
        sc.write(
            "dst.md",
            "---\ntitle: After the change\nstart: 2026-03-29 19:00\nlocation: online\n---\n",
        )
        now = datetime(2026, 3, 20, 12, tzinfo=ZoneInfo("Europe/Berlin"))
        result = sc.sync(now)
        by = {s.slot: s for s in result.plan.add}
        # 19:00 CEST = 17:00 UTC; the day-before reminder keeps the wall clock: 19:00 CET on
        # the 28th = 18:00 UTC (23 hours before, because the night is an hour shorter).
        start_utc = datetime(2026, 3, 29, 17, tzinfo=ZoneInfo("UTC"))
        assert by["reminder-1d"].due == datetime(2026, 3, 28, 18, tzinfo=ZoneInfo("UTC"))
        assert by["starting-soon"].due == start_utc - timedelta(minutes=10)
        assert [
            o.send.slot for o in sc.send_due(datetime(2026, 3, 20, 12, tzinfo=ZoneInfo("UTC")))
        ] == ["announce"]
        assert sc.send_due(datetime(2026, 3, 28, 17, 59, tzinfo=ZoneInfo("UTC"))) == []
        sent = sc.send_due(datetime(2026, 3, 28, 18, 0, 30, tzinfo=ZoneInfo("UTC")))
        assert "reminder-1d" in [o.send.slot for o in sent]
    finally:
        sc.close()
