"""Fill a ledger with many due sends for the crash and concurrency tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from livepipe.config import Settings, load_settings
from livepipe.ledger import Ledger
from livepipe.models import SlotKind
from livepipe.plan import Plan
from livepipe.records import EventRecord
from livepipe.site import load_path

from . import CONTENT, make_send

SLOTS = ("announce", "reminder-1d", "starting-soon", "changed")


def site_config(root: Path, url: str, *, idempotent: bool = True, secret_env: str = "") -> Settings:
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        '[site]\nname = "Crash"\nbase_url = "https://crash.example"\ntimezone = "UTC"\n',
        '[channels.hook]\ntype = "webhook"',
        f'url = "{url}"',
        f"idempotency = {'true' if idempotent else 'false'}",
        f'secret_env = "{secret_env}"' if secret_env else "unsigned = true",
        "timeout = 5",
    ]
    (root / "livepipe.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_settings(root / "livepipe.toml")


def fill(ledger: Ledger, now: datetime, n_events: int, *, prefix: str = "e") -> list[str]:
    """``n_events`` events × 4 slots, all due now and valid for a day; returns the keys."""
    base = load_path(CONTENT).events[0]
    plan = Plan(now)
    for i in range(n_events):
        event = replace(base, uid=f"{prefix}{i}@crash.example", title=f"{base.title} #{i}")
        plan.events.append(
            EventRecord(
                uid=event.uid,
                source=f"{prefix}{i}.md",
                revision=event.revision,
                significant=event.significant,
                sequence=0,
                status="scheduled",
                snapshot=event.to_record(),
                first_seen=now,
                changed_at=now,
            )
        )
        for j, slot in enumerate(SLOTS):
            kind = "reminder" if slot.startswith(("reminder", "starting")) else slot
            due = now - timedelta(seconds=j)
            plan.add.append(
                make_send(
                    uid=event.uid,
                    slot=slot,
                    kind=SlotKind(kind),
                    channel="hook",
                    due=due,
                    valid_until=now + timedelta(days=1),
                    significant=event.significant,
                )
            )
    ledger.apply(plan)
    return [s.key for s in plan.add]
