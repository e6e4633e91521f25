"""Stream watchers: ask bilibili, YouTube or a generic status URL whether a stream is live,
record the answer in the ledger, and send what it makes due, at once.

One ``RoomWatch`` per room (not per event): every ``watch.interval`` it makes one request,
and the answer goes to every event occurrence on that room whose window is open
(streams.py). It holds the ledger lock ``watch:<room>`` while it watches, renewed every
poll, so two processes never ask the same room twice per interval; a watcher that dies
loses the lock when it expires and the next one carries on from the ledger's record (a
notice already made due is never made due again: its key holds the occurrence).

Rate limits (bilibili's HTTP 412 / code -412 / -799, YouTube's 403 quotaExceeded, any 429)
slow the room down: twice the interval per refusal in a row, up to 10 minutes, never less
than a Retry-After; still inside the window.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from .activity import What, tell
from .alerts import raise_alert
from .config import GenericWatch, Settings, WatchSettings
from .errors import FetchError
from .ledger.base import claimer_alive
from .models import SlotKind
from .net import Answer, Client, Policy, retry_after
from .pipeline import SYNC_STAMP
from .plan import sends_seen
from .records import StreamRecord, StreamStatus
from .send import Sender, checkpoint
from .streams import (
    Observation,
    StreamRef,
    Target,
    advance,
    attributed,
    began,
    seen_by,
    targets,
)

log = logging.getLogger(__name__)

BEIJING = ZoneInfo("Asia/Shanghai")  # bilibili's live_time is Beijing wall-clock time
MAX_BACKOFF = timedelta(minutes=10)
USER_AGENT = "livepipe-watch (+https://github.com/livepipe)"
# bilibili refuses with these codes when asked too often (-412 "请求被拦截", -799 "请求过于频繁")
_BILIBILI_LIMITED = {-412, -799}
_YOUTUBE_LIMITED = {
    "quotaExceeded",
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "dailyLimitExceeded",
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


MAX_ANSWER = 256 << 10  # a status answer is a few KB; anything longer is not one


@dataclass(frozen=True)
class Ask:
    """What one poll needs: the client, the watch settings, the moment, the environment
    (the YouTube key)."""

    client: Client
    settings: WatchSettings
    now: datetime
    env: Mapping[str, str]

    def get(self, url: str, **kwargs: Any) -> Answer:
        return self.client.get(
            url, deadline=self.settings.timeout.total_seconds(), max_bytes=MAX_ANSWER, **kwargs
        )


class Platform:
    """A live platform the watchers know: ``probe`` makes one request about one room and
    says what it saw; what a remote does never raises (a bad answer is an ERROR
    observation, counted and reported, and the watcher lives on)."""

    name: ClassVar[str]

    def probe(self, ask: Ask, room: str) -> Observation:
        raise NotImplementedError


class _BiliData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    live_status: StrictInt
    live_time: StrictStr | None = None


class BiliAnswer(BaseModel):
    """``room/v1/Room/get_info``: ``{"code": 0, "message": "ok", "data": {"live_status",
    "live_time", …}}`` (an error code comes with ``"data": []``)."""

    model_config = ConfigDict(extra="ignore")
    code: StrictInt
    data: _BiliData | None = None


class _BiliCode(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: StrictInt | None = None
    message: StrictStr | None = None


class Bilibili(Platform):
    name = "bilibili"

    def probe(self, ask: Ask, room: str) -> Observation:
        now = ask.now
        answer = ask.get(
            f"{ask.settings.bilibili_api}/room/v1/Room/get_info", params={"room_id": room}
        )
        head = _model(answer, _BiliCode)
        code = head.code if head is not None else None
        if answer.status in (412, 429) or code in _BILIBILI_LIMITED:
            reason = (head.message if head is not None else None) or "rate limited"
            return _error(
                now,
                f"bilibili refused (HTTP {answer.status}, code {code}): {reason[:100]}",
                limited=True,
                after=retry_after(answer.headers.get("retry-after")),
            )
        if answer.status != 200:
            return _error(now, f"bilibili answered HTTP {answer.status}")
        if head is not None and head.code not in (0, None):  # its data is then [] or absent
            return _error(
                now, f"bilibili code {head.code}: {(head.message or '')[:100]} (room {room})"
            )
        body = answer.parse(BiliAnswer, "bilibili")
        if body.data is None:
            return _error(now, f"bilibili answered without data for room {room}")
        status = body.data.live_status
        if status == 1:
            return Observation(StreamStatus.LIVE, now, started_at=_beijing(body.data.live_time))
        if status in (0, 2):  # 2: the room rotates recorded videos (轮播), nobody is live
            return Observation(StreamStatus.OFFLINE, now)
        return _error(now, f"bilibili live_status {status!r} is not one of 0, 1, 2")


class _YtDetails(BaseModel):
    model_config = ConfigDict(extra="ignore")
    actualStartTime: StrictStr | None = None
    actualEndTime: StrictStr | None = None


class _YtItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    liveStreamingDetails: _YtDetails | None = None


class YtVideos(BaseModel):
    """``videos?part=liveStreamingDetails``: ``{"items": [{"liveStreamingDetails":
    {"actualStartTime", "actualEndTime"}}]}``."""

    model_config = ConfigDict(extra="ignore")
    items: list[_YtItem] = []


class _YtReason(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reason: StrictStr | None = None


class _YtErrorBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    message: StrictStr | None = None
    errors: list[_YtReason] = []


class YtError(BaseModel):
    """An API error: ``{"error": {"code", "message", "errors": [{"reason"}]}}``."""

    model_config = ConfigDict(extra="ignore")
    error: _YtErrorBody | None = None


class YouTube(Platform):
    name = "youtube"

    def probe(self, ask: Ask, room: str) -> Observation:
        now, settings = ask.now, ask.settings
        key = ask.env.get(settings.youtube_key_env, "")
        if not key:
            return _error(now, f"set {settings.youtube_key_env} to a YouTube Data API key")
        try:
            return self._probe(ask, room, key)
        except FetchError as exc:
            return _error(now, str(exc).replace(key, "***"))

    def _probe(self, ask: Ask, video: str, key: str) -> Observation:
        now = ask.now
        answer = ask.get(
            f"{ask.settings.youtube_api}/videos",
            params={"part": "liveStreamingDetails,snippet", "id": video, "key": key},
        )
        if answer.status != 200:
            error = _model(answer, YtError)
            body = error.error if error is not None else None
            reasons = {e.reason for e in body.errors if e.reason} if body else set()
            message = ((body.message if body else None) or f"HTTP {answer.status}")[:200]
            message = message.replace(key, "***")
            limited = answer.status == 429 or bool(reasons & _YOUTUBE_LIMITED)
            why = ", ".join(sorted(reasons))[:100] or str(answer.status)
            return _error(
                now,
                f"YouTube {why}: {message}",
                limited=limited,
                after=retry_after(answer.headers.get("retry-after")),
            )
        items = answer.parse(YtVideos, "YouTube").items
        if not items:
            return _error(now, f"YouTube has no video {video}")
        details = items[0].liveStreamingDetails
        if details is None:
            return _error(now, f"YouTube video {video} is not a live stream")
        started, ended = _iso(details.actualStartTime), _iso(details.actualEndTime)
        if ended is not None:
            return Observation(
                StreamStatus.ENDED,
                now,
                started_at=started,
                ended_at=ended,
                replay_url=f"https://www.youtube.com/watch?v={video}",
            )
        if started is not None:
            return Observation(StreamStatus.LIVE, now, started_at=started)
        return Observation(StreamStatus.OFFLINE, now)


class Generic(Platform):
    """``[watch.generic.NAME]``: the JSON value at ``pointer`` of the status URL's answer."""

    name = "generic"

    def __init__(self, cfg: GenericWatch) -> None:
        self.cfg = cfg

    def probe(self, ask: Ask, room: str) -> Observation:
        cfg, now = self.cfg, ask.now
        last = [s for s in room.split("?")[0].split("#")[0].split("/") if s]
        ident = last[-1] if last else ""
        if ident in ("", ".", "..") and "{id}" in cfg.url:
            return _error(now, f"{room[:80]!r} has no room id in its last path segment")
        url = cfg.url.replace("{url}", quote(room, safe="")).replace("{id}", quote(ident, safe=""))
        answer = ask.get(url)
        if answer.status in (412, 429):
            return _error(
                now,
                f"HTTP {answer.status}",
                limited=True,
                after=retry_after(answer.headers.get("retry-after")),
            )
        if answer.status != 200:
            return _error(now, f"{answer.host} answered HTTP {answer.status}")
        body = answer.json()
        try:
            value = pointer(body, cfg.pointer)
        except KeyError:
            return _error(now, f"{answer.host}: the answer has nothing at {cfg.pointer}")
        live = value == cfg.live and type(value) is type(cfg.live)
        return Observation(StreamStatus.LIVE if live else StreamStatus.OFFLINE, now)


PLATFORMS: dict[str, Platform] = {p.name: p for p in (Bilibili(), YouTube())}


def platform(name: str, settings: WatchSettings) -> Platform | None:
    """The platform a StreamRef names (``bilibili``, ``youtube``, ``generic:NAME``)."""
    if name.startswith("generic:"):
        cfg = settings.generic.get(name.removeprefix("generic:"))
        return Generic(cfg) if cfg is not None else None
    return PLATFORMS.get(name)


def probe(
    client: Client,
    ref: StreamRef,
    settings: WatchSettings,
    now: datetime,
    env: Mapping[str, str] | None = None,
) -> Observation:
    """One request to the stream's platform; never raises for what a remote does (or for a
    bug met on its answer: that is an ERROR observation too, and the watcher lives on)."""
    found = platform(ref.platform, settings)
    if found is None:
        return _error(now, f"no watcher named {ref.platform}")
    try:
        return found.probe(Ask(client, settings, now, os.environ if env is None else env), ref.room)
    except FetchError as exc:
        return _error(now, str(exc))
    except Exception as exc:  # a bug on an odd answer must not end the watching
        log.exception("watch %s: unexpected error", ref.id)
        return _error(now, f"internal error: {type(exc).__name__}")


M = TypeVar("M", bound=BaseModel)


def _model(answer: Answer, model: type[M]) -> M | None:
    """The answer as ``model`` if it is that shape (an error body), else None."""
    try:
        return model.model_validate_json(answer.body)
    except ValueError:
        return None


def _error(
    now: datetime, text: str, *, limited: bool = False, after: float | None = None
) -> Observation:
    return Observation(StreamStatus.ERROR, now, error=text, rate_limited=limited, retry_after=after)


def _beijing(text: object) -> datetime | None:
    """``2026-12-03 19:58:02`` (Beijing time; zeros when offline) → an aware instant."""
    if not isinstance(text, str) or text.startswith("0000"):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError:
        return None


def _iso(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else None


def pointer(document: object, path: str) -> object:
    """The value at an RFC 6901 JSON pointer; KeyError when there is none."""
    value = document
    for raw in path.split("/")[1:] if path else []:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            raise KeyError(path)
    return value


def http_client(settings: Settings) -> Client:
    """The watchers' client: status URLs are built from pages' live URLs, so they go
    through the public address policy (``[network] allow`` widens it)."""
    return Client(Policy.public(settings.network.networks()), user_agent=USER_AGENT)


@dataclass
class Seen:
    """One poll of a room, for the report of a watch run and `livepipe watch`."""

    at: datetime
    observation: Observation
    records: list[StreamRecord] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # send keys made due by it


class RoomWatch:
    """Watches one room: ``step`` polls once (when due), records, sends; ``follow`` loops
    until no watched occurrence on the room has an open window."""

    def __init__(
        self,
        sender: Sender,
        stream: StreamRef,
        *,
        client: Client | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.sender = sender
        self.stream = stream
        self.settings: Settings = sender.settings
        self.client = client or http_client(self.settings)
        self._own_client = client is None
        self.env = env
        self.next_at: datetime | None = None
        self.refusals = 0  # rate-limit answers in a row
        self.polls = 0
        self.errors = 0
        self.lock = f"watch:{stream.id}"
        self.held = False

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def targets(self, now: datetime) -> list[Target]:
        """This room's occurrences whose window is open now, from the ledger's snapshots
        (the last good revision of each page: a broken edit does not stop watching)."""
        records = self.sender.ledger.events(mentioning=self.stream.room)
        events = [r.event for r in records if r.deleted_at is None]
        return [
            t
            for t in targets(events, self.settings, now, now + timedelta(microseconds=1))
            if t.stream == self.stream
        ]

    def take_lock(self, now: datetime) -> bool:
        ledger = self.sender.ledger
        ttl = max(self.settings.watch.interval * 3, timedelta(seconds=60))
        self.held = ledger.kv_lock(self.lock, self.sender.worker, now, ttl)
        if not self.held:
            holder = ledger.kv_get(self.lock, now)
            if holder is not None and claimer_alive(holder) is False:
                log.warning("watch %s: its watcher %s is gone: taking over", self.stream.id, holder)
                ledger.kv_delete(self.lock)
                self.held = ledger.kv_lock(self.lock, self.sender.worker, now, ttl)
        return self.held

    def release(self) -> None:
        """Let go of the room (only if this watcher holds it)."""
        if self.held:
            self.sender.ledger.kv_delete(self.lock)
            self.held = False

    def step(self, now: datetime | None = None, found: list[Target] | None = None) -> Seen | None:
        """Poll if it is time (None otherwise, or when no window is open); ``found``: the
        open targets, when the caller has just read them."""
        now = now or self.sender.clock()
        if self.next_at is not None and now < self.next_at:
            return None
        found = self.targets(now) if found is None else found
        if not found:
            return None
        interval = self.settings.watch.interval
        seen = probe(self.client, self.stream, self.settings.watch, now, self.env)
        self.polls += 1
        room = self.stream.id
        tell(
            What.POLL,
            f"{room}: {seen.status}",
            room=room,
            platform=self.stream.platform,
            error=seen.error,
        )
        if seen.rate_limited:
            self.refusals += 1
            delay = min(MAX_BACKOFF, interval * 2**self.refusals)
            delay = max(delay, timedelta(seconds=seen.retry_after or 0))
            tell(What.WATCH_ERROR, f"{room}: {seen.error}; next try in {delay}", room=room)
        else:
            self.refusals = 0
            delay = interval
        if seen.status is StreamStatus.ERROR:
            self.errors += 1
        self.next_at = now + delay
        return self.record(found, seen, now)

    def record(self, found: list[Target], seen: Observation, now: datetime) -> Seen:
        """Apply an observation to each target: the ledger's record and the sends it makes
        due, in one transaction each; then deliver the due ones from this process."""
        ledger = self.sender.ledger
        late = next(
            (
                c.offset
                for c in self.settings.slots.values()
                if c.kind == SlotKind.LATE and c.enabled
            ),
            None,
        )
        out = Seen(now, seen)
        # a room shared by several talks: a stream going live is one talk's (streams.py)
        owners = attributed(found, began(seen)) if seen.status is StreamStatus.LIVE else set()
        for target in found:
            old = ledger.stream(target.uid, target.occurrence)
            new = advance(old, target, seen_by(seen, target, owners), late)
            sends = [
                s for s in sends_seen(target.event, new, self.settings, now) if now < s.valid_until
            ]
            added = ledger.observe(new, sends, now)
            out.records.append(new)
            out.added += added
            if new.replay_url and (old is None or old.replay_url != new.replay_url):
                # dist/ (calendars, feeds) shows the replay from the next sync on
                ledger.kv_delete(SYNC_STAMP)
            self._tell(target, old, new, now)
            checkpoint("after-observe")
            for send in sends:
                if send.due <= now:
                    self.sender.send_one(send.key)  # None when sent already (or elsewhere)
        return out

    def _tell(
        self, target: Target, old: StreamRecord | None, new: StreamRecord, now: datetime
    ) -> None:
        """A line when the occurrence went live, ended or turned out late; after
        ``[alerts] watch_failures`` failed polls in a row, an alert (once per occurrence)."""
        room, title = self.stream.id, target.event.title
        fields = {"room": room, "uid": target.uid, "occurrence": target.occurrence}
        if new.live_at is not None and (old is None or old.live_at is None):
            tell(What.LIVE, f"{room}: {title} went live at {new.live_at:%H:%M:%S}", **fields)
        if new.ended_at is not None and (old is None or old.ended_at is None):
            tell(What.ENDED, f"{room}: {title} ended", **fields)
        if new.late_at is not None and (old is None or old.late_at is None):
            tell(What.LATE, f"{room}: {title} is not live at {new.late_at:%H:%M}", **fields)
        limit = self.settings.alerts.watch_failures
        if new.failures and (new.failures == 1 or new.failures % limit == 0):
            tell(
                What.WATCH_ERROR,
                f"{room}: {new.failures} failed polls in a row: {new.error}",
                failing=new.failures >= limit,
                **fields,
            )
        if new.failures == limit:
            raise_alert(
                self.sender.ledger,
                self.settings,
                f"watch:{target.uid}:{target.occurrence}",
                f"livepipe: watching {room} fails",
                f"{title}: {new.failures} polls in a row told nothing; the last: {new.error}",
                now,
            )

    def follow(
        self, stop: threading.Event, *, on_poll: Callable[[Seen], None] | None = None
    ) -> str:
        """Watch until no window on the room is open (or ``stop``); returns why it ended."""
        clock = self.sender.clock
        while not stop.is_set():
            now = clock()
            if not self.take_lock(now):
                return "watched by another process (the ledger lock is held)"
            found = self.targets(now)
            if not found:
                self.release()
                return "no window open on this room"
            seen = self.step(now, found)
            if seen is not None and on_poll is not None:
                on_poll(seen)
            wait = (self.next_at - clock()).total_seconds() if self.next_at else 1.0
            stop.wait(max(0.05, min(wait, self.settings.watch.interval.total_seconds())))
        return "stopped"


def open_rooms(sender: Sender, now: datetime) -> set[StreamRef]:
    """The rooms with a watching window open now (from the ledger's snapshots)."""
    events = [r.event for r in sender.ledger.events() if r.deleted_at is None]
    return {
        t.stream for t in targets(events, sender.settings, now, now + timedelta(microseconds=1))
    }


def watch_all(
    sender: Sender,
    stop: threading.Event,
    *,
    on_poll: Callable[[StreamRef, Seen], None] | None = None,
    client: Client | None = None,
) -> None:
    """Every room whose window is open, in this thread, until ``stop`` (`livepipe watch
    --follow`). Rooms watched by another process (their lock is held) are left to it."""
    watches: dict[StreamRef, RoomWatch] = {}
    try:
        while not stop.is_set():
            now = sender.clock()
            rooms = open_rooms(sender, now)
            wake = sender.settings.watch.interval.total_seconds()
            for ref in sorted(rooms, key=lambda r: r.id):
                room = watches.setdefault(ref, RoomWatch(sender, ref, client=client))
                try:
                    if not room.take_lock(now):
                        continue
                    seen = room.step(now)
                except Exception as exc:  # one room's trouble never ends the others' watching
                    log.exception("watch %s: %s", ref.id, exc)
                    room.next_at = now + sender.settings.watch.interval
                    continue
                if seen is not None and on_poll is not None:
                    on_poll(ref, seen)
                if room.next_at is not None:
                    wake = min(wake, (room.next_at - sender.clock()).total_seconds())
            for ref in set(watches) - rooms:  # windows closed: let go of the room
                watches.pop(ref).release()
            stop.wait(max(0.05, wake))
    finally:
        for room in watches.values():
            room.close()
