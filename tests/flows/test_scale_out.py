"""Scale-out: a Prefect server on PostgreSQL, the ledger on PostgreSQL, two `livepipe worker`
processes, 200 sends due at once — each delivered exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livepipe.config import load_settings
from livepipe.ledger import open_ledger
from livepipe.records import SendState

from ..conftest import PG_URL
from ..support.ledgers import fill
from ..support.receiver import Stats, free_port, serve
from .conftest import ENV

LIVEPIPE = str(Path(sys.executable).parent / "livepipe")
pytestmark = pytest.mark.timeout(420)


@pytest.fixture
def prefect_on_postgresql(tmp_path: Path, pg_reason: str | None):
    if pg_reason:
        pytest.skip(pg_reason)
    import psycopg

    from flows.runtime import launch_server

    db = f"lp_prefect_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    port = free_port()
    host = PG_URL.split("://", 1)[1].rsplit("/", 1)[0]
    env = {
        **ENV,
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://{host}/{db}",
    }
    server = launch_server(tmp_path / "prefect-home", port, env)
    try:
        yield env
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def test_two_workers_200_sends_exactly_once(
    tmp_path: Path, pg_url: str, prefect_on_postgresql: dict[str, str]
) -> None:
    """Each worker's dispatcher claims from the shared ledger: whichever gets a send first
    delivers it; between them they cover all 200, each once, and both take a share."""
    env = prefect_on_postgresql
    stats = Stats()
    with serve(stats) as base:
        root = tmp_path / "site"
        (root / "content").mkdir(parents=True)
        (root / "livepipe.toml").write_text(
            '[site]\nname = "Scale"\nbase_url = "https://crash.example"\ntimezone = "UTC"\n'
            f'[ledger]\nurl = "{pg_url}"\n'
            f'[channels.hook]\ntype = "webhook"\nurl = "{base}/plain"\nidempotency = false\n'
            "unsigned = true\n"
        )
        ledger = open_ledger(load_settings(root / "livepipe.toml"))
        ports = [free_port(), free_port()]
        workers = [
            subprocess.Popen(
                [LIVEPIPE, "worker", str(root), "--threads", "6", "--port", str(port)],
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for port in ports
        ]
        # Both dispatching (each has said "started", after its dispatcher began), then 200
        # sends due a moment later, so both wake for them: a fixed sleep once let one worker,
        # started 13 s after the other on a busy machine, find nothing left to send.
        lines: list[list[str]] = [[], []]
        readers = [
            threading.Thread(target=_read, args=(w, seen), daemon=True)
            for w, seen in zip(workers, lines, strict=True)
        ]
        for r in readers:
            r.start()
        ready = time.monotonic() + 180
        while not all(any("started" in line for line in seen) for seen in lines):
            assert time.monotonic() < ready and all(w.poll() is None for w in workers), lines
            time.sleep(0.2)
        keys = fill(ledger, datetime.now(UTC) + timedelta(seconds=4), 50)  # 200 sends
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and sum(1 for k in keys if stats.raw[k]) < 200:
            time.sleep(0.5)
        time.sleep(2)  # would a second delivery still come?
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w, r in zip(workers, readers, strict=True):
            w.wait(timeout=60)
            r.join(timeout=10)
            assert w.stdout is not None
            w.stdout.close()
        outputs = ["".join(seen) for seen in lines]
        sends = ledger.sends()
        ledger.close()
    assert {k: stats.raw[k] for k in keys} == {k: 1 for k in keys}, outputs
    assert all(s.state is SendState.SENT for s in sends)
    shares = [o.count("  sent       ") for o in outputs]
    assert sum(shares) == 200 and min(shares) > 0, outputs


def _read(worker: subprocess.Popen[bytes], into: list[str]) -> None:
    assert worker.stdout is not None
    for line in worker.stdout:
        into.append(line.decode(errors="replace"))
