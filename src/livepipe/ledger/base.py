"""The ledger: what was seen and what was sent, the single source of truth for publishing.

One SQL implementation (this module) over two backends (sqlite.py, postgresql.py) that differ
only in connecting, transactions, placeholders and the claim statement. Times are stored as
fixed-width UTC text (``2026-11-25T20:33:00.000000Z``), which sorts like the instants.

Send states::

    pending ──claim──► claimed ──► sent
       │                  │  └───► failed      (permanent error)
       │                  ├──────► pending     (transient error: retried after not_before)
       │                  └──────► uncertain   (the process died during a channel call that
       ├──► withdrawn                            cannot be deduplicated: verify, never resend)
       └──► missed   (its validity window passed)
"""

from __future__ import annotations

import functools
import json
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import ConfigError, LostClaimError
from ..models import Event, SlotKind, Status
from ..records import (
    Audience,
    EventRecord,
    LedgerState,
    Plan,
    Send,
    SendRecord,
    SendState,
    StreamRecord,
    StreamStatus,
    from_payload,
)

SCHEMA_VERSION = 3
DEFAULT_LEASE = timedelta(minutes=1)
PAUSE_PREFIX = "pause:"  # kv: a paused channel → {since, by, why}
_RESENDABLE = frozenset(
    {SendState.FAILED, SendState.MISSED, SendState.UNCERTAIN, SendState.SKIPPED, SendState.HELD}
)
_SKIPPABLE = frozenset({SendState.PENDING, SendState.HELD, SendState.FAILED, SendState.UNCERTAIN})
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE events (
            uid TEXT PRIMARY KEY, source TEXT NOT NULL, revision TEXT NOT NULL,
            significant TEXT NOT NULL, sequence INTEGER NOT NULL, status TEXT NOT NULL,
            snapshot TEXT NOT NULL, first_seen TEXT NOT NULL, changed_at TEXT NOT NULL,
            deleted_at TEXT, replay_seen_at TEXT, notified_significant TEXT,
            updated_at TEXT NOT NULL)""",
        """CREATE TABLE revisions (
            uid TEXT NOT NULL, revision TEXT NOT NULL, significant TEXT NOT NULL,
            sequence INTEGER NOT NULL, seen_at TEXT NOT NULL, PRIMARY KEY (uid, revision))""",
        """CREATE TABLE sends (
            key TEXT PRIMARY KEY, uid TEXT NOT NULL, slot TEXT NOT NULL, kind TEXT NOT NULL,
            channel TEXT NOT NULL, occurrence TEXT NOT NULL, significant TEXT NOT NULL,
            due TEXT NOT NULL, valid_until TEXT NOT NULL, state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, not_before TEXT, claimed_by TEXT,
            claimed_at TEXT, call_started_at TEXT, sent_at TEXT, remote_id TEXT,
            remote_url TEXT, error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
        "CREATE INDEX sends_state_due ON sends (state, due)",
        """CREATE TABLE send_log (
            key TEXT NOT NULL, at TEXT NOT NULL, state TEXT NOT NULL, note TEXT)""",
        "CREATE INDEX send_log_key ON send_log (key)",
        """CREATE TABLE kv (
            name TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at TEXT)""",
    ),
    2: (
        # What the stream watcher saw, per event occurrence (streams.py).
        """CREATE TABLE streams (
            uid TEXT NOT NULL, occurrence TEXT NOT NULL, revision TEXT NOT NULL,
            platform TEXT NOT NULL, room TEXT NOT NULL, status TEXT NOT NULL,
            checked_at TEXT, live_at TEXT, ended_at TEXT, late_at TEXT, replay_url TEXT,
            polls INTEGER NOT NULL, failures INTEGER NOT NULL, error TEXT,
            updated_at TEXT NOT NULL, PRIMARY KEY (uid, occurrence))""",
    ),
    3: (
        # A claim's lease: renewed while its channel call runs, recovered once it expires
        # (even when the claimer's process is alive: a wedged thread).
        "ALTER TABLE sends ADD COLUMN lease_until TEXT",
        # What a send carries besides its key (an alert's text, a gathered send's events).
        "ALTER TABLE sends ADD COLUMN payload TEXT",
        # Who it goes to: everyone, or a WeChat channel's reviewers first (the slot was
        # written "announce:preview"; the key is unchanged).
        "ALTER TABLE sends ADD COLUMN audience TEXT NOT NULL DEFAULT 'everyone'",
        "UPDATE sends SET audience = 'reviewers', slot = substr(slot, 1, length(slot) - 8) "
        "WHERE slot LIKE '%:preview'",
        # What operators did by hand (resend, skip, pause, resume), when and why.
        """CREATE TABLE operations (
            at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
            note TEXT)""",
    ),
}

SEND_COLUMNS = (
    "key",
    "uid",
    "slot",
    "kind",
    "channel",
    "occurrence",
    "due",
    "valid_until",
    "significant",
    "state",
    "attempts",
    "not_before",
    "claimed_by",
    "claimed_at",
    "call_started_at",
    "sent_at",
    "remote_id",
    "remote_url",
    "error",
    "updated_at",
    "lease_until",
    "audience",
    "payload",
)
EVENT_COLUMNS = (
    "uid",
    "source",
    "revision",
    "significant",
    "sequence",
    "status",
    "snapshot",
    "first_seen",
    "changed_at",
    "deleted_at",
    "replay_seen_at",
    "notified_significant",
)
STREAM_COLUMNS = tuple(f.name for f in dataclass_fields(StreamRecord))
_TIME_COLUMNS = {
    "lease_until",
    "checked_at",
    "live_at",
    "ended_at",
    "late_at",
    "due",
    "valid_until",
    "not_before",
    "claimed_at",
    "call_started_at",
    "sent_at",
    "updated_at",
    "first_seen",
    "changed_at",
    "deleted_at",
    "replay_seen_at",
}
_UPSERT_STREAM = (
    f"INSERT INTO streams ({', '.join(STREAM_COLUMNS)}, updated_at) "
    f"VALUES ({', '.join('?' * len(STREAM_COLUMNS))}, ?) ON CONFLICT (uid, occurrence) DO UPDATE "
    "SET " + ", ".join(f"{c} = excluded.{c}" for c in (*STREAM_COLUMNS[2:], "updated_at"))
)
_UPSERT_EVENT = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}, updated_at) "
    f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))}, ?) ON CONFLICT (uid) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*EVENT_COLUMNS[1:], "updated_at"))
)
# Sends whose success tells people about the event as it is now.
_INFORMING_KINDS = (SlotKind.ANNOUNCE, SlotKind.REMINDER, SlotKind.CHANGED, SlotKind.LIVE)


def ts(value: datetime | None) -> str | None:
    """``2026-12-07T09:30:00.000000Z``: the text ``strftime("%Y-%m-%dT%H:%M:%S.%fZ")`` gives
    for the UTC time, made by isoformat (strftime was 7 % of a burst's CPU: a send writes
    several times)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("the ledger only stores tz-aware times")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_ts(text: str | None) -> datetime | None:
    """A time ``ts`` wrote (fromisoformat: a tenth of strptime's cost, and every row read
    has several)."""
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def worker_id() -> str:
    """``host@boot:pid:start`` — who holds a claim. ``start`` is when the process started
    (clock ticks since boot, from /proc): a later process that reuses the PID (PID
    namespaces, wrap-around) has another start; ``boot`` (the kernel's boot id) tells a
    process of an earlier boot from one that got the same PID at the same tick after a
    reboot (a service started at boot). A dead claimer is never taken for a live one."""
    pid = os.getpid()
    boot = _boot_id()
    host = socket.gethostname() + (f"@{boot}" if boot else "")
    return f"{host}:{pid}:{_started(pid) or 0}"


@functools.cache
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip().replace("-", "")[:12]
    except OSError:
        return ""


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name: [state, ppid, …]; None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _started(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 and fields[19].isdigit() else None


def claimer_alive(claimed_by: str | None) -> bool | None:
    """True/False for a claimer on this host; None when it is elsewhere (use the lease).
    Claims written as ``host:pid`` by older versions are judged by the PID alone."""
    parts = (claimed_by or "").split(":")
    if len(parts) >= 3 and parts[-1].isdigit() and parts[-2].isdigit():
        host, pid, start = ":".join(parts[:-2]), parts[-2], int(parts[-1])
    elif len(parts) >= 2 and parts[-1].isdigit():
        host, pid, start = ":".join(parts[:-1]), parts[-1], None
    else:
        return None
    host, _, boot = host.partition("@")
    if host != socket.gethostname():
        return None
    if boot and _boot_id() and boot != _boot_id():
        return False  # claimed before this machine last booted: that process is gone
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _stat(int(pid))
    if fields is None:
        return True  # no /proc: trust kill(0)
    if fields[0] == "Z":
        return False  # a zombie sends nothing
    if start and len(fields) > 19 and fields[19].isdigit() and int(fields[19]) != start:
        return False  # the PID now belongs to another process
    return True


_CHANGES = "claims are leased; sends name their audience and what they carry; operators' log"


class Ledger(ABC):
    """SQL ledger; subclasses provide the connection, transactions and the claim statement."""

    url: str
    migrated: tuple[int, int] | None = None  # (from, to) when opening it migrated the schema

    # -- backend hooks -----------------------------------------------------------------
    @abstractmethod
    def transaction(self) -> AbstractContextManager[Any]:
        """A write transaction yielding a cursor (serialised against other writers)."""

    @abstractmethod
    def read(self) -> AbstractContextManager[Any]:
        """A cursor for reads."""

    @abstractmethod
    def batch(
        self, *, savepoints: bool = True, durable: bool = True
    ) -> AbstractContextManager[None]:
        """One transaction around several writes (``GroupCommit``): each ``transaction()``
        inside it is a savepoint, so one write that fails undoes only itself; without
        ``savepoints`` they are plain statements of the one transaction (a write that
        fails leaves the transaction to be rolled back whole). Not ``durable``: its
        commit need not wait for the disk, where the database can tell (a crash of the
        process loses nothing; a crash of the database's machine may lose it)."""

    @abstractmethod
    def _claim_sql(self) -> str:
        """UPDATE … RETURNING that claims the first ``?`` (a LIMIT) due pending sends of the
        given channels."""

    @abstractmethod
    def close(self) -> None: ...

    placeholder = "?"

    def q(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    # -- schema ------------------------------------------------------------------------
    def migrate(self) -> int:
        """Apply the versioned migrations that are missing; returns the schema version."""
        with self.transaction() as cur:
            self._lock_for_migration(cur)
            cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            cur.execute("SELECT MAX(version) FROM schema_version")
            row = cur.fetchone()
            current = row[0] if row and row[0] is not None else 0
            if current > SCHEMA_VERSION:
                from ..version import __version__

                raise ConfigError(
                    f"the ledger ({self.url.rsplit('/', 1)[-1]}) has schema {current}, newer "
                    f"than this livepipe {__version__} knows ({SCHEMA_VERSION})",
                    hint="upgrade livepipe where this runs; an older one must not write it",
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    cur.execute(statement)
                cur.execute(self.q("INSERT INTO schema_version (version) VALUES (?)"), (version,))
            if current == 0:  # a new ledger: stamped with the livepipe that made it
                from ..version import __version__

                cur.execute(
                    self.q("INSERT INTO kv (name, value, expires_at) VALUES (?, ?, NULL)"),
                    ("livepipe:version", __version__),
                )
        if 0 < current < SCHEMA_VERSION:
            self.migrated = (current, SCHEMA_VERSION)
            from ..activity import What, tell

            tell(
                What.UPGRADE,
                f"ledger upgraded: schema {current} → {SCHEMA_VERSION} ({_CHANGES})",
                schema_from=current,
                schema_to=SCHEMA_VERSION,
            )
        return SCHEMA_VERSION

    def _lock_for_migration(self, cur: Any) -> None:  # noqa: B027 (optional hook)
        """Backends that allow concurrent DDL serialise migrations here."""

    # -- reading -----------------------------------------------------------------------
    def state(self) -> LedgerState:
        events = {rec.uid: rec for rec in self.events()}
        with self.read() as cur:
            cur.execute(f"SELECT {', '.join(SEND_COLUMNS)} FROM sends")
            sends = {row[0]: _send(row) for row in cur.fetchall()}
        streams = {(r.uid, r.occurrence): r for r in self.streams()}
        return LedgerState(events, sends, streams)

    def streams(self, uid: str | None = None) -> list[StreamRecord]:
        """What the watcher saw, per occurrence (of one event, or of all)."""
        sql = f"SELECT {', '.join(STREAM_COLUMNS)} FROM streams"
        args: tuple[str, ...] = ()
        if uid is not None:
            sql, args = sql + " WHERE uid = ?", (uid,)
        with self.read() as cur:
            cur.execute(self.q(sql + " ORDER BY uid, occurrence"), args)
            return [_stream(row) for row in cur.fetchall()]

    def stream(self, uid: str, occurrence: str) -> StreamRecord | None:
        with self.read() as cur:
            cur.execute(
                self.q(
                    f"SELECT {', '.join(STREAM_COLUMNS)} FROM streams "
                    "WHERE uid = ? AND occurrence = ?"
                ),
                (uid, occurrence),
            )
            row = cur.fetchone()
        return _stream(row) if row else None

    def replays(self) -> dict[str, str]:
        """uid → the replay URL the watcher found (the latest occurrence's), for events whose
        page gives none."""
        with self.read() as cur:
            cur.execute(
                "SELECT uid, replay_url FROM streams WHERE replay_url IS NOT NULL "
                "ORDER BY uid, occurrence"
            )
            return {uid: url for uid, url in cur.fetchall()}

    def counts(self, now: datetime) -> tuple[dict[tuple[str, str], int], int]:
        """({(state, channel): sends}, pending sends due now and still valid): /metrics."""
        stamp = ts(now)
        with self.read() as cur:
            cur.execute("SELECT state, channel, COUNT(*) FROM sends GROUP BY state, channel")
            counts = {(str(s), str(c)): int(n) for s, c, n in cur.fetchall()}
            cur.execute(
                self.q(
                    "SELECT COUNT(*) FROM sends WHERE state = 'pending' AND due <= ? "
                    "AND valid_until > ? AND (not_before IS NULL OR not_before <= ?)"
                ),
                (stamp, stamp, stamp),
            )
            row = cur.fetchone()
        return counts, int(row[0]) if row else 0

    def sends(self, *states: SendState) -> list[SendRecord]:
        sql = f"SELECT {', '.join(SEND_COLUMNS)} FROM sends"
        args: tuple[str, ...] = ()
        if states:
            sql += f" WHERE state IN ({', '.join('?' * len(states))})"
            args = tuple(str(s) for s in states)
        with self.read() as cur:
            cur.execute(self.q(sql + " ORDER BY due, key"), args)
            return [_send(row) for row in cur.fetchall()]

    def readiness(self, now: datetime, channels: Sequence[str]) -> tuple[int, datetime | None]:
        """What the dispatcher sleeps on, counted by the database: how many pending sends
        of ``channels``, still valid ``now``, may go now (due, and past their not-before),
        and the earliest instant any of them may go. (Reading every pending send to work it
        out parsed 1,000 rows before a burst of 1,000: 7 % of its CPU.)"""
        if not channels:
            return 0, None
        stamp = ts(now)
        ready = "CASE WHEN not_before IS NOT NULL AND not_before > due THEN not_before ELSE due END"
        with self.read() as cur:
            cur.execute(
                self.q(
                    f"SELECT COUNT(CASE WHEN {ready} <= ? THEN 1 END), MIN({ready}) FROM sends "
                    "WHERE state = 'pending' AND valid_until > ? "
                    f"AND channel IN ({', '.join('?' * len(channels))})"
                ),
                (stamp, stamp, *channels),
            )
            count, earliest = cur.fetchone()
        return int(count or 0), parse_ts(earliest)

    def send(self, key: str) -> SendRecord | None:
        with self.read() as cur:
            cur.execute(
                self.q(f"SELECT {', '.join(SEND_COLUMNS)} FROM sends WHERE key = ?"), (key,)
            )
            row = cur.fetchone()
        return _send(row) if row else None

    def event(self, uid: str) -> Event | None:
        with self.read() as cur:
            cur.execute(self.q("SELECT snapshot FROM events WHERE uid = ?"), (uid,))
            row = cur.fetchone()
        return Event.from_record(row[0]) if row else None

    def events(self, mentioning: str | None = None) -> list[EventRecord]:
        """Every event record, without loading the sends (``state()`` loads both); with
        ``mentioning``, only those whose snapshot contains that text (the watcher's rooms)."""
        sql = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"
        args: tuple[str, ...] = ()
        if mentioning is not None:
            escaped = mentioning.replace("!", "!!").replace("%", "!%").replace("_", "!_")
            sql, args = sql + " WHERE snapshot LIKE ? ESCAPE '!'", (f"%{escaped}%",)
        with self.read() as cur:
            cur.execute(self.q(sql), args)
            return [_event(row) for row in cur.fetchall()]

    def record(self, uid: str) -> EventRecord | None:
        """One event's record (its snapshot and SEQUENCE in one read)."""
        with self.read() as cur:
            cur.execute(
                self.q(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE uid = ?"), (uid,)
            )
            row = cur.fetchone()
        return _event(row) if row else None

    def sequences(self) -> dict[str, int]:
        with self.read() as cur:
            cur.execute("SELECT uid, sequence FROM events")
            return {uid: seq for uid, seq in cur.fetchall()}

    def significant_changes(self) -> dict[str, datetime | None]:
        """uid → when its significant hash last changed (the sync that saw the revision
        taking it to its current SEQUENCE); None for an event never significantly changed."""
        with self.read() as cur:
            cur.execute("SELECT uid, sequence, changed_at FROM events")
            return {uid: None if seq == 0 else parse_ts(at) for uid, seq, at in cur.fetchall()}

    def tombstones(self, now: datetime, days: int) -> list[Event]:
        """Deleted events of the last ``days`` days, as cancelled events for the calendars."""
        since = ts(now - timedelta(days=days))
        with self.read() as cur:
            cur.execute(
                self.q(
                    "SELECT snapshot FROM events WHERE deleted_at IS NOT NULL AND deleted_at >= ?"
                    " ORDER BY uid"
                ),
                (since,),
            )
            rows = cur.fetchall()
        out = []
        for (snapshot,) in rows:
            event = Event.from_record(snapshot)
            out.append(replace(event, status=Status.CANCELLED))
        return out

    def log(self, key: str) -> list[tuple[datetime, str, str | None]]:
        with self.read() as cur:
            cur.execute(
                self.q("SELECT at, state, note FROM send_log WHERE key = ? ORDER BY at"), (key,)
            )
            return [(parse_ts(at), state, note) for at, state, note in cur.fetchall()]  # type: ignore[misc]

    # -- writing -----------------------------------------------------------------------
    def apply(self, plan: Plan) -> None:
        """Write a plan in one transaction. Withdrawals and misses only touch sends that are
        still pending, so a send claimed meanwhile by a worker is never pulled from under it."""
        now = ts(plan.now)
        with self.transaction() as cur:
            for event in plan.events:
                values = [_db(getattr(event, c), c) for c in EVENT_COLUMNS]
                cur.execute(
                    self.q(_UPSERT_EVENT),
                    (*values, now),
                )
                cur.execute(
                    self.q(
                        "INSERT INTO revisions (uid, revision, significant, sequence, seen_at) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
                    ),
                    (event.uid, event.revision, event.significant, event.sequence, now),
                )
            for send in plan.add:
                if send.key in plan.held:
                    note = "held: planned by rules an upgrade added (livepipe resend KEY)"
                    self._insert(cur, send, plan.now, note, SendState.HELD)
                else:
                    self._insert(cur, send, plan.now, "planned")
            for send in plan.update:  # a waiting daily push whose articles changed
                cur.execute(
                    self.q(
                        "UPDATE sends SET payload = ?, due = ?, valid_until = ?, updated_at = ? "
                        "WHERE key = ? AND state IN ('pending', 'held')"
                    ),
                    (send.payload(), ts(send.due), ts(send.valid_until), now, send.key),
                )
            for rec, reason in plan.withdraw:
                self._transition(cur, rec.key, rec.state, SendState.WITHDRAWN, plan.now, reason)
            for rec in plan.missed:
                self._transition(
                    cur,
                    rec.key,
                    rec.state,
                    SendState.MISSED,
                    plan.now,
                    f"window ended {ts(rec.valid_until)}",
                )

    def observe(self, record: StreamRecord, sends: Sequence[Send], now: datetime) -> list[str]:
        """Record what the watcher saw and, in the same transaction, the sends it makes due
        (each once: a key already in the ledger is left as it is). Returns the new keys."""
        added = []
        with self.transaction() as cur:
            values = [_db(getattr(record, c), c) for c in STREAM_COLUMNS]
            cur.execute(self.q(_UPSERT_STREAM), (*values, ts(now)))
            for send in sends:
                if self._insert(cur, send, now, "seen on the stream"):
                    added.append(send.key)
        return added

    def _insert(
        self,
        cur: Any,
        send: Send,
        now: datetime,
        note: str,
        state: SendState = SendState.PENDING,
    ) -> bool:
        cur.execute(
            self.q(
                "INSERT INTO sends (key, uid, slot, kind, channel, occurrence, "
                "significant, due, valid_until, state, audience, payload, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING"
            ),
            (
                send.key,
                send.uid,
                send.slot,
                send.kind,
                send.channel,
                send.occurrence,
                send.significant,
                ts(send.due),
                ts(send.valid_until),
                str(state),
                str(send.audience),
                send.payload(),
                ts(now),
                ts(now),
            ),
        )
        inserted: bool = cur.rowcount == 1
        if inserted:
            self._log(cur, send.key, now, str(state), note)
        return inserted

    def _transition(
        self, cur: Any, key: str, old: SendState, new: SendState, now: datetime, note: str
    ) -> bool:
        cur.execute(
            self.q(
                "UPDATE sends SET state = ?, updated_at = ?, error = ? WHERE key = ? AND state = ?"
            ),
            (str(new), ts(now), note if new is not SendState.SENT else None, key, str(old)),
        )
        changed: bool = cur.rowcount == 1
        if changed:
            self._log(cur, key, now, str(new), note)
        return changed

    def _log(self, cur: Any, key: str, now: datetime, state: str, note: str | None) -> None:
        cur.execute(
            self.q("INSERT INTO send_log (key, at, state, note) VALUES (?, ?, ?, ?)"),
            (key, ts(now), state, note),
        )

    def claim_next(
        self,
        now: datetime,
        worker: str,
        channels: Sequence[str],
        *,
        due_before: datetime | None = None,
        lease: timedelta = DEFAULT_LEASE,
    ) -> SendRecord | None:
        """Atomically claim the earliest due, still valid, pending send of ``channels`` (due
        by ``due_before`` at the latest: reconcile leaves fresh ones to their own runs),
        leased until ``now + lease``."""
        claimed = self.claim_due(now, worker, channels, 1, due_before=due_before, lease=lease)
        return claimed[0] if claimed else None

    def claim_due(
        self,
        now: datetime,
        worker: str,
        channels: Sequence[str],
        limit: int,
        *,
        due_before: datetime | None = None,
        lease: timedelta = DEFAULT_LEASE,
    ) -> list[SendRecord]:
        """Claim up to ``limit`` of the earliest due, valid, pending sends of ``channels`` in
        one statement (the dispatcher claims as many as it has free threads)."""
        if not channels or limit < 1:
            return []
        marks = ", ".join("?" * len(channels))
        stamp = ts(now)
        cutoff = ts(due_before or now)
        with self.transaction() as cur:
            cur.execute(
                self.q(self._claim_sql().format(channels=marks)),
                (worker, stamp, ts(now + lease), stamp, cutoff, stamp, stamp, *channels, limit),
            )
            rows = sorted(cur.fetchall(), key=lambda row: (row[_DUE], row[0]))  # due, key
            for row in rows:
                self._log(cur, row[0], now, "claimed", worker)
        return [_send(row) for row in rows]

    def claim(
        self, key: str, now: datetime, worker: str, *, lease: timedelta = DEFAULT_LEASE
    ) -> SendRecord | None:
        """Claim one given send if it is pending, due and still valid, leased until
        ``now + lease``."""
        stamp = ts(now)
        with self.transaction() as cur:
            cur.execute(
                self.q(
                    "UPDATE sends SET state = 'claimed', claimed_by = ?, claimed_at = ?, "
                    "lease_until = ?, call_started_at = NULL, attempts = attempts + 1, "
                    "updated_at = ? "
                    "WHERE key = ? AND state = 'pending' AND due <= ? AND valid_until > ? "
                    "AND (not_before IS NULL OR not_before <= ?) "
                    f"RETURNING {', '.join(SEND_COLUMNS)}"
                ),
                (worker, stamp, ts(now + lease), stamp, key, stamp, stamp, stamp),
            )
            row = cur.fetchone()
            if row is None:
                return None
            self._log(cur, key, now, "claimed", worker)
        return _send(row)

    def start_call(self, key: str, worker: str, now: datetime) -> None:
        """Recorded just before the channel call: from here on a crash is 'uncertain'."""
        with self.transaction() as cur:
            cur.execute(
                self.q(
                    "UPDATE sends SET call_started_at = ?, updated_at = ? "
                    "WHERE key = ? AND state = 'claimed' AND claimed_by = ?"
                ),
                (ts(now), ts(now), key, worker),
            )
            if cur.rowcount != 1:
                raise LostClaimError(key)

    def mark_sent(
        self,
        key: str,
        worker: str,
        now: datetime,
        *,
        remote_id: str | None = None,
        remote_url: str | None = None,
        note: str | None = None,
    ) -> None:
        with self.transaction() as cur:
            cur.execute(
                self.q(
                    "UPDATE sends SET state = 'sent', sent_at = ?, remote_id = ?, remote_url = ?, "
                    "error = NULL, updated_at = ? WHERE key = ? AND state = 'claimed' "
                    "AND claimed_by = ? RETURNING uid, kind, significant"
                ),
                (ts(now), remote_id, remote_url, ts(now), key, worker),
            )
            row = cur.fetchone()
            if row is None:
                raise LostClaimError(key)
            uid, kind, significant = row
            if kind in _INFORMING_KINDS and significant:
                cur.execute(
                    self.q("UPDATE events SET notified_significant = ? WHERE uid = ?"),
                    (significant, uid),
                )
            self._log(cur, key, now, "sent", note or remote_id)

    def renew(self, keys: Sequence[str], worker: str, until: datetime) -> int:
        """Extend the leases of ``worker``'s claims on ``keys`` to ``until`` (while their
        calls run); how many it still held."""
        if not keys:
            return 0
        marks = ", ".join("?" * len(keys))
        with self.transaction() as cur:
            cur.execute(
                self.q(
                    f"UPDATE sends SET lease_until = ? WHERE key IN ({marks}) "
                    "AND state = 'claimed' AND claimed_by = ?"
                ),
                (ts(until), *keys, worker),
            )
            held: int = cur.rowcount
        return held

    def mark_uncertain(self, key: str, worker: str, now: datetime, note: str) -> bool:
        """The call started and what happened is unknown (an unexpected error during it):
        never resent blindly; ``livepipe resolve`` settles it."""
        with self.transaction() as cur:
            cur.execute(
                self.q(
                    "UPDATE sends SET state = 'uncertain', error = ?, claimed_by = NULL, "
                    "claimed_at = NULL, lease_until = NULL, updated_at = ? "
                    "WHERE key = ? AND state = 'claimed' AND claimed_by = ?"
                ),
                (note, ts(now), key, worker),
            )
            changed: bool = cur.rowcount == 1
            if changed:
                self._log(cur, key, now, "uncertain", note)
        return changed

    def mark_failed(self, key: str, worker: str, now: datetime, error: str) -> None:
        with self.transaction() as cur:
            cur.execute(
                self.q(
                    "UPDATE sends SET state = 'failed', error = ?, updated_at = ? "
                    "WHERE key = ? AND state = 'claimed' AND claimed_by = ?"
                ),
                (error, ts(now), key, worker),
            )
            if cur.rowcount == 1:
                self._log(cur, key, now, "failed", error)

    def release(
        self, key: str, worker: str, now: datetime, not_before: datetime, error: str
    ) -> None:
        """A transient failure: back to pending, to be tried again from ``not_before``."""
        with self.transaction() as cur:
            cur.execute(
                self.q(
                    "UPDATE sends SET state = 'pending', not_before = ?, error = ?, "
                    "claimed_by = NULL, claimed_at = NULL, call_started_at = NULL, "
                    "lease_until = NULL, updated_at = ? "
                    "WHERE key = ? AND state = 'claimed' AND claimed_by = ?"
                ),
                (ts(not_before), error, ts(now), key, worker),
            )
            if cur.rowcount == 1:
                self._log(cur, key, now, "pending", f"retry after {ts(not_before)}: {error}")

    def recover(
        self,
        now: datetime,
        *,
        lease: timedelta,
        idempotent: Callable[[str], bool],
        alive: Callable[[str | None], bool | None] = claimer_alive,
    ) -> list[tuple[SendRecord, SendState]]:
        """Claims whose process is gone, or whose lease expired (the claimer stopped renewing
        it: dead elsewhere, or a thread wedged in its call): back to pending when no channel
        call had started or the channel deduplicates by key; otherwise ``uncertain`` (never
        resent blindly)."""
        out = []
        for rec in self.sends(SendState.CLAIMED):
            is_alive = alive(rec.claimed_by)
            ends = rec.lease_until or ((rec.claimed_at or now) + lease)
            expired = ends <= now
            if is_alive is not False and not expired:
                continue
            safe = rec.call_started_at is None or idempotent(rec.channel)
            new = SendState.PENDING if safe else SendState.UNCERTAIN
            who = "gone" if is_alive is False else "stopped renewing its lease"
            note = f"claimer {rec.claimed_by} {who} " + (
                "before the call"
                if rec.call_started_at is None
                else "during the call; the channel deduplicates by key"
                if safe
                else "during the call: check the channel, then `livepipe resolve`"
            )
            with self.transaction() as cur:
                cur.execute(
                    self.q(
                        "UPDATE sends SET state = ?, claimed_by = NULL, claimed_at = NULL, "
                        "call_started_at = NULL, lease_until = NULL, error = ?, updated_at = ? "
                        "WHERE key = ? AND state = 'claimed' AND claimed_by = ?"
                    ),
                    (str(new), note, ts(now), rec.key, rec.claimed_by),
                )
                if cur.rowcount == 1:
                    self._log(cur, rec.key, now, str(new), note)
                    out.append((rec, new))
        return out

    def note_remote(self, remote_id: str, now: datetime, note: str) -> str | None:
        """Add what a remote later said about a sent send (WeChat's MASSSENDJOBFINISH
        counts) to that send's log; the key, or None when no sent send has that remote id."""
        with self.transaction() as cur:
            cur.execute(
                self.q("SELECT key FROM sends WHERE remote_id = ? AND state = 'sent'"),
                (remote_id,),
            )
            row = cur.fetchone()
            if row is None:
                return None
            self._log(cur, row[0], now, "sent", note)
        return str(row[0])

    # -- what operators do by hand (livepipe resend / skip / pause / resume) ------------------
    def resend(
        self, key: str, now: datetime, until: datetime, *, actor: str, why: str = ""
    ) -> str | None:
        """A failed, missed, uncertain, skipped or held send goes out again, valid until
        ``until``: back to pending, due now. Returns None, or why it cannot."""
        rec = self.send(key)
        if rec is None:
            return "no such send"
        if rec.state not in _RESENDABLE:
            return f"it is {rec.state} (only failed, missed, uncertain, skipped or held sends)"
        if until <= now:
            return "the new window must end in the future"
        note = f"resend by {actor}" + (f": {why}" if why else "") + f", valid until {ts(until)}"
        with self.transaction() as cur:
            cur.execute(
                self.q(
                    "UPDATE sends SET state = 'pending', due = ?, valid_until = ?, not_before "
                    "= NULL, error = NULL, claimed_by = NULL, claimed_at = NULL, "
                    "call_started_at = NULL, lease_until = NULL, updated_at = ? "
                    "WHERE key = ? AND state = ?"
                ),
                (ts(min(now, rec.due)), ts(until), ts(now), key, str(rec.state)),
            )
            if cur.rowcount != 1:
                return "it changed meanwhile: try again"
            self._log(cur, key, now, "pending", note)
            self._operation(cur, now, actor, "resend", key, why)
        return None

    def skip(self, key: str, now: datetime, *, actor: str, why: str = "") -> str | None:
        """A pending, held, failed or uncertain send will not go out: skipped. Returns None,
        or why it cannot."""
        rec = self.send(key)
        if rec is None:
            return "no such send"
        if rec.state not in _SKIPPABLE:
            return f"it is {rec.state} (only pending, held, failed or uncertain sends)"
        note = f"skipped by {actor}" + (f": {why}" if why else "")
        with self.transaction() as cur:
            if not self._transition(cur, key, rec.state, SendState.SKIPPED, now, note):
                return "it changed meanwhile (claimed?): try again"
            self._operation(cur, now, actor, "skip", key, why)
        return None

    def pause(self, channel: str, now: datetime, *, actor: str, why: str = "") -> bool:
        """Stop claiming the channel's sends (they stay pending); False if already paused."""
        value = json.dumps({"since": ts(now), "by": actor, "why": why})
        added = self.kv_add(PAUSE_PREFIX + channel, value, now, now + timedelta(days=36500))
        if added:
            with self.transaction() as cur:
                self._operation(cur, now, actor, "pause", channel, why)
        return added

    def resume(self, channel: str, now: datetime, *, actor: str, why: str = "") -> bool:
        """Claim the channel's sends again; False if it was not paused."""
        if self.kv_get(PAUSE_PREFIX + channel, now) is None:
            return False
        with self.transaction() as cur:
            cur.execute(self.q("DELETE FROM kv WHERE name = ?"), (PAUSE_PREFIX + channel,))
            self._operation(cur, now, actor, "resume", channel, why)
        return True

    def paused(self, now: datetime | None = None) -> dict[str, tuple[datetime, str, str]]:
        """channel → (paused since, by whom, why)."""
        out = {}
        for name, value in self.kv_prefix(PAUSE_PREFIX).items():
            try:
                data = json.loads(value)
                since = parse_ts(data["since"])
            except (ValueError, KeyError, TypeError):
                continue
            if since is not None:
                out[name.removeprefix(PAUSE_PREFIX)] = (since, str(data["by"]), str(data["why"]))
        return out

    def operations(self, limit: int = 100) -> list[tuple[datetime, str, str, str, str]]:
        """The latest things operators did: (at, who, action, target, why), newest first."""
        with self.read() as cur:
            cur.execute(
                self.q(
                    "SELECT at, actor, action, target, note FROM operations "
                    "ORDER BY at DESC LIMIT ?"
                ),
                (limit,),
            )
            return [
                (parse_ts(at), actor, action, target, note or "")  # type: ignore[misc]
                for at, actor, action, target, note in cur.fetchall()
            ]

    def _operation(
        self, cur: Any, now: datetime, actor: str, action: str, target: str, note: str
    ) -> None:
        cur.execute(
            self.q(
                "INSERT INTO operations (at, actor, action, target, note) VALUES (?, ?, ?, ?, ?)"
            ),
            (ts(now), actor, action, target, note),
        )

    def add_sends(self, sends: Sequence[Send], now: datetime, note: str) -> list[str]:
        """Record sends made outside the plan (alerts): each once (a key already there is
        left as it is). Returns the keys added."""
        with self.transaction() as cur:
            return [s.key for s in sends if self._insert(cur, s, now, note)]

    def resolve(self, key: str, now: datetime, *, delivered: bool) -> bool:
        """An operator's verdict on an uncertain send: it was delivered, or send it again."""
        new = SendState.SENT if delivered else SendState.PENDING
        with self.transaction() as cur:
            return self._transition(cur, key, SendState.UNCERTAIN, new, now, "resolved by hand")

    # -- small key/value store (shared tokens, locks) ----------------------------------
    def kv_get(self, name: str, now: datetime) -> str | None:
        with self.read() as cur:
            cur.execute(self.q("SELECT value, expires_at FROM kv WHERE name = ?"), (name,))
            row = cur.fetchone()
        if row is None or (row[1] is not None and row[1] <= ts(now)):
            return None
        return str(row[0])

    def kv_lock(self, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
        """Take a named lock until now + ttl (or renew ours); False if someone else holds it."""
        until = ts(now + ttl)
        with self.transaction() as cur:
            cur.execute(
                self.q(
                    "INSERT INTO kv (name, value, expires_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
                    "expires_at = excluded.expires_at "
                    "WHERE kv.expires_at <= ? OR kv.value = excluded.value"
                ),
                (name, owner, until, ts(now)),
            )
            taken: bool = cur.rowcount == 1
        return taken

    def kv_add(self, name: str, value: str, now: datetime, expires_at: datetime) -> bool:
        """Record ``name`` unless it is already there and unexpired: True the first time (a
        webhook delivery, a signature's nonce), False for a repeat."""
        with self.transaction() as cur:
            cur.execute(
                self.q(
                    "INSERT INTO kv (name, value, expires_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
                    "expires_at = excluded.expires_at WHERE kv.expires_at <= ?"
                ),
                (name, value, ts(expires_at), ts(now)),
            )
            added: bool = cur.rowcount == 1
        return added

    def kv_prefix(self, prefix: str) -> dict[str, str]:
        with self.read() as cur:
            cur.execute(self.q("SELECT name, value FROM kv WHERE name LIKE ?"), (prefix + "%",))
            return {name: value for name, value in cur.fetchall()}

    def kv_delete(self, name: str) -> None:
        with self.transaction() as cur:
            cur.execute(self.q("DELETE FROM kv WHERE name = ?"), (name,))

    def expire(self, now: datetime) -> list[SendRecord]:
        """Pending sends whose window has passed become missed (the reconcile flow)."""
        missed = [s for s in self.sends(SendState.PENDING, SendState.HELD) if s.valid_until <= now]
        with self.transaction() as cur:
            done = [
                s
                for s in missed
                if self._transition(
                    cur,
                    s.key,
                    s.state,
                    SendState.MISSED,
                    now,
                    f"window ended {ts(s.valid_until)}",
                )
            ]
        return done

    def kv_put(self, name: str, value: str, expires_at: datetime | None) -> None:
        with self.transaction() as cur:
            cur.execute(
                self.q(
                    "INSERT INTO kv (name, value, expires_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
                    "expires_at = excluded.expires_at"
                ),
                (name, value, ts(expires_at)),
            )


_DUE = SEND_COLUMNS.index("due")


def _db(value: object, column: str) -> object:
    if column in _TIME_COLUMNS:
        return ts(value)  # type: ignore[arg-type]
    return value


def _columns(names: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    """A row as {column: value}, the time columns parsed back to instants."""
    data = dict(zip(names, row, strict=True))
    for c in names:
        if c in _TIME_COLUMNS:
            data[c] = parse_ts(data[c])
    return data


def _event(row: Sequence[Any]) -> EventRecord:
    return EventRecord(**_columns(EVENT_COLUMNS, row))


def _stream(row: Sequence[Any]) -> StreamRecord:
    data = _columns(STREAM_COLUMNS, row)
    data["status"] = StreamStatus(data["status"])
    return StreamRecord(**data)


def _send(row: Sequence[Any]) -> SendRecord:
    data = _columns(SEND_COLUMNS, row)
    data["state"] = SendState(data["state"])
    data["kind"] = SlotKind(data["kind"])
    data["audience"] = Audience(data["audience"])
    data.update(from_payload(data.pop("payload")))
    return SendRecord(**data)


__all__ = ["Ledger", "LostClaimError", "parse_ts", "ts", "worker_id"]
