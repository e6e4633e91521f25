"""The flows through a real `livepipe up` on a real Prefect server: sends go out on time from
the ledger and each is a task run of the process's deliver run, in the state it ended in;
reschedules and cancellations are ledger changes only; merges and signed pushes start
syncs; the timeline is one versioned artifact; /metrics equals the ledger; /healthz says
what is wrong; runs of a dead process are marked Crashed."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from livepipe.records import SendState

from ..support.receiver import wait_for
from .conftest import UpSite, flow_runs, task_runs_named

pytestmark = pytest.mark.timeout(300)


def page(title: str, start: datetime, extra: str = "") -> str:
    return (
        f"---\ntitle: {title}\nstart: {start.isoformat()}\nlocation: online\n"
        f"live_url: https://live.example/x\nlivepipe:\n  reminders: [-10m]\n{extra}---\nAbout.\n"
    )


def sends_for(site: UpSite, slug: str) -> list:
    with site.ledger() as ledger:
        return [s for s in ledger.sends() if s.uid.startswith(f"{slug}@")]


def synced(site: UpSite, slug: str, predicate) -> bool:  # type: ignore[no-untyped-def]
    return wait_for(lambda: predicate(sends_for(site, slug)), 120)


def test_a_send_goes_out_on_time_and_is_a_task_run_of_the_deliver_run(up_site: UpSite) -> None:
    due = datetime.now(UTC) + timedelta(seconds=25)
    up_site.page("soon.md", page("Soon", due + timedelta(minutes=10)))
    assert up_site.push("content/soon.md").status_code == 202
    assert synced(up_site, "soon", lambda s: len(s) == 1), up_site.log[-3000:]
    (send,) = sends_for(up_site, "soon")
    assert datetime.now(UTC) < send.due, "the test setup was too slow"
    assert wait_for(lambda: up_site.stats.processed[send.key] == 1, 90), up_site.log[-3000:]
    arrived = up_site.stats.arrived[send.key]
    assert send.due.timestamp() - 0.05 <= arrived < send.due.timestamp() + 5
    # No run was made for the send ahead of time; its task run records it once it went.
    name = f"reminder-10m-hook-{send.key[:8]}"  # the page's own -10m reminder
    assert wait_for(lambda: task_runs_named(name), 60), up_site.log[-3000:]
    [task_run] = task_runs_named(name)
    assert wait_for(lambda: task_runs_named(name)[0].state.is_completed(), 30)
    [deliver] = [r for r in flow_runs("deliver") if r.id == task_run.flow_run_id]
    assert deliver.state.is_running()  # the process's run for the day
    assert "sent       reminder-10m → hook  Soon (" in up_site.log


def test_reschedule_and_cancel_are_ledger_changes_only(up_site: UpSite) -> None:
    start = datetime.now(UTC) + timedelta(hours=3)
    up_site.page("moved.md", page("Moved", start))
    up_site.page("dropped.md", page("Dropped", start))
    up_site.push("content/moved.md", "content/dropped.md")
    assert synced(up_site, "moved", lambda s: len(s) == 1)
    assert synced(up_site, "dropped", lambda s: len(s) == 1)
    runs_before = {r.id for r in flow_runs("deliver")} | {r.id for r in flow_runs("publish")}
    up_site.page("moved.md", page("Moved", start + timedelta(hours=1)))
    up_site.page("dropped.md", page("Dropped", start, "status: cancelled\n"))
    up_site.push("content/moved.md", "content/dropped.md")
    assert synced(
        up_site, "moved", lambda s: sorted(x.state for x in s) == ["pending", "withdrawn"]
    )
    assert synced(up_site, "dropped", lambda s: [x.state for x in s] == ["withdrawn"])
    [pending] = [s for s in sends_for(up_site, "moved") if s.state == SendState.PENDING]
    assert pending.due == start + timedelta(hours=1) - timedelta(minutes=10)
    # Nothing in Prefect mirrored those sends: no run was made or removed for them.
    assert {r.id for r in flow_runs("deliver")} | {r.id for r in flow_runs("publish")} == (
        runs_before
    )


def test_livepipe_notify_starts_a_sync(up_site: UpSite) -> None:
    """The CI step after a merge: `livepipe notify` emits the merge event, the sync
    deployment runs in `up`, the new page's sends are in the ledger; nothing but its line."""
    import subprocess

    from .conftest import ENV, LIVEPIPE

    up_site.page("merged.md", page("Merged", datetime.now(UTC) + timedelta(days=2)))
    done = subprocess.run(
        [LIVEPIPE, "notify", str(up_site.root), "--commit", "c0ffee" * 6 + "abcd"],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "livepipe.content.merged emitted for " + "c0ffee" * 6 + "abcd"
    assert done.stderr == ""
    assert synced(up_site, "merged", lambda s: len(s) == 1), up_site.log[-3000:]


def test_livepipe_notify_fails_when_the_server_is_down(up_site: UpSite) -> None:
    """An event sent to a server that is down is dropped silently: notify fails the step."""
    import subprocess

    from ..support.receiver import free_port
    from .conftest import ENV, LIVEPIPE

    down = f"http://127.0.0.1:{free_port()}/api"
    done = subprocess.run(
        [LIVEPIPE, "notify", str(up_site.root), "--commit", "ab" * 20],
        env={**os.environ, **ENV, "PREFECT_API_URL": down},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "not healthy: the merge would be lost" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_signature_starts_nothing(up_site: UpSite) -> None:
    import httpx

    up_site.page("unsigned.md", page("Unsigned", datetime.now(UTC) + timedelta(days=2)))
    bad = httpx.post(
        f"http://127.0.0.1:{up_site.hook_port}/hooks/git",
        content=b'{"ref": "refs/heads/main", "after": "' + b"a" * 40 + b'"}',
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=00"},
    )
    assert bad.status_code == 401
    time.sleep(3)
    assert sends_for(up_site, "unsigned") == []


def test_a_failed_send_is_a_failed_task_run_told_and_alerted(up_site: UpSite) -> None:
    due = datetime.now(UTC) + timedelta(seconds=20)
    up_site.page(
        "fails.md",
        page("Fails", due + timedelta(minutes=30)).replace(
            "  reminders: [-10m]\n", "  reminders: [-30m]\n"
        ),
    )
    up_site.push("content/fails.md")
    assert synced(up_site, "fails", lambda s: any(x.channel == "broken" for x in s))
    [send] = [s for s in sends_for(up_site, "fails") if s.channel == "broken"]
    assert synced(
        up_site, "fails", lambda s: any(x.key == send.key and x.state == "failed" for x in s)
    ), up_site.log[-3000:]
    name = f"reminder-30m-broken-{send.key[:8]}"
    assert wait_for(
        lambda: task_runs_named(name) and task_runs_named(name)[0].state.is_failed(), 60
    )
    assert "failed     reminder-30m → broken  Fails: HTTP 404" in up_site.log
    # One alert to the ops channel (the outbox), once.
    box = up_site.root / ".livepipe" / "outbox" / "ops"
    assert wait_for(lambda: box.is_dir() and any(box.iterdir()), 30), up_site.log[-3000:]
    alerts = [p.read_text(encoding="utf-8") for p in box.iterdir()]
    assert sum(f"failed:{send.key}" in a or "reminder-30m → broken" in a for a in alerts) == 1


def test_the_timeline_is_one_artifact_with_a_version_per_sync(up_site: UpSite) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    def versions() -> int:
        with get_client(sync_client=True) as client:
            found = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["livepipe-timeline"]))
            )
        return len(found)

    before = versions()
    up_site.page("timeline.md", page("Timeline", datetime.now(UTC) + timedelta(days=3)))
    up_site.push("content/timeline.md")
    assert wait_for(lambda: versions() > before, 90)


def test_metrics_equal_the_ledger_and_healthz_says_what_is_wrong(up_site: UpSite) -> None:
    from livepipe.cli import app

    families = {f.name: f for f in text_string_to_metric_families(up_site.get("/metrics").text)}
    scraped = {
        (s.labels["state"], s.labels["channel"]): s.value
        for s in families["livepipe_sends"].samples
    }
    with up_site.ledger() as ledger:
        counts, _ = ledger.counts(datetime.now(UTC))
    assert scraped == {k: float(v) for k, v in counts.items()}
    assert "livepipe_delivery_lateness_seconds" in families
    assert up_site.get("/healthz").json()["status"] == "ok"
    from typer.testing import CliRunner

    runner = CliRunner()
    paused = runner.invoke(app, ["pause", "hook", "--why", "incident", "--site", str(up_site.root)])
    assert paused.exit_code == 0, paused.output
    try:
        body = up_site.get("/healthz")
        assert body.status_code == 503
        assert body.json()["reasons"] == ["channel hook is paused: incident"]
    finally:
        runner.invoke(app, ["resume", "hook", "--site", str(up_site.root)])
    assert up_site.get("/healthz").status_code == 200


def test_runs_left_by_a_dead_runner_are_marked_crashed(prefect_server: str) -> None:
    """A run an `up` had taken when it died is set Crashed with the reason by the next `up`,
    instead of showing "Submitting" forever; runs held by a live process (here, or on
    another machine, or a scale-out worker's) and scheduled runs are left alone."""
    import subprocess
    import sys

    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Pending, Running, Scheduled

    from flows.common import crash_orphans
    from livepipe.ledger.base import worker_id

    @flow(name="reconcile")
    def reconcile() -> None:  # the name is what matters
        pass

    dead = subprocess.run(
        [sys.executable, "-c", "from livepipe.ledger.base import worker_id; print(worker_id())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow(reconcile)
        runs = {}
        for name, state, holder in (
            ("stuck-reconcile", Pending(), dead),
            ("busy-reconcile", Running(), worker_id()),
            ("elsewhere-reconcile", Running(), "other-host@abc:12:34"),
            ("waiting-reconcile", Scheduled(), None),
        ):
            runs[name] = client.create_flow_run(reconcile, state=state, name=name)
            if holder:
                client.update_flow_run(runs[name].id, infrastructure_pid=holder)
        assert flow_id
        crashed = crash_orphans(client)
        assert "stuck-reconcile" in crashed
        assert not {"busy-reconcile", "elsewhere-reconcile", "waiting-reconcile"} & set(crashed)
        state = client.read_flow_run(runs["stuck-reconcile"].id).state
        assert (
            state is not None and state.is_crashed() and "livepipe up stopped" in str(state.message)
        )
        assert client.read_flow_run(runs["busy-reconcile"].id).state.is_running()  # type: ignore[union-attr]
        assert client.read_flow_run(runs["waiting-reconcile"].id).state.is_scheduled()  # type: ignore[union-attr]


def test_prefect_yaml_declares_the_deployments_up_serves() -> None:
    """`prefect deploy --all` and `livepipe up` make the same four deployments, from the same
    entrypoints, with the same schedules and the same merge trigger."""
    import yaml

    from flows.runtime import deployments

    root = Path(__file__).resolve().parents[2]
    declared = {
        d["name"]: d for d in yaml.safe_load((root / "prefect.yaml").read_text())["deployments"]
    }
    served = {d.name: d for d in deployments(".")}
    assert set(declared) == set(served) == {"sync", "deliver", "reconcile", "watch"}
    for name, made in served.items():
        assert made.entrypoint == declared[name]["entrypoint"]
        module, func = made.entrypoint.split(":")
        assert made.flow_name == func
        assert (root / module).is_file()
    assert declared["sync"]["schedules"][0]["interval"] == 300
    assert served["sync"].schedules[0].schedule.interval.total_seconds() == 300
    assert declared["reconcile"]["schedules"][0]["interval"] == 60
    assert served["reconcile"].schedules[0].schedule.interval.total_seconds() == 60
    assert declared["sync"]["triggers"][0]["expect"] == list(served["sync"].triggers[0].expect)


def test_a_stale_watch_run_deleted_by_the_other_cleaner_is_no_failure(
    prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sync and up's reconcile both delete the scheduled watch run of a session that no
    longer exists; the one that comes second finds it gone (a 404 from the server). That
    is done, not a failure: it used to fail the sync flow (and crash bench_flows)."""
    from prefect import flow
    from prefect.client.orchestration import SyncPrefectClient, get_client
    from prefect.states import Scheduled

    from flows.common import WATCH_PREFIX, mirror_watches
    from livepipe.config import Settings
    from livepipe.ledger import open_ledger

    @flow(name="watch")
    def watch() -> None:  # the name is what matters
        pass

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(watch, state=Scheduled(), name="stale-watch")
    ledger = open_ledger(Settings(), str(tmp_path / "ledger.sqlite"))
    ledger.kv_put(WATCH_PREFIX + "gone-session", f"{run.id} 0", None)
    read = SyncPrefectClient.read_flow_run

    def read_then_lose_the_race(self: SyncPrefectClient, run_id: Any) -> Any:
        found = read(self, run_id)
        self.delete_flow_run(run_id)  # the other cleaner, between our read and our delete
        return found

    monkeypatch.setattr(SyncPrefectClient, "read_flow_run", read_then_lose_the_race)
    try:
        assert mirror_watches(ledger, Settings(), datetime.now(UTC)) == []
        assert ledger.kv_prefix(WATCH_PREFIX) == {}  # forgotten
    finally:
        ledger.close()
