"""Four `livepipe send-due` processes at once against one ledger: every send delivered once."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from livepipe.ledger import open_ledger
from livepipe.records import SendState

from .support.ledgers import fill, site_config
from .support.receiver import Stats, serve

LIVEPIPE = str(Path(sys.executable).parent / "livepipe")


def race(tmp_path: Path, url: str) -> None:
    stats = Stats()
    # A slow receiver (20 ms per request) keeps the four workers overlapping.
    with serve(stats, delay=0.02) as base:
        settings = site_config(tmp_path / "site", base + "/plain", idempotent=False)
        ledger = open_ledger(settings, url)
        keys = fill(ledger, datetime.now(UTC), 50)  # 200 sends
        assert len(keys) == 200
        env = {**os.environ, "COLUMNS": "200"}
        procs = [
            subprocess.Popen(
                [LIVEPIPE, "send-due", str(tmp_path / "site"), "--ledger", url],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
            for _ in range(4)
        ]
        outputs = [p.communicate(timeout=240) for p in procs]
        for p, (_, err) in zip(procs, outputs, strict=True):
            assert p.returncode == 0, err.decode()
        per_worker = [out.decode().count("sent ") for out, _ in outputs]
        sends = ledger.sends()
        ledger.close()
    assert {k: stats.raw[k] for k in keys} == {k: 1 for k in keys}
    assert all(s.state is SendState.SENT for s in sends)
    assert sum(per_worker) == 200
    assert sum(1 for n in per_worker if n > 0) >= 2, per_worker  # the work was really shared


@pytest.mark.slow  # waits on purpose (make test-quick leaves it out)
def test_four_workers_sqlite(tmp_path: Path) -> None:
    race(tmp_path, str(tmp_path / "ledger.sqlite"))


@pytest.mark.slow  # waits on purpose (make test-quick leaves it out)
def test_four_workers_postgresql(tmp_path: Path, pg_url: str) -> None:
    race(tmp_path, pg_url)
