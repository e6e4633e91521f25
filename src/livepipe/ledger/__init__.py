"""The ledger: event revisions, SEQUENCE, and every send with its state (see base.py)."""

from __future__ import annotations

import os
from pathlib import Path

from ..config import Settings
from .base import Ledger, LostClaimError, parse_ts, ts, worker_id

ENV = "LIVEPIPE_LEDGER_URL"


def ledger_url(settings: Settings, override: str | None = None) -> str:
    """``--ledger`` beats ``LIVEPIPE_LEDGER_URL`` beats ``ledger.url`` in livepipe.toml."""
    return override or os.environ.get(ENV) or settings.ledger.url


def open_ledger(settings: Settings, override: str | None = None) -> Ledger:
    url = ledger_url(settings, override)
    if url.startswith(("postgresql://", "postgres://")):
        from .postgresql import PostgresLedger

        ledger: Ledger = PostgresLedger(url)
    else:
        from .sqlite import SqliteLedger

        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_absolute():
            path = (settings.root or Path.cwd()) / path
        ledger = SqliteLedger(path)
    ledger.migrate()
    return ledger


__all__ = [
    "ENV",
    "Ledger",
    "LostClaimError",
    "ledger_url",
    "open_ledger",
    "parse_ts",
    "ts",
    "worker_id",
]
