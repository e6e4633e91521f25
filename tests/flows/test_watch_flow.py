"""Watching as Prefect runs, end to end: `livepipe up` schedules one watch run for the room
when a push syncs a page whose livestream is about to start, runs it in a thread, and the
"we're live" notice reaches a loopback receiver seconds after the bilibili stand-in flips to
live. Then `up` is SIGKILLed mid-window; the restarted `up` marks the dead run Crashed,
starts a fresh one, and the stream that flapped meanwhile sends no second notice."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from ..fake_streams import Platforms, live_site, make_app
from ..receiver import Stats, free_port, serve, serve_app, wait_for
from .test_up import healthy, start_up, stop

pytestmark = pytest.mark.timeout(400)
ROOM = "22580654"


def watch_runs(api: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.settings import temporary_settings

    with (
        temporary_settings(updates={"api.url": api}),
        get_client(sync_client=True) as client,
    ):
        return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["watch"])))


def push(hook: int, api: str) -> None:
    from prefect.settings import temporary_settings

    from .conftest import wait_for_deployments

    with temporary_settings(updates={"api.url": api}):
        wait_for_deployments()
    data = json.dumps(
        {
            "ref": "refs/heads/main",
            "after": "beef" * 10,
            "commits": [{"added": ["content/talk.md"]}],
        }
    ).encode()
    sig = "sha256=" + hmac.new(b"push-secret", data, hashlib.sha256).hexdigest()
    answer = httpx.post(
        f"http://127.0.0.1:{hook}/hooks/git",
        content=data,
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": sig},
    )
    assert answer.status_code == 202


def test_up_watches_the_stream_and_survives_a_crash(tmp_path: Path) -> None:
    platforms = Platforms()
    stats = Stats()
    with serve_app(make_app(platforms)) as base, serve(stats) as receiver:
        root = live_site(
            tmp_path / "site", base, receiver, "2s", room=ROOM, starts_in=timedelta(minutes=5)
        )
        platforms.go_offline(platforms.rooms, ROOM)
        port, hook = free_port(), free_port()
        api = f"http://127.0.0.1:{port}/api"
        log = root / "up.log"
        proc = start_up(root, port, hook)
        try:
            assert wait_for(lambda: healthy(api + "/health"), 180), log.read_text()
            push(hook, api)
            room = f"bilibili:{ROOM}"
            assert wait_for(lambda: platforms.requests[room] >= 2, 120), log.read_text()[-3000:]
            [run] = watch_runs(api)
            assert run.name.startswith(f"watch-bilibili-{ROOM}-")
            assert run.state is not None and run.state.is_running()
            platforms.go_live(platforms.rooms, ROOM, datetime.now(UTC))
            flipped = time.time()
            assert wait_for(lambda: sum(stats.raw.values()) >= 1, 30), log.read_text()[-3000:]
            [(key, arrived)] = stats.arrived.items()
            assert arrived - flipped <= 2 + 2  # one interval + 2 s
            body = json.loads(stats.bodies[key])
            assert body["slot"] == "live" and body["title"] == "We're live now: Talk"
            # Crash: the whole `up` dies mid-window (its Prefect server stays, and is adopted).
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            platforms.go_offline(platforms.rooms, ROOM)  # the stream flaps meanwhile …
            time.sleep(1)
            platforms.go_live(platforms.rooms, ROOM, datetime.now(UTC))  # … and is back
            asked = platforms.requests[room]
            proc = start_up(root, port, hook)
            # The reconcile flow (every minute) finds the room unwatched and starts a run.
            assert wait_for(lambda: platforms.requests[room] >= asked + 3, 180), log.read_text()[
                -3000:
            ]
            runs = watch_runs(api)
            states = sorted(str(r.state.type.value) for r in runs if r.state)
            assert states == ["CRASHED", "RUNNING"], states
            assert len({r.name for r in runs}) == 1  # the same session, a second attempt
            time.sleep(5)
            assert sum(stats.raw.values()) == 1  # one live notice, across the crash and flap
        finally:
            stop(proc)
