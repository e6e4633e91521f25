"""The sync pipeline, shared by `livepipe sync` and the Prefect sync flow: load every page,
plan against the ledger, record the plan, then build dist/ with the ledger's SEQUENCE numbers
and the tombstones of deleted events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .build import BuildResult, build
from .ledger import Ledger
from .plan import Plan, plan
from .site import LoadResult, Site, load


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
    built = None
    if out is not None:
        tombstones = ledger.tombstones(now, site.settings.ledger.tombstone_days)
        built = build(
            result,
            out,
            sequence=ledger.sequences(),
            tombstones=tombstones,
            changed=ledger.significant_changes(),
            now=now,
        )
    return SyncResult(result, the_plan, built)
