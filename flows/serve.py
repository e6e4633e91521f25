"""Running the flows: embedded (`livepipe run`, what `make run` does) and long-running
(`livepipe up`: a local Prefect server unless PREFECT_API_URL is set, the three deployments
served in one process, and the git webhook endpoint)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from flows.common import (
    MERGED_EVENT,
    SYNC_DEPLOYMENT,
    open_site,
    quiet_environment,
)
from livepipe.config import Settings

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

    from livepipe.hooks import MassFinished


def prefect_home(root: Path) -> None:
    os.environ.setdefault("PREFECT_HOME", str(root / ".prefect"))


def deployments(
    path: str, poll_seconds: float = 300, reconcile_seconds: float = 60
) -> list[RunnerDeployment]:
    """The sync, publish, reconcile and watch deployments of the site at ``path``, in that
    order."""
    from prefect.events import DeploymentEventTrigger

    from flows.publish import publish
    from flows.reconcile import reconcile
    from flows.sync import sync
    from flows.watch import watch

    trigger = DeploymentEventTrigger(
        expect={MERGED_EVENT},
        match={"prefect.resource.id": "livepipe.site.*"},
        parameters={"path": path, "commit": "{{ event.payload.commit }}"},
    )
    made = [
        sync.to_deployment(
            name="livepipe", parameters={"path": path}, triggers=[trigger], interval=poll_seconds
        ),
        publish.to_deployment(name="livepipe", parameters={"path": path}),
        reconcile.to_deployment(
            name="livepipe", parameters={"path": path}, interval=reconcile_seconds
        ),
        watch.to_deployment(name="livepipe", parameters={"path": path}),
    ]  # called outside an event loop, to_deployment returns the deployment itself
    return [cast("RunnerDeployment", d) for d in made]


def scheduled_runs(limit: int = 200) -> list[tuple[str, str, str]]:
    """(scheduled time, run name, state) of the publish runs waiting in Prefect."""
    from prefect.client.orchestration import get_client

    from flows.common import waiting_publish_runs

    with get_client(sync_client=True) as client:
        runs = waiting_publish_runs(client)[:limit]
    out = [
        (str(r.next_scheduled_start_time or r.expected_start_time), r.name, r.state_name or "")
        for r in runs
        if r.state is not None and (r.state.is_scheduled() or r.state.is_pending())
    ]
    return sorted(out)


def run_embedded(path: str = ".", out: str = "dist") -> dict[str, object]:
    """One sync through Prefect's local ephemeral API (SQLite under .prefect/), sending what is
    due now to the configured channels (the file outbox by default)."""
    site = open_site(path)
    prefect_home(site.settings.root or Path.cwd())
    quiet_environment()
    from prefect.settings import temporary_settings

    from flows.sync import sync

    with temporary_settings(updates={"flows.heartbeat_frequency": None}):
        for deployment in deployments(path):
            deployment.apply()
        return sync(path=path, out=out, force=True, send_now=True)


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url.rstrip("/") + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def launch_server(
    home: Path, port: int, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.Popen[bytes]:
    """`prefect server start` on 127.0.0.1:port with PREFECT_HOME=home; returns once healthy."""
    home.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log_path = home / "server.log"
    with open(log_path, "ab") as log:  # the server process keeps its own descriptor
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {}), "PREFECT_HOME": str(home)},
        )
    (home / "server.pid").write_text(f"{proc.pid}\n")
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout
    while not _healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"prefect server did not start (see {log_path}):\n{tail}")
        time.sleep(0.5)
    return proc


class _Adopted:
    """Our own server left running by an `up` that was killed: this `up` stops it at exit."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def send_signal(self, sig: int) -> None:
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{self.pid}").exists():
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("prefect server", timeout)
            time.sleep(0.1)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def start_server(root: Path, port: int = 4200) -> subprocess.Popen[bytes] | _Adopted | None:
    """Start a local server (SQLite under .prefect/) unless PREFECT_API_URL is set; one that
    an earlier, killed `up` of this site left running is adopted (and stopped at exit)."""
    if os.environ.get("PREFECT_API_URL"):
        if not _healthy(os.environ["PREFECT_API_URL"]):
            raise SystemExit(f"PREFECT_API_URL={os.environ['PREFECT_API_URL']} is not healthy")
        return None
    prefect_home(root)
    quiet_environment()
    url = f"http://127.0.0.1:{port}/api"
    home = Path(os.environ["PREFECT_HOME"])
    if _healthy(url):
        if not _ours(home):
            raise SystemExit(
                f"a Prefect server this site did not start already answers on 127.0.0.1:{port}: "
                "refusing to use someone else's server. Pick another --port, or set "
                f"PREFECT_API_URL={url} to use it on purpose."
            )
        proc: subprocess.Popen[bytes] | _Adopted = _Adopted(_server_pid(home))
    else:
        proc = launch_server(home, port)
    os.environ["PREFECT_API_URL"] = url
    return proc


def _server_pid(home: Path) -> int:
    return int((home / "server.pid").read_text().strip())


def _ours(home: Path) -> bool:
    """Is the server recorded in ``home/server.pid`` alive, and a Prefect server of ``home``?"""
    try:
        pid = _server_pid(home)
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            command = fh.read().split(b"\0")
        with open(f"/proc/{pid}/environ", "rb") as fh:
            environ = fh.read().split(b"\0")
    except (OSError, ValueError):
        return False
    return b"server" in command and f"PREFECT_HOME={home}".encode() in environ


def record_mass_finished(settings: Settings, event: MassFinished) -> None:
    """WeChat's counts of a mass-send, in the log of the send that made it."""
    from datetime import UTC, datetime

    from livepipe.ledger import open_ledger

    ledger = open_ledger(settings)
    try:
        key = ledger.note_remote(event.msg_id, datetime.now(UTC), event.note())
    finally:
        ledger.close()
    print(f"livepipe up: {event.note()}" + (f" (send {key})" if key else " (no send has it)"))


def ledger_memory(settings: Settings) -> Callable[[str, float], bool]:
    """hooks.FirstTime backed by the ledger's kv (its own connection per call: the hooks
    server runs in its own thread): deliveries and nonces remembered across restarts."""
    from datetime import UTC, datetime, timedelta

    from livepipe.ledger import open_ledger

    def first_time(name: str, ttl: float) -> bool:
        now = datetime.now(UTC)
        ledger = open_ledger(settings)
        try:
            return ledger.kv_add(name, "1", now, now + timedelta(seconds=ttl))
        finally:
            ledger.close()

    return first_time


def emit_merged(commit: str, ref: str, site_host: str) -> None:
    from prefect.events import emit_event

    emit_event(
        event=MERGED_EVENT,
        resource={"prefect.resource.id": f"livepipe.site.{site_host}"},
        payload={"commit": commit, "ref": ref},
    )


def up(
    path: str = ".",
    port: int = 4200,
    hook_port: int = 8765,
    *,
    publish: bool = True,
    threads: int = 16,
) -> None:
    """Long-running: server (unless given), webhook endpoint, the sync and reconcile
    deployments served, and the publish runs executed in threads of this process
    (``publish=False``: by ``livepipe worker`` processes elsewhere)."""
    import uvicorn

    from livepipe.hooks import make_app
    from livepipe.identity import site_host
    from livepipe.inbound import bind
    from livepipe.inbound import config as server_config

    site = open_site(path)
    _say_broken(site.settings)
    root = site.settings.root or Path.cwd()
    hook_socket = bind("127.0.0.1", hook_port, "--hook-port")
    server = start_server(root, port)
    import prefect

    host = site_host(site.settings.site.base_url)
    secret_env = site.settings.hooks.secret_env
    app = make_app(
        site.settings,
        lambda: os.environ.get(secret_env),
        lambda push: emit_merged(push.commit, push.ref, host),
        wechat_token=lambda: os.environ.get(site.settings.hooks.wechat_token_env),
        on_mass_finished=lambda event: record_mass_finished(site.settings, event),
        first_time=ledger_memory(site.settings),
    )
    hook = uvicorn.Server(server_config(app, connections=64))
    threading.Thread(target=hook.run, kwargs={"sockets": [hook_socket]}, daemon=True).start()
    print(
        f"livepipe up: Prefect UI {os.environ['PREFECT_API_URL'].removesuffix('/api')}, "
        f"git webhook http://127.0.0.1:{hook_port}/hooks/git, "
        + (f"publish runs in {threads} threads here" if publish else "publishing left to workers")
        + "; Ctrl-C stops everything"
    )
    sync_dep, publish_dep, reconcile_dep, watch_dep = deployments(path)
    publish_dep.apply()  # runs are created for these two; this process (or workers) runs them
    watch_dep.apply()
    from prefect.client.orchestration import get_client

    from flows.common import crash_orphans

    with get_client(sync_client=True) as client:
        for name in crash_orphans(client):
            print(f"livepipe up: run {name} was left by an up that stopped: marked Crashed")
    stop = threading.Event()
    senders = start_senders(path, site.settings, stop, threads=threads) if publish else []
    try:
        # Sync and reconcile are rare: Prefect's runner (a process per run) is fine for them.
        prefect.serve(
            sync_dep,
            reconcile_dep,
            limit=4,
            prefetch_seconds=10,
            query_seconds=1,
            print_starting_message=False,
        )
    except KeyboardInterrupt:
        pass
    finally:
        # Stop sending first (in-flight sends finish, up to 10 s), then the server.
        from flows.watch import STOP

        stop.set()
        STOP.set()
        hook.should_exit = True
        deadline = time.monotonic() + 10
        for thread in senders:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
    # A publish run still inside Prefect's engine would retry its API calls against the
    # stopped server, and the interpreter joins such threads at exit: leave now. Whatever it
    # was doing is safe: its claim in the ledger is recovered by the next start.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def start_senders(
    path: str,
    settings: Settings,
    stop: threading.Event,
    *,
    threads: int,
    runs: int = 4,
    watches: int = 32,
) -> list[threading.Thread]:
    """The halves of publishing in this process, until ``stop``: the Dispatcher delivers
    every due send from the ledger's due times (on time in bursts), ``runs`` threads
    execute the publish runs, which record each send in Prefect (or send it, if first), and
    up to ``watches`` watch runs (one per room being watched) watch the streams. The
    publish runs wait while the dispatcher is busy, so a burst has the CPU to itself."""
    from flows.common import WATCH_DEPLOYMENT
    from flows.worker import run_worker
    from livepipe.dispatch import Dispatcher

    dispatcher = Dispatcher(settings, threads=threads)
    senders = [
        threading.Thread(target=dispatcher.run, args=(stop,), name="livepipe-dispatch"),
        threading.Thread(
            target=run_worker,
            args=(path,),
            kwargs={"threads": runs, "stop": stop, "poll_seconds": 0.5, "idle": dispatcher.idle},
            name="livepipe-publish",
        ),
        threading.Thread(
            target=run_worker,
            args=(path,),
            kwargs={
                "threads": watches,
                "stop": stop,
                "poll_seconds": 1.0,
                "deployment": WATCH_DEPLOYMENT,
            },
            name="livepipe-watch",
        ),
    ]
    for thread in senders:
        thread.daemon = True
        thread.start()
    return senders


def _say_broken(settings: Settings) -> None:
    """Channels that cannot send, said at start (their sends stay pending until fixed)."""
    from livepipe.publish import broken_channels, make_channels

    for name, exc in sorted(broken_channels(make_channels(settings)).items()):
        print(f"error: channel {name} cannot send, its sends stay pending: {exc}", file=sys.stderr)


def worker(path: str = ".", threads: int = 8) -> None:
    """Scale-out: deliver due sends from the shared ledger (a Dispatcher) and run publish
    runs from the shared server in this process (see worker.py), until Ctrl-C or SIGTERM."""
    if not os.environ.get("PREFECT_API_URL"):
        raise SystemExit("livepipe worker needs PREFECT_API_URL (a shared Prefect server)")
    settings = open_site(path).settings
    _say_broken(settings)
    quiet_environment()
    from flows.common import WATCH_DEPLOYMENT
    from flows.watch import STOP
    from flows.worker import run_worker
    from livepipe.dispatch import Dispatcher

    made = deployments(path)
    made[1].apply()
    made[3].apply()
    stop = threading.Event()

    def leave(*_: object) -> None:
        stop.set()
        STOP.set()

    for sig in (signal.SIGTERM, signal.SIGINT):  # finish what is in flight, then leave
        signal.signal(sig, leave)
    dispatcher = Dispatcher(settings, threads=threads)
    delivering = threading.Thread(target=dispatcher.run, args=(stop,), name="livepipe-dispatch")
    delivering.start()
    watching = threading.Thread(
        target=run_worker,
        args=(path,),
        kwargs={"threads": 32, "stop": stop, "deployment": WATCH_DEPLOYMENT},
        name="livepipe-watch",
        daemon=True,
    )
    watching.start()
    print(f"livepipe worker: sending and running publish runs with {threads} threads; Ctrl-C stops")
    ran = 0
    try:
        ran = run_worker(path, threads=threads, stop=stop, idle=dispatcher.idle)
    except KeyboardInterrupt:
        leave()
    delivering.join(timeout=10)
    print(f"livepipe worker: sent {dispatcher.sent}, ran {ran} publish runs")


def notify(commit: str, ref: str, path: str = ".") -> None:
    """CI step: emit `livepipe.content.merged` after checking the API is up (an event sent to
    a server that is down is dropped silently, PREFECT.md §4)."""
    site = open_site(path)
    quiet_environment()
    url = os.environ.get("PREFECT_API_URL")
    if not url or not _healthy(url):
        raise SystemExit("PREFECT_API_URL is not set or not healthy: the merge would be lost")
    from livepipe.identity import site_host

    emit_merged(commit, ref, site_host(site.settings.site.base_url))
    # Make sure the event left this process before it exits.
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all()


__all__ = ["SYNC_DEPLOYMENT", "notify", "run_embedded", "scheduled_runs", "up", "worker"]
