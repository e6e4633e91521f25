"""`sync` flow: content at a commit → check, build dist/, record the plan in the ledger (the
schedule: each process's dispatcher sends from it; withdrawing or re-timing a send is a
ledger change, no Prefect call), schedule the stream watch runs, and update the keyed
``livepipe-timeline`` artifact (each sync a new version of it).

Triggered by the `livepipe.content.merged` event (CI's `livepipe notify`, or the git webhook of
`livepipe up`), at `up`'s start, and by a poll that does nothing when the content has not
changed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flows.common import TIMELINE_ARTIFACT, mirror_watches, now, open_app, quiet_environment

quiet_environment()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402

from flows.deliver import record  # noqa: E402
from livepipe.activity import What, tell  # noqa: E402
from livepipe.gitsource import checkout, fingerprint  # noqa: E402
from livepipe.pipeline import SYNC_STAMP  # noqa: E402
from livepipe.pipeline import sync as run_sync  # noqa: E402
from livepipe.records import Plan  # noqa: E402
from livepipe.report import sync_markdown  # noqa: E402
from livepipe.timeline import timeline, timeline_markdown  # noqa: E402


@task
def fetch(path: str, commit: str | None) -> str:
    """The site root to read: ``path`` itself, or a checkout of ``site.repo`` at ``commit``."""
    return str(checkout(open_app(path).site, commit))


@task
def unchanged(root: str, force: bool) -> tuple[bool, str]:
    app = open_app(root)
    stamp = fingerprint(app.site)
    if force:
        return False, stamp
    with app.ledger() as ledger:
        return ledger.kv_get(SYNC_STAMP, now()) == stamp, stamp


@task
def record_plan(root: str, out: str, stamp: str, release: bool) -> dict[str, object]:
    """Load, plan, record, build; the summary and the timeline as markdown."""
    app = open_app(root)
    with app.ledger() as ledger:
        result = run_sync(app.site, ledger, now(), out=Path(out), release=release)
        ledger.kv_put(SYNC_STAMP, stamp, None)
        rows = timeline(ledger.state(), Plan(now()))
        zone = app.settings.site.timezone or "UTC"
        return {
            "markdown": sync_markdown(result),
            "timeline": timeline_markdown(rows, zone, now()),
            "errors": result.load.errors,
            "events": len(result.load.events),
            "added": len(result.plan.add),
            "withdrawn": len(result.plan.withdraw),
        }


@task(retries=2, retry_delay_seconds=[2, 5])
def schedule_watches(root: str) -> int:
    """One watch run per room session (no run per send: the ledger is the schedule)."""
    app = open_app(root)
    with app.ledger() as ledger:
        return len(mirror_watches(ledger, app.settings, datetime.now(UTC)))


def send_due_now(root: str) -> int:
    """Embedded mode (`make run`): no dispatcher runs, so what is due is sent here, each
    send a task run of this sync run."""
    app = open_app(root)
    with app.sender() as sender:
        outcomes = sender.send_due()
    for outcome in outcomes:
        record(outcome)
    return len(outcomes)


@flow(name="sync", log_prints=True)
def sync(
    path: str = ".",
    commit: str | None = None,
    out: str = "dist",
    force: bool = False,
    send_now: bool = False,
    release: bool = False,
) -> dict[str, object]:
    logger = get_run_logger()
    try:
        root = fetch(path, commit)
        same, stamp = unchanged(root, force)
        if same:
            logger.info("content unchanged since the last sync: nothing to record")
            # a watch run whose process died is replaced now, not at the next reconcile
            return {"changed": False, "watches": 0 if send_now else schedule_watches(root)}
        # A relative `out` is the site's own dist/, wherever the flow process runs.
        base = Path(path).resolve()
        target = (
            Path(out) if Path(out).is_absolute() else (base if base.is_dir() else base.parent) / out
        )
        summary = record_plan(root, str(target), stamp, release)
        sent = send_due_now(root) if send_now else 0
        # embedded (`make run`): one pass, no watch deployment and nothing to run one later
        watches = 0 if send_now else schedule_watches(root)
    except Exception as exc:  # told (up's console, /healthz), then the run fails with it
        tell(What.SYNC_FAILED, f"sync failed: {exc}")
        raise
    create_markdown_artifact(
        key="livepipe-sync",
        markdown=f"{summary['markdown']}\n\n{watches} watch runs scheduled; {sent} sent now.",
        description="events, problems and what changed",
    )
    create_markdown_artifact(
        key=TIMELINE_ARTIFACT,
        markdown=str(summary["timeline"]),
        description="the upcoming sends (a new version at each sync)",
    )
    return {
        "changed": True,
        "added": summary["added"],
        "withdrawn": summary["withdrawn"],
        "watches": watches,
        "sent": sent,
        "errors": summary["errors"],
    }
