"""What the stream watcher knows, as pure values (no I/O; watch.py does the requests).

- ``stream_of(live_url)``: which platform and room a live URL is, if it can be watched;
- ``targets``/``sessions``: which event occurrences are watched when (from ``start - before``
  to ``end + after``), and the same grouped per room, so a room shared by several events
  (the KubeSphere room hosts every livestream; a zh page and its en translation share one) is
  asked once per interval, whatever the number of events;
- ``advance``: how one observation moves an occurrence's ``StreamRecord`` (the ledger's
  memory of what was seen: went live at, ended at, the replay found).

The planner turns a record into sends (plan.py: ``live``, ``late``, a stream-found
``replay``); the key of each holds the occurrence, so a stream that flaps sends one notice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from . import recurrence
from .config import Settings, WatchSettings
from .models import Event
from .records import StreamRecord, StreamStatus

_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")


@dataclass(frozen=True)
class StreamRef:
    """A watchable stream: ``platform`` (bilibili, youtube, generic:NAME) and its ``room``
    (room number, video id, or the live URL itself for a generic watcher)."""

    platform: str
    room: str

    @property
    def id(self) -> str:
        return f"{self.platform}:{self.room}"


def stream_of(live_url: str | None, settings: WatchSettings) -> StreamRef | None:
    """The stream behind a live URL, or None when no watcher knows it."""
    if not live_url:
        return None
    try:
        parts = urlsplit(live_url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    if host in {"live.bilibili.com", "m.live.bilibili.com"}:
        digits = [s for s in segments if s.isdigit() and s.isascii()]
        if digits and int(digits[0]) > 0:
            return StreamRef("bilibili", str(int(digits[0])))
    if host in {"youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be"}:
        if host == "youtu.be":
            video = segments[0] if segments else ""
        elif segments[:1] == ["watch"]:
            video = (parse_qs(parts.query).get("v") or [""])[0]
        elif len(segments) >= 2 and segments[0] == "live":
            video = segments[1]
        else:
            video = ""
        if _YOUTUBE_ID.fullmatch(video):
            return StreamRef("youtube", video)
    for name, generic in sorted(settings.generic.items()):
        if live_url.startswith(generic.match):
            return StreamRef(f"generic:{name}", live_url)
    return None


@dataclass(frozen=True)
class Target:
    """One occurrence of an event, watched on its stream from ``opens`` to ``closes``. In a
    room shared by several talks, a stream going live is this occurrence's only from
    ``live_from`` (the end of the room's previous talk, if that is after ``opens``)."""

    event: Event  # the occurrence (start/end are its own)
    stream: StreamRef
    opens: datetime
    closes: datetime
    live_from: datetime | None = None  # default: opens

    @property
    def uid(self) -> str:
        return self.event.uid

    @property
    def occurrence(self) -> str:
        return recurrence.occurrence_key(self.event.start)


def watchable(event: Event, settings: Settings) -> StreamRef | None:
    """The stream an event is watched on: a scheduled, published, timed event whose live URL
    a watcher knows, while watching is enabled."""
    if not settings.watch.enabled or event.cancelled or not event.publish or event.all_day:
        return None
    return stream_of(event.live_url, settings.watch)


def window(event: Event, settings: Settings) -> tuple[datetime, datetime]:
    return event.start - settings.watch.before, event.end + settings.watch.after


def targets(
    events: Iterable[Event], settings: Settings, since: datetime, until: datetime
) -> list[Target]:
    """The watched occurrences whose window meets [since, until), by when they open, each
    with the moment from which a stream going live in its room is its own (``live_from``)."""
    before, after = settings.watch.before, settings.watch.after
    near = timedelta(days=1)  # the room's other talks that evening
    found: list[Target] = []
    for event in events:
        ref = watchable(event, settings)
        if ref is None:
            continue
        if event.rrule:
            occurrences = [
                recurrence.at(event, s)
                for s in recurrence.between(event, since - after - near, until + before + near)
            ]
        else:
            occurrences = [event]
        for occ in occurrences:
            opens, closes = window(occ, settings)
            if opens < until + near and closes > since - near:
                found.append(Target(occ, ref, opens, closes))
    out = [
        replace(t, live_from=live_from(t, found))
        for t in found
        if t.opens < until and t.closes > since
    ]
    return sorted(out, key=lambda t: (t.opens, t.uid))


def live_from(target: Target, room: Iterable[Target]) -> datetime:
    """When a stream going live in the target's room is the target's: its window's opening,
    or the end of the room's previous talk when that is later (the KubeSphere room hosts
    every talk of an evening: the first talk going live is not the third's)."""
    ends = [
        t.event.end
        for t in room
        if t.stream == target.stream and t.event.start < target.event.start
    ]
    return max([target.opens, *(e for e in ends if e <= target.event.start)])


def attributed(found: Iterable[Target], began: datetime) -> set[tuple[str, str]]:
    """The occurrences a stream that went live at ``began`` is about: of those whose live
    span (``live_from`` to ``closes``) holds it, the one starting nearest to it (and its
    translations, which share the start); as (uid, occurrence)."""
    holding = [t for t in found if (t.live_from or t.opens) <= began < t.closes]
    if not holding:
        return set()
    nearest = min(abs(t.event.start - began) for t in holding)
    return {(t.uid, t.occurrence) for t in holding if abs(t.event.start - began) == nearest}


@dataclass(frozen=True)
class Session:
    """One room watched without a break: the union of its targets' overlapping windows."""

    stream: StreamRef
    opens: datetime
    closes: datetime

    @property
    def key(self) -> str:
        return f"{self.stream.id}@{recurrence.occurrence_key(self.opens)}"


def sessions(found: Iterable[Target]) -> list[Session]:
    by_room: dict[StreamRef, list[Target]] = {}
    for t in found:
        by_room.setdefault(t.stream, []).append(t)
    out = []
    for ref, group in by_room.items():
        group.sort(key=lambda t: t.opens)
        opens, closes = group[0].opens, group[0].closes
        for t in group[1:]:
            if t.opens <= closes:
                closes = max(closes, t.closes)
                continue
            out.append(Session(ref, opens, closes))
            opens, closes = t.opens, t.closes
        out.append(Session(ref, opens, closes))
    return sorted(out, key=lambda s: (s.opens, s.stream.id))


@dataclass(frozen=True)
class Observation:
    """What one request to a platform said."""

    status: StreamStatus
    at: datetime
    started_at: datetime | None = None  # the platform's own start of this live session
    ended_at: datetime | None = None
    replay_url: str | None = None
    error: str = ""
    rate_limited: bool = False
    retry_after: float | None = None  # seconds, when the platform said


def began(seen: Observation) -> datetime:
    """When the stream seen live went live (the platform's word, if it is not ahead)."""
    return seen.started_at if seen.started_at and seen.started_at <= seen.at else seen.at


def seen_by(seen: Observation, target: Target, owners: set[tuple[str, str]]) -> Observation:
    """The observation as one occurrence sees it: a stream live for another talk of its
    room is, for this one, not live (and a talk whose slot a previous one overruns is late)."""
    if seen.status is StreamStatus.LIVE and (target.uid, target.occurrence) not in owners:
        return Observation(StreamStatus.OFFLINE, seen.at)
    return seen


def advance(
    old: StreamRecord | None, target: Target, seen: Observation, late: timedelta | None
) -> StreamRecord:
    """The record after ``seen``; ``late``: the late slot's offset (None: off)."""
    rec = old or StreamRecord(
        target.uid,
        target.occurrence,
        target.event.revision,
        target.stream.platform,
        target.stream.room,
    )
    rec = replace(rec, revision=target.event.revision, polls=rec.polls + 1)
    if seen.status is StreamStatus.ERROR:
        return replace(rec, failures=rec.failures + 1, error=seen.error)
    rec = replace(rec, status=seen.status, checked_at=seen.at, failures=0, error=None)
    if seen.status is StreamStatus.LIVE:
        return replace(rec, live_at=rec.live_at or began(seen), ended_at=None)
    if seen.status is StreamStatus.ENDED:
        return replace(
            rec,
            live_at=rec.live_at or seen.started_at,
            ended_at=seen.ended_at or rec.ended_at or seen.at,
            replay_url=seen.replay_url or rec.replay_url,
        )
    if old is not None and old.status is StreamStatus.LIVE:
        rec = replace(rec, ended_at=seen.at)  # may be a flap: live again clears it
    if (
        late is not None
        and rec.live_at is None
        and rec.late_at is None
        and seen.at >= target.event.start + late
    ):
        rec = replace(rec, late_at=seen.at)
    return rec
