"""``/metrics`` (Prometheus text format, the official client) and ``/healthz`` of ``up`` and
``worker``.

Counters and histograms are fed by what livepipe tells (activity.py): every send's outcome
by channel, delivery lateness, watcher polls and errors, syncs. The sends by state and
channel and the queue depth are read from the ledger at each scrape, so they always equal
the ledger's own counts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .activity import What, happening

if TYPE_CHECKING:
    from .ledger import Ledger

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)


class _LedgerCollector(Collector):
    """The ledger's own counts, read at each scrape (one short query)."""

    def __init__(self, opener: Callable[[], Ledger]) -> None:
        self.opener = opener
        self._lock = threading.Lock()
        self._ledger: Ledger | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_state = GaugeMetricFamily(
            "livepipe_sends",
            "Sends in the ledger by state and channel",
            labels=["state", "channel"],
        )
        due = GaugeMetricFamily(
            "livepipe_sends_due", "Pending sends that are due now and still valid (the queue)"
        )
        with self._lock:
            if self._ledger is None:
                self._ledger = self.opener()
            counts, waiting = self._ledger.counts(datetime.now(UTC))
            drift = self._ledger.kv_prefix("drift:")
        for (state, channel), n in sorted(counts.items()):
            by_state.add_metric([state, channel], n)
        due.add_metric([], waiting)
        yield by_state
        yield due
        deployed = GaugeMetricFamily(
            "livepipe_deploy_drift",
            "Differences between what a deploy target's readers get and the build (last read)",
            labels=["target"],
        )
        for name, value in sorted(drift.items()):
            deployed.add_metric([name.removeprefix("drift:")], float(value or 0))
        yield deployed


class Metrics:
    """One process's metrics (its own registry: tests make several)."""

    def __init__(self, ledger: Callable[[], Ledger] | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.outcomes = Counter(
            "livepipe_send_outcomes",
            "Send attempts by outcome and channel",
            ["outcome", "channel"],
            registry=r,
        )
        self.lateness = Histogram(
            "livepipe_delivery_lateness_seconds",
            "Seconds from due to delivered",
            ["channel"],
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.polls = Counter(
            "livepipe_watch_polls", "Stream status requests by platform", ["platform"], registry=r
        )
        self.poll_errors = Counter(
            "livepipe_watch_errors",
            "Stream status requests that told nothing",
            ["platform"],
            registry=r,
        )
        self.syncs = Counter("livepipe_syncs", "Syncs that recorded a plan", registry=r)
        self.sync_seconds = Gauge(
            "livepipe_sync_duration_seconds", "How long the last sync took", registry=r
        )
        self.sync_success = Gauge(
            "livepipe_last_sync_success_timestamp_seconds",
            "When the last sync ended",
            registry=r,
        )
        self.alerts = Counter("livepipe_alerts", "Alerts raised", registry=r)
        if ledger is not None:
            r.register(_LedgerCollector(ledger))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def handler(self) -> logging.Handler:
        """A logging handler that counts what livepipe tells."""
        return _Feed(self)


_OUTCOMES = {
    What.SENT: "sent",
    What.FAILED: "failed",
    What.RETRYING: "retry",
    What.UNCERTAIN: "uncertain",
}


class _Feed(logging.Handler):
    def __init__(self, metrics: Metrics) -> None:
        super().__init__(logging.DEBUG)
        self.m = metrics

    def emit(self, record: logging.LogRecord) -> None:
        data = happening(record)
        if data is None:
            return
        what = data.get("what")
        channel = str(data.get("channel", ""))
        if what in _OUTCOMES:
            self.m.outcomes.labels(_OUTCOMES[what], channel).inc()
            if what is What.SENT and "lateness" in data:
                self.m.lateness.labels(channel).observe(float(data["lateness"]))
        elif what is What.SYNC:
            self.m.syncs.inc()
            self.m.sync_seconds.set(float(data.get("seconds", 0.0)))
            self.m.sync_success.set(time.time())
        elif what is What.ALERT:
            self.m.alerts.inc()
        elif what is What.POLL:
            platform = str(data.get("platform", ""))
            self.m.polls.labels(platform).inc()
            if data.get("error"):
                self.m.poll_errors.labels(platform).inc()


@dataclass
class Health:
    """What ``/healthz`` says: ok, or degraded with the reasons (the dispatcher stopped
    beating, the last sync failed or is old, stream watchers failing, paused channels)."""

    started: float = field(default_factory=time.monotonic)
    beat: float | None = None  # the dispatcher's last loop
    sync_at: datetime | None = None
    sync_error: str | None = None
    sync_page_errors: int = 0
    failing: dict[str, str] = field(default_factory=dict)  # room → last error
    paused: Callable[[], dict[str, str]] = dict  # channel → why (read from the ledger)
    dispatching: bool = True  # this process runs a dispatcher
    max_silence: float = 30.0  # seconds without a dispatcher beat before it is degraded
    lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self) -> tuple[int, dict[str, Any]]:
        reasons = []
        now = time.monotonic()
        if self.dispatching:
            last = self.beat if self.beat is not None else self.started
            if now - last > self.max_silence:
                reasons.append(f"the dispatcher has not run for {now - last:.0f} s")
        if self.sync_error:
            reasons.append(f"the last sync failed: {self.sync_error}")
        for room, error in sorted(self.failing.items()):
            reasons.append(f"watching {room} fails: {error}")
        for channel, why in sorted(self.paused().items()):
            reasons.append(f"channel {channel} is paused{': ' + why if why else ''}")
        body: dict[str, Any] = {
            "status": "degraded" if reasons else "ok",
            "reasons": reasons,
            "last_sync": self.sync_at.isoformat() if self.sync_at else None,
            "page_errors": self.sync_page_errors,
        }
        return (503 if reasons else 200), body

    def handler(self) -> logging.Handler:
        return _HealthFeed(self)


class _HealthFeed(logging.Handler):
    def __init__(self, health: Health) -> None:
        super().__init__(logging.DEBUG)
        self.h = health

    def emit(self, record: logging.LogRecord) -> None:
        data = happening(record)
        if data is None:
            return
        what = data.get("what")
        with self.h.lock:
            if what is What.SYNC:
                self.h.sync_at = datetime.now(UTC)
                self.h.sync_error = None
                self.h.sync_page_errors = int(data.get("errors", 0))
            elif what is What.SYNC_FAILED:
                self.h.sync_error = record.getMessage()[:200]
            elif what is What.WATCH_ERROR and data.get("failing"):
                self.h.failing[str(data.get("room"))] = record.getMessage()[:200]
            elif what in (What.LIVE, What.ENDED) or (what is What.POLL and not data.get("error")):
                self.h.failing.pop(str(data.get("room")), None)
