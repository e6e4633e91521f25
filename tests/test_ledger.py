"""Ledger basics on both backends: migrations, claims, the state machine, the kv store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livepipe.config import Settings
from livepipe.ledger import open_ledger
from livepipe.ledger.base import SCHEMA_VERSION, LostClaimError, parse_ts, ts
from livepipe.records import SendState

from .support.ledgers import fill

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_migrations_are_versioned_and_idempotent(ledger) -> None:
    assert ledger.migrate() == SCHEMA_VERSION
    assert ledger.migrate() == SCHEMA_VERSION
    with ledger.read() as cur:
        cur.execute("SELECT version FROM schema_version ORDER BY version")
        assert [r[0] for r in cur.fetchall()] == list(range(1, SCHEMA_VERSION + 1))


def test_newer_schema_is_refused(ledger) -> None:
    with ledger.transaction() as cur:
        cur.execute("INSERT INTO schema_version (version) VALUES (999)")
    from livepipe.errors import ConfigError

    with pytest.raises(ConfigError, match="has schema 999, newer than this livepipe"):
        ledger.migrate()


def test_claim_is_exclusive_and_ordered(ledger) -> None:
    keys = fill(ledger, NOW, 1)
    first = ledger.claim_next(NOW, "w1:1", ["hook"])
    second = ledger.claim_next(NOW, "w2:2", ["hook"])
    assert first and second and first.key != second.key
    assert first.due <= second.due and first.attempts == 1
    assert ledger.claim(first.key, NOW, "w3:3") is None  # already claimed
    assert ledger.claim_next(NOW, "w1:1", ["other-channel"]) is None
    with pytest.raises(LostClaimError):
        ledger.start_call(first.key, "w2:2", NOW)  # not the claimer
    ledger.start_call(first.key, "w1:1", NOW)
    ledger.mark_sent(first.key, "w1:1", NOW, remote_id="r1")
    rec = ledger.send(first.key)
    assert rec and rec.state is SendState.SENT and rec.remote_id == "r1"
    assert [state for _, state, _ in ledger.log(first.key)] == ["pending", "claimed", "sent"]
    assert len(keys) == 4


def test_nothing_is_claimed_outside_its_window(ledger) -> None:
    fill(ledger, NOW, 1)
    assert ledger.claim_next(NOW - timedelta(hours=1), "w:1", ["hook"]) is None  # not yet due
    assert ledger.claim_next(NOW + timedelta(days=2), "w:1", ["hook"]) is None  # window over


def test_transient_failure_waits_for_not_before(ledger) -> None:
    fill(ledger, NOW, 1)
    rec = ledger.claim_next(NOW, "w:1", ["hook"])
    assert rec
    ledger.release(rec.key, "w:1", NOW, NOW + timedelta(minutes=5), "HTTP 503")
    later = [ledger.claim_next(NOW, "w:1", ["hook"]) for _ in range(3)]
    assert rec.key not in {r.key for r in later if r}
    again = ledger.claim(rec.key, NOW + timedelta(minutes=5), "w:1")
    assert again and again.attempts == 2 and again.error == "HTTP 503"


def test_recovery_by_lease_for_other_hosts(ledger) -> None:
    fill(ledger, NOW, 1)
    lease = timedelta(minutes=10)
    rec = ledger.claim_next(NOW, "elsewhere:123", ["hook"], lease=lease)
    assert rec and rec.lease_until == NOW + lease
    ledger.start_call(rec.key, "elsewhere:123", NOW)
    soon = ledger.recover(NOW + timedelta(minutes=1), lease=lease, idempotent=lambda c: False)
    assert soon == []  # maybe still working
    # Its claimer renews the lease while the call runs: still not taken back at 11 min.
    assert ledger.renew([rec.key], "elsewhere:123", NOW + timedelta(minutes=15)) == 1
    assert ledger.renew([rec.key], "someone-else:9", NOW + timedelta(hours=5)) == 0
    held = ledger.recover(NOW + timedelta(minutes=11), lease=lease, idempotent=lambda c: False)
    assert held == []
    late = ledger.recover(NOW + timedelta(minutes=15), lease=lease, idempotent=lambda c: False)
    assert [(r.key, s) for r, s in late] == [(rec.key, SendState.UNCERTAIN)]
    assert ledger.resolve(rec.key, NOW, delivered=True)
    assert ledger.send(rec.key).state is SendState.SENT  # type: ignore[union-attr]


def test_a_claim_whose_pid_was_reused_is_recovered(ledger) -> None:
    """The claimer died and a later process got its PID (PID namespaces make that the
    rule): the owner id's start time tells them apart, so the claim goes back to pending."""
    import os
    import socket

    from livepipe.ledger.base import claimer_alive, worker_id

    me = worker_id()
    host, pid, start = me.rsplit(":", 2)
    name, _, boot = host.partition("@")
    assert (name, pid) == (socket.gethostname(), str(os.getpid())) and int(start) > 0
    assert len(boot) == 12  # this kernel's boot id
    assert claimer_alive(me) is True
    reused = f"{host}:{pid}:{int(start) + 1}"  # same host and PID, another process
    assert claimer_alive(reused) is False
    before_reboot = f"{name}@{'0' * 12}:{pid}:{start}"  # same PID and tick, an earlier boot
    assert claimer_alive(before_reboot) is False
    assert claimer_alive(f"{name}:{pid}") is True  # an old-style id: the PID alone
    assert claimer_alive(f"elsewhere@{boot}:{pid}:{start}") is None  # another host: the lease
    fill(ledger, NOW, 1)
    rec = ledger.claim_next(NOW, reused, ["hook"])
    assert rec
    back = ledger.recover(NOW, lease=timedelta(hours=1), idempotent=lambda c: False)
    assert [(r.key, s) for r, s in back] == [(rec.key, SendState.PENDING)]
    mine = ledger.claim_next(NOW, me, ["hook"])
    assert mine
    assert ledger.recover(NOW, lease=timedelta(hours=1), idempotent=lambda c: False) == []


def test_kv_store_expires(ledger) -> None:
    ledger.kv_put("token", "abc", NOW + timedelta(hours=2))
    assert ledger.kv_get("token", NOW) == "abc"
    assert ledger.kv_get("token", NOW + timedelta(hours=3)) is None
    ledger.kv_put("token", "def", None)
    assert ledger.kv_get("token", NOW + timedelta(days=99)) == "def"


def test_naive_times_are_refused(ledger) -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        ledger.claim_next(datetime(2026, 1, 1), "w:1", ["hook"])


def test_schema_3_keeps_a_preview_send_as_the_reviewers(tmp_path: Path) -> None:
    """A ledger of schema 2 wrote a reviewers' send as slot "announce:preview"; after the
    migration it is slot "announce" for the reviewers, with the same key."""
    import sqlite3

    from livepipe.identity import send_key
    from livepipe.ledger.base import MIGRATIONS
    from livepipe.records import Audience

    path = tmp_path / "old.sqlite"
    key = send_key("ev@x", "announce:preview", "oa", "once")
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version in (1, 2):
            for statement in MIGRATIONS[version]:
                db.execute(statement)
            db.execute("INSERT INTO schema_version VALUES (?)", (version,))
        db.execute(
            "INSERT INTO sends (key, uid, slot, kind, channel, occurrence, significant, due, "
            "valid_until, state, created_at, updated_at) VALUES (?, 'ev@x', 'announce:preview', "
            "'announce', 'oa', 'once', '', '2026-12-01T00:00:00.000000Z', "
            "'2026-12-02T00:00:00.000000Z', 'pending', '2026-12-01T00:00:00.000000Z', "
            "'2026-12-01T00:00:00.000000Z')",
            (key,),
        )
    ledger = open_ledger(Settings(), str(path))
    try:
        rec = ledger.send(key)
    finally:
        ledger.close()
    assert rec is not None
    assert (rec.slot, rec.audience, rec.key_slot) == (
        "announce",
        Audience.REVIEWERS,
        "announce:preview",
    )
    assert send_key(rec.uid, rec.key_slot, rec.channel, rec.occurrence) == rec.key


@given(
    st.datetimes(
        min_value=datetime(1001, 1, 1),
        max_value=datetime(9998, 12, 31),
        timezones=st.sampled_from([UTC, ZoneInfo("Asia/Shanghai"), ZoneInfo("America/St_Johns")]),
    )
)
@settings(max_examples=500, deadline=None)
def test_the_stored_time_text_is_what_strftime_wrote(value: datetime) -> None:
    """Ledgers hold times as text and compare them as text: the quick way must write
    exactly what ``strftime`` wrote before it (years 1000-9999; below them strftime did not
    pad the year, and isoformat does, so those sort right)."""
    assert ts(value) == value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert parse_ts(ts(value)) == value.astimezone(UTC)


def test_a_stored_time_keeps_its_microseconds_and_zone() -> None:
    shanghai = datetime(2026, 12, 7, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert ts(shanghai) == "2026-12-07T01:30:00.000000Z"
    assert ts(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "2026-01-02T03:04:05.000006Z"
    assert ts(None) is None
    with pytest.raises(ValueError, match="tz-aware"):
        ts(datetime(2026, 1, 1))
