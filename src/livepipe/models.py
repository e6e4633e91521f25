"""The canonical values that flow through livepipe: Event and its parts, and Problem.

Everything here is frozen and tz-aware; renderers, the planner and publishers only ever see
these types, never raw front matter.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from .fast.pickling import quick_pickle


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Status(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


@quick_pickle
@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about one page: where, how bad, what, and how to fix it."""

    path: str
    line: int
    severity: Severity
    code: str
    message: str
    hint: str = ""

    def format(self) -> str:
        text = f"{self.path}:{self.line}: {self.severity} {self.code}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "severity": str(self.severity),
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }


@quick_pickle
@dataclass(frozen=True, slots=True)
class Section:
    """A `## heading` of the page body with its Markdown text."""

    heading: str
    text: str


@quick_pickle
@dataclass(frozen=True, slots=True)
class Speaker:
    name: str
    bio: str = ""
    photo: str | None = None


@quick_pickle
@dataclass(frozen=True, slots=True)
class QA:
    question: str
    answer: str


# Fields older versions had on Event: ``body`` (the page's Markdown, now only hashed into
# ``revision``: renderers use the parts the schema took from it) and ``sections`` (never set).
_GONE_FIELDS = ("body", "sections")


@quick_pickle
@dataclass(frozen=True, slots=True)
class Event:
    """One event page, normalised: the only shape renderers and the planner see.

    ``start``/``end`` are tz-aware and expressed in ``timezone``. For all-day events they are
    local midnights and ``end`` is exclusive (the day after the last day).
    """

    uid: str
    source: str  # page path relative to the content root, POSIX separators
    slug: str
    lang: str
    schema: str
    url: str  # the page on the site
    title: str
    description: str
    start: datetime
    end: datetime
    timezone: str
    all_day: bool = False
    location: str | None = None
    online: bool = False
    in_person: bool = False
    live_url: str | None = None
    replay_url: str | None = None
    replay_embed_url: str | None = None
    register_url: str | None = None  # where to sign up (mapped schemas)
    # Recurring events (recurrence.py): start/end are the first occurrence; RFC 5545 RRULE
    # value (UNTIL in UTC, or COUNT) and the starts of cancelled occurrences.
    rrule: str | None = None
    exdates: tuple[datetime, ...] = ()
    cover_image: str | None = None
    outline_image: str | None = None
    tags: tuple[str, ...] = ()
    status: Status = Status.SCHEDULED
    draft: bool = False
    publish_date: datetime | None = None
    expiry_date: datetime | None = None
    summary: str = ""  # Markdown: what the talk is about
    slides: str = ""  # Markdown: how to get the slides
    speakers: tuple[Speaker, ...] = ()
    outline: tuple[str, ...] = ()
    qa: tuple[QA, ...] = ()
    translation_key: str = ""
    # Per-page publishing options (front matter `livepipe: {publish, reminders, skip}`).
    publish: bool = True
    reminders: tuple[str, ...] | None = None  # replaces the site's reminder slots, e.g. ("-2h",)
    skip: tuple[str, ...] = ()  # slot names this page opts out of
    revision: str = ""  # hash of every field above
    significant: str = ""  # hash of time, place, live URL and status (drives SEQUENCE)
    # SHA-256 of repr(event), set once the page's event is complete (normalize): what a
    # build keys its renderings with, kept in the page cache so a warm build does not repr
    # 10k events again. Not an input: replace() makes an event without it (its value may
    # differ), and then the build takes repr() itself; not in records, repr or equality.
    fingerprint: bytes = field(default=b"", init=False, repr=False, compare=False)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def start_date(self) -> date:
        return self.start.date()

    @property
    def end_date(self) -> date:
        """Exclusive end date for all-day events."""
        return self.end.date()

    @property
    def cancelled(self) -> bool:
        return self.status is Status.CANCELLED

    def to_record(self) -> str:
        """The whole event as JSON, so the ledger can render messages without the page."""
        data: dict[str, object] = {}
        for f in fields(self):
            if not f.init:  # the fingerprint: made again from the event read back
                continue
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = [
                    asdict(v)  # type: ignore[arg-type]
                    if is_dataclass(v)
                    else v.isoformat()
                    if isinstance(v, datetime)
                    else v
                    for v in value
                ]
            data[f.name] = value
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_record(cls, text: str) -> Event:
        data = json.loads(text)
        zone = ZoneInfo(data["timezone"]) if data["timezone"] != "UTC" else UTC
        for key in ("start", "end", "publish_date", "expiry_date"):
            if data.get(key):
                data[key] = datetime.fromisoformat(data[key]).astimezone(zone)
        data["status"] = Status(data["status"])
        data["speakers"] = tuple(Speaker(**s) for s in data["speakers"])
        data["qa"] = tuple(QA(**q) for q in data["qa"])
        for gone in _GONE_FIELDS:  # kept in records an older version wrote
            data.pop(gone, None)
        data["tags"] = tuple(data["tags"])
        data["outline"] = tuple(data["outline"])
        data["skip"] = tuple(data["skip"])
        data["exdates"] = tuple(
            datetime.fromisoformat(d).astimezone(zone) for d in data.get("exdates", ())
        )
        if data["reminders"] is not None:
            data["reminders"] = tuple(data["reminders"])
        return cls(**data)

    def to_json(self) -> dict[str, object]:
        """The public JSON shape (used by `livepipe check --format json`)."""
        start: str
        end: str
        if self.all_day:
            start, end = self.start_date.isoformat(), self.end_date.isoformat()
        else:
            start, end = self.start.isoformat(), self.end.isoformat()
        return {
            "uid": self.uid,
            "source": self.source,
            "lang": self.lang,
            "schema": self.schema,
            "url": self.url,
            "title": self.title,
            "description": self.description,
            "start": start,
            "end": end,
            "timezone": self.timezone,
            "all_day": self.all_day,
            "location": self.location,
            "online": self.online,
            "in_person": self.in_person,
            "live_url": self.live_url,
            "replay_url": self.replay_url,
            "cover_image": self.cover_image,
            "status": str(self.status),
            "tags": list(self.tags),
            "speakers": [s.name for s in self.speakers],
            "draft": self.draft,
            "revision": self.revision,
            "significant": self.significant,
        }


def fingerprint(event: Event) -> bytes:
    """SHA-256 of the event's whole value (``repr``: every field but the fingerprint)."""
    return hashlib.sha256(repr(event).encode("utf-8")).digest()


class SendState(enum.StrEnum):
    """Where a send is (records.SendRecord; here beside SlotKind so that the command line
    can name the states without importing the ledger's records)."""

    PENDING = "pending"
    HELD = "held"  # planned by rules an upgrade added: listed, sent once an operator agrees
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    MISSED = "missed"
    WITHDRAWN = "withdrawn"
    SKIPPED = "skipped"  # an operator said not to send it
    UNCERTAIN = "uncertain"


class SlotKind(enum.StrEnum):
    """The kinds of message a slot sends (livepipe.toml `[slots.*] kind`, plan.py's rules)."""

    ANNOUNCE = "announce"
    REMINDER = "reminder"
    REPLAY = "replay"
    CHANGED = "changed"
    CANCELLED = "cancelled"
    DIGEST = "digest"
    LIVE = "live"  # the stream went live (streams.py, watch.py)
    LATE = "late"  # the stream is not live at start + offset
    ALERT = "alert"  # to the operators' channel ([alerts]): planned by nothing, made by events


@quick_pickle
@dataclass(frozen=True, slots=True)
class Message:
    """What one send delivers: rendered text plus the event it is about (None for digests)."""

    key: str
    uid: str
    slot: str
    kind: SlotKind
    channel: str
    lang: str
    title: str
    text: str
    url: str
    due: datetime
    event: Event | None = None
    html: str | None = None  # the newsletter email of the event (email, listmonk)
    article: str | None = None  # the WeChat article body (wechat)
    article_meta: dict[str, str | None] | None = None  # its title, author, digest, cover
    sequence: int = 0  # the event's SEQUENCE in the ledger (email invitations)
    calendar_url: str | None = None  # the event's own .ics on the site ("add to calendar")
    audience: str = "everyone"  # or "reviewers": a WeChat mass-send previewed first
    # A gathered send (a daily WeChat mass-send): (article, its meta, the event) of each.
    articles: tuple[tuple[str, dict[str, str | None], Event], ...] = ()
    # The recurring event ``event`` is an occurrence of: invitations carry the whole series.
    series: Event | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "uid": self.uid,
            "slot": self.slot,
            "kind": self.kind,
            "channel": self.channel,
            "lang": self.lang,
            "title": self.title,
            "text": self.text,
            "url": self.url,
            "due": self.due.isoformat(),
            "event": self.event.to_json() if self.event else None,
        }
