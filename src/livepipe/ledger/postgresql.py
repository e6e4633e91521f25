"""PostgreSQL backend (for several workers on several machines).

A claim is ``SELECT … FOR UPDATE SKIP LOCKED`` feeding an ``UPDATE … RETURNING`` in one
statement: concurrent workers each get a different send and never wait on each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from ..errors import ConfigError
from .base import SEND_COLUMNS, Ledger


class PostgresLedger(Ledger):
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        self.url = url
        self._flat = False  # inside batch(savepoints=False)
        try:
            self.conn = psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError as exc:
            raise ConfigError(f"cannot connect to the ledger database: {exc}".strip()) from exc

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        if self._flat:  # one write of a flat batch: its statements, nothing more
            with self.conn.cursor() as cur:
                yield cur
            return
        with self.conn.transaction(), self.conn.cursor() as cur:
            yield cur

    @contextmanager
    def batch(self, *, savepoints: bool = True, durable: bool = True) -> Iterator[None]:
        with self.conn.transaction():  # a transaction() inside is a savepoint (psycopg)
            if not durable:
                # The commit returns before the WAL reaches the disk (the server writes it
                # within a few hundred ms): what a crash of the process leaves is the same,
                # a crash of the server's machine may lose this transaction.
                self.conn.execute("SET LOCAL synchronous_commit TO OFF")
            self._flat = not savepoints
            try:
                yield
            finally:
                self._flat = False

    @contextmanager
    def read(self) -> Iterator[Any]:
        with self.conn.cursor() as cur:
            yield cur

    def _lock_for_migration(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(7305110)")  # "livepipe" migrations

    def _claim_sql(self) -> str:
        # Same placeholder order as the SQLite statement: SET values first, then the filter.
        return (
            "UPDATE sends SET state = 'claimed', claimed_by = ?, claimed_at = ?, "
            "lease_until = ?, call_started_at = NULL, attempts = attempts + 1, updated_at = ? "
            "FROM (SELECT key FROM sends WHERE state = 'pending' AND due <= ? "
            "AND valid_until > ? AND (not_before IS NULL OR not_before <= ?) "
            "AND channel IN ({channels}) ORDER BY due, key LIMIT ? FOR UPDATE SKIP LOCKED) "
            "AS next WHERE sends.key = next.key "
            f"RETURNING {', '.join('sends.' + c for c in SEND_COLUMNS)}"
        )

    def close(self) -> None:
        self.conn.close()
