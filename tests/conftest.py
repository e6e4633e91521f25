"""Shared fixtures: the bundled example site, the real corpus (when present), page writers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .support import CORPUS, HISTORY, ROOT, SHARED

# Unit tests must never start a Prefect server by accident (PREFECT.md §1).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_ENABLED", "false")
# Page caches of the tests' sites (and of the commands they run) stay out of ~/.cache.
os.environ.setdefault("LIVEPIPE_CACHE_DIR", tempfile.mkdtemp(prefix="livepipe-test-cache-"))


# `make test-quick` (-m "not slow") leaves out what starts servers, browsers and client
# programs (these folders), and the tests marked slow by hand.
SLOW_FOLDERS = frozenset({"flows", "e2e", "clients"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).resolve().parent
    for item in items:
        try:
            folder = item.path.resolve().relative_to(tests).parts[0]
        except ValueError:
            continue
        if folder in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"real corpus not found at {CORPUS} (it exists in CI)")
    return CORPUS


@pytest.fixture(scope="session")
def history() -> Path:
    if not HISTORY.is_dir():
        pytest.skip(f"corpus history not found at {HISTORY} (it exists in CI)")
    return HISTORY


VALIDATE = SHARED / "tools" / "validate"


class Validators:
    """The independent validators in ../shared/tools/validate (real parsers + strict checks)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _run(self, tool: str, files: list[Path]) -> dict:
        assert files, "nothing to validate"
        proc = subprocess.run(
            [str(self.folder / tool), "--json", *map(str, files)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode in (0, 1), proc.stderr
        return json.loads(proc.stdout)

    def ics(self, files: list[Path]) -> dict:
        return self._run("validate-ics", files)

    def feed(self, files: list[Path]) -> dict:
        return self._run("validate-feed", files)


def failures(report: dict) -> list[str]:
    """Readable lines for every failed check of a validator report."""
    out = []
    for f in report["files"]:
        for check in f["checks"]:
            if not check["ok"]:
                found = "; ".join(x["message"] for x in check.get("findings", [])[:3])
                out.append(f"{f['file']}: {check['name']}: {check.get('detail')} {found}")
    return out


@pytest.fixture(scope="session")
def validators() -> Validators:
    if not (VALIDATE / "setup.sh").is_file():
        pytest.skip(f"validators not found at {VALIDATE} (they exist in CI)")
    proc = subprocess.run(
        ["bash", str(VALIDATE / "setup.sh"), "--quiet"], capture_output=True, text=True
    )
    assert proc.returncode == 0, f"validator setup failed: {proc.stdout}{proc.stderr}"
    return Validators(VALIDATE)


@pytest.fixture
def write_page(tmp_path: Path) -> Callable[..., Path]:
    """Write a page under tmp_path/content (str → UTF-8, bytes as given)."""

    def write(name: str, text: str | bytes) -> Path:
        path = tmp_path / "content" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """An empty site root with a livepipe.toml, Beijing time, zh + en."""
    (tmp_path / "content").mkdir(exist_ok=True)
    (tmp_path / "livepipe.toml").write_text(
        '[site]\nname = "Test"\nbase_url = "https://live.test"\ntimezone = "Asia/Shanghai"\n'
        'default_language = "zh"\nlanguages = ["zh", "en"]\n',
        encoding="utf-8",
    )
    return tmp_path


PG_URL = os.environ.get("LIVEPIPE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: no PostgreSQL here
        return f"PostgreSQL not reachable at {PG_URL}: {exc}".strip()


@pytest.fixture(scope="session")
def pg_reason() -> str | None:
    return _pg_available()


@pytest.fixture
def pg_url(pg_reason: str | None) -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards."""
    if pg_reason:
        pytest.skip(pg_reason)
    import uuid

    import psycopg

    schema = f"lp_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each ledger test runs on both backends (PostgreSQL skipped, with the reason, if absent)."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Any]:
    """A ledger on each backend (``ledger_url``), closed after the test."""
    from livepipe.config import Settings
    from livepipe.ledger import open_ledger

    store = open_ledger(Settings(), ledger_url)
    yield store
    store.close()


CHROMIUM = Path(os.environ.get("LIVEPIPE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("LIVEPIPE_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def _apt_install(*packages: str) -> str:
    """Install Debian packages (the test setup of the browser tests); '' or why it failed."""
    if os.geteuid() != 0:
        return "not root, so apt-get cannot install packages"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:  # a stale package list: refresh it once, then try again
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    return "" if proc.returncode == 0 else (proc.stderr or proc.stdout).strip()[-500:]


@pytest.fixture(scope="session")
def cjk_fonts() -> None:
    """CJK fonts (apt-get install fonts-noto-cjk): Chinese pages in screenshots, and the
    generated WeChat covers of pages without an image."""
    fonts = ""
    if shutil.which("fc-list"):
        fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
    if not fonts.strip():
        _apt_install("fonts-noto-cjk")


@pytest.fixture(scope="session")
def chromium(cjk_fonts: None) -> Path:
    """Debian's Chromium (apt-get install chromium, plus CJK fonts so Chinese pages render
    in screenshots); the browser tests skip with the reason only when it cannot be had."""
    if not CHROMIUM.exists():
        why = _apt_install("chromium")
        if not CHROMIUM.exists():
            pytest.skip(f"Chromium is not installed and could not be: {why}")
    return CHROMIUM


def body_of(page: Path) -> str:
    """The Markdown after the front matter, read here without livepipe's reader."""
    lines = page.read_text(encoding="utf-8-sig").replace("\r\n", "\n").split("\n")
    close = lines.index(lines[0], 1)
    return "\n".join(lines[close + 1 :]).strip()


@pytest.fixture
def wechat_api(cjk_fonts: None) -> Iterator[tuple[str, Any]]:
    """The loopback stand-in of the WeChat (and robot) APIs, fresh for each test."""
    from .support.apis import Recorder, make_app
    from .support.receiver import serve_app

    rec = Recorder()
    with serve_app(make_app(rec)) as url:
        yield url, rec


@pytest.fixture
def kv_ledger(tmp_path: Path) -> Iterator[Any]:
    """A SQLite ledger in tmp_path (the channels' shared token and progress store)."""
    from livepipe.config import Settings
    from livepipe.ledger import open_ledger

    store = open_ledger(Settings(), str(tmp_path / "kv-ledger.sqlite"))
    yield store
    store.close()
