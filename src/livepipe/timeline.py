"""The send timeline shown by `livepipe plan` and the sync artifact: the ledger's sends plus
what the current plan would add, withdraw or mark missed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .plan import LedgerState, Plan, Send


@dataclass(frozen=True)
class TimelineRow:
    key: str
    uid: str
    title: str
    slot: str
    channel: str
    due: datetime
    valid_until: datetime
    state: str  # a ledger state, or new / withdraw / miss for what the plan would do
    note: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "uid": self.uid,
            "title": self.title,
            "slot": self.slot,
            "channel": self.channel,
            "due": self.due.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "state": self.state,
            "note": self.note,
        }


def timeline(state: LedgerState, plan: Plan) -> list[TimelineRow]:
    titles = {uid: _title(rec.snapshot) for uid, rec in state.events.items()}
    titles.update({rec.uid: _title(rec.snapshot) for rec in plan.events})
    withdraw = {rec.key: reason for rec, reason in plan.withdraw}
    missed = {rec.key for rec in plan.missed}
    rows = []
    for key, rec in state.sends.items():
        status, note = str(rec.state), rec.error or ""
        if key in withdraw:
            status, note = "withdraw", withdraw[key]
        elif key in missed:
            status, note = "miss", "window passed"
        rows.append(_row(rec, titles, status, note))
    rows.extend(_row(s, titles, "new", "") for s in plan.add)
    return sorted(rows, key=lambda r: (r.due, r.slot, r.channel, r.key))


def _row(send: Send, titles: dict[str, str], state: str, note: str) -> TimelineRow:
    return TimelineRow(
        send.key,
        send.uid,
        titles.get(send.uid, "weekly digest"),
        send.slot,
        send.channel,
        send.due,
        send.valid_until,
        state,
        note,
    )


def _title(snapshot: str) -> str:
    import json

    return str(json.loads(snapshot).get("title", ""))
