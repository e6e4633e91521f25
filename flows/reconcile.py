"""`reconcile` flow, every minute: the safety net. Takes back claims whose lease expired,
marks sends whose window passed missed (told, and alerted), schedules a fresh watch run for
a room whose watcher died, alerts about channels paused too long, and lists uncertain sends.
It sends nothing itself: each process's dispatcher does."""

from __future__ import annotations

from flows.common import mirror_watches, now, open_app, quiet_environment

quiet_environment()

from prefect import flow, get_run_logger  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402

from livepipe.alerts import missed as missed_send  # noqa: E402
from livepipe.alerts import raise_alert  # noqa: E402
from livepipe.ledger.base import ts  # noqa: E402
from livepipe.records import SendState  # noqa: E402


@flow(name="reconcile", log_prints=True)
def reconcile(path: str = ".") -> dict[str, int]:
    logger = get_run_logger()
    app = open_app(path)
    at = now()
    with app.sender() as sender:
        ledger = sender.ledger
        recovered = sender.recover()
        missed = ledger.expire(at)
        for rec in missed:
            missed_send(ledger, app.settings, rec, at)
        limit = app.settings.alerts.paused_for
        for channel, (since, by, why) in ledger.paused().items():
            if at - since >= limit:
                raise_alert(
                    ledger,
                    app.settings,
                    f"paused:{channel}:{ts(since)}",
                    f"livepipe: channel {channel} paused for {at - since}",
                    f"paused by {by} since {since.isoformat()}"
                    + (f": {why}" if why else "")
                    + f"; its sends wait (`livepipe resume {channel}`)",
                    at,
                )
        watches = mirror_watches(ledger, app.settings, at)
        uncertain = ledger.sends(SendState.UNCERTAIN)
        for rec in uncertain:
            logger.warning(
                "uncertain send %s (%s → %s): check the channel, then `livepipe resolve`",
                rec.key,
                rec.key_slot,
                rec.channel,
            )
    if recovered or missed or uncertain:
        rows = [f"| {r.key} | {r.key_slot} | {r.channel} | {s} |" for r, s in recovered]
        rows += [f"| {m.key} | {m.key_slot} | {m.channel} | missed |" for m in missed]
        rows += [f"| {u.key} | {u.key_slot} | {u.channel} | **uncertain** |" for u in uncertain]
        create_markdown_artifact(
            key="livepipe-reconcile",
            markdown="| send | slot | channel | outcome |\n|---|---|---|---|\n" + "\n".join(rows),
        )
    return {
        "recovered": len(recovered),
        "missed": len(missed),
        "watches": len(watches),
        "uncertain": len(uncertain),
    }
