"""The values the planner, the ledger, the sender and the timeline share: a send and its
states, what the ledger remembers about an event and about a stream. Below all four (they
import this; it imports only models and identity), so none of them stands above another.

A send's key grammar is fields, not string conventions: ``audience`` says whether it goes
to a channel's reviewers (a WeChat mass-send previewed first) or to everyone, ``carries``
which events a gathered send (a daily WeChat mass-send) holds. The key itself
(identity.send_key) is unchanged: a reviewers' send is keyed by ``<slot>:preview``.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from .identity import send_key
from .models import Event, SlotKind
from .models import SendState as SendState  # its home was here: still importable from here

OPEN_STATES = frozenset({SendState.PENDING, SendState.CLAIMED})
# States the plan still manages (may withdraw, re-time or mark missed).
WAITING_STATES = frozenset({SendState.PENDING, SendState.HELD})


class Audience(enum.StrEnum):
    EVERYONE = "everyone"
    REVIEWERS = "reviewers"  # a WeChat channel's preview_to, before the mass-send


PREVIEW_SUFFIX = ":preview"  # in the key of a reviewers' send (identity.send_key)
DAILY_PREFIX = "daily:"  # the occurrence of a gathered send: "daily:2026-12-03"


@dataclass(frozen=True)
class Send:
    """One message of one slot for one event (or the site) to one channel, at a due time."""

    key: str
    uid: str
    slot: str
    kind: SlotKind
    channel: str
    occurrence: str
    due: datetime
    valid_until: datetime
    significant: str = ""
    audience: Audience = Audience.EVERYONE
    carries: tuple[str, ...] = ()  # a gathered send: the uids of the events it holds
    text: str = ""  # a send whose message is made when it is planned (an alert)

    @property
    def key_slot(self) -> str:
        """The slot as the key names it (``announce:preview`` for the reviewers)."""
        return self.slot + (PREVIEW_SUFFIX if self.audience is Audience.REVIEWERS else "")

    @property
    def gathered(self) -> bool:
        return self.occurrence.startswith(DAILY_PREFIX)

    def keyed(self) -> Send:
        """The send with its key: identity.send_key over uid, slot as keyed, channel and
        occurrence."""
        key = send_key(self.uid, self.key_slot, self.channel, self.occurrence)
        return replace(self, key=key)

    def payload(self) -> str | None:
        """What the ledger keeps besides the columns (JSON), or None."""
        data: dict[str, object] = {}
        if self.carries:
            data["carries"] = list(self.carries)
        if self.text:
            data["text"] = self.text
        return json.dumps(data, ensure_ascii=False, sort_keys=True) if data else None


def from_payload(payload: str | None) -> dict[str, object]:
    """The fields a ledger row's payload holds (carries, text)."""
    if not payload:
        return {}
    try:
        data = json.loads(payload)
    except ValueError:
        return {}
    out: dict[str, object] = {}
    if isinstance(data, dict):
        if isinstance(data.get("carries"), list):
            out["carries"] = tuple(str(u) for u in data["carries"])
        if isinstance(data.get("text"), str):
            out["text"] = data["text"]
    return out


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
        return _parsed(self.snapshot)


@functools.lru_cache(maxsize=512)
def _parsed(snapshot: str) -> Event:
    """An event as its snapshot gives it, parsed once: every send of a burst reads its event's
    record (the message, the console line), four channels' sends the same one, and parsing
    the JSON cost a tenth of a send. Events are frozen: sharing one between threads is safe."""
    return Event.from_record(snapshot)


class StreamStatus(enum.StrEnum):
    LIVE = "live"
    OFFLINE = "offline"  # not (yet) live, or between two parts of a flapping stream
    ENDED = "ended"  # the platform says the live video is over (YouTube's actualEndTime)
    ERROR = "error"  # nothing learned: the API failed, refused or rate-limited


@dataclass(frozen=True)
class StreamRecord:
    """What the watcher has seen of one occurrence's stream (the ledger's ``streams``)."""

    uid: str
    occurrence: str
    revision: str  # the event revision it was watched for
    platform: str
    room: str
    status: StreamStatus = StreamStatus.OFFLINE
    checked_at: datetime | None = None  # the last answer that told something
    live_at: datetime | None = None  # when it went live (first time: a flap keeps it)
    ended_at: datetime | None = None
    late_at: datetime | None = None  # seen not live at start + the late slot's offset
    replay_url: str | None = None
    polls: int = 0
    failures: int = 0  # requests in a row that told nothing
    error: str | None = None


Streams = Mapping[tuple[str, str], StreamRecord]  # (uid, occurrence) → what was seen


@dataclass(frozen=True)
class LedgerState:
    events: Mapping[str, EventRecord] = field(default_factory=dict)
    sends: Mapping[str, SendRecord] = field(default_factory=dict)
    streams: Streams = field(default_factory=dict)


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
    """What the planner wants changed in the ledger (plan.plan makes it, Ledger.apply
    writes it in one transaction)."""

    now: datetime
    desired: list[Send] = field(default_factory=list)
    add: list[Send] = field(default_factory=list)
    withdraw: list[tuple[SendRecord, str]] = field(default_factory=list)
    missed: list[SendRecord] = field(default_factory=list)
    # waiting gathered sends whose events changed (a new announcement joined the day's push)
    update: list[Send] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)  # records to write
    changes: list[Change] = field(default_factory=list)
    # Stream-driven sends that wait for the stream (due: when watching starts): shown by
    # `livepipe plan` as "on stream start", never written to the ledger.
    awaiting: list[Send] = field(default_factory=list)
    # keys of ``add`` that only rules an upgrade added want: recorded held (pipeline.sync)
    held: set[str] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        return not (self.add or self.withdraw or self.missed or self.events or self.update)
