"""One real Prefect server per test session (SQLite under a temporary PREFECT_HOME), and
sites run by a real `livepipe up` against it (PREFECT_API_URL: no server start per test),
with a loopback webhook receiver.

PREFECT_API_URL is set when this module is imported, before anything imports prefect.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..support import ROOT
from ..support.receiver import Stats, free_port, serve, wait_for

PORT = free_port()
HOME = Path(tempfile.mkdtemp(prefix="livepipe-prefect-"))
API = f"http://127.0.0.1:{PORT}/api"
ENV = {
    "PREFECT_API_URL": API,
    "PREFECT_HOME": str(HOME),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
}
os.environ.update(ENV)
LIVEPIPE = str(Path(sys.executable).parent / "livepipe")
HOOK_SECRET = "push-secret"


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    from flows.runtime import launch_server

    proc = launch_server(HOME, PORT, ENV, timeout=300)  # generous: CI shares the machine
    yield API
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@dataclass
class UpSite:
    """A site at ``root`` run by a `livepipe up` (``start``), delivering to a loopback
    receiver (``stats``; ``hook`` is its deduplicating URL)."""

    root: Path
    stats: Stats
    hook: str
    hook_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> str:
        path = self.root / "up.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def page(self, name: str, text: str) -> Path:
        path = self.root / "content" / name
        path.write_text(text, encoding="utf-8")
        return path

    def start(self, *args: str, own_server: bool = False, **env: str) -> None:
        """`livepipe up` of this site; until its hooks answer and it said it started."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        if not own_server:
            base.update(ENV)
            base["PREFECT_LOGGING_TO_API_ENABLED"] = "true"  # run logs, as in real use
        command = [LIVEPIPE, "up", str(self.root), "--hook-port", str(self.hook_port), *args]
        with open(self.root / "up.log", "ab") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**base, "LIVEPIPE_HOOK_SECRET": HOOK_SECRET, **env},
            )
        assert wait_for(
            lambda: "started    livepipe up" in self.log or self.proc.poll() is not None,  # type: ignore[union-attr]
            300,
        ), self.log
        assert self.proc.poll() is None, self.log

    def merged(self) -> None:
        """What CI does after a merge: `livepipe notify` (the sync runs in `up`)."""
        done = subprocess.run(
            [LIVEPIPE, "notify", str(self.root), "--commit", os.urandom(20).hex()],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}, **ENV},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> float:
        """Ctrl-C (or ``sig``); how long it took to stop."""
        if self.proc is None:
            return 0.0
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"livepipe up did not stop:\n{self.log[-3000:]}")
        self.proc = None
        return time.monotonic() - started

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.hook_port}{path}", timeout=10)

    @contextmanager
    def ledger(self) -> Iterator[Any]:
        from livepipe.config import load_settings
        from livepipe.ledger import open_ledger

        store = open_ledger(load_settings(self.root / "livepipe.toml"))
        try:
            yield store
        finally:
            store.close()

    def push(self, *files: str) -> httpx.Response:
        """A signed GitHub push touching ``files``."""
        import hashlib
        import hmac
        import uuid

        data = json.dumps(
            {
                "ref": "refs/heads/main",
                "after": uuid.uuid4().hex + "0" * 8,
                "commits": [{"modified": list(files)}],
            }
        ).encode()
        sig = "sha256=" + hmac.new(HOOK_SECRET.encode(), data, hashlib.sha256).hexdigest()
        return httpx.post(
            f"http://127.0.0.1:{self.hook_port}/hooks/git",
            content=data,
            headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": sig},
            timeout=10,
        )


CONFIG = """
[site]
name = "Flows"
base_url = "https://flows.example"
timezone = "UTC"
default_language = "en"

[channels.hook]
type = "webhook"
url = "{hook}"
unsigned = true

[channels.broken]
type = "webhook"
url = "{base}/nowhere"
unsigned = true

[channels.ops]
type = "outbox"

[alerts]
channel = "ops"

[slots.announce]
enabled = false
[slots.digest]
enabled = false
[slots.reminder-1d]
channels = ["hook"]
[slots.starting-soon]
channels = ["hook"]
[slots.failing]
kind = "reminder"
offset = "-30m"
channels = ["broken"]
"""


@pytest.fixture(scope="session")
def up_site(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpSite]:
    """One `livepipe up` on the session's server for the tests that share it (each uses
    pages of its own)."""
    root = tmp_path_factory.mktemp("upsite")
    (root / "content").mkdir()
    stats = Stats()
    with serve(stats) as base:
        (root / "livepipe.toml").write_text(
            CONFIG.format(hook=base + "/dedup", base=base), encoding="utf-8"
        )
        site = UpSite(root, stats, base + "/dedup")
        site.start()
        yield site
        site.stop()


def flow_runs(flow: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow])))


def task_runs_named(prefix: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_=prefix))
        )
