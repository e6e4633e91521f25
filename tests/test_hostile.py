"""Hostile input, as an attacker or an unlucky day brings it: nothing from the site runs,
nothing outside the site reaches dist/, no injected ICS line, no secret stored or printed, no
hang, no traceback; one file:line problem per bad page and the good pages still built."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from livepipe.config import Settings
from livepipe.errors import PublishError, TransientPublishError
from livepipe.hooks import make_app as hook_app
from livepipe.models import Message

from .support.receiver import free_port, serve_app

EXE = Path(sys.executable).parent / "livepipe"
GOOD = "---\ntitle: Good page\nstart: 2030-01-01T10:00:00+08:00\ntags: [k8s]\n---\nbody\n"
TOML = """[site]
name = "Hostile"
base_url = "https://h.example.org"
timezone = "Asia/Shanghai"
content_dir = "content"
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "content" / "live").mkdir(parents=True)
    (root / "livepipe.toml").write_text(TOML, encoding="utf-8")
    (root / "content" / "live" / "good.md").write_text(GOOD, encoding="utf-8")
    return root


def _message(text: str = "hello") -> Message:
    return Message(
        key="k" * 24,
        uid="live/x@h.example.org",
        slot="announce",
        kind="announce",
        channel="c",
        lang="en",
        title="T",
        text=text,
        url="https://h.example.org/live/x/",
        due=datetime(2026, 11, 26, 1, tzinfo=UTC),
    )


def run(*args: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    """The real console script, bounded in time (a hang fails the test)."""
    proc = subprocess.run(
        [str(EXE), *args],
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **env},
    )
    assert b"Traceback" not in proc.stderr + proc.stdout, proc.stderr.decode()
    return proc


def dist_bytes(dist: Path) -> dict[str, bytes]:
    return {p.relative_to(dist).as_posix(): p.read_bytes() for p in dist.rglob("*") if p.is_file()}


# -- code execution from a cache --------------------------------------------------------------


class _Planted:
    """A pickle that creates a file when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_a_committed_cache_file_runs_no_code(site: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    planted = site / ".livepipe" / "cache" / "pages.pickle"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(pickle.dumps(_Planted(marker)))
    # The pickle really runs code when unpickled the ordinary way:
    subprocess.run([sys.executable, "-c", f"import pickle; pickle.load(open('{planted}', 'rb'))"])
    assert marker.exists()
    marker.unlink()
    proc = run("check", ".", cwd=site)
    assert proc.returncode == 0 and not marker.exists()


def test_a_planted_file_at_the_cache_location_is_refused(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from livepipe.fast.pagecache import PageCache
    from livepipe.site import Site

    cache_dir = tmp_path / "user-cache"
    marker = tmp_path / "pwned"
    located = Site.locate(site)
    monkeypatch.setenv("LIVEPIPE_CACHE_DIR", str(cache_dir))
    env = {"LIVEPIPE_CACHE_DIR": str(cache_dir)}
    assert run("check", ".", cwd=site, **env).returncode == 0  # writes the real cache
    path = PageCache(located.settings, located.content_root).path
    assert path is not None and path.is_file() and cache_dir in path.parents
    path.write_bytes(pickle.dumps(_Planted(marker)))
    proc = run("check", ".", "--events", cwd=site, **env)
    assert proc.returncode == 0 and not marker.exists()
    assert b"Good page" in proc.stdout  # the pages were read again instead


# -- paths ------------------------------------------------------------------------------------


def test_a_file_name_cannot_inject_calendar_lines(site: Path) -> None:
    evil = site / "content" / "live" / "x\nLOCATION:Hacked HQ\nX-A:.md"
    evil.write_text(GOOD.replace("Good page", "Evil"), encoding="utf-8")
    proc = run("check", ".", cwd=site)
    out = proc.stdout.decode()
    assert proc.returncode == 1
    assert "content/live/x\\nLOCATION:Hacked HQ\\nX-A:.md:1: error bad-path:" in out
    proc = run("build", ".", "--out", "dist", "-q", cwd=site)
    assert proc.returncode == 1
    files = dist_bytes(site / "dist")
    assert b"Good page" in files["calendar.ics"]
    for name, data in files.items():
        assert b"Hacked" not in data and b"Evil" not in data, name


def test_paths_with_spaces_give_valid_urls_and_ids(site: Path) -> None:
    (site / "content" / "live" / "with space#1.md").write_text(GOOD, encoding="utf-8")
    (site / "content" / "live" / "good.md").unlink()
    assert run("build", ".", "--out", "dist", "-q", cwd=site).returncode == 0
    files = dist_bytes(site / "dist")
    ics = files["calendar.ics"].decode()
    assert "URL:https://h.example.org/live/with%20space%231/" in ics
    rss = ET.fromstring(files["feed.xml"])
    assert rss.findtext("channel/item/link") == "https://h.example.org/live/with%20space%231/"
    assert rss.findtext("channel/item/guid") == "tag:h.example.org,2020:live/with%20space%231"
    feed = json.loads(files["feed.json"])
    assert feed["items"][0]["id"] == "tag:h.example.org,2020:live/with%20space%231"
    atom = ET.fromstring(files["atom.xml"])
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert atom.findtext("a:entry/a:id", namespaces=ns) == rss.findtext("channel/item/guid")
    hrefs = [link.get("href", "") for link in atom.iter("{http://www.w3.org/2005/Atom}link")]
    assert hrefs and all(" " not in h for h in hrefs)
    unfolded = ics.replace("\r\n ", "")
    assert "UID:live/with space#1@h.example.org" in unfolded  # TEXT: a space is fine there
    assert all(" " not in line for line in unfolded.split("\r\n") if line.startswith("URL"))


def test_symlinks_out_of_the_site_are_refused(site: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text(GOOD.replace("Good page", "Outside secret"), encoding="utf-8")
    (site / "content" / "live" / "link.md").symlink_to(outside)
    inside = site / "content" / "inside.md"
    inside.write_text(GOOD.replace("Good page", "Linked inside"), encoding="utf-8")
    (site / "content" / "live" / "inner.md").symlink_to(inside)
    proc = run("build", ".", "--out", "dist", "-q", cwd=site)
    assert proc.returncode == 1
    assert b"content/live/link.md:1: error outside-site" in proc.stderr
    files = dist_bytes(site / "dist")
    assert all(b"Outside secret" not in data for data in files.values())
    assert b"Linked inside" in files["calendar.ics"] and b"Good page" in files["calendar.ics"]


@pytest.mark.parametrize("how", ["template", "include"])
def test_templates_cannot_read_files_outside_the_site(site: Path, how: str) -> None:
    folder = site / "templates" / "ics"
    folder.mkdir(parents=True)
    if how == "template":
        (folder / "description.txt").symlink_to("/etc/passwd")
    else:
        (folder / "x.txt").symlink_to("/etc/passwd")
        (folder / "description.txt").write_text('{% include "ics/x.txt" %}', encoding="utf-8")
    proc = run("build", ".", "--out", "dist", "-q", cwd=site)
    assert proc.returncode == 2
    assert b"resolves outside the site's templates folder" in proc.stderr
    files = dist_bytes(site / "dist") if (site / "dist").exists() else {}
    assert all(b"root:" not in data for data in files.values())


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "{% set r = range(9999) %}{% for i in r %}{% for j in r %}{% for k in r %}"
            "{% endfor %}{% endfor %}{% endfor %}",
            b"took more than 5 s to render",
        ),
        ('{{ "x" * 10**9 }}', b"repeating more than 100,000 times is not allowed"),
        ("{{ 9 ** 99999999 }}", b"a power over 64 is not allowed"),
        ("{% for i in range(10**6) %}{% endfor %}", b"range over 10,000 items is not allowed"),
        # allocation bombs: refused before the memory is taken
        ('{{ "a"|center(1500000000) }}', b"a width over 10,000 is not allowed"),
        ('{{ "a".ljust(1500000000) }}', b"a width over 10,000 is not allowed"),
        ('{{ "x"|indent(1500000000) }}', b"a width over 10,000 is not allowed"),
        ('{{ "{:>1500000000}".format("x") }}', b"a format width over 10,000 is not allowed"),
        ('{{ "{0:.1500000000f}".format(1) }}', b"a format width over 10,000 is not allowed"),
        ('{{ "%1500000000s" % "x" }}', b"a format width over 10,000 is not allowed"),
        ('{{ "%*s" % (1500000000, "x") }}', b"a format width over 10,000 is not allowed"),
        ('{{ "%1500000000d"|format(1) }}', b"a format width over 10,000 is not allowed"),
        ('{{ ("a" * 100000) * 100000 }}', b"more than 1,000,000 characters is not allowed"),
        (
            '{% set ns = namespace(s="ab") %}{% for i in range(60) %}'
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
            b"more than 1,000,000 characters is not allowed",
        ),
        (
            '{% set ns = namespace(s="ab") %}{% for i in range(60) %}'
            "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
            b"more than 1,000,000 characters is not allowed",
        ),
        (
            '{{ ("a" * 100000)|replace("a", "a" * 100000) }}',
            b"more than 1,000,000 characters is not allowed",
        ),
        (
            '{{ ("a" * 100000).replace("a", "a" * 100000) }}',
            b"more than 1,000,000 characters is not allowed",
        ),
        (
            '{{ ("a" * 100000).join(["b"] * 100000) }}',
            b"more than 1,000,000 characters is not allowed",
        ),
        (
            '{% for i in range(10000) %}{{ "a" * 100000 }}{% endfor %}',
            b"the output is over 8,000,000 characters",
        ),
    ],
)
@pytest.mark.slow  # waits on purpose (make test-quick leaves it out)
def test_a_site_template_cannot_hang_the_build(site: Path, template: str, message: bytes) -> None:
    folder = site / "templates" / "ics"
    folder.mkdir(parents=True)
    (folder / "description.txt").write_text(template, encoding="utf-8")
    started = time.monotonic()
    proc = run("build", ".", "--out", "dist", "-q", cwd=site, timeout=30)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert time.monotonic() - started < 20


# -- bad pages: one problem each, the good page still built -------------------------------

_DEEP = "---\ntitle: D\nstart: 2030-01-01T10:00:00+08:00\nx:\n" + "".join(
    " " * (i + 1) + f"a{i}:\n" for i in range(1000)
)
_BOMB = (
    "---\ntitle: B\nstart: 2030-01-01T10:00:00+08:00\n"
    + 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{chr(97 + i)}: &{chr(97 + i)} [{','.join(['*' + chr(96 + i)] * 9)}]\n"
        for i in range(1, 9)
    )
    + "tags: *i\n---\n"
)

BAD_PAGES = [
    # (name, content, code, line, text in the message)
    (
        "offset",
        "---\ntitle: O\nstart: 2030-01-01T10:00:00+25:00\n---\n",
        "invalid-yaml",
        3,
        "offset",
    ),
    (
        "bigint",
        "---\ntitle: I\nstart: 2030-01-01T10:00:00+08:00\ntags: [" + "9" * 5000 + "]\n---\n",
        "invalid-yaml",
        4,
        "4300 digits",
    ),
    ("year-9999", "---\ntitle: M\nstart: 9999-12-31 23:30\n---\n", "bad-time", 3, "year 9999"),
    ("year-1", "---\ntitle: M\nstart: 0001-01-01 00:00\n---\n", "bad-time", 3, "year 1 "),
    ("deep", _DEEP + "---\n", "invalid-yaml", 1, "nested too deeply"),
    (
        "deep-flow",
        "---\ntitle: F\nx: " + "[" * 5000 + "]" * 5000 + "\n---\n",
        "invalid-yaml",
        3,
        "",
    ),
    ("alias-bomb", _BOMB, "invalid-yaml", 1, "more than 100,000 values"),
]


@pytest.mark.parametrize(
    ("name", "content", "code", "line", "text"), BAD_PAGES, ids=[c[0] for c in BAD_PAGES]
)
def test_bad_pages_are_one_problem_each(
    site: Path, name: str, content: str, code: str, line: int, text: str
) -> None:
    (site / "content" / "live" / f"{name}.md").write_text(content, encoding="utf-8")
    proc = run("check", ".", "--format", "json", cwd=site, timeout=30)
    assert proc.returncode == 1
    problems = [p for p in json.loads(proc.stdout)["problems"] if p["severity"] == "error"]
    assert len(problems) == 1, problems
    (p,) = problems
    assert (p["path"], p["line"], p["code"]) == (f"content/live/{name}.md", line, code)
    assert text in p["message"]
    build = run("build", ".", "--out", "dist", "-q", cwd=site, timeout=30)
    assert build.returncode == 1
    assert b"Good page" in (site / "dist" / "calendar.ics").read_bytes()


def test_a_fifo_named_like_a_page_does_not_hang(site: Path) -> None:
    os.mkfifo(site / "content" / "live" / "fifo.md")
    proc = run("check", ".", cwd=site, timeout=20)
    assert proc.returncode == 1 and b"content/live/fifo.md:1: error not-a-file" in proc.stdout
    assert run("build", ".", "--out", "dist", "-q", cwd=site, timeout=20).returncode == 1
    assert b"Good page" in (site / "dist" / "calendar.ics").read_bytes()


def test_control_characters_are_removed_where_the_page_is_read(site: Path) -> None:
    page = site / "content" / "live" / "ctl.md"
    page.write_text(
        '---\ntitle: "Ctl \\u0001 \\e[31mred\\x7f"\nstart: 2030-01-02T10:00:00+08:00\n'
        'tags: ["a\\0b", "c"]\nlocation: "Room\\r1"\n---\nbody \x1b[2J text\r\n',
        encoding="utf-8",
    )
    proc = run("check", ".", "--format", "json", cwd=site)
    assert proc.returncode == 0
    report = json.loads(proc.stdout)
    assert [p["code"] for p in report["problems"]] == ["control-chars"]
    (event,) = [e for e in report["events"] if e["source"] == "live/ctl.md"]
    assert event["title"] == "Ctl [31mred" and event["tags"] == ["ab", "c"]
    assert run("build", ".", "--out", "dist", "-q", cwd=site).returncode == 0
    files = dist_bytes(site / "dist")
    for name in ("feed.xml", "atom.xml"):
        ET.fromstring(files[name])  # well-formed XML
    controls = {*range(9), 11, 12, *range(14, 32), 127}
    for name, data in files.items():
        text = data.decode("utf-8").replace("\r\n", "\n")
        assert not controls.intersection(map(ord, text)), name
        assert "\r" not in text, name


def test_terminal_output_carries_no_escape_sequences(site: Path, tmp_path: Path) -> None:
    (site / "content" / "live" / "esc.md").write_text(
        '---\ntitle: "Hello \\e]0;owned\\a \\e[2J"\nstart: 2030-01-03T10:00:00+08:00\n---\n',
        encoding="utf-8",
    )
    now = "2029-12-01T00:00:00+00:00"
    ledger = str(tmp_path / "ledger.sqlite")
    for args in (
        ("sync", ".", "--now", now, "--ledger", ledger, "--out", "dist"),
        ("plan", ".", "--now", now, "--ledger", ledger),
        ("send-due", ".", "--now", now, "--ledger", ledger, "--dry-run"),
        ("check", ".", "--events"),
    ):
        proc = run(*args, cwd=site)
        assert proc.returncode == 0, proc.stderr
        assert b"\x1b" not in proc.stdout + proc.stderr and b"\x07" not in proc.stdout, args
    assert b"Hello" in run("check", ".", "--events", cwd=site).stdout


# -- full disks ---------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: a real full disk (needs root and mount, as CI has)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_leaves_the_previous_dist_as_it_was(site: Path, small_disk: Path) -> None:
    dist = small_disk / "dist"
    assert run("build", ".", "--out", str(dist), "-q", cwd=site).returncode == 0
    before = dist_bytes(dist)
    for i in range(60):  # far more than the disk holds
        body = GOOD.replace("Good page", f"Page {i} " + "long title " * 30) + "x" * 4000
        (site / "content" / "live" / f"p{i}.md").write_text(body, encoding="utf-8")
    proc = run("build", ".", "--out", str(dist), "-q", cwd=site)
    assert proc.returncode == 2 and b"No space left on device" in proc.stderr
    assert dist_bytes(dist) == before  # every file, the manifest included, as it was
    assert not [p for p in dist.iterdir() if p.name.startswith(".livepipe-stage-")]


def test_a_full_disk_under_the_ledger_is_a_clear_error(site: Path, small_disk: Path) -> None:
    filler = small_disk / "filler"
    with open(filler, "wb") as fh:
        try:
            fh.write(b"\0" * (1 << 20))
        except OSError:
            pass
    proc = run(
        "sync", ".", "--ledger", str(small_disk / "ledger.sqlite"), "--out", "dist", cwd=site
    )
    assert proc.returncode == 2
    assert b"error:" in proc.stderr and b"check free disk space" in proc.stderr


def test_a_full_disk_under_the_outbox_is_a_transient_failure(small_disk: Path) -> None:
    from livepipe.config import ChannelSettings
    from livepipe.publish.outbox import OutboxChannel

    with open(small_disk / "filler", "wb") as fh:
        try:
            fh.write(b"\0" * (1 << 20))
        except OSError:
            pass
    channel = OutboxChannel(
        "outbox",
        ChannelSettings(type="outbox", path=str(small_disk / "outbox")),
        root=small_disk,
        env={},
    )
    with pytest.raises(TransientPublishError, match="No space left"):
        channel.deliver(_message("x" * 9000))


# -- secrets echoed back by a remote ------------------------------------------------------------


def _echo_app() -> Starlette:
    """Answers every request with a 500 that echoes what it got, as some gateways do."""

    async def echo(request: Request) -> PlainTextResponse:
        auth = request.headers.get("authorization", "")
        text = f"internal error {request.method} {request.url.path}?{request.url.query} {auth}"
        return PlainTextResponse(text, status_code=500)

    return Starlette(routes=[Route("/{rest:path}", echo, methods=["GET", "POST"])])


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    with serve_app(_echo_app()) as url:
        yield url


SECRET = "Zq8sEcReT0kEn42"


@pytest.mark.parametrize(
    ("kind", "env", "options"),
    [
        ("slack", {"URL": "{echo}/services/T0/B0/" + SECRET}, {"url_env": "URL"}),
        ("wecom", {"URL": "{echo}/cgi-bin/webhook/send?key=" + SECRET}, {"url_env": "URL"}),
        ("feishu", {"URL": "{echo}/open-apis/bot/v2/hook/" + SECRET}, {"url_env": "URL"}),
        ("dingtalk", {"URL": "{echo}/robot/send?access_token=" + SECRET}, {"url_env": "URL"}),
        (
            "listmonk",
            {"U": "api", "T": SECRET},
            {"url": "{echo}", "username_env": "U", "token_env": "T", "lists": [1]},
        ),
    ],
)
def test_secrets_a_remote_echoes_are_redacted(
    echo: str, kind: str, env: dict[str, str], options: dict[str, object], tmp_path: Path
) -> None:
    from livepipe.config import ChannelSettings
    from livepipe.publish import PUBLISHERS

    env = {k: v.format(echo=echo) for k, v in env.items()}
    opts = {k: v.format(echo=echo) if isinstance(v, str) else v for k, v in options.items()}
    channel = PUBLISHERS[kind]("c", ChannelSettings(type=kind, **opts), root=tmp_path, env=env)
    with pytest.raises(PublishError) as caught:
        channel.deliver(_message())
    text = f"{caught.value} {caught.value.hint} {caught.value.code}"
    assert "internal error" in text  # the remote's words are kept …
    assert SECRET not in text and "***" in text  # … but not the secret
    if kind == "listmonk":
        import base64

        assert base64.b64encode(f"api:{SECRET}".encode()).decode() not in text


def test_echoed_secrets_stay_out_of_ledger_and_output(
    echo: str, site: Path, tmp_path: Path
) -> None:
    with (site / "livepipe.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[channels.team]\ntype = "slack"\nurl_env = "SLACK_URL"\n')
        fh.write('\n[slots.announce]\nkind = "announce"\nuntil = "-2h"\nchannels = ["team"]\n')
    ledger = tmp_path / "ledger.sqlite"
    env = {"SLACK_URL": f"{echo}/services/T0/B0/{SECRET}"}
    now = "2029-12-01T00:00:00+00:00"
    common = ("--now", now, "--ledger", str(ledger))
    assert run("sync", ".", *common, "--out", "dist", cwd=site, **env).returncode == 0
    outputs = [run("send-due", ".", *common, cwd=site, **env)]
    outputs.append(run("plan", ".", *common, "--format", "json", cwd=site, **env))
    outputs.append(run("plan", ".", *common, cwd=site, **env))
    printed = b"".join(p.stdout + p.stderr for p in outputs)
    assert b"HTTP 500" in printed and SECRET.encode() not in printed
    with sqlite3.connect(ledger) as db:
        dump = "\n".join(db.iterdump())
    assert "internal error" in dump and SECRET not in dump


# -- the git webhook ----------------------------------------------------------------------------

HOOK_SECRET = "hook-secret"


@pytest.fixture
def hook() -> Iterator[tuple[str, list]]:
    pushes: list = []
    app = hook_app(Settings(), lambda: HOOK_SECRET, pushes.append)
    with serve_app(app) as url:
        yield url + "/hooks/git", pushes


def _signed(body: bytes, **extra: str) -> dict[str, str]:
    sig = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": "push", "X-Hub-Signature-256": sig, **extra}


PUSH = json.dumps(
    {
        "ref": "refs/heads/main",
        "after": "0123456789abcdef0123456789abcdef01234567",
        "commits": [{"added": ["content/a.md"]}],
    }
).encode()


def test_a_replayed_delivery_starts_one_sync(hook: tuple[str, list]) -> None:
    url, pushes = hook
    first = httpx.post(url, content=PUSH, headers=_signed(PUSH, **{"X-GitHub-Delivery": "d-1"}))
    again = httpx.post(url, content=PUSH, headers=_signed(PUSH, **{"X-GitHub-Delivery": "d-1"}))
    assert first.status_code == again.status_code == 202
    assert "duplicate" in again.json()["status"] and len(pushes) == 1
    other = httpx.post(url, content=PUSH, headers=_signed(PUSH, **{"X-GitHub-Delivery": "d-2"}))
    assert other.status_code == 202 and len(pushes) == 2  # a real redelivery request is new
    no_id = httpx.post(url, content=PUSH, headers=_signed(PUSH))
    replayed = httpx.post(url, content=PUSH, headers=_signed(PUSH))
    assert no_id.status_code == replayed.status_code == 202 and len(pushes) == 3


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"ref": "refs/heads/main", "commits": "x"}, 400),
        ({"ref": "refs/heads/main", "commits": [{"added": 5}]}, 400),
        ({"ref": "refs/heads/main", "commits": [{"added": [{"a": 1}]}]}, 400),
        ({"ref": "refs/heads/main", "after": {"x": 1}}, 400),
        ({"ref": "refs/heads/main", "after": "not hex; rm -rf"}, 400),
        ({"ref": "refs/heads/main", "after": ""}, 400),  # no commit named at all
        ({"ref": "refs/heads/main", "after": "abc123"}, 400),  # not a full commit id
        ({"ref": "refs/heads/main", "after": "a" * 4_000_000}, 400),
        ({"ref": "refs/heads/main", "after": "0" * 40}, 202),  # the branch was deleted
        ({"ref": "refs/heads/main", "after": "A" * 40 + "\n"}, 400),
        ({"ref": ["refs/heads/main"]}, 202),  # not a push to our branch: ignored
        ([1, 2], 400),
        ("just a string", 400),
    ],
)
def test_signed_bodies_of_odd_shapes_get_400(
    hook: tuple[str, list], data: object, status: int
) -> None:
    url, pushes = hook
    body = json.dumps(data).encode()
    r = httpx.post(url, content=body, headers=_signed(body))
    assert r.status_code == status, r.text
    assert pushes == []


def test_a_huge_body_is_refused_before_it_is_read(hook: tuple[str, list]) -> None:
    url, pushes = hook
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 300000000\r\n"
            b"X-GitHub-Event: push\r\n\r\n" + b"{" * 1000
        )
        assert conn.recv(100).startswith(b"HTTP/1.1 413")

    def chunks() -> Iterator[bytes]:
        for _ in range(7):
            yield b" " * (1 << 20)

    try:
        r = httpx.post(url, content=chunks(), headers={"X-GitHub-Event": "push"})
        assert r.status_code == 413
    except httpx.HTTPError:
        pass  # the server may close the connection while the client still sends
    assert pushes == []


# -- serve ----------------------------------------------------------------------------------


def test_serve_watcher_survives_any_error_and_rebuilds_after_the_fix(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from livepipe.serve import Rebuilder
    from livepipe.serve import rebuild as serve_module

    rebuilder = Rebuilder(site, tmp_path / "dist", clock=lambda: datetime.now(UTC))
    assert rebuilder.check()
    real = serve_module.load
    broken = {"on": True}

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        if broken["on"]:
            raise ValueError("something unexpected")
        return real(*args, **kwargs)

    monkeypatch.setattr(serve_module, "load", flaky)
    stop = threading.Event()
    watcher = threading.Thread(target=rebuilder.follow, args=(stop, 0.05), daemon=True)
    watcher.start()
    try:
        (site / "content" / "live" / "new.md").write_text(
            GOOD.replace("Good page", "New page"), encoding="utf-8"
        )
        deadline = time.monotonic() + 10
        while rebuilder.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rebuilder.error and "ValueError: something unexpected" in rebuilder.error
        assert watcher.is_alive()
        broken["on"] = False
        deadline = time.monotonic() + 10
        while rebuilder.error is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rebuilder.error is None and rebuilder.builds == 2
        assert b"New page" in (tmp_path / "dist" / "calendar.ics").read_bytes()
    finally:
        stop.set()


@contextmanager
def served(site: Path, out: Path) -> Iterator[int]:
    """A real `livepipe serve` of ``site`` on a free port, up and answering; its port."""
    port = free_port()
    proc = subprocess.Popen(
        [str(EXE), "serve", ".", "--port", str(port), "--out", str(out)],
        cwd=site,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow  # waits on purpose (make test-quick leaves it out)
def test_serve_closes_idle_connections(site: Path, tmp_path: Path) -> None:
    with served(site, tmp_path / "dist") as port:
        for first in (b"", b"GET / HTTP/1.1\r\nHost: x\r\n"):  # silent; stalled in headers
            with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
                conn.sendall(first)
                started = time.monotonic()
                assert conn.recv(100) == b""  # closed by the server
                assert time.monotonic() - started < 10


def _trickle(port: int, clients: int, every: float, limit: float) -> list[float]:
    """``clients`` connections each sending one header byte every ``every`` seconds (never a
    whole request); when each was closed by the server, in seconds (inf: still open at
    ``limit``)."""
    conns = [socket.create_connection(("127.0.0.1", port), timeout=2) for _ in range(clients)]
    request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    closed = [float("inf")] * clients
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < limit and any(c == float("inf") for c in closed):
        for n, conn in enumerate(conns):
            if closed[n] != float("inf"):
                continue
            try:
                conn.sendall(request[i % len(request) : i % len(request) + 1])
                conn.setblocking(False)
                try:
                    if conn.recv(100) == b"":
                        closed[n] = time.monotonic() - started
                except BlockingIOError:
                    pass
                conn.setblocking(True)
            except OSError:
                closed[n] = time.monotonic() - started
        i += 1
        time.sleep(every)
    for conn in conns:
        conn.close()
    return closed


@pytest.mark.slow  # waits on purpose (make test-quick leaves it out)
def test_serve_closes_clients_that_trickle_headers(site: Path, tmp_path: Path) -> None:
    """One header byte every second keeps no connection: each is closed once its headers
    took 5 s, and 300 such clients are all gone by then."""
    with served(site, tmp_path / "dist") as port:
        closed = _trickle(port, 300, every=1.0, limit=12)
        assert max(closed) < 8, sorted(closed)[-5:]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200  # still serving


@contextmanager
def hooks_server(pushes: list) -> Iterator[int]:
    """The hooks app on a real uvicorn server with livepipe's bounds; yields its port."""
    import uvicorn

    from livepipe.inbound import bind, config

    port = free_port()
    server = uvicorn.Server(config(hook_app(Settings(), lambda: HOOK_SECRET, pushes.append)))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [bind("127.0.0.1", port, "--hook-port")]}
    )
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.slow  # waits on purpose (make test-quick leaves it out)
def test_the_hooks_server_closes_trickling_clients_and_bounds_bodies() -> None:
    pushes: list = []
    with hooks_server(pushes) as port:
        closed = _trickle(port, 50, every=1.0, limit=12)
        assert max(closed) < 8
        # A body sent one byte a second: 408 once the body took its 10 s.
        with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
            conn.sendall(
                b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                b"X-GitHub-Event: push\r\n\r\n"
            )
            started = time.monotonic()
            answer = b""
            conn.settimeout(1.5)
            while time.monotonic() - started < 15 and not answer:
                try:
                    conn.sendall(b"{")
                    answer = conn.recv(100)
                except TimeoutError:
                    continue
            assert answer.startswith(b"HTTP/1.1 408"), answer
            assert 9 < time.monotonic() - started < 13
        assert pushes == []


def test_a_busy_port_is_a_clear_error() -> None:
    from livepipe.errors import ConfigError
    from livepipe.inbound import bind

    port = free_port()
    first = bind("127.0.0.1", port, "--port")
    try:
        with pytest.raises(ConfigError) as caught:
            bind("127.0.0.1", port, "--port")
        assert str(caught.value) == (
            f"port {port} on 127.0.0.1 is in use (hint: stop what listens there, or choose "
            "another port with --port)"
        )
    finally:
        first.close()


def test_healthz_says_degraded_while_a_rebuild_fails(site: Path, tmp_path: Path) -> None:
    from livepipe.serve import Rebuilder, ServeApp

    from .support.serving import serve_dist

    rebuilder = Rebuilder(site, tmp_path / "dist")
    assert rebuilder.check()
    shutil.copy(site / "livepipe.toml", tmp_path / "good.toml")
    (site / "livepipe.toml").write_text("[site\n", encoding="utf-8")
    rebuilder.check()
    with serve_dist(ServeApp(tmp_path / "dist", rebuilder=rebuilder)) as url:
        body = httpx.get(url + "/healthz").json()
    assert body["status"] == "degraded" and "livepipe.toml" in body["error"]


def test_redaction_keeps_the_words_around_a_secret(tmp_path: Path) -> None:
    """WeCom's 93000 says "invalid webhook url": the key in the URL is the secret, the
    words of the API's path (cgi-bin, webhook, send) are not."""
    from livepipe.config import ChannelSettings
    from livepipe.publish import PUBLISHERS

    url = (
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693axxx6-7aoc-4bc4-97a0-0ec2sifa5aaa"
    )
    channel = PUBLISHERS["wecom"](
        "c", ChannelSettings(type="wecom", url_env="U"), root=tmp_path, env={"U": url}
    )
    channel.validate()
    text = channel.redact(
        "invalid webhook url, hint: [1672889398474303412836045], from ip: 1.2.3.4, more info at "
        "https://open.work.weixin.qq.com/devtool/query?e=93000 "
        "(key 693axxx6-7aoc-4bc4-97a0-0ec2sifa5aaa)"
    )
    assert text == (
        "invalid webhook url, hint: [1672889398474303412836045], from ip: 1.2.3.4, more info at "
        "https://open.work.weixin.qq.com/devtool/query?e=93000 (key ***)"
    )


def test_answers_on_a_kept_alive_connection_do_not_wait_for_delayed_acks() -> None:
    """Each answer's headers and body are written separately; without TCP_NODELAY the body
    waited for the client's delayed ACK (Nagle): 44 ms per answer, a served page at 360
    answers a second. Thirty requests in a row on one connection, each answered at once."""
    with hooks_server([]) as port:
        took = []
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(30):
                started = time.monotonic()
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = b""
                while b'"status"' not in answer:
                    answer += conn.recv(4096)
                took.append(time.monotonic() - started)
        assert sorted(took)[15] < 0.03, sorted(took)  # the median: 0.044 s before
