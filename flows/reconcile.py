"""`reconcile` flow, every minute: the safety net. Sends what is due and still valid but was
not sent by its own run (lost, late, crashed), marks the rest missed, removes Prefect runs
that no longer match the ledger, and reports uncertain sends."""

from __future__ import annotations

from datetime import timedelta

from flows.common import mirror, now, open_site, quiet_environment

quiet_environment()

from prefect import flow, get_run_logger  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402

from livepipe.records import SendState  # noqa: E402
from livepipe.send import Result, Sender  # noqa: E402


@flow(name="reconcile", log_prints=True)
def reconcile(path: str = ".", grace_seconds: float = 30.0) -> dict[str, int]:
    logger = get_run_logger()
    with Sender.open(open_site(path).settings, clock=now) as sender:
        ledger = sender.ledger
        # Leave sends that just came due to their own scheduled runs.
        outcomes = sender.send_due(grace=timedelta(seconds=grace_seconds))
        missed = ledger.expire(now())
        report = mirror(ledger, sender.settings)
        uncertain = ledger.sends(SendState.UNCERTAIN)
        for rec in uncertain:
            logger.warning(
                "uncertain send %s (%s → %s): check the channel, then `livepipe resolve`",
                rec.key,
                rec.slot,
                rec.channel,
            )
        if outcomes or missed or uncertain:
            rows = [
                f"| {o.send.key} | {o.send.slot} | {o.send.channel} | {o.state} |" for o in outcomes
            ]
            rows += [f"| {m.key} | {m.slot} | {m.channel} | missed |" for m in missed]
            rows += [f"| {u.key} | {u.slot} | {u.channel} | **uncertain** |" for u in uncertain]
            create_markdown_artifact(
                key="livepipe-reconcile",
                markdown="| send | slot | channel | outcome |\n|---|---|---|---|\n"
                + "\n".join(rows),
            )
        return {
            "sent": sum(o.state is Result.SENT for o in outcomes),
            "missed": len(missed),
            "scheduled": len(report.scheduled),
            "removed": len(report.removed),
            "uncertain": len(uncertain),
        }
