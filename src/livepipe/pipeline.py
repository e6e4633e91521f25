"""The sync pipeline, shared by `livepipe sync` and the Prefect sync flow: load every page,
plan against the ledger, record the plan, then build dist/ with the ledger's SEQUENCE numbers
and the tombstones of deleted events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from .build import BuildResult, build
from .ledger import Ledger
from .plan import Plan, plan
from .site import LoadResult, Site, load

# Ledger kv: the content fingerprint of the last sync (the sync flow does nothing while it
# matches); deleted when something the build shows changes outside the pages.
SYNC_STAMP = "sync:fingerprint"


@dataclass(frozen=True)
class SyncResult:
    load: LoadResult
    plan: Plan
    build: BuildResult | None


def sync(
    site: Site,
    ledger: Ledger,
    now: datetime,
    *,
    out: Path | None,
    apply: bool = True,
    loaded: LoadResult | None = None,
) -> SyncResult:
    result = loaded or load(site)
    the_plan = plan(result.events, ledger.state(), site.settings, now, failed_sources=result.failed)
    if apply:
        ledger.apply(the_plan)
    built = build_from_ledger(result, out, ledger, now) if out is not None else None
    return SyncResult(result, the_plan, built)


def build_from_ledger(result: LoadResult, out: Path, ledger: Ledger, now: datetime) -> BuildResult:
    """Build with what the ledger knows: SEQUENCE numbers, the tombstones of deleted events,
    when each last changed, and the replay URLs the stream watcher found for pages that
    give none."""
    replays = ledger.replays()
    if replays:
        events = tuple(
            replace(e, replay_url=replays[e.uid]) if e.uid in replays and not e.replay_url else e
            for e in result.events
        )
        result = replace(result, events=events)
    return build(
        result,
        out,
        sequence=ledger.sequences(),
        tombstones=ledger.tombstones(now, result.site.settings.ledger.tombstone_days),
        changed=ledger.significant_changes(),
        now=now,
    )
