"""`deliver` flow: the dispatcher of one process, for one day. Its sends are its task runs:
each send the process makes (the dispatcher's, a stream watcher's live notice) becomes a
task run ``send`` named ``<slot>-<channel>-<key>``, in the state the send ended in
(Completed, Failed, "Retrying", "Uncertain"…), with its log line and a small artifact.

The sending itself never waits for Prefect: the dispatcher delivers from the ledger first
(bursts of 1,000 on time), and the runs are recorded after, while nothing is due. In `up`
and `worker` the process's dispatcher lives across days and this flow records for it; run
by a Prefect worker from `prefect deploy --all`, it starts a dispatcher of its own.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flows.common import now, open_app, quiet_environment

quiet_environment()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402
from prefect.client.schemas.objects import State  # noqa: E402
from prefect.states import Completed, Failed  # noqa: E402

from livepipe.app import Livepipe  # noqa: E402
from livepipe.dispatch import Dispatcher  # noqa: E402
from livepipe.send import Outcome, Result  # noqa: E402
from livepipe.timeutil import get_zone  # noqa: E402


@dataclass
class Delivery:
    """A process's dispatcher and the outcomes waiting to be recorded as task runs."""

    app: Livepipe
    threads: int = 16
    outcomes: queue.Queue[Outcome] = field(default_factory=queue.Queue)
    stop: threading.Event = field(default_factory=threading.Event)
    dispatcher: Dispatcher | None = None
    thread: threading.Thread | None = None

    def start(self, on_beat: Any = None) -> Delivery:
        self.app.on_outcome = self.outcomes.put
        self.dispatcher = Dispatcher(self.app, threads=self.threads, on_beat=on_beat)
        self.thread = threading.Thread(
            target=self.dispatcher.run, args=(self.stop,), name="livepipe-dispatch", daemon=True
        )
        self.thread.start()
        return self

    def quiet(self, timeout: float = 60.0) -> None:
        """Wait while a burst is being delivered (recording waits for the CPU)."""
        if self.dispatcher is not None:
            self.dispatcher.idle.wait(timeout)


# The process's delivery, by site path (set by `up` / `worker`, which keep one across days).
RUNNING: dict[str, Delivery] = {}


def summary(outcome: Outcome) -> dict[str, Any]:
    s = outcome.send
    receipt = outcome.receipt
    return {
        "key": s.key,
        "slot": s.key_slot,
        "channel": s.channel,
        "uid": s.uid,
        "state": str(outcome.state),
        "detail": outcome.detail
        + (f" (next try {outcome.retry_at.isoformat()})" if outcome.retry_at else ""),
        "due": s.due.isoformat(),
        "remote_id": receipt.remote_id if receipt else None,
        "remote_url": receipt.remote_url if receipt else None,
    }


_STATES: dict[str, Callable[[str], State]] = {
    "sent": lambda why: Completed(message=why or "sent"),
    "failed": lambda why: Failed(message=why),
    "uncertain": lambda why: Failed(name="Uncertain", message=why),
    "retry": lambda why: Completed(name="Retrying", message=why),
    "skipped": lambda why: Completed(name="Skipped", message=why),
}


@task(name="send", persist_result=False)
def record_send(sent: dict[str, Any]) -> State:
    """One send as it ended: its state, its line, a small artifact."""
    logger = get_run_logger()
    line = f"{sent['slot']} → {sent['channel']} {sent['uid']}: {sent['state']}"
    if sent["detail"]:
        line += f" ({sent['detail']})"
    (logger.info if sent["state"] in ("sent", "retry", "skipped") else logger.error)(line)
    cells = [
        sent["key"],
        sent["slot"],
        sent["channel"],
        sent["uid"],
        sent["state"],
        sent["due"],
        sent["remote_id"] or "",
        sent["remote_url"] or "",
    ]
    create_markdown_artifact(
        key=f"send-{sent['key'][:12]}",
        markdown="| send | slot | channel | event | outcome | due | remote id | remote URL |\n"
        "|---|---|---|---|---|---|---|---|\n| "
        + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells)
        + " |",
        description=f"{sent['slot']} → {sent['channel']}",
    )
    return _STATES.get(sent["state"], _STATES["failed"])(sent["detail"])


def record(outcome: Outcome) -> None:
    """The outcome as a task run of the flow run this is called in."""
    s = outcome.send
    name = f"{s.key_slot}-{s.channel}-{s.key[:8]}"
    record_send.with_options(task_run_name=name)(summary(outcome))


def next_midnight(app: Livepipe, at: datetime) -> datetime:
    zone = get_zone(app.settings.site.timezone or "UTC")
    local = at.astimezone(zone)
    day = (local + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, tzinfo=zone)


@flow(name="deliver", log_prints=False)
def deliver(path: str = ".", threads: int = 16, hours: float = 24.0) -> dict[str, int]:
    """Deliver (or, in `up`/`worker`, record what this process's dispatcher delivers) until
    the site's next midnight; one task run per send."""
    logger = get_run_logger()
    delivery = RUNNING.get(path)
    own = delivery is None
    if delivery is None:  # a run of its own (a Prefect worker): a dispatcher of its own
        delivery = Delivery(open_app(path), threads).start()
    ends = min(now() + timedelta(hours=hours), next_midnight(delivery.app, now()))
    counts: Counter[str] = Counter()
    logger.info("delivering until %s", ends.isoformat())
    try:
        while not delivery.stop.is_set() and now() < ends:
            try:
                outcome = delivery.outcomes.get(timeout=0.5)
            except queue.Empty:
                continue
            delivery.quiet()
            record(outcome)
            counts[str(outcome.state)] += 1
    finally:
        if own:
            delivery.stop.set()
            if delivery.thread is not None:
                delivery.thread.join(timeout=10)
    rows = "\n".join(f"| {state} | {n} |" for state, n in sorted(counts.items()))
    create_markdown_artifact(
        key="livepipe-deliver",
        markdown=f"Until {ends.isoformat()}:\n\n| outcome | sends |\n|---|---|\n{rows}",
        description="what this process delivered",
    )
    return dict(counts)


__all__ = ["RUNNING", "Delivery", "Result", "deliver", "record"]
