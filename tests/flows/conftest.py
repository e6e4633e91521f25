"""One real Prefect server per test session (SQLite under a temporary PREFECT_HOME), one
`prefect.serve` process for the site's deployments, and a loopback webhook receiver.

PREFECT_API_URL is set when this module is imported, before anything imports prefect.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..conftest import ROOT
from ..receiver import Stats, free_port, serve

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


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    from flows.serve import launch_server

    proc = launch_server(HOME, PORT, ENV)
    yield API
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@dataclass
class FlowSite:
    root: Path
    stats: Stats
    hook_url: str
    serve_proc: subprocess.Popen[bytes] | None = None

    def page(self, name: str, text: str) -> Path:
        path = self.root / "content" / name
        path.write_text(text, encoding="utf-8")
        return path

    def start_serving(self, **env: str) -> None:
        code = (
            "import prefect\n"
            "from flows.serve import deployments\n"
            f"prefect.serve(*deployments({str(self.root)!r}, poll_seconds=3600, "
            "reconcile_seconds=3600), limit=10, prefetch_seconds=60, query_seconds=1, "
            "print_starting_message=False)\n"
        )
        with open(self.root / "serve.log", "ab") as log:  # the child keeps its own copy
            self.serve_proc = subprocess.Popen(
                [sys.executable, "-c", code],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **ENV, **env},
            )

    def stop_serving(self, sig: int = signal.SIGTERM) -> None:
        if self.serve_proc is None:
            return
        self.serve_proc.send_signal(sig)
        try:
            self.serve_proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.serve_proc.kill()
            self.serve_proc.wait()
        self.serve_proc = None


def wait_for_deployments(timeout: float = 120) -> None:
    """Until the served deployments (and so the sync trigger) exist on the server."""
    import time

    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        for name in ("sync/livepipe", "publish/livepipe", "reconcile/livepipe"):
            while True:
                try:
                    client.read_deployment_by_name(name)
                    break
                except ObjectNotFound:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
    time.sleep(3)  # the trigger is registered with the deployment; give the server a moment


CONFIG = """
[site]
name = "Flows"
base_url = "https://flows.example"
timezone = "UTC"
default_language = "en"

[ledger]
url = "{ledger}"

[channels.hook]
type = "webhook"
url = "{hook}"
unsigned = true

[slots.announce]
enabled = false
[slots.digest]
enabled = false
[slots.reminder-1d]
channels = ["hook"]
[slots.starting-soon]
channels = ["hook"]
"""


@pytest.fixture(scope="session")
def flow_site(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowSite]:
    root = tmp_path_factory.mktemp("flowsite")
    (root / "content").mkdir()
    stats = Stats()
    with serve(stats) as base:
        hook = base + "/dedup"
        (root / "livepipe.toml").write_text(
            CONFIG.format(ledger=root / "ledger.sqlite", hook=hook), encoding="utf-8"
        )
        site = FlowSite(root, stats, hook)
        site.start_serving()
        wait_for_deployments()
        yield site
        site.stop_serving()
