"""The publication plan (pure): events × slots × channels → sends, diffed against the ledger.

``plan(events, state, settings, now)`` recomputes from scratch what the content wants and
returns what to change in the ledger. Rules, slot kind by slot kind:

- announce: due when the page is first seen; valid until ``start + until`` (default −2 h); only
  when the start was at least ``min_lead`` away at that moment.
- reminder: due at ``start + offset``; valid for ``window`` or until ``start + until``
  (default: the start). The key holds the start instant: a reschedule withdraws the pending
  reminders of the old time and plans new ones — never both.
- replay: due when a replay URL is first seen after the event (or at its end); valid
  ``window``; not for events that ended more than ``max_age`` before the link appeared.
- changed: due when the significant fields (time, place, live URL, status) differ from what
  people were last told (an announce, reminder or changed notice that went out); valid until
  the start.
- cancelled: due when an announced event is cancelled or its page deleted; valid until start.
- digest: weekly at ``weekly`` in the site zone, for weeks that have events.
- live: due when the stream watcher saw the occurrence's stream go live inside its watching
  window (``start - watch.before`` to ``end + watch.after``); valid ``window`` (30 min), never
  past the window. Keyed by the occurrence: a stream that flaps sends one notice.
- late (off by default): due when the watcher saw the stream not live at ``start + offset``
  and it had not gone live before; valid until ``start + until``.
- a replay URL the watcher found (YouTube's ended live video) counts as the page's own when
  the page has none: the replay notice goes out without a page edit.

Whatever the slot: a send is only created while it is still valid; a pending send past its
window becomes ``missed``; nothing but a replay is planned for an event that is over; a page
that fails to load keeps its pending sends untouched (a bad edit never cancels anything).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from . import recurrence
from .config import ChannelSettings, Settings, SlotSettings, parse_weekly
from .identity import send_key, site_uid
from .models import Event, SlotKind, Status
from .streams import StreamRecord, targets, window
from .timeutil import get_zone, parse_duration


class SendState(enum.StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    MISSED = "missed"
    WITHDRAWN = "withdrawn"
    UNCERTAIN = "uncertain"


OPEN_STATES = frozenset({SendState.PENDING, SendState.CLAIMED})


@dataclass(frozen=True)
class Send:
    """One message of one slot for one event to one channel, at a due time."""

    key: str
    uid: str
    slot: str
    kind: SlotKind
    channel: str
    occurrence: str
    due: datetime
    valid_until: datetime
    significant: str = ""


@dataclass(frozen=True)
class SendRecord(Send):
    """A send as the ledger holds it."""

    state: SendState = SendState.PENDING
    attempts: int = 0
    not_before: datetime | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    call_started_at: datetime | None = None
    sent_at: datetime | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    error: str | None = None
    updated_at: datetime | None = None
    lease_until: datetime | None = None  # a claim's lease (renewed while its call runs)
    payload: str | None = None


@dataclass(frozen=True)
class EventRecord:
    """What the ledger remembers about an event between runs."""

    uid: str
    source: str
    revision: str
    significant: str
    sequence: int
    status: str
    snapshot: str  # Event.to_record() of the last good revision
    first_seen: datetime
    changed_at: datetime  # when the significant hash last changed
    deleted_at: datetime | None = None
    replay_seen_at: datetime | None = None
    notified_significant: str | None = None  # what people were last told (None: nothing yet)

    @property
    def event(self) -> Event:
        return Event.from_record(self.snapshot)


@dataclass(frozen=True)
class LedgerState:
    events: Mapping[str, EventRecord] = field(default_factory=dict)
    sends: Mapping[str, SendRecord] = field(default_factory=dict)
    streams: Mapping[tuple[str, str], StreamRecord] = field(default_factory=dict)


Streams = Mapping[tuple[str, str], StreamRecord]  # (uid, occurrence) → what was seen


class ChangeKind(enum.StrEnum):
    """What happened to an event between two syncs."""

    ADDED = "added"
    EDITED = "edited"  # text only: no notice
    CHANGED = "changed"  # place, live URL or status
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    DELETED = "deleted"
    REPLAY = "replay"


@dataclass(frozen=True)
class Change:
    uid: str
    what: ChangeKind
    detail: str = ""


@dataclass
class Plan:
    now: datetime
    desired: list[Send] = field(default_factory=list)
    add: list[Send] = field(default_factory=list)
    withdraw: list[tuple[SendRecord, str]] = field(default_factory=list)
    missed: list[SendRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)  # records to write
    changes: list[Change] = field(default_factory=list)
    # Stream-driven sends that wait for the stream (due: when watching starts): shown by
    # `livepipe plan` as "on stream start", never written to the ledger.
    awaiting: list[Send] = field(default_factory=list)
    # A gathered send's key → the uids of the events it carries (a daily WeChat mass-send).
    gathered: dict[str, list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.add or self.withdraw or self.missed or self.events)


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
        result.desired.extend(_event_sends(event, record, settings, now, state.streams))
    for uid, old in state.events.items():
        if uid in current or old.source in failed:
            continue  # a page that fails to load keeps everything it had
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
        result.desired.extend(_cancelled(gone.event, gone, settings, now))
    result.desired.extend(_digests(records, settings, now))
    result.desired = _gather(result, records, settings)
    result.awaiting = _awaiting(current.values(), state.streams, settings, now)
    _diff(result, state, {uid for uid, r in state.events.items() if r.source in failed})
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


def _sends(
    uid: str,
    slot: str,
    cfg: SlotSettings,
    occurrence: str,
    due: datetime,
    valid_until: datetime,
    significant: str = "",
    *,
    lang: str,
    settings: Settings,
) -> list[Send]:
    out = []
    for ch in cfg.channels:
        if ch not in settings.channels or not settings.channels[ch].takes(lang):
            continue
        at = due
        lead = preview_lead(settings.channels[ch])
        if lead is not None and daily_channel(settings.channels[ch]) is None:  # else _gather
            # Reviewers get it `lead` before everyone: a notice about what just happened
            # waits that long; a scheduled one is previewed that long before it is due.
            at = due + lead if cfg.kind in _HAPPENED else due
            preview = slot + PREVIEW_SUFFIX
            out.append(
                Send(
                    send_key(uid, preview, ch, occurrence),
                    uid,
                    preview,
                    cfg.kind,
                    ch,
                    occurrence,
                    at - lead,
                    min(at, valid_until),
                )
            )
        out.append(
            Send(
                send_key(uid, slot, ch, occurrence),
                uid,
                slot,
                cfg.kind,
                ch,
                occurrence,
                at,
                valid_until,
                significant,
            )
        )
    return out


PREVIEW_SUFFIX = ":preview"  # the slot of a send to a WeChat channel's reviewers
# Kinds due when something happened (a merge, a change, the stream): with a preview they wait.
_HAPPENED = frozenset(
    {
        SlotKind.ANNOUNCE,
        SlotKind.CHANGED,
        SlotKind.CANCELLED,
        SlotKind.REPLAY,
        SlotKind.LIVE,
        SlotKind.LATE,
    }
)


def preview_lead(channel: ChannelSettings) -> timedelta | None:
    """How long before a mass-send its reviewers get it (a ``wechat`` channel with
    ``mass_send`` and ``preview_to``), else None."""
    extra = channel.model_extra or {}
    if channel.type != "wechat" or not extra.get("mass_send") or not extra.get("preview_to"):
        return None
    return parse_duration(str(extra.get("preview_lead", "2h")))


def _valid_until(cfg: SlotSettings, event: Event, due: datetime, default: datetime) -> datetime:
    if cfg.until is not None:
        return event.start + cfg.until
    if cfg.window is not None:
        return due + cfg.window
    return default


def _reminder_slots(event: Event, settings: Settings) -> list[tuple[str, SlotSettings]]:
    if event.reminders is None:
        return [(n, c) for n, c in settings.slots.items() if c.kind == SlotKind.REMINDER]
    configured = [c for c in settings.slots.values() if c.kind == SlotKind.REMINDER and c.offset]
    out = []
    for text in event.reminders:
        offset = parse_duration(text)
        # A page's reminder replaces the configured one nearest to it: its channels and its
        # validity (a -2h reminder goes where starting-soon went, a -2d one where -1d did).
        base = min(configured, key=lambda c: abs(c.offset - offset), default=None)  # type: ignore[operator]
        if base is None:
            out.append((f"reminder{text}", SlotSettings(kind=SlotKind.REMINDER, offset=offset)))
            continue
        until = base.until
        if until is not None and base.offset is not None and until <= offset:
            until = None  # the replaced slot's end would come before this reminder is due
        slot = base.model_copy(update={"offset": offset, "until": until})
        out.append((f"reminder{text}", slot))
    return out


def _event_sends(
    event: Event, record: EventRecord, settings: Settings, now: datetime, streams: Streams
) -> list[Send]:
    """A one-off event's sends; for a recurring one, the announcement (and changed,
    cancelled, replay notices) about the occurrence now or next, and the reminders of every
    occurrence inside ``[pages] repeat_horizon``, each keyed by its own start: cancelling one
    occurrence withdraws only its reminders."""
    if not event.rrule:
        return _one_off_sends(event, record, settings, now, streams)
    this = replace(recurrence.current(event, now), rrule=None)
    out = [
        s
        for s in _one_off_sends(this, record, settings, now, streams)
        if s.kind != SlotKind.REMINDER
    ]
    for start in recurrence.between(event, now, now + settings.pages.repeat_horizon):
        occurrence = replace(recurrence.at(event, start), rrule=None)
        out += [
            s
            for s in _one_off_sends(occurrence, record, settings, now, streams)
            if s.kind == SlotKind.REMINDER
        ]
    return out


def _one_off_sends(
    event: Event, record: EventRecord, settings: Settings, now: datetime, streams: Streams
) -> list[Send]:
    if not event.publish:
        return []
    if event.cancelled:
        return _cancelled(event, record, settings, now)
    stream = streams.get((event.uid, recurrence.occurrence_key(event.start)))
    wanted: list[Send] = stream_sends(event, stream, settings)
    slots = [(n, c) for n, c in settings.slots.items() if c.kind != SlotKind.REMINDER]
    for name, cfg in [*slots, *_reminder_slots(event, settings)]:
        if not cfg.enabled or name in event.skip:
            continue
        if cfg.kind == SlotKind.ANNOUNCE:
            due = record.first_seen
            until = _valid_until(cfg, event, due, event.start)
            if event.start - due >= cfg.min_lead:
                wanted += _sends(
                    event.uid,
                    name,
                    cfg,
                    "once",
                    due,
                    until,
                    event.significant,
                    lang=event.lang,
                    settings=settings,
                )
        elif cfg.kind == SlotKind.REMINDER:
            assert cfg.offset is not None
            due = event.start + cfg.offset
            # Never after the end: a reminder then would only say something untrue.
            until = min(_valid_until(cfg, event, due, event.start), event.end)
            occurrence = event.start.astimezone(get_zone("UTC")).isoformat()
            if event.all_day and -cfg.offset < timedelta(days=1):
                continue  # "starting in 10 minutes" means nothing for an all-day event
            wanted += _sends(
                event.uid,
                name,
                cfg,
                occurrence,
                due,
                until,
                event.significant,
                lang=event.lang,
                settings=settings,
            )
        elif cfg.kind == SlotKind.REPLAY and event.replay_url and record.replay_seen_at:
            due = max(event.end, record.replay_seen_at)
            if due - event.end <= cfg.max_age:
                until = _valid_until(cfg, event, due, due + timedelta(days=7))
                wanted += _sends(
                    event.uid, name, cfg, "once", due, until, lang=event.lang, settings=settings
                )
        elif (
            cfg.kind == SlotKind.CHANGED
            and record.notified_significant is not None
            and record.notified_significant != event.significant
        ):
            due = record.changed_at
            until = _valid_until(cfg, event, due, event.start)
            wanted += _sends(
                event.uid,
                name,
                cfg,
                event.significant,
                due,
                until,
                event.significant,
                lang=event.lang,
                settings=settings,
            )
    # Nothing but a replay (or what the stream made due) for an event that is over.
    return [s for s in wanted if s.kind in _AFTER_THE_END or now < event.end or s.due < event.end]


_AFTER_THE_END = frozenset({SlotKind.REPLAY, SlotKind.LIVE, SlotKind.LATE})


def stream_sends(event: Event, stream: StreamRecord | None, settings: Settings) -> list[Send]:
    """The ``live``, ``late`` and ``replay`` sends that what was seen of the occurrence's
    stream makes due (what the watcher writes to the ledger as soon as it sees it, and what
    the planner keeps). The replay is the page's own slot and key: a page that gives the
    replay URL later sends nothing twice."""
    if stream is None or not event.publish or event.cancelled:
        return []
    opens, closes = window(event, settings)
    out: list[Send] = []
    for name, cfg in settings.slots.items():
        if not cfg.enabled or name in event.skip:
            continue
        occurrence, significant = stream.occurrence, event.significant
        if cfg.kind == SlotKind.LIVE and stream.live_at and opens <= stream.live_at < closes:
            due = stream.live_at
            until = min(_valid_until(cfg, event, due, closes), closes)
        elif cfg.kind == SlotKind.LATE and stream.late_at and cfg.offset is not None:
            if stream.live_at is not None and stream.live_at <= stream.late_at:
                continue
            due = stream.late_at
            until = _late_until(cfg, event, due)
        elif cfg.kind == SlotKind.REPLAY and stream.replay_url and not event.replay_url:
            due = max(event.end, stream.ended_at or event.end)
            if due - event.end > cfg.max_age:
                continue
            until = _valid_until(cfg, event, due, due + timedelta(days=7))
            occurrence, significant = "once", ""  # the page's own replay send
        else:
            continue
        out += _sends(
            event.uid,
            name,
            cfg,
            occurrence,
            due,
            until,
            significant,
            lang=event.lang,
            settings=settings,
        )
    return out


def _late_until(cfg: SlotSettings, event: Event, due: datetime) -> datetime:
    """Until when a late notice is worth sending (default: 30 min after the start)."""
    return _valid_until(cfg, event, due, event.start + timedelta(minutes=30))


def _awaiting(
    events: Iterable[Event], streams: Streams, settings: Settings, now: datetime
) -> list[Send]:
    """The live (and late) sends of watched occurrences that have not happened yet."""
    out: list[Send] = []
    horizon = now + settings.pages.repeat_horizon
    for target in targets(events, settings, now, horizon):
        event, seen = target.event, streams.get((target.uid, target.occurrence))
        for name, cfg in settings.slots.items():
            if not cfg.enabled or name in event.skip:
                continue
            if cfg.kind == SlotKind.LIVE and (seen is None or seen.live_at is None):
                due, until = target.opens, target.closes
            elif (
                cfg.kind == SlotKind.LATE
                and cfg.offset is not None
                and (seen is None or (seen.live_at is None and seen.late_at is None))
                and now < event.start + cfg.offset
            ):
                due = event.start + cfg.offset
                until = _late_until(cfg, event, due)
            else:
                continue
            out += _sends(
                event.uid,
                name,
                cfg,
                target.occurrence,
                due,
                until,
                event.significant,
                lang=event.lang,
                settings=settings,
            )
    return out


def _cancelled(event: Event, record: EventRecord, settings: Settings, now: datetime) -> list[Send]:
    if record.notified_significant is None or not event.publish:
        return []  # nobody was told about it: nothing to take back
    out: list[Send] = []
    for name, cfg in settings.slots.items():
        if cfg.kind == SlotKind.CANCELLED and cfg.enabled and name not in event.skip:
            due = record.deleted_at or record.changed_at
            until = _valid_until(cfg, event, due, event.start)
            out += _sends(
                event.uid, name, cfg, "once", due, until, lang=event.lang, settings=settings
            )
    return out


DAILY_PREFIX = "daily:"  # the occurrence of a gathered send: "daily:2026-12-03"
MAX_ARTICLES = 8  # WeChat: at most 8 articles in one mass-send


def daily_channel(channel: ChannelSettings) -> str | None:
    """The local time (``daily_at``, default 20:00) a ``wechat`` channel with
    ``mass_send = "daily"`` sends its one message of the day; None for the others."""
    extra = channel.model_extra or {}
    if channel.type != "wechat" or extra.get("mass_send") != "daily":
        return None
    return str(extra.get("daily_at", "20:00"))


def _gather(result: Plan, records: Mapping[str, EventRecord], settings: Settings) -> list[Send]:
    """The announcements to a daily channel, gathered: one send a day at ``daily_at`` in the
    site zone with up to 8 articles (the quota of a subscription account is one mass-send a
    day); an announcement waits for the next daily time, one the 8 are full for for the day
    after. One whose own window ends first is left out (its reminders still go)."""
    daily = {n: t for n, c in settings.channels.items() if (t := daily_channel(c))}
    if not daily:
        return result.desired
    keep: list[Send] = []
    waiting: dict[tuple[str, str], list[Send]] = {}
    for s in result.desired:
        if s.kind == SlotKind.ANNOUNCE and s.channel in daily and s.uid in records:
            waiting.setdefault((s.slot, s.channel), []).append(s)
        else:
            keep.append(s)
    uid = site_uid(settings.site.base_url)
    for (slot, channel), sends in waiting.items():
        for day, group in daily_groups(sends, daily[channel], settings):
            due = group[0][1]
            key = send_key(uid, slot, channel, DAILY_PREFIX + day)
            keep.append(
                Send(
                    key,
                    uid,
                    slot,
                    SlotKind.ANNOUNCE,
                    channel,
                    DAILY_PREFIX + day,
                    due,
                    min([due + timedelta(hours=6), *(s.valid_until for s, _ in group)]),
                )
            )
            result.gathered[key] = [s.uid for s, _ in group]
            lead = preview_lead(settings.channels[channel])
            if lead is not None:  # the reviewers get the day's push `lead` before it goes
                preview = slot + PREVIEW_SUFFIX
                keep.append(
                    Send(
                        send_key(uid, preview, channel, DAILY_PREFIX + day),
                        uid,
                        preview,
                        SlotKind.ANNOUNCE,
                        channel,
                        DAILY_PREFIX + day,
                        due - lead,
                        due,
                    )
                )
                result.gathered[keep[-1].key] = result.gathered[key]
    return keep


def gathered_events(
    records: Iterable[EventRecord], settings: Settings, send: Send, now: datetime
) -> list[Event]:
    """The events a gathered send carries, as the ledger knows them when it goes out (an
    event cancelled or deleted since is left out: the text is true when it is read)."""
    at = daily_channel(settings.channels[send.channel])
    if at is None or not send.occurrence.startswith(DAILY_PREFIX):
        return []
    announces: list[Send] = []
    events: dict[str, Event] = {}
    for record in records:
        if record.deleted_at is not None:
            continue
        event = record.event
        events[event.uid] = event
        announces += [
            s
            for s in _event_sends(event, record, settings, now, {})
            if s.kind == SlotKind.ANNOUNCE
            and s.slot == send.slot.removesuffix(PREVIEW_SUFFIX)
            and s.channel == send.channel
        ]
    day = send.occurrence.removeprefix(DAILY_PREFIX)
    for d, group in daily_groups(announces, at, settings):
        if d == day:
            return [events[s.uid] for s, _ in group]
    return []


def daily_groups(
    sends: Iterable[Send], at: str, settings: Settings
) -> list[tuple[str, list[tuple[Send, datetime]]]]:
    """(local date, [(send, the daily due it goes at)]) for announcements to a daily channel:
    each at the first daily time after it came due, 8 a day at most, first come first."""
    zone = get_zone(settings.site.timezone or "UTC")
    hour, minute = (int(x) for x in at.split(":"))
    days: dict[str, list[tuple[Send, datetime]]] = {}
    for s in sorted(sends, key=lambda s: (s.due, s.uid)):
        local = s.due.astimezone(zone)
        slot = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if slot < local:
            slot += timedelta(days=1)
        while True:
            day = slot.date().isoformat()
            if len(days.setdefault(day, [])) < MAX_ARTICLES:
                break
            slot += timedelta(days=1)
        if slot < s.valid_until:
            days[day].append((s, slot))
    return [(d, g) for d, g in sorted(days.items()) if g]


def _digests(records: Mapping[str, EventRecord], settings: Settings, now: datetime) -> list[Send]:
    out: list[Send] = []
    zone = get_zone(settings.site.timezone or "UTC")
    uid = site_uid(settings.site.base_url)
    live = [r.event for r in records.values() if r.deleted_at is None]
    horizon = now + timedelta(days=15)  # the two weeks a digest can be about
    starts = [
        start
        for e in live
        if not e.cancelled
        for start in (
            recurrence.between(e, now - timedelta(days=8), horizon) if e.rrule else [e.start]
        )
    ]
    for name, cfg in settings.slots.items():
        if cfg.kind != SlotKind.DIGEST or not cfg.enabled:
            continue
        weekday, hour, minute = parse_weekly(cfg.weekly or "")
        local = now.astimezone(zone)
        monday = (local - timedelta(days=local.weekday())).date()
        for week in (0, 1):
            day = monday + timedelta(days=week * 7 + weekday)
            due = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
            until = due + (cfg.window or timedelta(hours=12))
            week_start = datetime.combine(
                monday + timedelta(days=week * 7), datetime.min.time(), tzinfo=zone
            )
            if until <= now or not any(
                week_start <= s < week_start + timedelta(days=7) for s in starts
            ):
                continue
            iso = week_start.isocalendar()
            out += _sends(
                uid,
                name,
                cfg,
                f"{iso.year}-W{iso.week:02d}",
                due,
                until,
                lang=settings.site.default_language or "en",
                settings=settings,
            )
    return out


def _diff(result: Plan, state: LedgerState, frozen_uids: set[str]) -> None:
    now = result.now
    desired = {s.key: s for s in result.desired}
    for key, send in desired.items():
        if key not in state.sends and now < send.valid_until:
            result.add.append(send)
    for key, rec in sorted(state.sends.items()):
        if rec.state is not SendState.PENDING:
            continue
        if rec.valid_until <= now:
            result.missed.append(rec)
        elif key not in desired and rec.uid not in frozen_uids:
            result.withdraw.append((rec, _reason(rec, result)))
    result.add.sort(key=lambda s: (s.due, s.key))


def _reason(rec: SendRecord, result: Plan) -> str:
    for change in result.changes:
        if change.uid == rec.uid and change.what in {
            ChangeKind.RESCHEDULED,
            ChangeKind.CANCELLED,
            ChangeKind.DELETED,
        }:
            return change.what
    return "no longer planned"
