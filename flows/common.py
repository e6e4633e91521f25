"""What the three flows share: quiet Prefect settings, opening the site and the ledger, and
mirroring the ledger's pending sends as scheduled runs of the publish deployment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from livepipe.config import Settings
from livepipe.ledger import Ledger, open_ledger
from livepipe.records import SendRecord, SendState
from livepipe.site import Site

PUBLISH_DEPLOYMENT = "publish/livepipe"
WATCH_DEPLOYMENT = "watch/livepipe"
SYNC_DEPLOYMENT = "sync/livepipe"
MERGED_EVENT = "livepipe.content.merged"
RUN_PREFIX = "prefect-run:"  # ledger kv: send key → the flow run that will send it
WATCH_PREFIX = "prefect-watch:"  # ledger kv: watch session key → "run id, attempt"

QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    # The first start of the local server creates its database: 20 s (Prefect's default wait)
    # was not always enough on a slow machine, and `make run` failed on a fresh clone.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def quiet_environment() -> None:
    """Offline-friendly, quiet Prefect (PREFECT.md §1); set before prefect is imported."""
    for key, value in QUIET.items():
        os.environ.setdefault(key, value)


def now() -> datetime:
    return datetime.now(UTC)


def open_site(path: str | Path) -> Site:
    return Site.locate(Path(path))


def store(settings: Settings) -> Ledger:
    return open_ledger(settings)


@dataclass
class MirrorReport:
    scheduled: list[tuple[SendRecord, str]] = field(default_factory=list)  # (send, run id)
    removed: list[tuple[str, str]] = field(default_factory=list)  # (send key, run id)
    watches: list[tuple[str, str]] = field(default_factory=list)  # (session key, run id)


def mirror(ledger: Ledger, settings: Settings | None = None) -> MirrorReport:
    """Make Prefect match the ledger: one scheduled publish run per pending send (keyed by the
    send key, so repeating this never makes a second run), and no run for a send that is no
    longer pending (deleted, which also frees its idempotency key). With ``settings``, also
    one watch run per room session (``mirror_watches``)."""
    from prefect.client.orchestration import get_client

    report = MirrorReport()
    if settings is not None:
        report.watches = mirror_watches(ledger, settings, datetime.now(UTC))
    runs = ledger.kv_prefix(RUN_PREFIX)
    pending = {s.key: s for s in ledger.sends(SendState.PENDING)}
    for key, send in pending.items():
        if RUN_PREFIX + key in runs:
            continue
        run = _schedule(send)
        if run.state is not None and run.state.is_final():
            # The key's old run was cancelled earlier (e.g. moved back to a former time):
            # delete it to free the idempotency key, then schedule afresh.
            with get_client(sync_client=True) as client:
                client.delete_flow_run(run.id)
            run = _schedule(send)
        ledger.kv_put(RUN_PREFIX + key, str(run.id), None)
        report.scheduled.append((send, str(run.id)))
    # Runs still waiting for a send that is no longer pending (withdrawn, missed, sent by
    # another path, or from an older ledger): delete them, which also frees their keys.
    # A run a runner has already prefetched (PENDING) is cancelled instead: deleting it
    # under the runner's feet would leave a zombie process.
    from prefect.states import Cancelled

    with get_client(sync_client=True) as client:
        for run in waiting_publish_runs(client):
            key = str(run.parameters.get("key", ""))
            if key in pending:
                continue
            if run.state is not None and run.state.is_scheduled():
                client.delete_flow_run(run.id)
            else:
                client.set_flow_run_state(run.id, Cancelled(message="send no longer pending"))
            ledger.kv_delete(RUN_PREFIX + key)
            report.removed.append((key, str(run.id)))
    return report


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
                client.delete_flow_run(run.id)  # a session that no longer exists
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


def _schedule(send: SendRecord) -> Any:
    from prefect.deployments import run_deployment

    return run_deployment(
        PUBLISH_DEPLOYMENT,
        parameters={"key": send.key},
        scheduled_time=send.due,
        idempotency_key=send.key,
        flow_run_name=f"{send.slot}-{send.channel}-{send.key[:8]}",
        timeout=0,
        as_subflow=False,
    )


def waiting_publish_runs(client: Any, page: int = 200) -> list[Any]:
    """Every run of the publish deployment that has not started (scheduled or prefetched)."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    flow_name, name = PUBLISH_DEPLOYMENT.split("/")
    flt = FlowRunFilter(
        state=FlowRunFilterState(
            type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING])
        )
    )
    runs: list[Any] = []
    while True:
        batch = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name])),
            flow_run_filter=flt,
            limit=page,
            offset=len(runs),
        )
        runs.extend(batch)
        if len(batch) < page:
            return runs


def crash_orphans(client: Any, flows: tuple[str, ...] = ("sync", "reconcile")) -> list[str]:
    """Runs of ``flows`` that a runner took (Pending, "Submitting", Running) and that no
    process is running any more: only `livepipe up` runs sync and reconcile, so when it
    starts, such runs belong to an `up` that died. Each is set Crashed, the reason in its
    state message, instead of showing "Submitting" forever. Returns their names."""
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

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
    for run in runs:
        client.set_flow_run_state(
            run.id,
            Crashed(message="its runner is gone (livepipe up stopped); the next run redoes it"),
            force=True,
        )
    return [str(run.name) for run in runs]
