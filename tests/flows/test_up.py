"""`livepipe up` end to end: starts its own Prefect server, serves the deployments and the git
webhook; a signed push runs a sync; Ctrl-C stops everything; a restart finds it all again."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from livepipe.config import load_settings
from livepipe.ledger import open_ledger

from ..receiver import free_port, wait_for

LIVEPIPE = str(Path(sys.executable).parent / "livepipe")
pytestmark = pytest.mark.timeout(400)


def healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_up(root: Path, port: int, hook: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    env["LIVEPIPE_HOOK_SECRET"] = "push-secret"
    with open(root / "up.log", "ab") as log:
        return subprocess.Popen(
            [LIVEPIPE, "up", str(root), "--port", str(port), "--hook-port", str(hook)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("livepipe up did not stop on Ctrl-C")


def test_up_push_stop_restart(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "content").mkdir(parents=True)
    (root / "livepipe.toml").write_text(
        '[site]\nname = "Up"\nbase_url = "https://up.example"\ntimezone = "UTC"\n'
        "[slots.digest]\nenabled = false\n"
    )
    start = datetime.now(UTC) + timedelta(days=3)
    (root / "content" / "ev.md").write_text(
        f"---\ntitle: Up\nstart: {start.isoformat()}\nlocation: online\n---\n"
    )
    port, hook = free_port(), free_port()
    api = f"http://127.0.0.1:{port}/api/health"
    proc = start_up(root, port, hook)
    try:
        assert wait_for(
            lambda: healthy(api) and healthy(f"http://127.0.0.1:{hook}/healthz"), 180
        ), (root / "up.log").read_text()
        data = json.dumps(
            {
                "ref": "refs/heads/main",
                "after": "f00d" * 10,
                "commits": [{"added": ["content/ev.md"]}],
            }
        ).encode()
        sig = "sha256=" + hmac.new(b"push-secret", data, hashlib.sha256).hexdigest()
        bad = httpx.post(
            f"http://127.0.0.1:{hook}/hooks/git",
            content=data,
            headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=00"},
        )
        assert bad.status_code == 401
        from prefect.client.orchestration import get_client
        from prefect.settings import temporary_settings

        from .conftest import wait_for_deployments

        with temporary_settings(updates={"api.url": api.removesuffix("/health")}):
            wait_for_deployments()  # the sync trigger exists before we push
        ok = httpx.post(
            f"http://127.0.0.1:{hook}/hooks/git",
            content=data,
            headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": sig},
        )
        assert ok.status_code == 202

        def planned() -> int:
            ledger = open_ledger(load_settings(root / "livepipe.toml"))
            try:
                return len(ledger.sends())
            finally:
                ledger.close()

        assert wait_for(lambda: planned() == 3, 120), (root / "up.log").read_text()[-3000:]
    finally:
        stop(proc)
    assert not healthy(api)  # the server it started is gone too
    before = planned()
    proc = start_up(root, port, hook)  # a restart loses nothing
    try:
        assert wait_for(lambda: healthy(api), 180)
        assert planned() == before == 3
        from prefect.client.orchestration import get_client
        from prefect.settings import temporary_settings

        from flows.common import waiting_publish_runs

        def pending_keys() -> set[str]:
            ledger = open_ledger(load_settings(root / "livepipe.toml"))
            try:
                return {x.key for x in ledger.sends() if x.state == "pending"}
            finally:
                ledger.close()

        def waiting_keys() -> set[str]:
            with (
                temporary_settings(updates={"api.url": api.removesuffix("/health")}),
                get_client(sync_client=True) as client,
            ):
                return {str(r.parameters.get("key")) for r in waiting_publish_runs(client)}

        def announced() -> bool:
            ledger = open_ledger(load_settings(root / "livepipe.toml"))
            try:
                return any(x.slot == "announce" and x.state == "sent" for x in ledger.sends())
            finally:
                ledger.close()

        # The announcement (due at the push) goes out: by its run, or — if the shutdown caught
        # that run mid-start — by the reconcile flow, which sends what is due and unsent.
        assert wait_for(announced, 150), (root / "up.log").read_text()[-3000:]
        # The reminders, due in two days, still have their scheduled runs.
        assert len(pending_keys()) == 2
        assert wait_for(lambda: pending_keys() <= waiting_keys(), 90)
    finally:
        stop(proc)


def test_up_refuses_a_server_it_did_not_start(tmp_path: Path) -> None:
    """Another Prefect server (here: anything answering /api/health) on up's port is not
    taken over: up says so and stops, unless PREFECT_API_URL names that server."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from ..receiver import serve_app

    async def health(request):  # type: ignore[no-untyped-def]
        return JSONResponse(True)

    root = tmp_path / "site"
    (root / "content").mkdir(parents=True)
    (root / "livepipe.toml").write_text('[site]\nname = "S"\ntimezone = "UTC"\n')
    with serve_app(Starlette(routes=[Route("/api/health", health)])) as url:
        port = int(url.rsplit(":", 1)[1])
        env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
        proc = subprocess.run(
            [LIVEPIPE, "up", str(root), "--port", str(port), "--hook-port", str(free_port())],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode != 0
    assert "refusing to use someone else's server" in proc.stderr + proc.stdout


def test_up_killed_mid_burst_delivers_every_send_once_after_restart(tmp_path: Path) -> None:
    """40 starting-soon sends due at one instant; `up` dies (SIGKILL, from inside, at its 12th
    recorded delivery) while the burst is in flight. The next `up` recovers the claims of the
    dead one: every message reaches the receiver once (it deduplicates by Idempotency-Key, as
    the README asks of receivers), nothing outside its window, and each text states the time
    left when it really went out."""
    import re

    from livepipe.records import SendState

    from ..receiver import Stats, serve, starting_soon_site

    stats = Stats()
    with serve(stats, secret="sign-it") as base:
        root = tmp_path / "site"
        starting_soon_site(root, f"{base}/dedup", secret_env="HOOK_SECRET")
        port, hook = free_port(), free_port()
        os.environ["HOOK_SECRET"] = "sign-it"
        os.environ["LIVEPIPE_CRASH_AT"] = "after-record:12"
        try:
            proc = start_up(root, port, hook)
        finally:
            del os.environ["LIVEPIPE_CRASH_AT"]
        try:
            assert wait_for(lambda: healthy(f"http://127.0.0.1:{hook}/healthz"), 180)
            due_at = datetime.now(UTC) + timedelta(seconds=12)
            start = due_at + timedelta(minutes=10)
            for i in range(40):
                (root / "content" / f"e{i}.md").write_text(
                    f"---\ntitle: E{i}\nstart: {start.isoformat()}\nlocation: online\n---\n"
                )
            synced = subprocess.run(
                [LIVEPIPE, "sync", str(root), "-o", str(root / "dist")],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert synced.returncode == 0, synced.stdout + synced.stderr
            assert proc.wait(timeout=120) == -signal.SIGKILL  # died mid-burst
        finally:
            if proc.poll() is None:
                stop(proc)
        settings = load_settings(root / "livepipe.toml")

        def states() -> dict[str, SendState]:
            ledger = open_ledger(settings)
            try:
                return {s.key: s.state for s in ledger.sends()}
            finally:
                ledger.close()

        at_crash = states()
        assert len(at_crash) == 40
        assert 12 <= sum(s is SendState.SENT for s in at_crash.values()) < 40
        proc = start_up(root, port, hook)  # adopts the server the dead `up` left running
        try:
            assert wait_for(lambda: set(states().values()) == {SendState.SENT}, 180), (
                root / "up.log"
            ).read_text()[-3000:]
            time.sleep(2)  # would a second delivery still be processed?
        finally:
            stop(proc)
    assert not healthy(f"http://127.0.0.1:{port}/api/health")  # the adopted server stopped too
    assert set(stats.processed) == set(at_crash)
    assert all(n == 1 for n in stats.processed.values()), stats.processed
    assert stats.bad_signatures == 0
    for key, body in stats.bodies.items():
        text = json.loads(body)["title"]
        left = (start.timestamp() - stats.arrived[key]) / 60
        minutes = int(re.search(r"Starting in (\d+) minutes", text).group(1))  # type: ignore[union-attr]
        assert abs(minutes - left) <= 0.6, (text, left)  # the time left when it went out
        assert stats.arrived[key] >= due_at.timestamp() - 0.05
