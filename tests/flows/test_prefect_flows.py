"""The flows against a real local Prefect server: runs fire at their due time, reschedules and
cancellations re-time or remove runs, syncs are idempotent, triggers start syncs."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from livepipe.config import load_settings
from livepipe.ledger import open_ledger
from livepipe.records import SendState

from ..receiver import wait_for
from .conftest import FlowSite

pytestmark = pytest.mark.timeout(240)


def page(title: str, start: datetime, extra: str = "") -> str:
    return (
        f"---\ntitle: {title}\nstart: {start.isoformat()}\nlocation: online\n"
        f"live_url: https://live.example/x\nlivepipe:\n  reminders: [-10m]\n{extra}---\nAbout.\n"
    )


def run_sync(site: FlowSite) -> dict:
    from prefect.settings import temporary_settings

    from flows.sync import sync

    with temporary_settings(updates={"flows.heartbeat_frequency": None}):
        return sync(path=str(site.root), out=str(site.root / "dist"), force=True)


def sends_for(site: FlowSite, slug: str):
    ledger = open_ledger(load_settings(site.root / "livepipe.toml"))
    try:
        return [s for s in ledger.sends() if s.uid.startswith(f"{slug}@")]
    finally:
        ledger.close()


def publish_runs(key: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    from flows.common import waiting_publish_runs

    with get_client(sync_client=True) as client:
        waiting = [r for r in waiting_publish_runs(client) if r.parameters.get("key") == key]
        named = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=key[:8]))
        )
    return waiting + [r for r in named if r.id not in {w.id for w in waiting}]


def test_send_fires_at_its_time_and_sync_twice_makes_no_second_run(flow_site: FlowSite) -> None:
    due = datetime.now(UTC) + timedelta(seconds=20)
    flow_site.page("soon.md", page("Soon", due + timedelta(minutes=10)))
    summary = run_sync(flow_site)
    assert summary["changed"] and summary["scheduled"] >= 1
    (send,) = sends_for(flow_site, "soon")
    assert (
        send.due == due.replace(microsecond=send.due.microsecond)
        or abs((send.due - due).total_seconds()) < 1
    )
    again = run_sync(flow_site)
    assert again["scheduled"] == 0  # the same key: no second run
    assert len(publish_runs(send.key)) == 1
    assert datetime.now(UTC) < send.due, "the test setup was too slow"
    assert wait_for(lambda: flow_site.stats.processed[send.key] == 1, 90)
    arrived = datetime.now(UTC)
    assert arrived >= send.due - timedelta(seconds=1)  # never (much) early
    assert arrived - send.due < timedelta(seconds=30)
    assert flow_site.stats.raw[send.key] == 1
    body = json.loads(flow_site.stats.bodies[send.key])
    assert body["slot"] == "reminder-10m" and body["title"].startswith("Starting in 10 minutes")
    (done,) = sends_for(flow_site, "soon")
    assert done.state is SendState.SENT


def test_reschedule_moves_the_run_and_cancel_removes_it(flow_site: FlowSite) -> None:
    start = datetime.now(UTC) + timedelta(minutes=10, seconds=25)
    flow_site.page("moved.md", page("Moved", start))
    flow_site.page("dropped.md", page("Dropped", start))
    run_sync(flow_site)
    (old,) = sends_for(flow_site, "moved")
    (dropped,) = sends_for(flow_site, "dropped")
    # Moved 20 s later; the other one is cancelled.
    flow_site.page("moved.md", page("Moved", start + timedelta(seconds=20)))
    flow_site.page("dropped.md", page("Dropped", start, "status: cancelled\n"))
    summary = run_sync(flow_site)
    synced = datetime.now(UTC)
    assert summary["removed"] >= 2
    states = {s.key: s.state for s in sends_for(flow_site, "moved")}
    assert states[old.key] is SendState.WITHDRAWN
    (new_key,) = [k for k, st in states.items() if st is SendState.PENDING]

    # Their runs were deleted (still scheduled) or cancelled (prefetched by the runner; one the
    # runner was just starting passes through Cancelling first). A run the runner had already
    # started (it waits for its due time inside the flow) finds its send withdrawn in the
    # ledger and ends Cancelled too, saying why in its state message.
    def leftovers() -> list:
        return publish_runs(old.key) + publish_runs(dropped.key)

    def settled(run) -> bool:
        if run.state is None or not run.state.is_cancelled():
            return False
        said = run.state.message or ""
        why = "not sent: it is withdrawn" in said or "send no longer pending" in said
        return why and (run.start_time is None or run.start_time <= synced)

    assert wait_for(lambda: all(settled(r) for r in leftovers()), 60), [
        (r.state, r.start_time, synced) for r in leftovers()
    ]
    assert wait_for(lambda: flow_site.stats.processed[new_key] == 1, 120)
    assert flow_site.stats.raw[old.key] == 0 and flow_site.stats.raw[dropped.key] == 0
    time.sleep(2)
    assert flow_site.stats.raw[dropped.key] == 0


def test_merged_event_triggers_sync(flow_site: FlowSite) -> None:
    """`livepipe notify` (the CI step) emits livepipe.content.merged; the trigger runs sync."""
    from typer.testing import CliRunner

    from livepipe.cli import app

    flow_site.page("triggered.md", page("Triggered", datetime.now(UTC) + timedelta(days=2)))
    result = CliRunner().invoke(app, ["notify", "--commit", "abc123", str(flow_site.root)])
    assert result.exit_code == 0, result.output
    assert "livepipe.content.merged emitted for abc123" in result.output
    assert wait_for(lambda: len(sends_for(flow_site, "triggered")) == 1, 90)


def test_signed_push_triggers_sync_and_a_bad_signature_does_not(
    flow_site: FlowSite, monkeypatch
) -> None:
    import threading

    import uvicorn

    from flows.serve import emit_merged
    from livepipe.hooks import make_app

    from ..receiver import free_port

    secret = "s3cret-value"
    settings = load_settings(flow_site.root / "livepipe.toml")
    app = make_app(
        settings, lambda: secret, lambda push: emit_merged(push.commit, push.ref, "flows.example")
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    threading.Thread(target=server.run, daemon=True).start()
    assert wait_for(lambda: server.started, 10)
    try:
        body = json.dumps(
            {
                "ref": "refs/heads/main",
                "after": "f00d" * 10,
                "commits": [{"modified": ["content/pushed.md"]}],
            }
        ).encode()
        bad = httpx.post(
            f"http://127.0.0.1:{port}/hooks/git",
            content=body,
            headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64},
        )
        assert bad.status_code == 401
        flow_site.page("pushed.md", page("Pushed", datetime.now(UTC) + timedelta(days=2)))
        time.sleep(5)
        assert sends_for(flow_site, "pushed") == []  # nothing was triggered
        sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        good = httpx.post(
            f"http://127.0.0.1:{port}/hooks/git",
            content=body,
            headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": sig},
        )
        assert good.status_code == 202
        assert wait_for(lambda: len(sends_for(flow_site, "pushed")) == 1, 90)
    finally:
        server.should_exit = True


def test_worker_killed_mid_run_still_delivers_exactly_once(flow_site: FlowSite) -> None:
    """The flow-run process dies right after the channel call (SIGKILL, before it records the
    outcome); after a restart, the reconcile flow recovers the claim and the receiver's
    Idempotency-Key deduplication keeps it to one delivery."""
    from prefect.settings import temporary_settings

    from flows.reconcile import reconcile
    from livepipe.send import CRASH_ENV

    flow_site.stop_serving()
    flow_site.start_serving(**{CRASH_ENV: "after-call:1"})
    try:
        due = datetime.now(UTC) + timedelta(seconds=20)
        flow_site.page("killed.md", page("Killed", due + timedelta(minutes=10)))
        run_sync(flow_site)
        (send,) = sends_for(flow_site, "killed")
        assert wait_for(lambda: flow_site.stats.raw[send.key] == 1, 90)
        time.sleep(2)
        (claimed,) = sends_for(flow_site, "killed")
        assert claimed.state is SendState.CLAIMED  # the process died before recording
    finally:
        flow_site.stop_serving()
        flow_site.start_serving()
    with temporary_settings(updates={"flows.heartbeat_frequency": None}):
        result = reconcile(path=str(flow_site.root), grace_seconds=0)
    assert result["sent"] == 1
    (done,) = sends_for(flow_site, "killed")
    assert done.state is SendState.SENT
    assert flow_site.stats.processed[send.key] == 1 and flow_site.stats.raw[send.key] == 2


def test_runs_left_by_a_dead_runner_are_marked_crashed(prefect_server: str) -> None:
    """A run a runner took (Pending/"Submitting", Running) whose process is gone is marked
    Crashed with the reason (what `up` does for sync and reconcile runs when it starts);
    a run still waiting for its time is left alone."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.settings import temporary_settings
    from prefect.states import Pending, Running, Scheduled

    from flows.common import crash_orphans

    @flow(name="orphan-check")
    def orphan_check() -> None:
        pass

    with (
        temporary_settings(updates={"api.url": prefect_server}),
        get_client(sync_client=True) as client,
    ):
        running = client.create_flow_run(orphan_check, state=Running())
        submitting = client.create_flow_run(orphan_check, state=Pending(name="Submitting"))
        later = client.create_flow_run(
            orphan_check, state=Scheduled(scheduled_time=datetime.now(UTC) + timedelta(hours=1))
        )
        names = crash_orphans(client, ("orphan-check",))
        assert sorted(names) == sorted([running.name, submitting.name])
        for run in (running, submitting):
            state = client.read_flow_run(run.id).state
            assert state is not None and state.name == "Crashed"
            assert "runner is gone" in (state.message or "")
        still = client.read_flow_run(later.id).state
        assert still is not None and still.is_scheduled()
        assert crash_orphans(client, ("orphan-check",)) == []  # once
