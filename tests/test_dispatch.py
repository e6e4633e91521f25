"""The dispatcher delivers every due send from the ledger, once, never before it is due, with
a second dispatcher racing it (the ledger's claim decides)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livepipe.app import Livepipe
from livepipe.config import load_settings
from livepipe.dispatch import Dispatcher
from livepipe.ledger import open_ledger
from livepipe.pipeline import sync
from livepipe.records import SendState
from livepipe.site import Site

from .support.receiver import Stats, serve, starting_soon_site


@pytest.mark.slow  # waits on purpose (make test-quick leaves it out)
def test_a_burst_is_delivered_once_and_not_early(tmp_path: Path) -> None:
    stats = Stats()
    with serve(stats) as base:
        site = tmp_path / "site"
        starting_soon_site(site, f"{base}/plain")
        due_at = datetime.now(UTC) + timedelta(seconds=6)
        for i in range(60):
            start = (due_at + timedelta(minutes=10)).isoformat()
            (site / "content" / f"e{i}.md").write_text(
                f"---\ntitle: E{i}\nstart: {start}\nlocation: online\n---\n"
            )
        settings = load_settings(site / "livepipe.toml")
        ledger = open_ledger(settings)
        sync(Site.locate(site), ledger, datetime.now(UTC), out=site / "dist")
        keys = {s.key for s in ledger.sends()}
        assert len(keys) == 60
        stop = threading.Event()
        app = Livepipe.at(site)
        first, second = Dispatcher(app, threads=8), Dispatcher(app, threads=4)
        for d in (first, second):  # two dispatchers (two `up`s, say) race for the same sends
            threading.Thread(target=d.run, args=(stop,), daemon=True).start()
        arrived: dict[str, float] = {}
        deadline = time.time() + 60
        while len(arrived) < len(keys) and time.time() < deadline:
            for key in list(stats.raw):
                arrived.setdefault(key, time.time())
            time.sleep(0.01)
        time.sleep(1)
        stop.set()
    assert set(arrived) == keys
    assert all(count == 1 for count in stats.raw.values()), stats.raw  # not once more
    assert min(arrived.values()) >= due_at.timestamp() - 0.05  # nothing early
    assert first.sent + second.sent == 60
    assert {s.state for s in ledger.sends()} == {SendState.SENT}
    ledger.close()
