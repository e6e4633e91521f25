"""The client programs viewers use, installed by the test setup as Chromium is: Debian's
vdirsyncer, khal, calcurse and libical (GObject bindings), and from npm (package.json here,
pinned by package-lock.json) rss-parser, @extractus/feed-extractor and the Nu Html Checker.
A test skips with the reason only when its program cannot be installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from livepipe.build import build
from livepipe.site import Site, load

from ..conftest import _apt_install
from ..support import ROOT
from ..support.receiver import free_port

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, where python3-gi puts the bindings
DEBIAN = {  # program (or marker) → Debian package
    "vdirsyncer": "vdirsyncer",
    "khal": "khal",
    "calcurse": "calcurse",
    "libical": "gir1.2-ical-3.0",
    "gi": "python3-gi",
}
KS_TOML = (
    '[site]\nname = "KubeSphere 云原生直播间"\nbase_url = "https://kubesphere.io"\n'
    'timezone = "Asia/Shanghai"\n'
)


def _has_libical() -> bool:
    probe = "import gi; gi.require_version('ICalGLib', '3.0'); from gi.repository import ICalGLib"
    if not Path(SYSTEM_PYTHON).exists():
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True).returncode == 0


def _present(name: str) -> bool:
    if name in ("libical", "gi"):
        return _has_libical()
    return shutil.which(name) is not None


@pytest.fixture(scope="session")
def debian_clients() -> dict[str, str]:
    """Installs the Debian programs missing here; name → '' when present, else why not."""
    missing = sorted({DEBIAN[n] for n in DEBIAN if not _present(n)})
    why = _apt_install(*missing) if missing else ""
    return {n: "" if _present(n) else f"{DEBIAN[n]} could not be installed: {why}" for n in DEBIAN}


def client(debian_clients: dict[str, str], name: str) -> None:
    if debian_clients[name]:
        pytest.skip(debian_clients[name])


@pytest.fixture(scope="session")
def npm_clients() -> Path:
    """`npm ci` of package-lock.json here (once; again when the lock file changes)."""
    stamp = NODE_MODULES / ".lock-copy.json"
    lock = (HERE / "package-lock.json").read_bytes()
    if not (stamp.exists() and stamp.read_bytes() == lock):
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed, so the npm feed parsers cannot be")
        proc = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            pytest.skip(f"npm ci failed: {(proc.stderr or proc.stdout).strip()[-400:]}")
        stamp.write_bytes(lock)
    return NODE_MODULES


@dataclass
class Built:
    name: str
    dist: Path
    events: int  # VEVENTs calendar.ics holds

    def files(self, pattern: str) -> list[Path]:
        return sorted(self.dist.glob(pattern))


def _build(site: Path, out: Path, config: Path | None = None) -> Built:
    result = load(Site.locate(site, config=config))
    built = build(result, out)
    ics = (built.out / "calendar.ics").read_bytes()
    return Built(site.name, built.out, ics.count(b"BEGIN:VEVENT"))


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(ROOT, tmp_path_factory.mktemp("bundled") / "dist")


@pytest.fixture(scope="module")
def corpus_built(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    tmp = tmp_path_factory.mktemp("corpus")
    (tmp / "livepipe.toml").write_text(KS_TOML, encoding="utf-8")
    return _build(corpus, tmp / "dist", config=tmp / "livepipe.toml")


@pytest.fixture(params=["bundled", "corpus"])
def site_built(request: pytest.FixtureRequest) -> Built:
    return request.getfixturevalue("bundled" if request.param == "bundled" else "corpus_built")


LIVEPIPE = str(Path(sys.executable).parent / "livepipe")


@contextmanager
def livepipe_serve(site: Path, work: Path, config: Path | None = None) -> Iterator[str]:
    """The real `livepipe serve` command on a free loopback port; its base URL."""
    port = free_port()
    cmd = [LIVEPIPE, "serve", str(site), "--port", str(port), "--out", str(work / "dist")]
    cmd += ["--watch", "0", "--ledger", str(work / "ledger.sqlite")]
    if config:
        cmd += ["--config", str(config)]
    log = (work / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((work / "serve.log").read_text(errors="replace"))
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
