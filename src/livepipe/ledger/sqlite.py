"""SQLite backend (the default, ``.livepipe/ledger.sqlite``): WAL, one writer at a time.

A claim is one conditional ``UPDATE … WHERE key IN (first due pending …) … RETURNING`` inside
a ``BEGIN IMMEDIATE`` transaction, so two processes can never claim the same send.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import SEND_COLUMNS, Ledger


class SqliteLedger(Ledger):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.url = f"sqlite:///{path}"
        self.conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=60000")
        self._batch: sqlite3.Cursor | None = None  # the open batch() transaction's cursor
        self._savepoints = True  # does each write of that batch get one?

    @contextmanager
    def batch(self, *, savepoints: bool = True, durable: bool = True) -> Iterator[None]:
        # Every commit here is as durable as synchronous=NORMAL makes it (WAL: a crash of
        # the process loses nothing): ``durable`` changes nothing.
        with self.transaction() as cur:
            self._batch, self._savepoints = cur, savepoints
            try:
                yield
            finally:
                self._batch, self._savepoints = None, True

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        if self._batch is not None and not self._savepoints:
            yield self._batch  # one write of a flat batch: its statements, nothing more
            return
        if self._batch is not None:  # one write of a batch: a savepoint
            cur = self._batch
            cur.execute("SAVEPOINT write")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK TO write")
                raise
            finally:
                cur.execute("RELEASE write")
            return
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        else:
            cur.execute("COMMIT")
        finally:
            cur.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Cursor]:
        cur = self.conn.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def _claim_sql(self) -> str:
        return (
            "UPDATE sends SET state = 'claimed', claimed_by = ?, claimed_at = ?, "
            "lease_until = ?, call_started_at = NULL, attempts = attempts + 1, updated_at = ? "
            "WHERE key IN (SELECT key FROM sends WHERE state = 'pending' AND due <= ? "
            "AND valid_until > ? AND (not_before IS NULL OR not_before <= ?) "
            "AND channel IN ({channels}) ORDER BY due, key LIMIT ?) AND state = 'pending' "
            f"RETURNING {', '.join(SEND_COLUMNS)}"
        )

    def close(self) -> None:
        self.conn.close()
