"""`livepipe run` (what `make run` does): one pass through Prefect's embedded API. A site
with a livestream starting soon made it fail with a traceback (the sync scheduled a stream
watch run on a deployment that one pass does not have)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ..support import make_site, page

LIVEPIPE = str(Path(sys.executable).parent / "livepipe")
pytestmark = pytest.mark.timeout(300)


def test_one_pass_with_a_livestream_soon_ends_cleanly(tmp_path: Path) -> None:
    start = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    site = make_site(
        tmp_path / "site",
        {"live.md": page("Live Soon", start, live_url="https://live.bilibili.com/22580654")},
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run(
        [LIVEPIPE, "run", str(site), "--out", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=240, cwd=tmp_path, env=clean,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Traceback" not in output
    assert "sends are waiting for their time" in output
    assert "Livestreams are watched by `livepipe up" in output
    assert "Live Soon" in (tmp_path / "dist" / "calendar.ics").read_text()
