"""What one send costs beyond its call: its event read once, parsed once for all the channels
of a burst, its HTTP client made before anything is due, and one TLS context per process
however many threads ask for it at once."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livepipe import net, records
from livepipe.activity import LOGGER
from livepipe.app import Livepipe
from livepipe.dispatch import Dispatcher
from livepipe.ledger import Ledger, open_ledger
from livepipe.models import Event
from livepipe.pipeline import sync
from livepipe.send import Result
from livepipe.site import Site

from .support.receiver import Stats, serve

CHANNELS = ("hook1", "hook2", "hook3", "hook4")


def four_channel_site(root: Path, url: str, start: datetime) -> Path:
    """One event whose starting-soon notice goes to four webhook channels at ``url``."""
    (root / "content").mkdir(parents=True)
    hooks = "".join(
        f'[channels.{name}]\ntype = "webhook"\nurl = "{url}"\nunsigned = true\n'
        for name in CHANNELS
    )
    (root / "livepipe.toml").write_text(
        '[site]\nname = "Four"\nbase_url = "https://four.example"\ntimezone = "UTC"\n'
        + hooks
        + "[slots.announce]\nenabled = false\n[slots.digest]\nenabled = false\n"
        "[slots.reminder-1d]\nenabled = false\n"
        f"[slots.starting-soon]\nchannels = {list(CHANNELS)!r}\n".replace("'", '"')
    )
    (root / "content" / "talk.md").write_text(
        f"---\ntitle: The one talk\nstart: {start.isoformat()}\nlocation: online\n---\n"
    )
    site = Site.locate(root)
    ledger = open_ledger(site.settings)
    sync(site, ledger, datetime.now(UTC), out=root / "dist")
    assert len(ledger.sends()) == len(CHANNELS)
    ledger.close()
    return root


def test_each_send_reads_its_event_once_and_a_burst_parses_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    stats = Stats()
    with serve(stats) as base:
        start = datetime.now(UTC) + timedelta(minutes=10) - timedelta(seconds=5)
        root = four_channel_site(tmp_path / "site", f"{base}/plain", start)
        reads: list[str] = []
        parses: list[str] = []
        real_record, real_parse = Ledger.record, Event.from_record

        def record(self: Ledger, uid: str):  # type: ignore[no-untyped-def]
            reads.append(uid)
            return real_record(self, uid)

        def parse(text: str) -> Event:
            parses.append(text)
            return real_parse(text)

        monkeypatch.setattr(Ledger, "record", record)
        monkeypatch.setattr(Event, "from_record", parse)
        records._parsed.cache_clear()
        sender = Livepipe.at(root).sender()
        try:
            outcomes = sender.send_due()
        finally:
            sender.close()
    assert [o.state for o in outcomes] == [Result.SENT] * 4
    assert len(stats.raw) == 4
    assert len(reads) == 4  # one read per send: the console line takes the title from it
    assert len(parses) == 1  # one parse for the four channels' sends of one event
    lines = [r.getMessage() for r in caplog.records if "→" in r.getMessage()]
    assert len(lines) == 4 and all("The one talk" in line for line in lines)  # each names it


def test_a_tls_context_is_made_once_however_many_threads_ask_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[int] = []
    real = net.httpx.create_ssl_context

    def slow():  # type: ignore[no-untyped-def]
        made.append(threading.get_ident())
        time.sleep(0.05)  # as slow as loading a CA bundle
        return real()

    monkeypatch.setattr(net.httpx, "create_ssl_context", slow)
    monkeypatch.setattr(net, "_TLS", [])
    start = threading.Barrier(16)
    got = []

    def ask() -> None:
        start.wait()
        got.append(net._tls())

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and len({id(c) for c in got}) == 1


@pytest.mark.slow  # waits for a due time on purpose
def test_dispatcher_threads_make_their_http_clients_before_anything_is_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[float] = []
    real_init = net.Client.__init__

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        made.append(time.time())
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(net.Client, "__init__", counting)
    stats = Stats()
    with serve(stats) as base:
        start = datetime.now(UTC) + timedelta(minutes=10, seconds=4)
        root = four_channel_site(tmp_path / "site", f"{base}/plain", start)
        due = (start - timedelta(minutes=10)).timestamp()
        stop = threading.Event()
        dispatcher = Dispatcher(Livepipe.at(root), threads=4)
        runner = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
        runner.start()
        deadline = time.time() + 30
        while len(stats.raw) < 4 and time.time() < deadline:
            time.sleep(0.05)
        stop.set()
        runner.join(timeout=30)
    assert len(stats.raw) == 4
    assert len(made) >= 4 * len(CHANNELS)  # each thread, each channel
    assert [t for t in made if t >= due - 0.5] == []  # none while the sends were due
