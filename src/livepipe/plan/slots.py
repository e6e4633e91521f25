"""The slot rules: one small class per slot kind, each saying when its sends are due and
until when they are worth sending (pure). ``RULES`` maps a kind to its rule; adding a kind is
a class here, its member in ``models.SlotKind`` and its message templates.

A rule answers what it is asked (every method is optional):

- ``for_event``: the sends one scheduled, published occurrence of an event wants;
- ``for_cancelled``: for an event that is cancelled or whose page was deleted;
- ``for_stream``: what the stream watcher saw makes due (live, late, a found replay);
- ``awaiting``: sends that wait for the stream (shown by ``livepipe plan``, never recorded);
- ``for_site``: site-wide sends (the weekly digest).

The sends themselves are made by ``fan_out`` (one per channel, with the reviewers' preview
of a WeChat mass-send, see gather.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from .. import recurrence
from ..config import Settings, SlotSettings, parse_weekly
from ..identity import site_uid
from ..models import Event, SlotKind
from ..records import Audience, EventRecord, Send, StreamRecord
from ..streams import Target, window
from ..timeutil import get_zone
from .gather import reviewers_first


@dataclass(frozen=True)
class Occasion:
    """What a rule plans from: one occurrence of an event, what the ledger knows of it,
    what was seen of its stream, the settings and the moment of planning."""

    event: Event
    record: EventRecord
    settings: Settings
    now: datetime
    stream: StreamRecord | None = None


def fan_out(
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
    """One send per channel of the slot that takes the language; a WeChat mass-send with
    reviewers also gets its preview to them (``Audience.REVIEWERS``), that long before."""
    out = []
    for ch in cfg.channels:
        channel = settings.channels.get(ch)
        if channel is None or not channel.takes(lang):
            continue
        at = due
        lead = reviewers_first(channel)
        if lead is not None and channel.options.daily is None:  # daily: gather.py
            # A notice about what just happened waits `lead` for its reviewers; a scheduled
            # one is previewed that long before it is due.
            at = due + lead if cfg.kind in HAPPENED else due
            preview = Send(
                "",
                uid,
                slot,
                cfg.kind,
                ch,
                occurrence,
                at - lead,
                min(at, valid_until),
                audience=Audience.REVIEWERS,
            )
            out.append(preview.keyed())
        send = Send("", uid, slot, cfg.kind, ch, occurrence, at, valid_until, significant)
        out.append(send.keyed())
    return out


# Kinds due when something happened (a merge, a change, the stream): with a preview they wait.
HAPPENED = frozenset(
    {
        SlotKind.ANNOUNCE,
        SlotKind.CHANGED,
        SlotKind.CANCELLED,
        SlotKind.REPLAY,
        SlotKind.LIVE,
        SlotKind.LATE,
    }
)


def valid_until(cfg: SlotSettings, event: Event, due: datetime, default: datetime) -> datetime:
    if cfg.until is not None:
        return event.start + cfg.until
    if cfg.window is not None:
        return due + cfg.window
    return default


class SlotRule:
    """A slot kind's planning; see the module docstring for the questions."""

    kind: ClassVar[SlotKind]

    def for_event(self, name: str, cfg: SlotSettings, o: Occasion) -> list[Send]:
        return []

    def for_cancelled(self, name: str, cfg: SlotSettings, o: Occasion) -> list[Send]:
        return []

    def for_stream(self, name: str, cfg: SlotSettings, o: Occasion) -> list[Send]:
        return []

    def awaiting(self, name: str, cfg: SlotSettings, target: Target, o: Occasion) -> list[Send]:
        return []

    def for_site(
        self,
        name: str,
        cfg: SlotSettings,
        records: Mapping[str, EventRecord],
        settings: Settings,
        now: datetime,
    ) -> list[Send]:
        return []

    def sends(
        self,
        name: str,
        cfg: SlotSettings,
        o: Occasion,
        occurrence: str,
        due: datetime,
        until: datetime,
        significant: str = "",
    ) -> list[Send]:
        e = o.event
        return fan_out(
            e.uid,
            name,
            cfg,
            occurrence,
            due,
            until,
            significant,
            lang=e.lang,
            settings=o.settings,
        )


class Announce(SlotRule):
    """Due when the page is first seen; valid until ``start + until``. A page merged later
    than ``min_lead`` before its start is still announced at once, and a reminder due less
    than ``fold`` after it is folded in (one message that says how soon it starts)."""

    kind = SlotKind.ANNOUNCE

    def for_event(self, name: str, cfg: SlotSettings, o: Occasion) -> list[Send]:
        e, due = o.event, o.record.first_seen
        until = valid_until(cfg, e, due, e.start)
        if e.start - due < cfg.min_lead or until <= due:  # merged late: announce it anyway
            until = max(until, e.start)  # (a close reminder is folded into it: _fold)
        return self.sends(name, cfg, o, "once", due, until, e.significant)


class Reminder(SlotRule):
    """Due at ``start + offset`` (all-day events: ``[pages] all_day_reminder_at`` local time
    on that day); valid ``window`` or until ``start + until``, never after the end. Keyed by
    the start instant: a reschedule withdraws the old reminders and plans new ones."""

    kind = SlotKind.REMINDER

    def for_event(self, name: str, cfg: SlotSettings, o: Occasion) -> list[Send]:
        e = o.event
        assert cfg.offset is not None
        if e.all_day and -cfg.offset < timedelta(days=1):
            return []  # "starting in 10 minutes" means nothing for an all-day event
        due = reminder_due(e, cfg.offset, o.settings)
        # Never after the end: a reminder then would only say something untrue.
        until = min(valid_until(cfg, e, due, e.start), e.end)
        if e.all_day:
            until = min(max(until, due + (cfg.window or timedelta(hours=12))), e.end)
        occurrence = recurrence.occurrence_key(e.start)
        return self.sends(name, cfg, o, occurrence, due, until, e.significant)


def reminder_due(e: Event, offset: timedelta, settings: Settings) -> datetime:
    """``start + offset``; for an all-day event, the local hour of the day that offset names
    (a day-before reminder at 09:00, not at midnight)."""
    if not e.all_day:
        return e.start + offset
    day = (e.start + offset).date()
    hour, minute = (int(x) for x in settings.pages.all_day_reminder_at.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=e.start.tzinfo)


class Replay(SlotRule):
    """Due when a replay URL is first seen after the event (or at its end); valid
    ``window``; not for events that ended more than ``max_age`` before. A replay the
    watcher found (YouTube's ended live video) counts as the page's own."""

    kind = SlotKind.REPLAY

    def for_event(self, name: str, cfg: SlotSettings, o: Occasion) -> list[Send]:
        e, seen = o.event, o.record.replay_seen_at
        if not e.replay_url or seen is None:
            return []
        due = max(e.end, seen)
        if due - e.end > cfg.max_age:
            return []
        until = valid_until(cfg, e, due, due + timedelta(days=7))
        return self.sends(name, cfg, o, "once", due, until)

    def for_stream(self, name: str, cfg: SlotSettings, o: Occasion) -> list[Send]:
        e, stream = o.event, o.stream
        if stream is None or not stream.replay_url or e.replay_url:
            return []
        due = max(e.end, stream.ended_at or e.end)
        if due - e.end > cfg.max_age:
            return []
        until = valid_until(cfg, e, due, due + timedelta(days=7))
        return self.sends(name, cfg, o, "once", due, until)  # the page's own replay send


class Changed(SlotRule):
    """Due when the time, place, live URL or status differ from what people were last told;
    valid until the start."""

    kind = SlotKind.CHANGED

    def for_event(self, name: str, cfg: SlotSettings, o: Occasion) -> list[Send]:
        e, told = o.event, o.record.notified_significant
        if told is None or told == e.significant:
            return []
        due = o.record.changed_at
        until = valid_until(cfg, e, due, e.start)
        return self.sends(name, cfg, o, e.significant, due, until, e.significant)


class Cancelled(SlotRule):
    """Due when an announced event is cancelled or its page deleted; valid until the start.
    Nobody was told about it: nothing to take back."""

    kind = SlotKind.CANCELLED

    def for_cancelled(self, name: str, cfg: SlotSettings, o: Occasion) -> list[Send]:
        if o.record.notified_significant is None:
            return []
        due = o.record.deleted_at or o.record.changed_at
        until = valid_until(cfg, o.event, due, o.event.start)
        return self.sends(name, cfg, o, "once", due, until)


class Digest(SlotRule):
    """Weekly at ``weekly`` in the site zone, for the two weeks that have events."""

    kind = SlotKind.DIGEST

    def for_site(
        self,
        name: str,
        cfg: SlotSettings,
        records: Mapping[str, EventRecord],
        settings: Settings,
        now: datetime,
    ) -> list[Send]:
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
        weekday, hour, minute = parse_weekly(cfg.weekly or "")
        local = now.astimezone(zone)
        monday = (local - timedelta(days=local.weekday())).date()
        out: list[Send] = []
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
            out += fan_out(
                uid,
                name,
                cfg,
                f"{iso.year}-W{iso.week:02d}",
                due,
                until,
                lang=settings.site.language,
                settings=settings,
            )
        return out


class Live(SlotRule):
    """Due when the watcher saw the occurrence's stream go live inside its watching window
    (a shared room: after the previous talk's end, see streams.py); valid ``window``,
    never past the window. Keyed by the occurrence: a stream that flaps sends one notice."""

    kind = SlotKind.LIVE

    def for_stream(self, name: str, cfg: SlotSettings, o: Occasion) -> list[Send]:
        stream, e = o.stream, o.event
        if stream is None or stream.live_at is None:
            return []
        opens, closes = window(e, o.settings)
        if not opens <= stream.live_at < closes:
            return []
        due = stream.live_at
        until = min(valid_until(cfg, e, due, closes), closes)
        return self.sends(name, cfg, o, stream.occurrence, due, until, e.significant)

    def awaiting(self, name: str, cfg: SlotSettings, target: Target, o: Occasion) -> list[Send]:
        if o.stream is not None and o.stream.live_at is not None:
            return []
        occurrence = target.occurrence
        return self.sends(
            name, cfg, o, occurrence, target.opens, target.closes, o.event.significant
        )


class Late(SlotRule):
    """Off by default: due when the watcher saw the stream not live at ``start + offset``
    and it had not gone live before; valid until ``start + until`` (30 min)."""

    kind = SlotKind.LATE

    @staticmethod
    def _until(cfg: SlotSettings, event: Event, due: datetime) -> datetime:
        return valid_until(cfg, event, due, event.start + timedelta(minutes=30))

    def for_stream(self, name: str, cfg: SlotSettings, o: Occasion) -> list[Send]:
        stream, e = o.stream, o.event
        if stream is None or stream.late_at is None or cfg.offset is None:
            return []
        if stream.live_at is not None and stream.live_at <= stream.late_at:
            return []
        due = stream.late_at
        return self.sends(
            name, cfg, o, stream.occurrence, due, self._until(cfg, e, due), e.significant
        )

    def awaiting(self, name: str, cfg: SlotSettings, target: Target, o: Occasion) -> list[Send]:
        seen, e = o.stream, o.event
        if cfg.offset is None or o.now >= e.start + cfg.offset:
            return []
        if seen is not None and (seen.live_at is not None or seen.late_at is not None):
            return []
        due = e.start + cfg.offset
        return self.sends(
            name, cfg, o, target.occurrence, due, self._until(cfg, e, due), e.significant
        )


class Alert(SlotRule):
    """Alerts are made by what goes wrong (alerts.py), never planned: nothing here."""

    kind = SlotKind.ALERT


RULES: dict[SlotKind, SlotRule] = {
    rule.kind: rule
    for rule in (
        Announce(),
        Reminder(),
        Replay(),
        Changed(),
        Cancelled(),
        Digest(),
        Live(),
        Late(),
        Alert(),
    )
}


def enabled(settings: Settings, event: Event | None = None) -> Iterable[tuple[str, SlotSettings]]:
    """The enabled slots (those the page does not skip)."""
    for name, cfg in settings.slots.items():
        if cfg.enabled and (event is None or name not in event.skip):
            yield name, cfg
