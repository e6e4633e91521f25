"""The console's story, from real sends to a loopback receiver: one line per outcome in the
site's zone (sent with its lateness, retrying with the reason and the next try, failed), and
the same as JSON lines; what the metrics count from the same lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from livepipe.activity import to_console
from livepipe.ledger import open_ledger
from livepipe.metrics import Metrics
from livepipe.pipeline import sync
from livepipe.send import Result, Sender
from livepipe.site import Site
from livepipe.timeutil import get_zone

from .support.receiver import serve_app

DUE = datetime.fromisoformat("2026-12-10T19:50:00+08:00")


@pytest.fixture
def answers() -> Iterator[tuple[list[int], str]]:
    """A webhook receiver answering the statuses in the list, one per call (then 200)."""
    queue: list[int] = []

    async def hook(request: Request) -> JSONResponse:
        await request.body()
        status = queue.pop(0) if queue else 200
        return JSONResponse({"error": "busy"} if status >= 400 else {"id": "m1"}, status)

    with serve_app(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as base:
        yield queue, base


def site(tmp_path: Path, base: str) -> Site:
    root = tmp_path / "site"
    (root / "content").mkdir(parents=True)
    (root / "livepipe.toml").write_text(
        '[site]\nname = "S"\nbase_url = "https://s.example"\ntimezone = "Asia/Shanghai"\n'
        f'[channels.hook]\ntype = "webhook"\nurl = "{base}/hook"\nunsigned = true\n'
        "[slots.announce]\nenabled = false\n[slots.digest]\nenabled = false\n"
        "[slots.reminder-1d]\nenabled = false\n"
        '[slots.starting-soon]\nchannels = ["hook"]\n',
        encoding="utf-8",
    )
    start = DUE + timedelta(minutes=10)
    (root / "content" / "talk.md").write_text(
        f"---\ntitle: 云原生 Talk\nstart: {start.isoformat()}\nlocation: online\n---\n",
        encoding="utf-8",
    )
    return Site.locate(root)


@pytest.fixture
def console() -> Iterator[tuple[io.StringIO, io.StringIO, Metrics]]:
    text, lines = io.StringIO(), io.StringIO()
    zone = get_zone("Asia/Shanghai")
    handlers = [to_console(zone, stream=text), to_console(zone, as_json=True, stream=lines)]
    metrics = Metrics()
    feed = metrics.handler()
    logging.getLogger("livepipe").addHandler(feed)
    try:
        yield text, lines, metrics
    finally:
        for handler in (*handlers, feed):
            logging.getLogger("livepipe").removeHandler(handler)


def test_retrying_then_sent_lines_and_counts(
    tmp_path: Path,
    answers: tuple[list[int], str],
    console: tuple[io.StringIO, io.StringIO, Metrics],
) -> None:
    queue, base = answers
    text, lines, metrics = console
    s = site(tmp_path, base)
    ledger = open_ledger(s.settings)
    sync(s, ledger, DUE - timedelta(hours=1), out=None)
    ledger.close()
    queue.append(503)
    clock = [DUE]
    with Sender.open(s.settings, clock=lambda: clock[0]) as sender:
        [first] = sender.send_due()
        assert first.state is Result.RETRY and first.retry_at is not None
        clock[0] = first.retry_at + timedelta(seconds=2)
        [second] = sender.send_due()
        assert second.state is Result.SENT
    said = text.getvalue().splitlines()
    retry_local = first.retry_at.astimezone(get_zone("Asia/Shanghai"))
    retrying = [line for line in said if line[10:].startswith("retrying")]
    assert retrying == [
        f"{retrying[0][:8]}  retrying   starting-soon → hook  云原生 Talk: HTTP 503 from "
        f'127.0.0.1: {{"error":"busy"}} (next try {retry_local:%H:%M:%S})'
    ], said
    late = (clock[0] - DUE).total_seconds()
    assert f"  sent       starting-soon → hook  云原生 Talk ({late:.2f} s late)" in "\n".join(said)
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    sent = [r for r in records if r["what"] == "sent"]
    assert sent[0]["channel"] == "hook" and sent[0]["lateness"] == pytest.approx(late)
    assert sent[0]["at"].endswith("+08:00")  # the site's zone
    [retry] = [r for r in records if r["what"] == "retrying"]
    assert retry["retry_at"] == first.retry_at.isoformat()
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    outcomes = {
        (s.labels["outcome"], s.labels["channel"]): s.value
        for s in families["livepipe_send_outcomes"].samples
        if s.name.endswith("_total")
    }
    assert outcomes == {("retry", "hook"): 1.0, ("sent", "hook"): 1.0}
    lateness = families["livepipe_delivery_lateness_seconds"]
    [count] = [s.value for s in lateness.samples if s.name.endswith("_count")]
    assert count == 1.0
