"""What the flows share: the deployments' names, quiet Prefect settings, opening the site,
scheduling one watch run per room session, and marking runs of a dead process Crashed.

Prefect runs are the work, not a mirror of the ledger: the ledger is the schedule (each
process's dispatcher sends from it, inside a ``deliver`` run); Prefect shows what ran."""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from livepipe.app import Livepipe
from livepipe.config import Settings
from livepipe.ledger import Ledger

SYNC_DEPLOYMENT = "sync/sync"
DELIVER_DEPLOYMENT = "deliver/deliver"
RECONCILE_DEPLOYMENT = "reconcile/reconcile"
WATCH_DEPLOYMENT = "watch/watch"
MERGED_EVENT = "livepipe.content.merged"
WATCH_PREFIX = "prefect-watch:"  # ledger kv: watch session key → "run id, attempt"
TIMELINE_ARTIFACT = "livepipe-timeline"

QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    # livepipe's own lines (activity.py) go to the run they happen in, at INFO
    "PREFECT_LOGGING_EXTRA_LOGGERS": "livepipe",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    # The first start of the local server creates its database: 20 s (Prefect's default wait)
    # was not always enough on a slow machine, and `make run` failed on a fresh clone.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def quiet_environment() -> None:
    """Offline-friendly, quiet Prefect (PREFECT.md §1); set before prefect is imported."""
    for key, value in QUIET.items():
        os.environ.setdefault(key, value)


def run_logs_at_info() -> None:
    """Run logs at INFO (what each run did), Prefect's own chatter at WARNING, and nothing
    of Prefect's on the console (the console tells livepipe's story: activity.py)."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    for name in ("prefect.flow_runs", "prefect.task_runs", "livepipe"):
        logger = logging.getLogger(name)
        if name != "livepipe":
            logger.setLevel(logging.INFO)
            logger.propagate = False  # not again through the "prefect" logger's console
        for handler in list(logger.handlers):
            if isinstance(handler, PrefectConsoleHandler):  # the API handler stays
                logger.removeHandler(handler)


def now() -> datetime:
    return datetime.now(UTC)


def open_app(path: str | Path) -> Livepipe:
    return Livepipe.at(Path(path))


def mirror_watches(ledger: Ledger, settings: Settings, now: datetime) -> list[tuple[str, str]]:
    """One run of the watch deployment per room session (streams.sessions: the room's
    overlapping watching windows), scheduled when it opens. A session whose run ended while
    its window is still open (the process running it died, or it was cancelled by hand)
    gets a fresh run now, unless a live watcher holds the room's lock; scheduled runs of
    sessions that no longer exist (rescheduled, cancelled) are deleted. Returns what it
    scheduled."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed

    from livepipe.ledger.base import claimer_alive
    from livepipe.streams import sessions, targets

    events = [r.event for r in ledger.events() if r.deleted_at is None]
    horizon = now + settings.pages.repeat_horizon
    wanted = {s.key: s for s in sessions(targets(events, settings, now, horizon))}
    known = ledger.kv_prefix(WATCH_PREFIX)
    out: list[tuple[str, str]] = []
    with get_client(sync_client=True) as client:
        for key, session in wanted.items():
            entry = known.get(WATCH_PREFIX + key)
            attempt = 0
            if entry is not None:
                run_id, _, count = entry.partition(" ")
                attempt = int(count or 0) + 1
                holder = ledger.kv_get(f"watch:{session.stream.id}", now)
                if holder is not None and claimer_alive(holder) is not False:
                    continue  # someone is watching the room now
                try:
                    run = client.read_flow_run(UUID(run_id))
                except ObjectNotFound:
                    run = None
                state = run.state if run is not None else None
                if state is not None and (state.is_scheduled() or state.is_pending()):
                    continue
                if session.opens > now and state is not None and not state.is_final():
                    continue
                if state is not None and state.is_running():
                    started = run.start_time if run is not None else None
                    if started is not None and now - started < settings.watch.interval * 3:
                        continue  # just started: it takes the lock in a moment
                    client.set_flow_run_state(
                        UUID(run_id), Crashed(message="its watcher stopped renewing the room lock")
                    )
                if state is not None and state.is_final() and session.closes <= now:
                    continue
            run = _schedule_watch(session, max(now, session.opens), attempt)
            ledger.kv_put(WATCH_PREFIX + key, f"{run.id} {attempt}", session.closes)
            out.append((key, str(run.id)))
        for name, entry in known.items():
            if name.removeprefix(WATCH_PREFIX) in wanted:
                continue
            run_id = entry.partition(" ")[0]
            try:
                run = client.read_flow_run(UUID(run_id))
            except ObjectNotFound:
                run = None
            if run is not None and run.state is not None and run.state.is_scheduled():
                # a session that no longer exists; the sync and up's reconcile both clean
                # up, and the one that comes second finds it gone: done, not a failure
                with contextlib.suppress(ObjectNotFound):
                    client.delete_flow_run(run.id)
            if run is None or run.state is None or run.state.is_final() or run.state.is_scheduled():
                ledger.kv_delete(name)
    return out


def _schedule_watch(session: Any, at: datetime, attempt: int) -> Any:
    from prefect.deployments import run_deployment

    stream = session.stream
    return run_deployment(
        WATCH_DEPLOYMENT,
        parameters={"platform": stream.platform, "room": stream.room},
        scheduled_time=at,
        idempotency_key=f"watch:{session.key}:{attempt}",
        flow_run_name=f"watch-{stream.platform}-{stream.room[-24:]}-{session.opens:%m%d-%H%M}",
        timeout=0,
        as_subflow=False,
    )


def crash_orphans(
    client: Any, flows: tuple[str, ...] = ("sync", "reconcile", "deliver")
) -> list[str]:
    """Runs of ``flows`` that a livepipe runner took (Pending, "Submitting", Running) and
    whose process is gone (its ``infrastructure_pid`` is the runner's ``worker_id``, judged
    like a ledger claim: on this machine, by its PID and start time; a runner on another
    machine is left alone). Each is set Crashed, the reason in its state message, instead
    of showing "Running" forever. Returns their names."""
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    from livepipe.ledger.base import claimer_alive

    held = FlowRunFilter(
        state=FlowRunFilterState(
            type=FlowRunFilterStateType(any_=[StateType.PENDING, StateType.RUNNING])
        )
    )
    runs = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=list(flows))),
        flow_run_filter=held,
        limit=200,
    )
    gone = [run for run in runs if claimer_alive(run.infrastructure_pid) is False]
    for run in gone:
        client.set_flow_run_state(
            run.id,
            Crashed(message="its runner is gone (livepipe up stopped); the next run redoes it"),
            force=True,
        )
    return [str(run.name) for run in gone]
