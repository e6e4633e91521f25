"""`livepipe serve` over real HTTP on 127.0.0.1: media types, validators and 304s, gzip, HEAD,
refused paths and methods, the index page, and rebuilding when the content changes."""

from __future__ import annotations

import gzip
import hashlib
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from livepipe.serve import Rebuilder, ServeApp, accepts_gzip, url_path

from .support import CONTENT
from .support.receiver import wait_for
from .support.serving import NOW, Served, serve_dist, serving


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path) as s:
        yield s


def test_every_artifact_is_served_with_its_media_type_and_bytes(served: Served) -> None:
    manifest = served.manifest()
    assert len(manifest) > 50
    for path, entry in manifest.items():
        r = served.get("/" + path, **{"Accept-Encoding": "identity"})
        assert r.status_code == 200, path
        assert r.headers["content-type"] == entry["media_type"], path
        assert hashlib.sha256(r.content).hexdigest() == entry["sha256"], path
        assert r.content == (served.dist / path).read_bytes()
    types = {p: manifest[p]["media_type"] for p in ("calendar.ics", "feed.xml", "atom.xml")}
    assert types == {
        "calendar.ics": "text/calendar; charset=utf-8",
        "feed.xml": "application/rss+xml",
        "atom.xml": "application/atom+xml",
    }
    assert manifest["feed.json"]["media_type"] == "application/feed+json"
    assert any(p.startswith("tags/") for p in manifest) and "calendar-en.ics" in manifest
    article = next(p for p in manifest if p.startswith("wechat/") and p.endswith(".html"))
    assert "default-src 'none'" in served.get("/" + article).headers["content-security-policy"]


def test_strong_etag_and_conditional_requests(served: Served) -> None:
    first = served.get("/calendar.ics", **{"Accept-Encoding": "identity"})
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag == f'"{hashlib.sha256(first.content).hexdigest()[:32]}"'  # strong: no W/
    assert first.headers["cache-control"] == "public, no-cache"

    def status(**headers: str) -> int:
        return served.get("/calendar.ics", **headers).status_code

    identity = {"Accept-Encoding": "identity"}
    not_modified = served.get("/calendar.ics", **{"If-None-Match": etag}, **identity)
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert status(**{"If-None-Match": f'"nope", W/{etag}'}) == 304  # weak comparison, list
    assert status(**{"If-None-Match": "*"}) == 304
    assert status(**{"If-None-Match": '"0000"'}) == 200
    assert status(**{"If-Modified-Since": modified}) == 304
    assert status(**{"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}) == 200
    assert status(**{"If-Modified-Since": "yesterday-ish"}) == 200  # unparseable: ignored
    # If-None-Match decides when both are present (RFC 9110 13.2.2).
    assert status(**{"If-None-Match": '"0000"', "If-Modified-Since": modified}) == 200

    zipped = served.get("/calendar.ics", **{"Accept-Encoding": "gzip"})
    assert zipped.headers["etag"] != etag  # another representation, another strong ETag
    assert status(**{"If-None-Match": zipped.headers["etag"], "Accept-Encoding": "gzip"}) == 304


def test_gzip_only_when_accepted(served: Served) -> None:
    plain = served.raw("GET", "/calendar.ics")
    zipped = served.raw("GET", "/calendar.ics", {"Accept-Encoding": "br, gzip;q=0.8"})
    refused = served.raw("GET", "/calendar.ics", {"Accept-Encoding": "gzip;q=0, br"})
    assert "content-encoding" not in plain[1] and "content-encoding" not in refused[1]
    assert zipped[1]["content-encoding"] == "gzip"
    assert gzip.decompress(zipped[2]) == plain[2] == refused[2]
    assert len(zipped[2]) < len(plain[2]) / 2
    assert zipped[1]["vary"] == "Accept-Encoding"
    assert int(zipped[1]["content-length"]) == len(zipped[2])


def test_head_has_the_headers_and_no_body(served: Served) -> None:
    get = served.raw("GET", "/feed.xml")
    head = served.raw("HEAD", "/feed.xml")
    assert head[0] == 200 and head[2] == b""
    for name in ("content-type", "content-length", "etag", "last-modified"):
        assert head[1][name] == get[1][name], name
    index = served.raw("HEAD", "/")
    assert index[0] == 200 and index[2] == b"" and int(index[1]["content-length"]) > 1000


@pytest.mark.parametrize(
    "path",
    [
        "/../livepipe.toml",
        "/events/../../livepipe.toml",
        "/%2e%2e/livepipe.toml",
        "/%2E%2E/%2E%2E/etc/passwd",
        "/events/%2e%2e%2f%2e%2e%2flivepipe.toml",
        "/..%2flivepipe.toml",
        "/%252e%252e/livepipe.toml",
        "/..\\livepipe.toml",
        "/events%5c..%5c..%5clivepipe.toml",
        "//etc/passwd",
        "/./calendar.ics",
        "/calendar.ics%00.html",
        "/events/",
        "/events",
        "/tags",
        "/manifest.json",
        "/content/en/events/office-hours-1201.md",
        "/nope.ics",
    ],
)
def test_paths_outside_the_artifacts_are_refused(served: Served, path: str) -> None:
    status, _, body = served.raw("GET", path)
    assert status in (400, 404), (path, status)
    assert b"[site]" not in body and b"root:" not in body and b"BEGIN:VCALENDAR" not in body


def test_a_symlink_planted_in_dist_is_not_served(served: Served) -> None:
    (served.dist / "secret.ics").symlink_to(served.site / "livepipe.toml")
    assert served.raw("GET", "/secret.ics")[0] == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_get_and_head(served: Served, method: str) -> None:
    status, headers, _ = served.raw(method, "/calendar.ics", {"Content-Length": "0"})
    assert status == 405
    assert set(headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    assert (served.dist / "calendar.ics").is_file()  # read-only: nothing was touched


def test_malformed_requests_get_400_and_the_server_lives_on(served: Served) -> None:
    host, port = served.url.removeprefix("http://").split(":")
    junks = (b"GARBAGE\r\n\r\n", b"GET /calendar.ics\r\n\r\n", b"\x00\x01\x02\r\n\r\n")
    for junk in junks:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(junk)
            reply = s.recv(200)
        assert reply.startswith(b"HTTP/1.1 400") or reply == b"", junk
    assert served.get("/healthz").status_code == 200


def test_healthz(served: Served) -> None:
    r = served.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["error"] is None
    assert body["artifacts"] == len(served.manifest()) and body["events"] == 8


def test_an_unbuilt_folder_is_unhealthy(tmp_path: Path) -> None:
    with serve_dist(ServeApp(tmp_path / "dist")) as url:
        assert httpx.get(url + "/healthz").status_code == 503
        assert httpx.get(url + "/").status_code == 503
        assert httpx.get(url + "/calendar.ics").status_code == 404


def test_index_lists_upcoming_events_in_the_viewers_language(served: Served) -> None:
    en = served.get("/", **{"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    assert en.headers["content-language"] == "en"
    assert "Operators in Practice: Berlin" in en.text
    # The time as the bundled page gives it, in its own zone, zone named.
    assert "Thursday, 3 December 2026, 19:00–21:30 (Europe/Berlin, UTC+01:00)" in en.text
    # A translated event appears once, in the viewer's language …
    assert "WebAssembly at the Edge" in en.text and "WebAssembly 在边缘计算中的实践" not in en.text
    zh = served.get("/", **{"Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.headers["content-language"] == "zh" and "北京时间" in zh.text
    assert "WebAssembly 在边缘计算中的实践" in zh.text and "WebAssembly at the Edge" not in zh.text
    # … one without a translation in its own language, marked as such (it was hidden).
    berlin = _article(zh.text, "Operators in Practice: Berlin")
    assert 'lang="en"' in berlin and "Thursday, 3 December 2026, 19:00–21:30" in berlin
    assert 'lang="zh"' in _article(en.text, "云原生可观测性实战")
    assert served.get("/?lang=en", **{"Accept-Language": "zh"}).headers["content-language"] == "en"
    unknown = served.get("/", **{"Accept-Language": "fr, de;q=0.5"})
    assert unknown.headers["content-language"] == "zh"  # the site default
    assert "script-src 'self'" in en.headers["content-security-policy"]


def _article(html: str, title: str) -> str:
    """The <article> start tag and body of the event card with this title."""
    start = html.rindex("<article", 0, html.index(title))
    return html[start : html.index("</article>", start)]


def _hrefs(html: str, css_class: str) -> list[str]:
    import re

    pattern = rf'class="button {css_class}[^"]*" href="([^"]+)"'
    return [h.replace("&amp;", "&") for h in re.findall(pattern, html)]


def test_index_links_lead_to_valid_calendars(served: Served) -> None:
    html = served.get("/?lang=en").text
    host = served.url.removeprefix("http://")
    subscribe = _hrefs(html, "primary subscribe")
    assert f"webcal://{host}/calendar.ics" in subscribe
    assert f"webcal://{host}/calendar-en.ics" in subscribe
    for href in subscribe + _hrefs(html, "ics"):
        path = href.split(host, 1)[-1]
        r = served.get(path)
        assert r.status_code == 200 and r.text.startswith("BEGIN:VCALENDAR"), href
    google = _hrefs(html, "google")
    berlin = next(parse_qs(urlsplit(g).query) for g in google if "Berlin" in g)
    assert berlin["dates"] == ["20261203T180000Z/20261203T203000Z"]  # 19:00 CET = 18:00Z
    assert berlin["ctz"] == ["Europe/Berlin"]
    outlook = next(parse_qs(urlsplit(o).query) for o in _hrefs(html, "outlook") if "Berlin" in o)
    assert outlook["startdt"] == ["2026-12-03T18:00:00Z"]
    assert outlook["enddt"] == ["2026-12-03T20:30:00Z"]


def test_index_escapes_page_text_and_a_forged_host(served: Served) -> None:
    page = served.site / "content" / "en" / "events" / "xss.md"
    page.write_text(
        "---\ntitle: '<script>alert(1)</script> & \"friends\"'\nstart: 2026-12-20T10:00:00Z\n"
        "end: 2026-12-20T11:00:00Z\ntimezone: UTC\nlocation: online\n---\nHi\n",
        encoding="utf-8",
    )
    assert served.rebuilder.check()
    html = served.raw("GET", "/?lang=en", {"Host": "evil.test' onmouseover='x()"})[2].decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "evil.test" not in html  # an invalid Host falls back to the server's address
    assert f"webcal://{served.url.removeprefix('http://')}/calendar.ics" in html


def test_rebuilds_when_a_page_changes(served: Served) -> None:
    before = served.get("/calendar.ics").headers["etag"]
    page = served.site / "content" / "en" / "events" / "operators-berlin.md"
    page.write_text(
        page.read_text(encoding="utf-8").replace("Operators in Practice", "Operators Live"),
        encoding="utf-8",
    )
    assert wait_for(lambda: "Operators Live" in served.get("/?lang=en").text, timeout=20)
    after = served.get("/calendar.ics")
    assert after.headers["etag"] != before and "Operators Live" in after.text
    assert served.get("/calendar.ics", **{"If-None-Match": before}).status_code == 200


def test_the_index_is_made_once_per_build_and_revalidates(served: Served) -> None:
    """`/` is cached per build, language and minute: the same bytes and ETag again, a 304
    for the ETag, gzip when asked; another language is another page; a rebuild a new one;
    the script is cached too."""
    first = served.get("/?lang=zh")
    again = served.get("/?lang=zh")
    assert first.status_code == again.status_code == 200
    assert first.headers["etag"] == again.headers["etag"] and first.content == again.content
    assert first.headers["content-language"] == "zh"
    assert "Accept-Language" in first.headers["vary"]
    assert "script-src 'self'" in first.headers["content-security-policy"]
    revalidated = served.get("/?lang=zh", **{"If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 304 and revalidated.content == b""
    zipped = httpx.get(served.url + "/?lang=zh", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.text == first.text
    english = served.get("/?lang=en")
    assert english.headers["etag"] != first.headers["etag"]
    assert english.headers["content-language"] == "en"
    page = served.site / "content" / "zh" / "live" / "gitops1022-live.md"
    page.write_text(
        page.read_text(encoding="utf-8").replace("GitOps", "GitOps 2"), encoding="utf-8"
    )
    assert wait_for(lambda: served.get("/?lang=zh").headers["etag"] != first.headers["etag"], 20)
    script = served.get("/_livepipe/index.js")
    assert "max-age" in script.headers["cache-control"] and script.headers["etag"]
    assert (
        served.get("/_livepipe/index.js", **{"If-None-Match": script.headers["etag"]}).status_code
        == 304
    )


def test_a_broken_config_keeps_the_previous_files(served: Served) -> None:
    etag = served.get("/calendar.ics").headers["etag"]
    config = served.site / "livepipe.toml"
    good = config.read_text(encoding="utf-8")

    def replace(text: str) -> None:
        """Written whole at once, as git and editors replace files (write_text truncates
        first: the watcher could build from the empty file, a valid one, in between)."""
        new = config.with_name("livepipe.toml.new")
        new.write_text(text, encoding="utf-8")
        new.replace(config)

    replace(good + "\n[site\n")
    assert wait_for(lambda: served.get("/healthz").json()["error"], timeout=20)
    health = served.get("/healthz").json()
    assert "livepipe.toml" in health["error"] and health["status"] == "degraded"
    assert served.get("/calendar.ics").headers["etag"] == etag
    replace(good.replace("Example Cloud", "Fixed Cloud"))
    assert wait_for(lambda: served.get("/healthz").json()["error"] is None, timeout=20)
    assert "Fixed Cloud" in served.get("/calendar.ics").text


def test_last_modified_is_the_file_time(served: Served) -> None:
    r = served.get("/atom.xml")
    mtime = datetime.fromtimestamp((served.dist / "atom.xml").stat().st_mtime, UTC)
    assert r.headers["last-modified"] == format_datetime(mtime.replace(microsecond=0), True)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/calendar.ics", "calendar.ics"),
        ("/events/a.b.ics", "events/a.b.ics"),
        ("/tags/可观测性.ics", "tags/可观测性.ics"),
        ("/", None),
        ("/../x", None),
        ("/a/./b", None),
        ("/a//b", None),
        ("/a\\b", None),
        ("/a\x00b", None),
        ("/a\nb", None),
        ("/a/", None),
        ("/..", None),
        ("/a/..", None),
        ("/a/.", None),
        ("/./a", None),
        ("/a\x7fb", None),
        ("/...", "..."),  # a name, not a step up
        ("/.well-known/x..y", ".well-known/x..y"),
        ("/a/.b/c", "a/.b/c"),
    ],
)
def test_url_path(raw: str, expected: str | None) -> None:
    assert url_path(raw) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0", False),
        ("identity", False),
        ("", False),
        ("gzip;q=bogus", False),
    ],
)
def test_accepts_gzip(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


def test_all_day_links_use_dates_with_an_exclusive_end() -> None:
    from livepipe.render import links
    from livepipe.site import load_path

    day = next(e for e in load_path(CONTENT).events if e.title == "Community Day 2027")
    google = parse_qs(urlsplit(links.google(day)).query)
    assert google["dates"] == ["20270116/20270117"]  # one day: 16 January, end exclusive
    assert google["text"] == ["Community Day 2027"]
    outlook = parse_qs(urlsplit(links.outlook(day)).query)
    assert (outlook["startdt"], outlook["enddt"], outlook["allday"]) == (
        ["2027-01-16"],
        ["2027-01-17"],
        ["true"],
    )
    assert outlook["location"] == ["Shanghai, Example Conference Center"]


def test_the_serve_command_end_to_end(tmp_path: Path) -> None:
    import subprocess
    import sys

    from .support.receiver import free_port
    from .support.serving import copy_site

    site = copy_site(tmp_path)
    port = free_port()
    exe = Path(sys.executable).parent / "livepipe"
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            str(site),
            "--port",
            str(port),
            "--watch",
            "0",
            "-o",
            str(site / "dist"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(base + "/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return proc.poll() is not None

        assert wait_for(up, timeout=60) and proc.poll() is None
        r = httpx.get(base + "/calendar.ics")
        assert r.status_code == 200 and r.text.startswith("BEGIN:VCALENDAR")
        assert r.content == (site / "dist" / "calendar.ics").read_bytes()
        assert "server" not in r.headers  # no software banner
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert f"serving {site / 'dist'}/ at http://127.0.0.1:{port}/" in err.replace("\n", "")
    assert f"webcal://127.0.0.1:{port}/calendar.ics" in err.replace("\n", "")


def test_serve_refuses_a_missing_site(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from livepipe.cli import app

    result = CliRunner().invoke(app, ["serve", str(tmp_path / "nope"), "--port", "1"])
    assert result.exit_code == 2 and "no such file or folder" in result.stderr


def test_rebuild_uses_the_ledgers_sequence_like_sync(tmp_path: Path) -> None:
    """After a reschedule the sync writes SEQUENCE:1; serve's rebuild must write the same
    bytes (not SEQUENCE:0 over them)."""
    from typer.testing import CliRunner

    from livepipe.cli import app

    from .support.serving import copy_site

    site = copy_site(tmp_path)
    dist = tmp_path / "dist"
    sync = ["sync", str(site), "--out", str(dist), "--now", "2026-11-20T00:00:00Z"]
    assert CliRunner().invoke(app, sync).exit_code == 0
    page = site / "content" / "en" / "events" / "operators-berlin.md"
    page.write_text(
        page.read_text(encoding="utf-8").replace("2026-12-03 ", "2026-12-04 "), encoding="utf-8"
    )
    assert CliRunner().invoke(app, sync).exit_code == 0
    ics = (dist / "events" / "operators-berlin.en.ics").read_bytes()
    assert b"SEQUENCE:1\r\n" in ics
    said: list[str] = []
    rebuilder = Rebuilder(site, dist, clock=lambda: NOW, log=said.append)
    assert rebuilder.check()
    assert "(0 written," in said[0], said
    assert (dist / "events" / "operators-berlin.en.ics").read_bytes() == ics


def test_index_lists_recent_replays(served: Served) -> None:
    zh = served.get("/?lang=zh").text
    # GitOps ended on 22 October, 29 days before NOW, and has a replay link.
    assert "近期回放" in zh
    replays = zh.split('id="replays"', 1)[1]
    assert "GitOps 渐进式交付实践" in replays
    assert 'href="https://www.bilibili.com/video/BV1xx411c7mD"' in replays
    assert "GitOps 渐进式交付实践" not in zh.split('id="replays"', 1)[0].split('id="upcoming"')[1]
    # No English translation: the English page lists it in Chinese, marked lang="zh".
    en = served.get("/?lang=en").text.split('id="replays"', 1)[1]
    assert 'lang="zh"' in _article(en, "GitOps 渐进式交付实践")


def test_index_stays_small_on_a_big_site(tmp_path: Path) -> None:
    (tmp_path / "livepipe.toml").write_text(
        '[site]\nname = "Big"\nbase_url = "https://big.test"\ndefault_language = "en"\n'
        'languages = ["en"]\n',
        encoding="utf-8",
    )
    for i in range(60):
        page = tmp_path / "content" / f"e{i:02d}.md"
        page.parent.mkdir(exist_ok=True)
        page.write_text(
            f"---\ntitle: Event {i:02d}\nstart: 2026-12-{1 + i % 28:02d}T{i % 24:02d}:00:00Z\n"
            f"timezone: UTC\nlocation: online\ntags: [t{i}, common]\n---\nHi\n",
            encoding="utf-8",
        )
    rebuilder = Rebuilder(tmp_path, tmp_path / "dist", clock=lambda: NOW)
    assert rebuilder.check()
    with serve_dist(ServeApp(tmp_path / "dist", rebuilder, interval=0, clock=lambda: NOW)) as url:
        html = httpx.get(url + "/").text
    assert html.count('<article class="card event') == 50
    assert "10 more events: subscribe to the calendar to see them all." in html
    tag_buttons = html.split("By tag:", 1)[1].split("</ul>", 1)[0]
    assert tag_buttons.count("<li>") == 40 and "/tags/common.ics" in tag_buttons


def test_a_replay_the_watcher_found_rebuilds_and_shows_on_the_index(tmp_path: Path) -> None:
    """No page changes: the stream watcher records a YouTube replay in the ledger; serve's
    next check rebuilds, and the subscription page and the calendar show the replay."""
    from datetime import timedelta

    from typer.testing import CliRunner

    from livepipe.cli import app
    from livepipe.config import load_settings
    from livepipe.ledger import open_ledger
    from livepipe.records import StreamRecord, StreamStatus
    from livepipe.recurrence import occurrence_key

    from .support.serving import copy_site

    site = copy_site(tmp_path)
    dist = tmp_path / "dist"
    sync = ["sync", str(site), "--out", str(dist), "--now", "2026-11-20T00:00:00Z"]
    assert CliRunner().invoke(app, sync).exit_code == 0
    after = datetime(2026, 12, 11, tzinfo=UTC)  # the day after the observability talk
    rebuilder = Rebuilder(site, dist, clock=lambda: after)
    assert rebuilder.check()
    assert not rebuilder.check()  # nothing changed
    ledger = open_ledger(load_settings(site / "livepipe.toml"))
    try:
        [event] = [r.event for r in ledger.events() if "observability1210" in r.uid]
        assert event.replay_url is None
        found = "https://www.youtube.com/watch?v=AbCdEfGhIjK"
        record = StreamRecord(
            event.uid,
            occurrence_key(event.start),
            event.revision,
            "youtube",
            "AbCdEfGhIjK",
            status=StreamStatus.ENDED,
            checked_at=event.end,
            live_at=event.start,
            ended_at=event.end + timedelta(minutes=5),
            replay_url=found,
        )
        ledger.observe(record, [], event.end)
    finally:
        ledger.close()
    assert rebuilder.check()  # the ledger's replay is a change
    app_ = ServeApp(dist, rebuilder, clock=lambda: after)
    with serve_dist(app_) as url:
        replays = httpx.get(url + "/?lang=zh").text.split('id="replays"', 1)[1]
    assert f'href="{found}"' in replays
    ics = (dist / "events" / "observability1210-live.ics").read_text(encoding="utf-8")
    assert "AbCdEfGhIjK" in ics.replace("\r\n ", "")


def test_robots_txt_a_description_and_a_deferred_script(served: Served) -> None:
    """Lighthouse's SEO audit: robots.txt answered 404 and the page had no description."""
    robots = served.get("/robots.txt")
    assert robots.status_code == 200 and robots.text.startswith("User-agent: *\nAllow: /\n")
    assert "Disallow: /healthz" in robots.text and robots.headers["etag"]
    page = served.get("/", **{"Accept-Language": "en"}).text
    described = page.split('<meta name="description" content="', 1)[1].split('"', 1)[0]
    assert len(described) > 20 and "<" not in described
    assert '<script src="/_livepipe/index.js" defer></script>' in page
