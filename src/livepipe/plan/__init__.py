"""The publication plan (pure): events × slots × channels → sends, diffed against the ledger.

``plan(events, state, settings, now)`` recomputes from scratch what the content wants and
returns what to change in the ledger. Each slot kind's rule is a class in ``slots.py``
(when it is due, until when it is worth sending); WeChat's mass-send policy (reviewers
first, once a day) is ``gather.py``. Whatever the slot:

- a send is only created while it is still valid; a waiting send past its window becomes
  ``missed``; nothing but a replay (or what the stream made due) is planned for an event
  that is over;
- a page that fails to load keeps its waiting sends untouched (a bad edit never cancels
  anything);
- a reminder due less than the announcement's ``fold`` after it is folded into it (one
  message, which says how soon the event starts);
- a recurring event: the announcement (and changed, cancelled, replay notices) is about the
  occurrence now or next; the reminders of every occurrence inside ``[pages]
  repeat_horizon`` are planned, each keyed by its own start.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from .. import recurrence
from ..config import Settings, SlotSettings
from ..identity import kept_by_failure
from ..models import Event, SlotKind, Status
from ..records import (
    WAITING_STATES,
    Change,
    ChangeKind,
    EventRecord,
    LedgerState,
    Plan,
    Send,
    SendRecord,
    SendState,
    StreamRecord,
    Streams,
)
from ..streams import targets
from ..timeutil import parse_duration
from .gather import daily_groups, gather
from .slots import RULES, Occasion, enabled


def plan(
    events: Iterable[Event],
    state: LedgerState,
    settings: Settings,
    now: datetime,
    *,
    failed_sources: Iterable[str] = (),
) -> Plan:
    if now.tzinfo is None:
        raise ValueError("plan() needs a tz-aware now")
    result = Plan(now)
    failed = set(failed_sources)
    current = {e.uid: e for e in events}
    records: dict[str, EventRecord] = {}
    for event in current.values():
        old = state.events.get(event.uid)
        record = _record(event, old, now)
        records[event.uid] = record
        if record != old:
            result.events.append(record)
            result.changes.extend(_changes(event, old))
        result.desired.extend(event_sends(event, record, settings, now, state.streams))
    for uid, old in state.events.items():
        if uid in current or kept_by_failure(old.source, uid, failed):
            continue  # a page (a data file) that fails to load keeps everything it had
        gone = old
        if old.deleted_at is None:
            gone = replace(
                old,
                deleted_at=now,
                status=str(Status.CANCELLED),
                sequence=old.sequence + 1,  # calendars must see the cancellation
                changed_at=now,
            )
            result.events.append(gone)
            result.changes.append(Change(uid, ChangeKind.DELETED, old.source))
        records[uid] = gone
        result.desired.extend(_cancelled(Occasion(gone.event, gone, settings, now)))
    for name, cfg in enabled(settings):
        result.desired.extend(RULES[cfg.kind].for_site(name, cfg, records, settings, now))
    result.desired = gather(result.desired, records, settings)
    result.awaiting = _awaiting(current.values(), state.streams, settings, now)
    kept = {uid for uid, r in state.events.items() if kept_by_failure(r.source, uid, failed)}
    _diff(result, state, kept)
    return result


def _record(event: Event, old: EventRecord | None, now: datetime) -> EventRecord:
    if old is None:
        return EventRecord(
            uid=event.uid,
            source=event.source,
            revision=event.revision,
            significant=event.significant,
            sequence=0,
            status=str(event.status),
            snapshot=event.to_record(),
            first_seen=now,
            changed_at=now,
            replay_seen_at=now if event.replay_url else None,
        )
    changed = old.significant != event.significant or old.deleted_at is not None
    return replace(
        old,
        source=event.source,
        revision=event.revision,
        significant=event.significant,
        sequence=old.sequence + 1 if changed else old.sequence,
        status=str(event.status),
        snapshot=event.to_record() if old.revision != event.revision else old.snapshot,
        changed_at=now if changed else old.changed_at,
        deleted_at=None,
        replay_seen_at=(old.replay_seen_at or now) if event.replay_url else None,
    )


def _changes(event: Event, old: EventRecord | None) -> list[Change]:
    if old is None:
        return [Change(event.uid, ChangeKind.ADDED, event.title)]
    if old.deleted_at is not None:
        return [Change(event.uid, ChangeKind.ADDED, f"{event.title} (page restored)")]
    before = old.event
    out = []
    if event.cancelled and not before.cancelled:
        out.append(Change(event.uid, ChangeKind.CANCELLED, event.title))
    elif (event.start, event.end) != (before.start, before.end):
        out.append(
            Change(
                event.uid,
                ChangeKind.RESCHEDULED,
                f"{before.start.isoformat()} → {event.start.isoformat()}",
            )
        )
    elif event.significant != before.significant:
        out.append(Change(event.uid, ChangeKind.CHANGED, "place, live URL or status"))
    if event.replay_url and not before.replay_url:
        out.append(Change(event.uid, ChangeKind.REPLAY, event.replay_url))
    if not out and event.revision != before.revision:
        out.append(Change(event.uid, ChangeKind.EDITED, "text only"))
    return out


def event_sends(
    event: Event, record: EventRecord, settings: Settings, now: datetime, streams: Streams
) -> list[Send]:
    """A one-off event's sends; for a recurring one, the announcement (and changed,
    cancelled, replay notices) about the occurrence now or next, and the reminders of every
    occurrence inside ``[pages] repeat_horizon``, each keyed by its own start: cancelling one
    occurrence withdraws only its reminders."""
    if not event.rrule:
        return _one_off(event, record, settings, now, streams)
    this = replace(recurrence.current(event, now), rrule=None)
    out = [s for s in _one_off(this, record, settings, now, streams) if s.kind != SlotKind.REMINDER]
    for start in recurrence.between(event, now, now + settings.pages.repeat_horizon):
        occurrence = replace(recurrence.at(event, start), rrule=None)
        out += [
            s
            for s in _one_off(occurrence, record, settings, now, streams)
            if s.kind == SlotKind.REMINDER
        ]
    return out


def _one_off(
    event: Event, record: EventRecord, settings: Settings, now: datetime, streams: Streams
) -> list[Send]:
    if not event.publish:
        return []
    stream = streams.get((event.uid, recurrence.occurrence_key(event.start)))
    o = Occasion(event, record, settings, now, stream)
    if event.cancelled:
        return _cancelled(o)
    wanted = stream_sends(o)
    for name, cfg in _slots_of(event, settings):
        wanted += RULES[cfg.kind].for_event(name, cfg, o)
    wanted = _fold(wanted, settings)
    # Nothing but a replay (or what the stream made due) for an event that is over.
    return [s for s in wanted if s.kind in _AFTER_THE_END or now < event.end or s.due < event.end]


_AFTER_THE_END = frozenset({SlotKind.REPLAY, SlotKind.LIVE, SlotKind.LATE})


def _slots_of(event: Event, settings: Settings) -> list[tuple[str, SlotSettings]]:
    """The event's enabled slots, a page's own reminders in place of the configured ones."""
    every = list(enabled(settings, event))
    slots = [(n, c) for n, c in every if c.kind != SlotKind.REMINDER]
    if event.reminders is None:
        return [*slots, *((n, c) for n, c in every if c.kind == SlotKind.REMINDER)]
    configured = [c for c in settings.slots.values() if c.kind == SlotKind.REMINDER and c.offset]
    for text in event.reminders:
        offset = parse_duration(text)
        # A page's reminder replaces the configured one nearest to it: its channels and its
        # validity (a -2h reminder goes where starting-soon went, a -2d one where -1d did).
        base = min(configured, key=lambda c: abs(c.offset - offset), default=None)  # type: ignore[operator]
        if base is None:
            slots.append((f"reminder{text}", SlotSettings(kind=SlotKind.REMINDER, offset=offset)))
            continue
        until = base.until
        if until is not None and base.offset is not None and until <= offset:
            until = None  # the replaced slot's end would come before this reminder is due
        own = base.model_copy(update={"offset": offset, "until": until})
        slots.append((f"reminder{text}", own))
    return slots


def _fold(sends: list[Send], settings: Settings) -> list[Send]:
    """Reminders due less than ``fold`` after the announcement to the same channel are
    folded into it: one message, not an announcement and a reminder minutes apart."""
    announced = {
        (s.channel, s.audience): s.due + settings.slots[s.slot].fold
        for s in sends
        if s.kind == SlotKind.ANNOUNCE
    }
    return [
        s
        for s in sends
        if s.kind != SlotKind.REMINDER
        or (s.channel, s.audience) not in announced
        or s.due >= announced[(s.channel, s.audience)]
    ]


def sends_seen(event: Event, stream: StreamRecord, settings: Settings, now: datetime) -> list[Send]:
    """What the watcher's record of an occurrence makes due (its live, late and replay
    sends): what RoomWatch writes in the same transaction as the observation."""
    return stream_sends(Occasion(event, _NO_RECORD, settings, now, stream))


def stream_sends(o: Occasion) -> list[Send]:
    """The ``live``, ``late`` and ``replay`` sends that what was seen of the occurrence's
    stream makes due (what the watcher writes to the ledger as soon as it sees it, and what
    the planner keeps). The replay is the page's own slot and key: a page that gives the
    replay URL later sends nothing twice."""
    if o.stream is None or not o.event.publish or o.event.cancelled:
        return []
    out: list[Send] = []
    for name, cfg in enabled(o.settings, o.event):
        out += RULES[cfg.kind].for_stream(name, cfg, o)
    return out


def _cancelled(o: Occasion) -> list[Send]:
    if not o.event.publish:
        return []
    out: list[Send] = []
    for name, cfg in enabled(o.settings, o.event):
        out += RULES[cfg.kind].for_cancelled(name, cfg, o)
    return out


def _awaiting(
    events: Iterable[Event], streams: Streams, settings: Settings, now: datetime
) -> list[Send]:
    """The live (and late) sends of watched occurrences that have not happened yet."""
    out: list[Send] = []
    horizon = now + settings.pages.repeat_horizon
    for target in targets(events, settings, now, horizon):
        seen = streams.get((target.uid, target.occurrence))
        o = Occasion(target.event, _NO_RECORD, settings, now, seen)
        for name, cfg in enabled(settings, target.event):
            out += RULES[cfg.kind].awaiting(name, cfg, target, o)
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_RECORD = EventRecord("", "", "", "", 0, "", "", _EPOCH, _EPOCH)  # awaiting needs none


def _diff(result: Plan, state: LedgerState, frozen_uids: set[str]) -> None:
    now = result.now
    desired = {s.key: s for s in result.desired}
    for key, send in desired.items():
        old = state.sends.get(key)
        if old is None:
            if now < send.valid_until:
                result.add.append(send)
        elif old.state in WAITING_STATES and old.carries != send.carries:
            result.update.append(send)
    for key, rec in sorted(state.sends.items()):
        if rec.state not in WAITING_STATES:
            continue
        if rec.valid_until <= now:
            result.missed.append(rec)
        elif key not in desired and rec.uid not in frozen_uids and rec.kind in _PLANNED:
            result.withdraw.append((rec, _reason(rec, result)))
    result.add.sort(key=lambda s: (s.due, s.key))


_PLANNED = frozenset(SlotKind) - {SlotKind.ALERT}  # what the plan owns (may withdraw)


def _reason(rec: SendRecord, result: Plan) -> str:
    for change in result.changes:
        if change.uid == rec.uid and change.what in {
            ChangeKind.RESCHEDULED,
            ChangeKind.CANCELLED,
            ChangeKind.DELETED,
        }:
            return change.what
    return "no longer planned"


__all__ = [
    "Change",
    "ChangeKind",
    "Plan",
    "SendState",
    "daily_groups",
    "event_sends",
    "plan",
    "sends_seen",
    "stream_sends",
]
