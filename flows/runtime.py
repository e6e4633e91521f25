"""Running livepipe: `livepipe up` (long-running: a local Prefect server unless
PREFECT_API_URL is set, the git/WeChat hooks with /healthz and /metrics, this process's
dispatcher inside a daily ``deliver`` run, and the sync, reconcile and watch runs executed in
threads of this process), `livepipe worker` (scale-out: a dispatcher and the watch runs),
`livepipe run` (one sync through Prefect's embedded API: `make run`) and `livepipe notify`.

No run gets a process of its own (a Python process per run costs ~90 MB and 2 s of CPU):
``Runner`` claims the scheduled runs of the deployments and runs them in threads here.
Ctrl-C and SIGTERM stop everything within about 5 s with one line: in-flight sends finish or
are left to recovery (their claims are leased).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.common import (
    DELIVER_DEPLOYMENT,
    MERGED_EVENT,
    RECONCILE_DEPLOYMENT,
    SYNC_DEPLOYMENT,
    WATCH_DEPLOYMENT,
    open_app,
    quiet_environment,
)
from livepipe.activity import What, tell
from livepipe.app import Livepipe
from livepipe.errors import ConfigError
from livepipe.fast.gc import settle

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

    from livepipe.hooks import MassFinished

STOP_SECONDS = 5.0  # Ctrl-C / SIGTERM: everything stopped within this


def prefect_home(root: Path) -> None:
    os.environ.setdefault("PREFECT_HOME", str(root / ".prefect"))


def deployments(
    path: str, poll_seconds: float = 300, reconcile_seconds: float = 60
) -> list[RunnerDeployment]:
    """The sync, deliver, reconcile and watch deployments of the site at ``path``, named
    for what they do (``prefect deploy --all`` makes the same from prefect.yaml)."""
    from prefect.events import DeploymentEventTrigger

    from flows.deliver import deliver
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
            name="sync", parameters={"path": path}, triggers=[trigger], interval=poll_seconds
        ),
        deliver.to_deployment(name="deliver", parameters={"path": path}),
        reconcile.to_deployment(
            name="reconcile", parameters={"path": path}, interval=reconcile_seconds
        ),
        watch.to_deployment(name="watch", parameters={"path": path}),
    ]  # called outside an event loop, to_deployment returns the deployment itself
    return made  # type: ignore[return-value]


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
            env={
                **os.environ,
                **(env or {}),
                "PREFECT_HOME": str(home),
                # the UI in the browser asks this API (its default is port 4200)
                "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
            },
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
            raise ConfigError(
                f"PREFECT_API_URL={os.environ['PREFECT_API_URL']} does not answer",
                hint="start that Prefect server, or unset PREFECT_API_URL to run a local one",
            )
        return None
    prefect_home(root)
    quiet_environment()
    url = f"http://127.0.0.1:{port}/api"
    home = Path(os.environ["PREFECT_HOME"])
    if _healthy(url):
        if not _ours(home):
            from livepipe.errors import PortInUseError

            raise PortInUseError(
                f"a Prefect server this site did not start already answers on 127.0.0.1:{port}",
                hint=f"choose another --port, or set PREFECT_API_URL={url} to use it on purpose",
            )
        proc: subprocess.Popen[bytes] | _Adopted = _Adopted(_server_pid(home))
    else:
        from livepipe.inbound import bind

        bind("127.0.0.1", port, "--port").close()  # taken by something else: say so now
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


def record_mass_finished(app: Livepipe, event: MassFinished) -> None:
    """WeChat's counts of a mass-send, in the log of the send that made it."""
    with app.ledger() as ledger:
        key = ledger.note_remote(event.msg_id, datetime.now(UTC), event.note())
    tell(What.SENT, f"WeChat: {event.note()}" + (f" (send {key})" if key else " (no send has it)"))


def emit_merged(commit: str, ref: str, site_host: str) -> None:
    from prefect.events import emit_event

    emit_event(
        event=MERGED_EVENT,
        resource={"prefect.resource.id": f"livepipe.site.{site_host}"},
        payload={"commit": commit, "ref": ref},
    )


def ledger_memory(app: Livepipe) -> Callable[[str, float], bool]:
    """hooks.FirstTime backed by the ledger's kv (its own connection per call: the hooks
    server runs in its own thread): deliveries and nonces remembered across restarts."""

    def first_time(name: str, ttl: float) -> bool:
        now = datetime.now(UTC)
        with app.ledger() as ledger:
            return ledger.kv_add(name, "1", now, now + timedelta(seconds=ttl))

    return first_time


class Runner:
    """Runs the scheduled runs of some deployments in threads of this process: polls the
    server, claims a run by proposing Scheduled → Pending (the server accepts once, so two
    processes never take the same run), runs it with Prefect's engine (logs, state and
    artifacts as usual). ``limits``: deployment → runs at once (never more claimed)."""

    def __init__(self, path: str, limits: dict[str, int], stop: threading.Event) -> None:
        self.path = path
        self.limits = {name: n for name, n in limits.items() if n > 0}
        self.stop = stop
        self.ran = 0
        self.running: dict[Any, str] = {}  # flow run id → deployment, while it runs
        self._lock = threading.Lock()

    def run(self, poll_seconds: float = 1.0) -> None:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            ids = {client.read_deployment_by_name(n).id: n for n in self.limits}
            pools = {
                n: ThreadPoolExecutor(k, thread_name_prefix=f"livepipe-{n.split('/')[0]}")
                for n, k in self.limits.items()
            }
            busy = {n: threading.Semaphore(k) for n, k in self.limits.items()}
            try:
                while not self.stop.is_set():
                    try:
                        self._round(client, ids, pools, busy)
                    except Exception as exc:  # a server hiccup: the next round asks again
                        logging.getLogger("livepipe.runtime").warning("runner: %s", exc)
                    self.stop.wait(poll_seconds)
            finally:
                for pool in pools.values():
                    pool.shutdown(wait=False, cancel_futures=True)

    def _round(
        self, client: Any, ids: dict[Any, str], pools: dict[str, Any], busy: dict[str, Any]
    ) -> None:
        horizon = datetime.now(UTC) + timedelta(seconds=10)
        for dep_id, name in ids.items():
            free = 0
            while busy[name].acquire(blocking=False):
                free += 1
            try:
                if free:
                    # Other sites' runs share the deployment on a shared server, and a
                    # stopped up leaves its scheduled runs behind: asking for only ``free``
                    # runs would get those, oldest first, and never this site's (it starved).
                    runs = client.get_scheduled_flow_runs_for_deployments(
                        [dep_id], scheduled_before=horizon, limit=SCANNED
                    )
                    for flow_run in runs:
                        if not self._ours(flow_run):
                            continue  # another site's run: its own up runs it
                        if free and _claim(client, flow_run):
                            free -= 1
                            pools[name].submit(self._execute, flow_run.id, name, busy[name])
            finally:
                for _ in range(free):  # the slots not taken (an error included)
                    busy[name].release()

    def _ours(self, flow_run: Any) -> bool:
        """Runs of this site only (the path they were made for resolves to this site's)."""
        path = (flow_run.parameters or {}).get("path", self.path)
        return bool(Path(str(path)).resolve() == Path(self.path).resolve())

    def _execute(self, run_id: Any, name: str, slot: threading.Semaphore) -> None:
        from prefect.client.orchestration import get_client
        from prefect.flow_engine import run_flow

        try:
            with get_client(sync_client=True) as client:
                flow_run = client.read_flow_run(run_id)
            start = flow_run.next_scheduled_start_time or flow_run.expected_start_time
            if start is not None:
                self.stop.wait(max(0.0, (start - datetime.now(UTC)).total_seconds()))
            if self.stop.is_set():
                return
            with self._lock:
                self.running[run_id] = name
                self.ran += 1
            parameters = {"path": self.path, **(flow_run.parameters or {})}
            run_flow(_flow(name), flow_run=flow_run, parameters=parameters, return_type="state")
        except Exception as exc:  # the run's state says what happened; this thread lives on
            logging.getLogger("livepipe.runtime").error("run %s (%s): %s", run_id, name, exc)
        finally:
            with self._lock:
                self.running.pop(run_id, None)
            slot.release()


SCANNED = 200  # scheduled runs looked at in one round (the server's most), other sites' too


def _claim(client: Any, flow_run: Any) -> bool:
    """Take a run that is still scheduled. The fresh read matters: the server would also
    accept Pending for a run another process already finished (that is how re-runs work)."""
    from prefect.client.schemas.responses import SetStateStatus
    from prefect.states import Pending

    from livepipe.ledger.base import worker_id

    current = client.read_flow_run(flow_run.id)
    if current.state is None or not current.state.is_scheduled():
        return False
    result = client.set_flow_run_state(flow_run.id, Pending())
    if result.status != SetStateStatus.ACCEPT:
        return False
    # Who runs it: a later `up` marks it Crashed only once this process is gone.
    client.update_flow_run(flow_run.id, infrastructure_pid=worker_id())
    return True


def _flow(deployment: str) -> Any:
    if deployment == SYNC_DEPLOYMENT:
        from flows.sync import sync

        return sync
    if deployment == RECONCILE_DEPLOYMENT:
        from flows.reconcile import reconcile

        return reconcile
    if deployment == DELIVER_DEPLOYMENT:
        from flows.deliver import deliver

        return deliver
    from flows.watch import watch

    return watch


def _delivering(
    app: Livepipe, path: str, threads: int, stop: threading.Event, beat: Callable[[], None]
) -> Any:
    """This process's dispatcher, and a thread that records what it sends in one
    ``deliver`` run a day (a new run after the site's midnight)."""
    from prefect.settings import temporary_settings

    from flows.deliver import RUNNING, Delivery, deliver

    delivery = Delivery(app, threads, stop=stop).start(on_beat=beat)
    RUNNING[path] = delivery

    def days() -> None:
        with temporary_settings(updates={"flows.heartbeat_frequency": None}):
            while not stop.is_set():
                try:
                    deliver(path=path, threads=threads)
                except Exception as exc:  # the run says why; a fresh one goes on
                    logging.getLogger("livepipe.runtime").error("deliver run: %s", exc)
                    stop.wait(5)

    threading.Thread(target=days, name="livepipe-deliver", daemon=True).start()
    return delivery


def _signals(stop: threading.Event) -> None:
    def leave(*_: object) -> None:
        if not stop.is_set():
            tell(What.STOPPING, "stopping (in-flight sends finish or are left to recovery)")
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, leave)


def _observe(app: Livepipe, log_format: str, *, dispatching: bool) -> tuple[Any, Any]:
    """The console (one line per thing that matters, in the site's zone), the metrics and
    the health of this process, all fed by what livepipe tells."""
    from livepipe.activity import to_console
    from livepipe.metrics import Health, Metrics
    from livepipe.timeutil import get_zone

    zone = get_zone(app.settings.site.timezone or "UTC")
    to_console(zone, as_json=log_format == "json")
    logging.getLogger("livepipe.activity").setLevel(logging.DEBUG)  # polls: counted
    metrics = Metrics(app.open_ledger)

    def paused() -> dict[str, str]:
        with app.ledger() as ledger:
            return {c: why for c, (_, _, why) in ledger.paused().items()}

    health = Health(paused=paused, dispatching=dispatching)
    for handler in (metrics.handler(), health.handler()):
        logging.getLogger("livepipe").addHandler(handler)
    return metrics, health


def _routes(metrics: Any) -> list[Any]:
    from starlette.responses import Response
    from starlette.routing import Route

    from livepipe.metrics import CONTENT_TYPE

    async def scrape(request: Any) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return [Route("/metrics", scrape, methods=["GET"])]


def _broken(app: Livepipe) -> None:
    for name, exc in sorted(app.broken.items()):
        tell(
            What.CONFIG, f"channel {name} cannot send, its sends stay pending: {exc}", channel=name
        )


def up(
    path: str = ".",
    port: int = 4200,
    hook_port: int = 8765,
    *,
    publish: bool = True,
    threads: int = 16,
    log_format: str = "text",
) -> int:
    """Long-running; returns the exit code (ConfigError for a busy port, broken settings,
    a ledger newer than this livepipe: the caller says it in one line)."""
    import uvicorn

    from livepipe.hooks import make_app
    from livepipe.identity import site_host
    from livepipe.inbound import bind
    from livepipe.inbound import config as server_config

    app = open_app(path)
    root = app.root
    metrics, health = _observe(app, log_format, dispatching=publish)
    with app.ledger():
        pass  # migrated now (told), or a ledger newer than this livepipe: ConfigError
    hook_socket = bind("127.0.0.1", hook_port, "--hook-port")
    server = start_server(root, port)
    import prefect  # noqa: F401 (after the environment is set)

    from flows.common import crash_orphans, run_logs_at_info

    run_logs_at_info()
    host = site_host(app.settings.site.base_url)
    secret_env = app.settings.hooks.secret_env
    hooks = make_app(
        app.settings,
        lambda: os.environ.get(secret_env),
        lambda push: emit_merged(push.commit, push.ref, host),
        wechat_token=lambda: os.environ.get(app.settings.hooks.wechat_token_env),
        on_mass_finished=lambda event: record_mass_finished(app, event),
        first_time=ledger_memory(app),
        health=health.status,
        extra_routes=_routes(metrics),
    )
    hook = uvicorn.Server(server_config(hooks, connections=64))
    threading.Thread(target=hook.run, kwargs={"sockets": [hook_socket]}, daemon=True).start()
    for deployment in deployments(path):
        deployment.apply()
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for name in crash_orphans(client):
            tell(What.STARTED, f"run {name} was left by an up that stopped: marked Crashed")
    _broken(app)
    stop = threading.Event()
    _signals(stop)

    def beat() -> None:
        health.beat = time.monotonic()

    delivery = _delivering(app, path, threads, stop, beat) if publish else None
    limits = {SYNC_DEPLOYMENT: 1, RECONCILE_DEPLOYMENT: 1, WATCH_DEPLOYMENT: 32 if publish else 0}
    runner = Runner(path, limits, stop)
    threading.Thread(target=runner.run, name="livepipe-runner", daemon=True).start()
    from prefect.deployments import run_deployment

    for first in (SYNC_DEPLOYMENT, RECONCILE_DEPLOYMENT):  # at once, not after a poll
        run_deployment(first, parameters={"path": path}, timeout=0, as_subflow=False)
    ui = os.environ["PREFECT_API_URL"].removesuffix("/api")
    settle()
    tell(
        What.STARTED,
        f"livepipe up: Prefect UI {ui}, hooks http://127.0.0.1:{hook_port}/hooks/git "
        f"(/healthz, /metrics), "
        + (f"sending with {threads} threads here" if publish else "sending left to workers")
        + "; first sync now; Ctrl-C stops",
    )
    stop.wait()
    _stop(stop, delivery, runner, hook, server)
    return 0


def _stop(stop: threading.Event, delivery: Any, runner: Runner, hook: Any, server: Any) -> None:
    """Within STOP_SECONDS: the dispatcher stops claiming (in-flight sends get what time is
    left), runs still inside the engine are marked, the hooks and the server stop."""
    deadline = time.monotonic() + STOP_SECONDS
    hook.should_exit = True
    if delivery is not None and delivery.thread is not None:
        delivery.thread.join(timeout=max(0.0, deadline - time.monotonic() - 2.0))
    _cancel_running(runner, deadline - time.monotonic() - 1.5)
    logging.getLogger("prefect").setLevel(logging.CRITICAL)  # the server goes away now
    if server is not None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=max(0.1, deadline - time.monotonic() - 0.2))
        except subprocess.TimeoutExpired:
            server.kill()
    sys.stdout.write("livepipe: stopped\n")
    sys.stdout.flush()
    sys.stderr.flush()
    # Threads still inside Prefect's engine would retry against the stopped server, and the
    # interpreter joins them at exit: leave now. Every claim they held is leased (recovered).
    os._exit(0)


def _cancel_running(runner: Runner, budget: float) -> None:
    """Runs this process was running are marked Crashed with the reason (not left Running)."""
    if budget <= 0 or not runner.running:
        return
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    ends = time.monotonic() + budget
    try:
        with get_client(sync_client=True) as client:
            for run_id in list(runner.running):
                if time.monotonic() > ends:
                    return
                client.set_flow_run_state(
                    run_id, Crashed(message="livepipe up stopped while it ran"), force=True
                )
    except Exception:  # best effort: the next up marks what is left
        return


def worker(path: str = ".", threads: int = 16, port: int = 8766, log_format: str = "text") -> int:
    """Scale-out: this process's dispatcher (a daily deliver run) and up to 32 watch runs,
    on the shared ledger and Prefect server (PREFECT_API_URL), /healthz and /metrics on
    ``port``, until Ctrl-C or SIGTERM."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from livepipe.inbound import bind
    from livepipe.inbound import config as server_config

    if not os.environ.get("PREFECT_API_URL"):
        raise ConfigError(
            "livepipe worker needs PREFECT_API_URL (a shared Prefect server)",
            hint="start `livepipe up --no-publish` somewhere and point PREFECT_API_URL at it",
        )
    app = open_app(path)
    metrics, health = _observe(app, log_format, dispatching=True)
    with app.ledger():
        pass
    sock = bind("127.0.0.1", port, "--port")
    quiet_environment()
    import prefect  # noqa: F401

    from flows.common import run_logs_at_info

    run_logs_at_info()

    async def healthz(request: Any) -> JSONResponse:
        status, body = health.status()
        return JSONResponse(body, status_code=status)

    web = Starlette(routes=[Route("/healthz", healthz, methods=["GET"]), *_routes(metrics)])
    server = uvicorn.Server(server_config(web, connections=64))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    made = deployments(path)
    made[1].apply()
    made[3].apply()
    _broken(app)
    stop = threading.Event()
    _signals(stop)

    def beat() -> None:
        health.beat = time.monotonic()

    delivery = _delivering(app, path, threads, stop, beat)
    runner = Runner(path, {WATCH_DEPLOYMENT: 32}, stop)
    threading.Thread(target=runner.run, name="livepipe-runner", daemon=True).start()
    settle()
    tell(
        What.STARTED,
        f"livepipe worker: sending with {threads} threads (/healthz, /metrics on {port}); "
        "Ctrl-C stops",
    )
    stop.wait()
    _stop(stop, delivery, runner, server, None)
    return 0


def run_embedded(path: str = ".", out: str = "dist") -> dict[str, object]:
    """One sync through Prefect's local embedded API (SQLite under .prefect/), sending what
    is due now to the configured channels (the file outbox by default), each send a task run
    of the sync run."""
    app = open_app(path)
    prefect_home(app.root)
    quiet_environment()
    from prefect.settings import temporary_settings

    from flows.sync import sync

    with temporary_settings(updates={"flows.heartbeat_frequency": None}):
        return sync(path=path, out=out, force=True, send_now=True)


def notify(commit: str, ref: str, path: str = ".") -> None:
    """CI step: emit `livepipe.content.merged` after checking the API is up (an event sent to
    a server that is down is dropped silently, PREFECT.md §4)."""
    app = open_app(path)
    quiet_environment()
    url = os.environ.get("PREFECT_API_URL")
    if not url or not _healthy(url):
        raise ConfigError("PREFECT_API_URL is not set or not healthy: the merge would be lost")
    from livepipe.identity import site_host

    emit_merged(commit, ref, site_host(app.settings.site.base_url))
    # Make sure the event left this process before it exits (without Prefect's "Still
    # processing items" warning while it does).
    from prefect.events.worker import EventsWorker

    logging.getLogger(EventsWorker.__name__).setLevel(logging.ERROR)
    EventsWorker.drain_all()


__all__ = ["Runner", "notify", "run_embedded", "up", "worker"]
