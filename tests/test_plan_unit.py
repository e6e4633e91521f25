"""The pure planner: per-page options, channel languages, digests, keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from livepipe.config import Settings
from livepipe.identity import send_key
from livepipe.plan import plan
from livepipe.records import LedgerState
from livepipe.site import load_path

from .support import CONTENT

CST = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=CST)


@pytest.fixture(scope="module")
def events():
    return {e.slug + "." + e.lang: e for e in load_path(CONTENT).events}


def settings(**extra: object) -> Settings:
    return Settings.model_validate(
        {"site": {"timezone": "Asia/Shanghai", "default_language": "zh"}, **extra}
    )


def test_send_key_is_stable_and_distinct() -> None:
    k = send_key("a@x", "reminder-1d", "outbox", "2026-12-10T12:00:00+00:00")
    assert k == send_key("a@x", "reminder-1d", "outbox", "2026-12-10T12:00:00+00:00")
    assert len(k) == 24 and int(k, 16) >= 0
    assert k != send_key("a@x", "reminder-1d", "outbox", "2026-12-11T12:00:00+00:00")
    assert k != send_key("a@x", "reminder-1d", "other", "2026-12-10T12:00:00+00:00")


def test_page_reminders_override_and_opt_out(events) -> None:
    obs = events["observability1210-live.zh"]
    custom = replace(obs, reminders=("-2h",))
    p = plan([custom], LedgerState(), settings(), NOW)
    assert sorted(s.slot for s in p.add) == ["announce", "reminder-2h"]
    (r,) = [s for s in p.add if s.slot == "reminder-2h"]
    assert r.due == obs.start - timedelta(hours=2)
    assert plan([replace(obs, publish=False)], LedgerState(), settings(), NOW).add == []
    skipped = plan([replace(obs, skip=("announce",))], LedgerState(), settings(), NOW)
    assert "announce" not in {s.slot for s in skipped.add}


def test_page_reminders_go_where_the_reminder_they_replace_went(events) -> None:
    obs = replace(events["observability1210-live.zh"], reminders=("-2h", "-2d"))
    config = settings(
        channels={"day": {"type": "outbox"}, "soon": {"type": "outbox"}},
        slots={
            "reminder-1d": {"kind": "reminder", "offset": "-1d", "window": "12h"},
            "starting-soon": {"kind": "reminder", "offset": "-10m", "until": "15m"},
        },
    )
    config = config.model_copy(
        update={
            "slots": {
                **config.slots,
                "reminder-1d": config.slots["reminder-1d"].model_copy(
                    update={"channels": ("day",)}
                ),
                "starting-soon": config.slots["starting-soon"].model_copy(
                    update={"channels": ("soon",)}
                ),
            }
        }
    )
    p = plan([obs], LedgerState(), config, NOW)
    by = {s.slot: s for s in p.add if s.slot.startswith("reminder")}
    assert by["reminder-2h"].channel == "soon"  # nearest: the -10m slot
    assert by["reminder-2h"].valid_until == obs.start + timedelta(minutes=15)
    assert by["reminder-2d"].channel == "day"  # nearest: the -1d slot
    assert by["reminder-2d"].valid_until == obs.start - timedelta(days=2, hours=-12)


def test_a_late_merge_is_announced_at_once_and_a_close_reminder_folded_in(events) -> None:
    obs = events["observability1210-live.zh"]
    merged = obs.start - timedelta(hours=3)  # merged the same afternoon: announced
    soon = {s.slot: s for s in plan([obs], LedgerState(), settings(), merged).add}
    assert soon["announce"].due == merged
    assert soon["announce"].valid_until == obs.start - timedelta(minutes=30)
    # 50 min ahead (inside min_lead, 1 h): still announced, at once, until the start; the
    # starting-soon reminder comes 40 min later, more than the 30 min fold: it stays.
    at = obs.start - timedelta(minutes=50)
    late = {s.slot: s for s in plan([obs], LedgerState(), settings(), at).add}
    assert set(late) == {"announce", "starting-soon"}
    assert (late["announce"].due, late["announce"].valid_until) == (at, obs.start)
    # 25 min ahead: the reminder would come 15 min after the announcement: folded in.
    at = obs.start - timedelta(minutes=25)
    later = {s.slot: s for s in plan([obs], LedgerState(), settings(), at).add}
    assert set(later) == {"announce"} and later["announce"].valid_until == obs.start
    # Merged after the start: nothing.
    assert plan([obs], LedgerState(), settings(), obs.start + timedelta(minutes=5)).add == []


def test_channel_languages_route_translations(events) -> None:
    both = [events["wasm-edge-0114.zh"], events["wasm-edge-0114.en"]]
    s = settings(
        channels={
            "wechat-group": {"type": "outbox", "languages": ["zh"]},
            "slack": {"type": "outbox", "languages": ["en"]},
        },
        slots={"announce": {"channels": ["wechat-group", "slack"]}},
    )
    p = plan(both, LedgerState(), s, NOW)
    announce = {(x.uid.split("/")[0], x.channel) for x in p.add if x.slot == "announce"}
    assert announce == {("zh", "wechat-group"), ("en", "slack")}


def test_all_day_events_get_no_starting_soon(events) -> None:
    day = events["community-day-2027.en"]
    slots = {s.slot for s in plan([day], LedgerState(), settings(), NOW).add}
    assert slots == {"announce", "reminder-1d"}


def test_weekly_digest_for_weeks_with_events(events) -> None:
    p = plan(events.values(), LedgerState(), settings(), NOW)
    digests = [s for s in p.add if s.slot == "digest"]
    # Thursday 26 Nov 2026: this week's Monday 09:00 digest is past; next Monday's (30 Nov)
    # covers 30 Nov – 6 Dec, which has the Berlin meetup (3 Dec).
    assert [(d.occurrence, d.due) for d in digests] == [
        ("2026-W49", datetime(2026, 11, 30, 9, 0, tzinfo=CST))
    ]
    assert digests[0].uid == "site@localhost"


def test_plan_needs_aware_now(events) -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        plan([], LedgerState(), settings(), datetime(2026, 1, 1))


def test_unknown_channel_in_a_slot_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="unknown channel 'nope'"):
        settings(slots={"announce": {"channels": ["nope"]}})
