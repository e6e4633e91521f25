"""`sync` flow: content at a commit → check, build dist/, reconcile the ledger, and make
Prefect mirror the plan (a scheduled publish run per pending send, keyed by the send key).

Triggered by the `livepipe.content.merged` event (CI's `livepipe notify`, or the git webhook of
`livepipe up`), and by a poll that does nothing when the content has not changed.
"""

from __future__ import annotations

from pathlib import Path

from flows.common import mirror, now, open_site, quiet_environment, store

quiet_environment()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402

from livepipe.gitsource import checkout, fingerprint  # noqa: E402
from livepipe.pipeline import SYNC_STAMP  # noqa: E402
from livepipe.pipeline import sync as run_sync  # noqa: E402
from livepipe.report import sync_markdown  # noqa: E402
from livepipe.send import Sender  # noqa: E402


@task
def fetch(path: str, commit: str | None) -> str:
    """The site root to read: ``path`` itself, or a checkout of ``site.repo`` at ``commit``."""
    site = open_site(path)
    return str(checkout(site, commit))


@task
def unchanged(root: str, force: bool) -> tuple[bool, str]:
    site = open_site(root)
    stamp = fingerprint(site)
    if force:
        return False, stamp
    ledger = store(site.settings)
    try:
        return ledger.kv_get(SYNC_STAMP, now()) == stamp, stamp
    finally:
        ledger.close()


@task
def reconcile_ledger(root: str, out: str, stamp: str) -> dict[str, object]:
    site = open_site(root)
    ledger = store(site.settings)
    try:
        result = run_sync(site, ledger, now(), out=Path(out))
        ledger.kv_put(SYNC_STAMP, stamp, None)
        return {
            "markdown": sync_markdown(result),
            "errors": result.load.errors,
            "events": len(result.load.events),
        }
    finally:
        ledger.close()


@task(retries=2, retry_delay_seconds=[2, 5])
def schedule_runs(root: str) -> dict[str, int]:
    settings = open_site(root).settings
    ledger = store(settings)
    try:
        report = mirror(ledger, settings)
        return {
            "scheduled": len(report.scheduled),
            "removed": len(report.removed),
            "watches": len(report.watches),
        }
    finally:
        ledger.close()


@task
def send_due_now(root: str) -> int:
    """Embedded mode (`make run`): nothing serves the publish runs, so send what is due here."""
    with Sender.open(open_site(root).settings, clock=now) as sender:
        return len(sender.send_due())


@flow(name="sync", log_prints=True)
def sync(
    path: str = ".",
    commit: str | None = None,
    out: str = "dist",
    force: bool = False,
    send_now: bool = False,
) -> dict[str, object]:
    logger = get_run_logger()
    root = fetch(path, commit)
    same, stamp = unchanged(root, force)
    if same:
        logger.info("content unchanged since the last sync: nothing to do")
        return {"changed": False}
    # A relative `out` is the site's own dist/, wherever the flow process runs.
    base = Path(path).resolve()
    target = (
        Path(out) if Path(out).is_absolute() else (base if base.is_dir() else base.parent) / out
    )
    summary = reconcile_ledger(root, str(target), stamp)
    sent = send_due_now(root) if send_now else 0  # before mirroring: sent sends need no run
    runs = schedule_runs(root)
    markdown = f"{summary['markdown']}\n\nPrefect: {runs['scheduled']} publish runs scheduled, "
    markdown += f"{runs['removed']} removed, {runs['watches']} watch runs scheduled; "
    markdown += f"{sent} sent during this run."
    create_markdown_artifact(
        key="livepipe-sync", markdown=markdown, description="events, problems and the send timeline"
    )
    return {"changed": True, **runs, "sent": sent, "errors": summary["errors"]}
