"""Sending: claim due sends in the ledger, render their messages, call the channels, record.

Exactly once (DESIGN.md guarantee 3): a send is claimed atomically before the call; the call
start is recorded; the outcome is recorded after. A process that dies after claiming but
before calling leaves a claim that ``recover`` returns to pending; one that dies during the
call leaves it ``uncertain`` unless the channel deduplicates by the send key, in which case
retrying is safe. Nothing is sent outside its validity window.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import random
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import i18n, recurrence
from .activity import What, tell
from .alerts import raise_alert
from .config import Settings
from .errors import ConfigError, PublishError, TransientPublishError
from .ledger import Ledger, LostClaimError, worker_id
from .ledger.group import GroupCommit
from .models import Message, SlotKind
from .publish import Channel, Receipt, broken_channels
from .records import Send, SendRecord, SendState
from .render.messages import (
    ALL_PARTS,
    render_gathered,
    render_message,
    week_bounds,
    written_message,
)
from .render.templating import Templates
from .timeutil import get_zone

log = logging.getLogger(__name__)

# Fault injection for the crash tests: LIVEPIPE_CRASH_AT="after-call:2" SIGKILLs this process
# the 2nd time it reaches that point. Points: before-claim, after-claim, after-call,
# after-record. Unset in normal use.
CRASH_ENV = "LIVEPIPE_CRASH_AT"
_hits: dict[str, int] = {}


def checkpoint(point: str) -> None:
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    name, _, count = spec.partition(":")
    if name != point:
        return
    _hits[point] = _hits.get(point, 0) + 1
    if _hits[point] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)


# Fault injection for the hostile tests: LIVEPIPE_FAULT="raise:<channel>" makes every call of
# that channel raise an unexpected error after the claim (a bug met inside a call);
# "wedge:<channel>" makes it hang for ever (a thread stuck in a call). Unset in normal use.
FAULT_ENV = "LIVEPIPE_FAULT"


class InjectedFault(RuntimeError):
    """What LIVEPIPE_FAULT=raise:<channel> raises inside the channel call."""


def _fault(channel: str) -> None:
    spec = os.environ.get(FAULT_ENV, "")
    for item in spec.split(","):
        what, _, name = item.partition(":")
        if name != channel:
            continue
        if what == "raise":
            raise InjectedFault(f"fault injected into {channel}")
        if what == "wedge":
            threading.Event().wait()


class Leases:
    """Keeps the leases of the claims whose calls are running in this process alive: every
    third of the lease, one ledger write per clock extends them (its own connection, its
    own thread). A call is renewed only within its own time limit (``budget``): a thread
    wedged in a call stops being renewed, its lease expires, and recovery takes the send
    back even though this process is alive."""

    def __init__(self, opener: Callable[[], Ledger], lease: timedelta, worker: str) -> None:
        self.opener = opener
        self.lease = lease
        self.worker = worker
        # key → (monotonic time its renewals stop, the clock of the sender that holds it)
        self._held: dict[str, tuple[float, Callable[[], datetime]]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def hold(self, key: str, budget: float, clock: Callable[[], datetime]) -> Iterator[None]:
        with self._lock:
            self._held[key] = (time.monotonic() + budget, clock)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="livepipe-leases", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(key, None)

    def _run(self) -> None:
        ledger: Ledger | None = None
        try:
            while True:
                time.sleep(max(0.05, self.lease.total_seconds() / 3))
                with self._lock:
                    if not self._held:
                        self._thread = None
                        return
                    now = time.monotonic()
                    by_clock: dict[int, tuple[Callable[[], datetime], list[str]]] = {}
                    for key, (stop, clock) in self._held.items():
                        if now < stop:
                            by_clock.setdefault(id(clock), (clock, []))[1].append(key)
                for clock, keys in by_clock.values():
                    try:
                        ledger = ledger or self.opener()
                        ledger.renew(keys, self.worker, clock() + self.lease)
                    except Exception as exc:  # a ledger hiccup: the next round tries again
                        log.warning("could not renew the leases of %d sends: %s", len(keys), exc)
        finally:
            if ledger is not None:
                ledger.close()


_LEASES: dict[tuple[str, str], Leases] = {}
_LEASES_LOCK = threading.Lock()


def leases_for(settings: Settings, url: str, worker: str) -> Leases:
    """This process's lease keeper for one ledger (shared by all its senders)."""
    from .ledger import open_ledger

    with _LEASES_LOCK:
        found = _LEASES.get((url, worker))
        if found is None:
            found = _LEASES[url, worker] = Leases(
                lambda: open_ledger(settings, url), settings.ledger.lease, worker
            )
        return found


class SharedRenders:
    """The renderings of what a process is sending now, shared by its senders: the channels
    of one event due together read the same text (and article, and email), so it is made
    once. A rendering is shared only when everything it is made from is equal (the event,
    the slot kind and every word that depends on the moment: ``render_message``) and for
    a few seconds, so a burst of 250 events × 4 channels renders 250 times, not 1,000.
    Only those few seconds' renderings are held: a long-running `up` sending all day keeps
    no article once its moment has passed (it kept up to 1,024 of them: memory that grew
    for hours and fell only when they were all dropped at once)."""

    SECONDS = 5.0
    KEEP = 1024  # at most, even inside the few seconds

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._made: OrderedDict[Hashable, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self._clock = clock

    def __call__(self, key: Hashable, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            self._expire(now)
            found = self._made.get(key)
        if found is not None:
            return found[1]
        made = make()
        with self._lock:
            self._made.pop(key, None)  # the newest at the end: oldest first to expire
            self._made[key] = (now, made)
            if len(self._made) > self.KEEP:
                self._made.popitem(last=False)
        return made

    def __len__(self) -> int:
        return len(self._made)

    def _expire(self, now: float) -> None:
        made = self._made
        while made and now - next(iter(made.values()))[0] >= self.SECONDS:
            made.popitem(last=False)


class Result(enum.StrEnum):
    """What one attempt at a send did."""

    SENT = "sent"
    FAILED = "failed"  # permanently: reported, not retried
    RETRY = "retry"  # a transient error: released with a later not_before
    UNCERTAIN = "uncertain"  # an unexpected error during the call: verify, never resend
    DRY_RUN = "dry-run"  # --dry-run: what would be sent
    SKIPPED = "skipped"  # the claim was lost to recovery


@dataclass(frozen=True)
class Outcome:
    send: SendRecord
    state: Result
    detail: str = ""
    receipt: Receipt | None = None
    preview: str | None = None
    retry_at: datetime | None = None  # a transient failure: when it is tried again


def backoff(attempt: int, retry_after: float | None, rng: random.Random) -> timedelta:
    """Exponential backoff with full jitter (1 s, 2 s, 4 s … capped at 10 min), never less
    than the server's Retry-After."""
    base = min(600.0, 2.0 ** max(0, attempt - 1))
    delay = base / 2 + rng.random() * base / 2
    return timedelta(seconds=max(delay, retry_after or 0.0))


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Sender:
    """The send path's one owner: a ledger, the site's channels (built and checked once) and
    the templates, for one thread. ``Sender.open(settings)`` makes one with its own ledger
    connection (closed with it); everything that sends (send-due, the dispatcher's threads,
    the publish, reconcile and embedded sync flows) goes through one of these."""

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = _utcnow,
        ledger_url: str | None = None,
    ) -> Sender:
        """A sender with its own ledger connection and channels; close it (or use ``with``)."""
        from .ledger import open_ledger
        from .publish import make_channels

        ledger = open_ledger(settings, ledger_url)
        try:
            sender = cls(ledger, settings, make_channels(settings, kv=ledger), clock=clock)
        except BaseException:
            ledger.close()
            raise
        sender.owns_ledger = sender.owns_channels = True
        return sender

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def warm(self) -> None:
        """Make this thread's HTTP client of each channel now, before anything is due (best
        effort: a channel that cannot make one fails its sends later, with the reason)."""
        for name, channel in self.channels.items():
            if name not in self.broken:
                try:
                    channel.warm()
                except Exception as exc:
                    log.debug("channel %s: no client made ahead: %s", name, exc)

    def close(self) -> None:
        """Close the ledger connection and the channels' connections this sender owns."""
        if self.owns_channels:
            for channel in self.channels.values():
                channel.close()
        if self.owns_ledger:
            self.ledger.close()

    def __init__(
        self,
        ledger: Ledger,
        settings: Settings,
        channels: Mapping[str, Channel],
        *,
        clock: Callable[[], datetime],
        templates: Templates | None = None,
        worker: str | None = None,
        broken: Mapping[str, ConfigError] | None = None,
    ) -> None:
        self.ledger = ledger
        # Where a send's state changes are written: the ledger itself, or the dispatcher's
        # group commit (one transaction for the writes of all its threads).
        self.writes: Ledger | GroupCommit = ledger
        self.settings = settings
        self.channels = channels
        self.clock = clock
        self.templates = templates or Templates(
            settings.root / "templates" if settings.root else None
        )
        self.worker = worker or worker_id()
        self.leases = leases_for(settings, ledger.url, self.worker)
        self.rng = random.Random()
        self.renders: SharedRenders | None = None  # renderings shared with other senders
        # (send key, its event's title) of the message this sender rendered last: the
        # console line of that send names the event without reading its record again.
        self._about: tuple[str, str] | None = None
        self.owns_ledger = False
        self.owns_channels = False
        # Where each outcome is reported besides the console (a deliver flow run's queue).
        self.on_outcome: Callable[[Outcome], None] | None = None
        # Channels that cannot send (a variable unset, an option missing): their sends are
        # never claimed, so they stay pending until the channel is fixed.
        if broken is None:
            broken = broken_channels(channels)
            for name, exc in broken.items():
                log.error("channel %s cannot send, its sends stay pending: %s", name, exc)
        self.broken: Mapping[str, ConfigError] = broken

    def recover(self) -> list[tuple[SendRecord, SendState]]:
        def idempotent(name: str) -> bool:
            channel = self.channels.get(name)
            return bool(channel and channel.accepts_idempotency_key)

        now = self.clock()
        taken = self.ledger.recover(now, lease=self.settings.ledger.lease, idempotent=idempotent)
        for rec, state in taken:
            what = f"{rec.key_slot} → {rec.channel}"
            if state is SendState.UNCERTAIN:
                tell(What.UNCERTAIN, f"{what}  {self._title(rec)}: {rec.error}", key=rec.key)
                raise_alert(
                    self.ledger,
                    self.settings,
                    f"uncertain:{rec.key}",
                    f"livepipe: uncertain {what}",
                    f"{self._title(rec)}\nits sender stopped during the call: check the "
                    f"channel, then `livepipe resolve {rec.key} --delivered` or `--resend`",
                    now,
                )
            else:
                tell(What.RECOVERED, f"{what}  {self._title(rec)}: back to pending", key=rec.key)
        return taken

    def message(
        self, send: SendRecord, now: datetime | None = None, parts: Collection[str] = ALL_PARTS
    ) -> Message:
        """The send's message as it reads ``now`` (default: the clock), when it goes out.
        Its phrases are read as the site's catalogues are when it starts (each render asked
        for them several times, and each ask looked at two files: 5 % of a send)."""
        with i18n.held():
            return self._message(send, now or self.clock(), parts)

    def _message(self, send: SendRecord, now: datetime, parts: Collection[str]) -> Message:
        if send.kind == SlotKind.ALERT:  # written when it was raised (alerts.py)
            return written_message(send, self.settings)
        if send.kind == SlotKind.DIGEST:
            start, end = week_bounds(send.occurrence, self.settings.site.timezone or "UTC")
            live = [
                r.event
                for r in self.ledger.events()
                if r.deleted_at is None and r.status == "scheduled"
            ]
            # each occurrence of a recurring event that week, as its own entry
            events = sorted(
                (
                    recurrence.at(e, s)
                    for e in live
                    for s in (recurrence.between(e, start, end) if e.rrule else [e.start])
                    if start <= s < end
                ),
                key=lambda e: (e.start, e.uid),
            )
            return render_message(
                send, None, self.settings, self.templates, week_events=events, now=now
            )
        if send.gathered:  # a daily WeChat mass-send: the events it carries, as they are now
            held = [self.ledger.record(uid) for uid in send.carries]
            events = [
                r.event
                for r in held
                if r is not None and r.deleted_at is None and r.status == "scheduled"
            ]
            return render_gathered(
                send, events, self.settings, self.templates, now=now, parts=parts
            )
        record = self.ledger.record(send.uid)
        event = record.event if record is not None else None
        self._about = (send.key, event.title) if event is not None else None
        stream = self.ledger.stream(send.uid, send.occurrence)
        if stream is None and event is not None and send.kind == SlotKind.REPLAY:
            # the replay the watcher found: on the occurrence that ended last
            stream = next(
                (s for s in reversed(self.ledger.streams(send.uid)) if s.replay_url), None
            )
        return render_message(
            send,
            event,
            self.settings,
            self.templates,
            now=now,
            parts=parts,
            stream=stream,
            sequence=record.sequence if record is not None else 0,
            reuse=self.renders,
        )

    def send_due(
        self, *, limit: int | None = None, grace: timedelta = timedelta(0)
    ) -> list[Outcome]:
        """Send every due, valid, pending send once; returns what happened to each.
        ``grace`` skips sends that came due less than that long ago."""
        self.recover()
        outcomes: list[Outcome] = []
        paused = self.ledger.paused()  # a paused channel's sends stay pending
        names = sorted(n for n in self.channels if n not in self.broken and n not in paused)
        while limit is None or len(outcomes) < limit:
            checkpoint("before-claim")
            now = self.clock()
            send = self.ledger.claim_next(
                now, self.worker, names, due_before=now - grace, lease=self.settings.ledger.lease
            )
            if send is None:
                break
            checkpoint("after-claim")
            outcomes.append(self.deliver(send))
        return outcomes

    def send_one(self, key: str) -> Outcome | None:
        """Claim and send one given send (what a publish flow run does); None if not claimable
        (or its channel cannot send: then it stays pending, see ``broken``)."""
        rec = self.ledger.send(key)
        if rec is not None and (
            rec.channel in self.broken
            or rec.channel not in self.channels
            or rec.channel in self.ledger.paused()
        ):
            return None
        send = self.ledger.claim(key, self.clock(), self.worker, lease=self.settings.ledger.lease)
        if send is None:
            return None
        checkpoint("after-claim")
        return self.deliver(send)

    def deliver(self, send: SendRecord) -> Outcome:
        """One claimed send, delivered; what happened is told (console, run logs, metrics)
        and, when it went wrong, raised as an alert."""
        outcome = self._attempt(send)
        try:
            self._tell(outcome)
            if self.on_outcome is not None:
                self.on_outcome(outcome)
        except Exception as exc:  # telling must never undo a recorded outcome
            log.error("send %s: cannot report its outcome: %s", send.key, exc)
        return outcome

    def _tell(self, outcome: Outcome) -> None:
        s = outcome.send
        what = f"{s.key_slot} → {s.channel}"
        about = self._title(s)
        fields = {"key": s.key, "slot": s.slot, "channel": s.channel, "uid": s.uid}
        now = self.clock()
        if outcome.state is Result.SENT:
            late = max(0.0, (now - s.due).total_seconds())
            tell(What.SENT, f"{what}  {about} ({late:.2f} s late)", lateness=late, **fields)
        elif outcome.state is Result.RETRY:
            again = ""
            if outcome.retry_at is not None:
                local = outcome.retry_at.astimezone(get_zone(self.settings.site.timezone or "UTC"))
                again = f" (next try {local:%H:%M:%S})"
                fields["retry_at"] = outcome.retry_at.isoformat()
            tell(What.RETRYING, f"{what}  {about}: {outcome.detail}{again}", **fields)
        elif outcome.state in (Result.FAILED, Result.UNCERTAIN):
            verb = What.FAILED if outcome.state is Result.FAILED else What.UNCERTAIN
            tell(verb, f"{what}  {about}: {outcome.detail}", **fields)
            if s.kind != SlotKind.ALERT:  # an alert that fails is told, not alerted again
                raise_alert(
                    self.ledger,
                    self.settings,
                    f"{verb}:{s.key}",
                    f"livepipe: {verb} {what}",
                    f"{about}\n{outcome.detail}\n\nsend {s.key}: see `livepipe sends --state "
                    f"{verb}`, then `livepipe resend {s.key}` or `livepipe skip {s.key}`"
                    + (" (check the channel first)" if verb is What.UNCERTAIN else ""),
                    now,
                )

    def _title(self, send: Send) -> str:
        """What a send is about, for a line: its event's title, else the digest / alert."""
        if send.kind == SlotKind.ALERT:
            return send.text.partition("\n")[0]
        if send.carries:
            return f"{len(send.carries)} articles"
        if self._about is not None and self._about[0] == send.key:
            return self._about[1]
        record = self.ledger.record(send.uid)
        return record.event.title if record is not None else send.kind.value

    def _attempt(self, send: SendRecord) -> Outcome:
        """One claimed send, whatever happens: every way out records an outcome in the
        ledger (sent, failed, pending with a retry time, uncertain), so no claim is left
        behind by anything a remote or a bug does. Only when the ledger itself cannot be
        written does the claim stay, and then its lease expires and recovery takes it."""
        channel = self.channels[send.channel]
        started = False
        try:
            try:
                message = self.message(send, parts=channel.reads)
            except Exception as exc:  # a template bug must not leave the claim hanging
                self.writes.mark_failed(send.key, self.worker, self.clock(), f"render: {exc}")
                log.error("send %s: cannot render the message: %s", send.key, exc)
                return Outcome(send, Result.FAILED, f"render: {exc}")
            try:
                budget = channel.budget(message)
            except Exception:  # the budget is a bound, not a reason to fail the send
                budget = 600.0
            try:
                self.writes.start_call(send.key, self.worker, self.clock())
            except LostClaimError:
                return Outcome(send, Result.SKIPPED, "claim lost to recovery")
            started = True
            try:
                with self.leases.hold(send.key, budget, self.clock):
                    _fault(send.channel)
                    receipt = channel.deliver(message)
            except TransientPublishError as exc:
                return self._retry(send, str(exc), exc.retry_after)
            except (PublishError, ConfigError) as exc:
                hint = f" — {exc.hint}" if isinstance(exc, PublishError) and exc.hint else ""
                self.writes.mark_failed(send.key, self.worker, self.clock(), f"{exc}{hint}")
                return Outcome(send, Result.FAILED, f"{exc}{hint}")
            checkpoint("after-call")
            try:
                self.writes.mark_sent(
                    send.key,
                    self.worker,
                    self.clock(),
                    remote_id=receipt.remote_id,
                    remote_url=receipt.remote_url,
                    note=receipt.note,
                )
            except LostClaimError:
                return Outcome(
                    send, Result.SKIPPED, "claim lost to recovery after the call", receipt
                )
            checkpoint("after-record")
            return Outcome(send, Result.SENT, receipt.remote_id or "", receipt)
        except Exception as exc:  # a bug met on the way: recorded, never a stuck claim
            return self._unexpected(send, channel, exc, started=started)

    def _retry(self, send: SendRecord, why: str, retry_after: float | None) -> Outcome:
        """Back to pending, tried again after a backoff; failed when the window ends first."""
        now = self.clock()
        retry_at = now + backoff(send.attempts, retry_after, self.rng)
        if retry_at >= send.valid_until:
            self.writes.mark_failed(send.key, self.worker, now, f"gave up: {why}")
            return Outcome(send, Result.FAILED, f"window ends before a retry: {why}")
        self.writes.release(send.key, self.worker, now, retry_at, why)
        return Outcome(send, Result.RETRY, why, retry_at=retry_at)

    def _unexpected(
        self, send: SendRecord, channel: Channel, exc: Exception, *, started: bool
    ) -> Outcome:
        """An error no channel declares (a bug on an odd answer, a fault): before the call,
        or on a channel that deduplicates by key, the send is retried later; once a call
        that cannot be deduplicated started, nobody knows whether it arrived: uncertain."""
        why = channel.redact(f"internal error: {type(exc).__name__}: {exc}")[:500]
        log.error("send %s (%s → %s): %s", send.key, send.slot, send.channel, why, exc_info=exc)
        try:
            if not started or channel.accepts_idempotency_key:
                return self._retry(send, why, None)
            self.writes.mark_uncertain(
                send.key,
                self.worker,
                self.clock(),
                f"{why}; check the channel, then `livepipe resolve`",
            )
            return Outcome(send, Result.UNCERTAIN, why)
        except Exception as again:  # the ledger cannot be written: the lease takes it back
            log.error("send %s: cannot record its outcome: %s", send.key, again)
            return Outcome(send, Result.SKIPPED, f"{why}; not recorded: {again}")

    def dry_run(self) -> list[Outcome]:
        """What send-due would do now, without claiming or sending anything."""
        now = self.clock()
        out = []
        for send in self.ledger.sends(SendState.PENDING):
            if send.due > now or send.valid_until <= now or send.channel not in self.channels:
                continue
            if send.not_before is not None and send.not_before > now:
                continue
            channel = self.channels[send.channel]
            preview = channel.preview(self.message(send, parts=channel.reads))
            out.append(Outcome(send, Result.DRY_RUN, preview=preview))
        return out
