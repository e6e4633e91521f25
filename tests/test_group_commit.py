"""The dispatcher's ledger writes: claims of several sends in one statement, and the writes of
many threads committed together (ledger.group), on both backends. A caller returns only once
its write is committed; a write that fails undoes only itself."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from livepipe.config import Settings
from livepipe.ledger import open_ledger
from livepipe.ledger.base import LostClaimError
from livepipe.ledger.group import GroupCommit
from livepipe.ledger.sqlite import SqliteLedger
from livepipe.records import SendState

from .support.ledgers import fill

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_claim_due_takes_the_earliest_up_to_the_limit_and_never_twice(ledger, ledger_url) -> None:
    keys = fill(ledger, NOW, 5)  # 20 sends, due now and up to 3 s before
    other = open_ledger(Settings(), ledger_url)
    try:
        first = ledger.claim_due(NOW, "w1:1", ["hook"], 8)
        second = other.claim_due(NOW, "w2:2", ["hook"], 8)
        third = ledger.claim_due(NOW, "w1:1", ["hook"], 8)
    finally:
        other.close()
    assert [len(first), len(second), len(third)] == [8, 8, 4]
    claimed = [s.key for s in first + second + third]
    assert sorted(claimed) == sorted(keys)  # each once
    dues = [s.due for s in first]
    assert dues == sorted(dues) and max(dues) <= min(s.due for s in second)  # earliest first
    assert all(s.state is SendState.CLAIMED and s.attempts == 1 for s in first)
    assert {ledger.send(k).claimed_by for k in claimed[:8]} == {"w1:1"}  # type: ignore[union-attr]
    assert [st for _, st, _ in ledger.log(claimed[0])] == ["pending", "claimed"]
    assert ledger.claim_due(NOW, "w1:1", ["hook"], 8) == []
    assert ledger.claim_due(NOW, "w1:1", ["hook"], 0) == []


def test_writes_of_many_threads_share_transactions_and_are_committed_on_return(
    ledger, ledger_url
) -> None:
    fill(ledger, NOW, 10)  # 40 sends
    claimed = ledger.claim_due(NOW, "w:1", ["hook"], 40)
    group = GroupCommit(lambda: open_ledger(Settings(), ledger_url))
    gate = threading.Event()
    try:
        # hold the writer in a write, so that every thread's writes wait for one group
        holding = threading.Thread(target=group.run, args=(lambda db: gate.wait(10),))
        holding.start()
        seen: dict[str, SendState] = {}
        reading = threading.Lock()
        errors: list[BaseException] = []

        def send(key: str) -> None:
            try:
                group.start_call(key, "w:1", NOW)
                group.mark_sent(key, "w:1", NOW, remote_id=f"r-{key}")
                # returned: committed, so another connection sees it (one reader at a time:
                # a connection's statements share one snapshot)
                with reading:
                    rec = ledger.send(key)
                seen[key] = rec.state  # type: ignore[union-attr]
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(s.key,)) for s in claimed]
        for t in threads:
            t.start()
        gate.set()
        for t in [*threads, holding]:
            t.join(30)
    finally:
        group.close()
    assert errors == []
    assert set(seen.values()) == {SendState.SENT} and len(seen) == 40
    assert group.writes == 1 + 80
    assert group.commits < 40  # 81 writes, far fewer transactions (one each before)


def test_a_write_that_fails_undoes_only_itself(ledger, ledger_url) -> None:
    fill(ledger, NOW, 1)
    mine, theirs = ledger.claim_due(NOW, "w:1", ["hook"], 2)
    group = GroupCommit(lambda: open_ledger(Settings(), ledger_url))
    gate = threading.Event()
    results: dict[str, object] = {}

    def call(name: str, write) -> None:  # type: ignore[no-untyped-def]
        try:
            results[name] = write()
        except BaseException as exc:
            results[name] = exc

    try:
        holding = threading.Thread(target=group.run, args=(lambda db: gate.wait(10),))
        holding.start()
        calls = [
            threading.Thread(
                target=call, args=("ok", lambda: group.start_call(mine.key, "w:1", NOW))
            ),
            # not this worker's claim: lost, and nothing of it written
            threading.Thread(
                target=call, args=("lost", lambda: group.start_call(theirs.key, "x:2", NOW))
            ),
            threading.Thread(
                target=call,
                args=("bad", lambda: group.run(lambda db: db.kv_put("k", None, None))),  # type: ignore[arg-type]
            ),
        ]
        for t in calls:
            t.start()
        gate.set()
        for t in [*calls, holding]:
            t.join(30)
        assert group.commits == 2  # the held write, then the three together
    finally:
        group.close()
    assert results["ok"] is None
    assert isinstance(results["lost"], LostClaimError)
    assert isinstance(results["bad"], Exception)  # NOT NULL: the database refused it
    assert ledger.send(mine.key).call_started_at == NOW  # type: ignore[union-attr]
    assert ledger.send(theirs.key).call_started_at is None  # type: ignore[union-attr]
    assert ledger.kv_get("k", NOW) is None


def test_a_group_with_no_failure_spends_no_statement_on_savepoints(tmp_path) -> None:
    """Savepoints only when a write fails: each costs two statements (two round trips on
    PostgreSQL) per write, and almost no write fails."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(Settings(), url)
    fill(ledger, NOW, 5)
    claimed = ledger.claim_due(NOW, "w:1", ["hook"], 20)
    ledger.close()
    group = GroupCommit(lambda: open_ledger(Settings(), url))
    statements: list[str] = []
    group._ledger.conn.set_trace_callback(statements.append)  # type: ignore[attr-defined]
    try:
        threads = [
            threading.Thread(target=group.start_call, args=(s.key, "w:1", NOW)) for s in claimed
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        try:
            group.start_call("no-such-send", "w:1", NOW)
        except LostClaimError:
            pass
    finally:
        group.close()
    first = statements[: statements.index("COMMIT") + 1] if "COMMIT" in statements else []
    assert first and not any("SAVEPOINT" in s for s in first)
    assert sum(s.startswith("UPDATE sends SET call_started_at") for s in statements) >= 20
    assert any("SAVEPOINT" in s for s in statements)  # the failing write: written one by one
    check = open_ledger(Settings(), url)
    try:
        assert all(check.send(s.key).call_started_at is not None for s in claimed)  # type: ignore[union-attr]
    finally:
        check.close()


def test_outcomes_commit_without_waiting_for_the_disk_claims_and_call_starts_wait(
    pg_url: str,
) -> None:
    """On PostgreSQL a group of outcomes only commits with synchronous_commit off (a burst
    through two workers spent its time in fsyncs); a group with one durable write in it
    (a claim, a call's start) waits for the disk; the setting ends with the transaction."""
    group = GroupCommit(lambda: open_ledger(Settings(), pg_url))

    def setting(db: Any) -> str:
        return str(db.conn.execute("SHOW synchronous_commit").fetchone()[0])

    seen: dict[str, str] = {}
    gate = threading.Event()
    try:
        assert group.run(setting, durable=False) == "off"
        assert group.run(setting) == "on"
        # hold the writer, so that an outcome and a claim wait for the same group
        holding = threading.Thread(target=group.run, args=(lambda db: gate.wait(10),))
        holding.start()
        time.sleep(0.1)
        waiting = [
            threading.Thread(target=lambda: seen.update(outcome=group.run(setting, durable=False))),
            threading.Thread(target=lambda: seen.update(claim=group.run(setting))),
        ]
        for t in waiting:
            t.start()
        time.sleep(0.2)
        gate.set()
        for t in [holding, *waiting]:
            t.join(10)
        assert seen == {"outcome": "on", "claim": "on"}
        assert group.run(setting, durable=False) == "off"
        assert group.run(setting) == "on"  # SET LOCAL: gone with its transaction
    finally:
        group.close()


def test_only_the_outcomes_are_not_durable(tmp_path: Path) -> None:
    """Which writes may be lost with the database's machine: the outcomes (the send is then
    found claimed with its call started: uncertain, never resent blindly); never a claim or
    a call's start (losing either could send twice)."""
    flags: list[tuple[str, bool]] = []

    class Recording(SqliteLedger):
        def batch(self, *, savepoints: bool = True, durable: bool = True) -> Any:
            flags.append((self.doing, durable))
            return super().batch(savepoints=savepoints, durable=durable)

    url = str(tmp_path / "ledger.sqlite")
    seed = open_ledger(Settings(), url)
    fill(seed, NOW, 2)
    seed.close()

    def opener() -> Recording:
        db = Recording(tmp_path / "ledger.sqlite")
        db.doing = ""
        return db

    group = GroupCommit(opener)
    db = group._ledger
    later = NOW + timedelta(minutes=1)

    def doing(name: str) -> None:
        db.doing = name

    try:
        doing("claim")
        keys = [s.key for s in group.claim_due(NOW, "w:1", ["hook"], 8)]
        doing("start")
        group.start_call(keys[0], "w:1", NOW)
        doing("sent")
        group.mark_sent(keys[0], "w:1", NOW)
        doing("start")
        group.start_call(keys[1], "w:1", NOW)
        doing("failed")
        group.mark_failed(keys[1], "w:1", NOW, "400")
        doing("start")
        group.start_call(keys[2], "w:1", NOW)
        doing("uncertain")
        group.mark_uncertain(keys[2], "w:1", NOW, "?")
        doing("released")
        group.release(keys[3], "w:1", NOW, later, "503")
    finally:
        group.close()
    assert flags == [
        ("claim", True),
        ("start", True),
        ("sent", False),
        ("start", True),
        ("failed", False),
        ("start", True),
        ("uncertain", False),
        ("released", False),
    ]


def test_readiness_counts_what_may_go_and_finds_the_earliest(ledger) -> None:
    """What the dispatcher sleeps on, counted by the database, equals what every pending
    send says (due, not-before, validity, channel, state), at several instants."""
    fill(ledger, NOW, 3)  # 12 sends of "hook", due now and up to 3 s before
    later = fill(ledger, NOW + timedelta(hours=1), 1, prefix="f")  # 4 due in an hour
    first, second, third = ledger.claim_due(NOW, "w:1", ["hook"], 3)
    # back to pending, not before 10 min from now (a retry); one not before an old instant
    ledger.release(first.key, "w:1", NOW, NOW + timedelta(minutes=10), "503")
    ledger.release(second.key, "w:1", NOW, NOW - timedelta(minutes=10), "503")
    ledger.start_call(third.key, "w:1", NOW)  # claimed: not pending
    ledger.resolve(later[0], NOW, delivered=True)  # settled by hand: not pending

    def by_hand(now: datetime, channels: list[str]) -> tuple[int, datetime | None]:
        ready = [
            max(s.due, s.not_before or s.due)
            for s in ledger.sends(SendState.PENDING)
            if s.channel in channels and s.valid_until > now
        ]
        return sum(at <= now for at in ready), min(ready, default=None)

    instants = [NOW - timedelta(seconds=2), NOW, NOW + timedelta(minutes=10)]
    instants += [NOW + timedelta(hours=1), NOW + timedelta(days=3)]
    for now in instants:
        for channels in (["hook"], ["hook", "other"], ["other"], []):
            assert ledger.readiness(now, channels) == by_hand(now, channels), (now, channels)
    assert ledger.readiness(NOW, ["hook"]) == (10, NOW - timedelta(seconds=3))
    assert ledger.readiness(NOW + timedelta(days=3), ["hook"]) == (0, None)  # none valid
