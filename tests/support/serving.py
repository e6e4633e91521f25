"""A bundled-site copy built and served by `livepipe serve` on 127.0.0.1, for HTTP and
browser tests."""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from livepipe.inbound import bind
from livepipe.serve import Rebuilder, ServeApp
from livepipe.serve.http import running

from . import bundled_site
from .receiver import free_port

NOW = datetime(2026, 11, 20, tzinfo=UTC)  # before every bundled event


@dataclass
class Served:
    url: str
    site: Path
    dist: Path
    rebuilder: Rebuilder

    def get(self, path: str, **headers: str) -> httpx.Response:
        return httpx.get(self.url + path, headers=headers)

    def raw(self, method: str, path: str, headers: dict[str, str] | None = None) -> tuple:
        """A request whose path is sent exactly as written (httpx would normalise ``..``)."""
        conn = http.client.HTTPConnection(self.url.removeprefix("http://"), timeout=10)
        try:
            headers = headers or {}
            conn.putrequest(method, path, skip_host="Host" in headers, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders()
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def manifest(self) -> dict[str, dict]:
        data = json.loads((self.dist / "manifest.json").read_text(encoding="utf-8"))
        return {a["path"]: a for a in data["artifacts"]}


def copy_site(dest: Path) -> Path:
    """The bundled site copied into ``dest`` (which may exist)."""
    return bundled_site(dest)


@contextmanager
def serve_dist(app: ServeApp, follow: bool = False) -> Iterator[str]:
    """``app`` served by livepipe's own server on 127.0.0.1, following its site while the
    block runs when ``follow`` (as `livepipe serve` does); yields the base URL."""
    port = free_port()
    with ExitStack() as stack:
        if follow:
            stack.enter_context(app)
        stack.enter_context(running(app, bind("127.0.0.1", port, "--port")))
        yield f"http://127.0.0.1:{port}"


@contextmanager
def serving(tmp_path: Path) -> Iterator[Served]:
    site = copy_site(tmp_path)
    dist = tmp_path / "dist"
    rebuilder = Rebuilder(site, dist, clock=lambda: NOW)
    assert rebuilder.check()
    app = ServeApp(dist, rebuilder, interval=0.2, clock=lambda: NOW)
    with serve_dist(app, follow=True) as url:
        yield Served(url, site, dist, rebuilder)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.org", "-c", "user.name=t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def committed_site(tmp_path: Path) -> Path:
    """The bundled site in a new git repository, committed on main."""
    site = tmp_path / "site"
    site.mkdir()
    copy_site(site)
    git(site, "init", "-q", "-b", "main")
    git(site, "add", "-A")
    git(site, "commit", "-qm", "base")
    return site


def pull_request_repo(tmp_path: Path) -> Path:
    """The bundled site committed as the base, then a pull request's worth of edits:
    Berlin moved a day, the WebAssembly talk cancelled, the Chengdu meetup deleted, a page
    added, a page that does not parse, and an unchanged rest."""
    site = committed_site(tmp_path)
    events = site / "content" / "en" / "events"
    berlin = events / "operators-berlin.md"
    text = berlin.read_text(encoding="utf-8")
    berlin.write_text(text.replace("2026-12-03 ", "2026-12-04 "), encoding="utf-8")
    wasm = events / "wasm-edge-0114.md"
    text = wasm.read_text(encoding="utf-8")
    wasm.write_text(text.replace("\ntags:", "\nstatus: cancelled\ntags:", 1), encoding="utf-8")
    git(site, "rm", "-q", "content/zh/live/meetup-chengdu-20261219.md")
    (events / "new-event.md").write_text(
        "---\ntitle: 'New </iframe><script>alert(1)</script> Event'\n"
        "start: 2026-12-20 10:00\ntimezone: UTC\nlocation: online\n---\nHello\n",
        encoding="utf-8",
    )
    (events / "broken.md").write_text("---\ntitle: Broken\nstart: [nope\n---\n", encoding="utf-8")
    return site
