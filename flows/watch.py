"""`watch` flow: one run per room session (a room's overlapping watching windows), from the
first window's opening (start - 30 min) to the last one's close (end + 30 min). It asks the
platform once per interval, records what it sees in the ledger and sends the live, late and
replay notices it makes due (livepipe.watch.RoomWatch). Scheduled by the sync and reconcile
flows (flows.common.mirror_watches); run in threads of `livepipe up` / `livepipe worker`."""

from __future__ import annotations

import re
import threading

from flows.common import open_app, quiet_environment

quiet_environment()

from prefect import flow, get_run_logger  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402

from flows.deliver import RUNNING  # noqa: E402
from livepipe.records import StreamRecord, StreamStatus  # noqa: E402
from livepipe.streams import StreamRef  # noqa: E402
from livepipe.watch import RoomWatch, Seen  # noqa: E402

STOP = threading.Event()  # set by `livepipe up` / `worker` when they stop


def _cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


@flow(name="watch", log_prints=True)
def watch(platform: str, room: str, path: str = ".") -> dict[str, object]:
    logger = get_run_logger()
    stream = StreamRef(platform, room)
    last: dict[str, StreamStatus] = {}
    records: dict[tuple[str, str], StreamRecord] = {}  # the latest of each occurrence

    def said(seen: Seen) -> None:
        for record in seen.records:
            records[record.uid, record.occurrence] = record
            if last.get(record.uid) != record.status or seen.added:
                logger.info(
                    "%s: %s%s%s",
                    record.uid,
                    seen.observation.status,
                    f" (live since {record.live_at.isoformat()})" if record.live_at else "",
                    f"; made due {', '.join(seen.added)}" if seen.added else "",
                )
            last[record.uid] = record.status
        if seen.observation.error:
            logger.warning("%s: %s", stream.id, seen.observation.error)

    # in `up`/`worker`: this process's app, so the notices it sends are recorded as task
    # runs of the process's deliver run, like every other send
    running = RUNNING.get(path)
    app = running.app if running is not None else open_app(path)
    with app.sender() as sender:
        watcher = RoomWatch(sender, stream)
        try:
            why = watcher.follow(STOP, on_poll=said)
        finally:
            watcher.close()
    logger.info(
        "%s: %s after %d requests (%d failed)", stream.id, why, watcher.polls, watcher.errors
    )
    rows = [
        f"| {_cell(r.uid)} | {_cell(r.occurrence)} | "
        + (f"{r.live_at.isoformat()}" if r.live_at else "**never went live**")
        + f" | {_cell(r.ended_at and r.ended_at.isoformat())} | {_cell(r.replay_url)} | "
        f"{r.polls} | {r.failures} | {_cell(r.error)} |"
        for r in records.values()
    ]
    create_markdown_artifact(
        key=re.sub(r"[^a-z0-9-]+", "-", f"watch-{platform}-{room[-24:]}".lower()),
        markdown=(
            f"{stream.id}: {why}; {watcher.polls} requests, {watcher.errors} failed.\n\n"
            "| event | occurrence | live at | ended at | replay | polls | failures in a row "
            "| last error |\n|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
        ),
        description=f"what the {platform} watcher saw",
    )
    return {"ended": why, "requests": watcher.polls, "errors": watcher.errors}
