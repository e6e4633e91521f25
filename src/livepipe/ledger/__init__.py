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


def sqlite_path(settings: Settings, url: str) -> Path | None:
    """The file of a SQLite ledger URL (relative to the site root), None for PostgreSQL."""
    if url.startswith(("postgresql://", "postgres://")):
        return None
    path = Path(url.removeprefix("sqlite:///"))
    return path if path.is_absolute() else (settings.root or Path.cwd()) / path


def open_ledger(settings: Settings, override: str | None = None) -> Ledger:
    url = ledger_url(settings, override)
    path = sqlite_path(settings, url)
    if path is None:
        from .postgresql import PostgresLedger

        ledger: Ledger = PostgresLedger(url)
    else:
        from .sqlite import SqliteLedger

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
    "sqlite_path",
    "ts",
    "worker_id",
]
