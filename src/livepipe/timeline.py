"""The send timeline shown by `livepipe plan` and the sync artifact: the ledger's sends plus
what the current plan would add, withdraw or mark missed."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, tzinfo

from .models import SlotKind
from .records import LedgerState, Plan, Send, SendState


class Planned(enum.StrEnum):
    """What the current plan would do to a send (shown where its ledger state would be)."""

    NEW = "new"
    WITHDRAW = "withdraw"
    MISS = "miss"
    ON_STREAM = "on stream start"  # a live notice: due when the watcher sees the stream go live
    IF_LATE = "if not live"  # a late notice: due then, if the stream is not live by then


@dataclass(frozen=True)
class TimelineRow:
    key: str
    uid: str
    title: str
    slot: str
    channel: str
    due: datetime
    valid_until: datetime
    state: SendState | Planned
    note: str = ""
    carries: tuple[str, ...] = ()  # a gathered send: the uids of the events it carries

    def to_json(self, zone: tzinfo) -> dict[str, object]:
        """Its fields, times in ``zone`` (the site's): one offset throughout."""
        return {
            "key": self.key,
            "uid": self.uid,
            "title": self.title,
            "slot": self.slot,
            "channel": self.channel,
            "due": self.due.astimezone(zone).isoformat(),
            "valid_until": self.valid_until.astimezone(zone).isoformat(),
            "state": self.state,
            "note": self.note,
            "carries": list(self.carries),
        }


def timeline(state: LedgerState, plan: Plan) -> list[TimelineRow]:
    titles = {uid: _title(rec.snapshot) for uid, rec in state.events.items()}
    titles.update({rec.uid: _title(rec.snapshot) for rec in plan.events})
    withdraw = {rec.key: reason for rec, reason in plan.withdraw}
    missed = {rec.key for rec in plan.missed}
    updated = {s.key: s for s in plan.update}  # a daily push whose articles changed
    rows = []
    for key, rec in state.sends.items():
        status: SendState | Planned = rec.state
        note = rec.error or ""
        if key in withdraw:
            status, note = Planned.WITHDRAW, withdraw[key]
        elif key in missed:
            status, note = Planned.MISS, "window passed"
        rows.append(_row(updated.get(key, rec), titles, status, note))
    rows.extend(_row(s, titles, Planned.NEW, "") for s in plan.add)
    rows.extend(
        _row(
            s,
            titles,
            Planned.ON_STREAM if s.kind == SlotKind.LIVE else Planned.IF_LATE,
            "watching from the due time" if s.kind == SlotKind.LIVE else "",
        )
        for s in plan.awaiting
        if s.key not in state.sends
    )
    return sorted(rows, key=lambda r: (r.due, r.slot, r.channel, r.key))


def _row(send: Send, titles: dict[str, str], state: SendState | Planned, note: str) -> TimelineRow:
    if send.carries:  # a daily mass-send: one row, its articles
        names = [titles.get(u, u) for u in send.carries]
        title = f"{len(names)} article{'s' if len(names) != 1 else ''}: " + " · ".join(names)
    elif send.gathered:
        title = "daily mass-send"
    else:
        title = titles.get(send.uid, "weekly digest")
    return TimelineRow(
        send.key,
        send.uid,
        title,
        send.key_slot,
        send.channel,
        send.due,
        send.valid_until,
        state,
        note,
        send.carries,
    )


def _title(snapshot: str) -> str:
    import json

    return str(json.loads(snapshot).get("title", ""))


def timeline_markdown(
    rows: list[TimelineRow], zone_name: str, now: datetime, limit: int = 100
) -> str:
    """The sends still to come (and those that need a hand) as a markdown table, times in
    the site's zone: the ``livepipe-timeline`` artifact of each sync."""
    from .timeutil import get_zone

    zone = get_zone(zone_name)
    waiting = {
        SendState.PENDING,
        SendState.HELD,
        SendState.CLAIMED,
        SendState.UNCERTAIN,
        SendState.FAILED,
    }
    shown = [
        r
        for r in rows
        if r.state in waiting
        and (r.valid_until > now or r.state not in (SendState.PENDING, SendState.HELD))
    ][:limit]
    lines = [
        f"Sends at {now.astimezone(zone):%Y-%m-%d %H:%M} ({zone_name}): {len(shown)} shown.",
        "",
        "| due | slot → channel | event | state |",
        "|---|---|---|---|",
    ]
    for r in shown:
        title = r.title.replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {r.due.astimezone(zone):%m-%d %H:%M} | {r.slot} → {r.channel} | {title} | "
            f"{r.state} |"
        )
    return "\n".join(lines) + "\n"
