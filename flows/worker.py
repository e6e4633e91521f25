"""`livepipe worker`: execute the publish runs of a shared Prefect server inside this process.

Prefect's own runners start one Python process per flow run (~90 MB and ~2 s of CPU each,
PREFECT.md §3); a publish run does one HTTP call. This worker polls the server for scheduled
publish runs, claims each by proposing the Scheduled → Pending transition (the server accepts
it once, so two workers never take the same run) and runs it in a thread with Prefect's flow
engine, so the run, its logs and its artifact still show in the Prefect UI. Whoever runs it,
the ledger's claim keeps every send to one delivery.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from flows.common import PUBLISH_DEPLOYMENT, WATCH_DEPLOYMENT, quiet_environment

quiet_environment()


def _claim(client: Any, run: Any) -> bool:
    """Take a run that is still scheduled. The fresh read matters: the server would also
    accept Pending for a run another worker already finished (that is how re-runs work)."""
    from prefect.client.schemas.responses import SetStateStatus
    from prefect.states import Pending

    current = client.read_flow_run(run.id)
    if current.state is None or not current.state.is_scheduled():
        return False
    result = client.set_flow_run_state(run.id, Pending())
    return bool(result.status == SetStateStatus.ACCEPT)


def _flow(deployment: str) -> Any:
    """The flow a deployment runs (publish, or watch)."""
    if deployment == WATCH_DEPLOYMENT:
        from flows.watch import watch

        return watch
    from flows.publish import publish

    return publish


def _execute(run_id: Any, path: str, idle: threading.Event | None, deployment: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
    start = run.next_scheduled_start_time or run.expected_start_time
    if start is not None:
        time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()))
    if idle is not None:  # a dispatcher here delivers first; this run then records it
        idle.wait(timeout=300)
    parameters = {"path": path, **(run.parameters or {})}
    run_flow(_flow(deployment), flow_run=run, parameters=parameters, return_type="state")


def run_worker(
    path: str,
    *,
    threads: int = 8,
    poll_seconds: float = 1.0,
    prefetch_seconds: float = 10.0,
    stop: threading.Event | None = None,
    idle: threading.Event | None = None,
    deployment: str = PUBLISH_DEPLOYMENT,
) -> int:
    """Poll, claim and run the runs of ``deployment`` (publish, or watch: a watch run lasts
    its room's session, so it gets threads of its own) until ``stop`` is set; returns how
    many it ran.

    Takes only what it can start on time: never more runs than it has free threads (a run
    claimed but queued behind busy threads would be late, and another worker could have
    sent it), so several workers share a burst instead of one hoarding it. With ``idle``
    (the Dispatcher's, in the same process), runs wait while a burst is being delivered."""
    from prefect.client.orchestration import get_client

    stop = stop or threading.Event()
    done = 0
    busy = threading.Semaphore(threads)
    with get_client(sync_client=True) as client, ThreadPoolExecutor(threads) as pool:
        dep = client.read_deployment_by_name(deployment)

        def execute(run_id: Any) -> None:
            try:
                _execute(run_id, path, idle, deployment)
            finally:
                busy.release()

        while not stop.is_set():
            free = 0
            while busy.acquire(blocking=False):
                free += 1
            if free:
                horizon = datetime.now(UTC) + timedelta(seconds=prefetch_seconds)
                runs = client.get_scheduled_flow_runs_for_deployments(
                    [dep.id], scheduled_before=horizon, limit=free
                )
                for run in runs:
                    if free and _claim(client, run):
                        free -= 1
                        pool.submit(execute, run.id)
                        done += 1
                for _ in range(free):
                    busy.release()
            stop.wait(poll_seconds)
    return done
