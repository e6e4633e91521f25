"""`publish` flow: one run per send, scheduled at its due time. Claims the send in the
ledger (so it is sent once however many runs or workers try), sends it through its channel,
records the outcome; transient errors are retried with backoff while the send is valid."""

from __future__ import annotations

import time

from flows.common import now, open_site, quiet_environment

quiet_environment()

from prefect import flow, get_run_logger  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402
from prefect.client.schemas.objects import State  # noqa: E402
from prefect.states import Cancelled  # noqa: E402

from livepipe.records import SendState  # noqa: E402
from livepipe.send import Result, Sender  # noqa: E402


@flow(name="publish", log_prints=True)
def publish(key: str, path: str = ".") -> str | State:
    logger = get_run_logger()
    with Sender.open(open_site(path).settings, clock=now) as sender:
        ledger = sender.ledger
        early = ledger.send(key)
        if early is not None and early.state is SendState.PENDING and early.due > now():
            # Prefect may start a run up to ~0.5 s before its scheduled time (PREFECT.md §3).
            time.sleep(min(60.0, (early.due - now()).total_seconds()))
        while True:
            outcome = sender.send_one(key)
            if outcome is None:
                rec = ledger.send(key)
                if rec is not None and rec.state is SendState.SENT:
                    # Sent already, by the dispatcher or another run: this run records it.
                    by = rec.claimed_by or "livepipe"
                    create_markdown_artifact(
                        key=f"publish-{key[:12]}",
                        markdown=(
                            "| send | slot | channel | event | outcome | sent at | remote id |\n"
                            "|---|---|---|---|---|---|---|\n"
                            f"| {key} | {rec.slot} | {rec.channel} | {rec.uid} | sent ({by}) | "
                            f"{rec.sent_at.isoformat() if rec.sent_at else ''} | "
                            f"{rec.remote_id or ''} |"
                        ),
                        description=f"{rec.slot} → {rec.channel}",
                    )
                    return "sent"
                why = "unknown send" if rec is None else f"it is {rec.state}"
                if rec is not None and rec.channel in sender.broken:
                    why = f"channel {rec.channel} cannot send ({sender.broken[rec.channel]})"
                    logger.error("send %s stays pending: %s", key, why)
                    raise RuntimeError(f"send {key} stays pending: {why}")
                if rec is not None and rec.state is SendState.PENDING and rec.valid_until <= now():
                    why = "its window has passed"
                logger.warning("send %s: nothing to do (%s)", key, why)
                # The run ends Cancelled with the reason as its state message: the UI shows
                # why nothing was sent (a withdrawn send, one already sent, a passed window).
                return Cancelled(message=f"not sent: {why}")
            if outcome.state is not Result.RETRY:
                break
            rec = ledger.send(key)
            if rec is None or rec.not_before is None:
                break
            wait = (rec.not_before - now()).total_seconds()
            logger.warning("send %s: %s; retrying in %.0f s", key, outcome.detail, wait)
            time.sleep(max(0.0, wait))
        s = outcome.send
        receipt = outcome.receipt
        create_markdown_artifact(
            key=f"publish-{key[:12]}",
            markdown=(
                "| send | slot | channel | event | outcome | remote id | remote URL |\n"
                "|---|---|---|---|---|---|---|\n"
                f"| {key} | {s.slot} | {s.channel} | {s.uid} | {outcome.state} "
                f"{outcome.detail} | {receipt.remote_id if receipt else ''} | "
                f"{receipt.remote_url if receipt else ''} |"
            ),
            description=f"{s.slot} → {s.channel}",
        )
        return outcome.state
