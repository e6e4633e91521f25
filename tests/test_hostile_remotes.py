"""Hostile and odd remotes: whatever a channel's API or a stream platform answers (a
Retry-After of ``inf``, a code that is a word, an answer that never ends or trickles, a cover
on an internal address), each send ends in a recorded outcome and none is left claimed; a
watcher's poll becomes a counted error and the watching goes on."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livepipe.config import load_settings
from livepipe.ledger import open_ledger
from livepipe.pipeline import sync
from livepipe.records import SendState, StreamStatus
from livepipe.send import Result, Sender
from livepipe.site import Site
from livepipe.streams import StreamRef
from livepipe.watch import http_client, probe

from .support.hostile import Hostile, hostile

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
START = NOW + timedelta(days=2)
PAGE = f"---\ntitle: Talk\nstart: {START.isoformat()}\nlocation: online\n{{extra}}---\nBody\n"
BASE = """[site]
name = "Hostile"
base_url = "https://h.example.org"
timezone = "UTC"
default_language = "en"
[slots.announce]
channels = ["c"]
min_lead = "0s"
[slots.digest]
enabled = false
[slots.reminder-1d]
enabled = false
[slots.starting-soon]
enabled = false
"""


@pytest.fixture
def h() -> Iterator[Hostile]:
    with hostile() as server:
        yield server


Make = Callable[..., tuple[Sender, str]]


@pytest.fixture
def one_send(tmp_path: Path) -> Iterator[Make]:
    """A site with one event whose announcement to channel ``c`` (configured by the test) is
    due at NOW; returns a Sender at NOW and the send's key."""
    made: list[Sender] = []

    def make(channel: str, *, extra: str = "", network: str = "", files: dict | None = None):
        root = tmp_path / "site"
        (root / "content").mkdir(parents=True, exist_ok=True)
        (root / "livepipe.toml").write_text(BASE + channel + network, encoding="utf-8")
        (root / "content" / "talk.md").write_text(PAGE.format(extra=extra), encoding="utf-8")
        for name, data in (files or {}).items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        settings = load_settings(root / "livepipe.toml")
        ledger = open_ledger(settings)
        sync(Site.locate(root), ledger, NOW, out=None)
        (pending,) = ledger.sends(SendState.PENDING)
        ledger.close()
        sender = Sender.open(settings, clock=lambda: NOW)
        made.append(sender)
        return sender, pending.key

    yield make
    for sender in made:
        sender.close()


def nothing_claimed(sender: Sender) -> None:
    assert sender.ledger.sends(SendState.CLAIMED) == []


# -- channels: odd HTTP answers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        ("inf", None),  # not a number: the usual backoff
        ("²", None),  # str.isdigit() says yes; it is not a number
        ("-1", None),
        ("1e400", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),  # a date in the past: no extra wait
        ("30", 30.0),
    ],
)
def test_a_429_with_any_retry_after_is_retried_later(
    h: Hostile, one_send: Make, monkeypatch, retry_after: str, wait: float | None
) -> None:
    url = h.route("/hook", status=429, headers={"Retry-After": retry_after}, body=b"slow down")
    sender, key = one_send(f'[channels.c]\ntype = "webhook"\nurl = "{url}"\nunsigned = true\n')
    [outcome] = sender.send_due()
    assert outcome.state is Result.RETRY
    rec = sender.ledger.send(key)
    assert rec is not None and rec.state is SendState.PENDING and rec.not_before is not None
    delay = (rec.not_before - NOW).total_seconds()
    assert (0.5 <= delay <= 1.0) if wait is None else delay == wait
    assert "HTTP 429" in (rec.error or "")
    nothing_claimed(sender)


def test_a_retry_after_past_the_window_fails_the_send_with_the_reason(
    h: Hostile, one_send: Make
) -> None:
    url = h.route("/hook", status=429, headers={"Retry-After": "99999999999999"}, body=b"")
    sender, key = one_send(f'[channels.c]\ntype = "webhook"\nurl = "{url}"\nunsigned = true\n')
    [outcome] = sender.send_due()
    # capped at a day; the announcement's window ends at start - 30 min, 2 days away: retry
    assert outcome.state is Result.RETRY
    rec = sender.ledger.send(key)
    assert rec is not None and rec.not_before == NOW + timedelta(days=1)
    # The next time it says so, the day is past the window: failed, with the reason.
    later = NOW + timedelta(days=1, hours=23)
    sender.clock = lambda: later
    [again] = sender.send_due()
    assert again.state is Result.FAILED and "window ends before a retry" in again.detail
    assert sender.ledger.send(key).state is SendState.FAILED  # type: ignore[union-attr]
    nothing_claimed(sender)


@pytest.mark.parametrize(
    "body",
    [
        b'{"errcode": "busy", "errmsg": "system busy"}',
        b'{"errcode": 1.5}',
        b"[1]",
        b'"ok"',
        b"null",
        b"<html>gateway</html>",
        b'{"errcode": 99999999999999999999999999999}',
    ],
)
def test_a_robot_answer_of_another_shape_is_a_reported_retry(
    h: Hostile, one_send: Make, monkeypatch, body: bytes
) -> None:
    url = h.route("/cgi-bin/webhook/send", body=body)
    monkeypatch.setenv("WECOM_URL", url + "?key=Sekr3tKey99")
    sender, key = one_send('[channels.c]\ntype = "wecom"\nurl_env = "WECOM_URL"\n')
    [outcome] = sender.send_due()
    rec = sender.ledger.send(key)
    assert rec is not None
    if body.startswith(b'{"errcode": 9999'):  # an integer, just an unknown code: failed
        assert rec.state is SendState.FAILED and "wecom error" in (rec.error or "")
    else:
        assert outcome.state is Result.RETRY and rec.state is SendState.PENDING
        assert "answered in an unexpected shape" in (rec.error or "") or "not JSON" in (
            rec.error or ""
        )
    assert "Sekr3tKey99" not in (rec.error or "")
    nothing_claimed(sender)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/cgi-bin/stable_token", b'{"errcode": "busy"}'),
        ("/cgi-bin/stable_token", b'{"access_token": 5, "expires_in": 7200}'),
        ("/cgi-bin/stable_token", b'{"access_token": "t0k3n-long", "expires_in": "soon"}'),
        ("/cgi-bin/stable_token", b"[]"),
    ],
)
def test_a_wechat_answer_of_another_shape_is_a_reported_retry(
    h: Hostile, one_send: Make, monkeypatch, path: str, body: bytes
) -> None:
    h.route(path, body=body)
    monkeypatch.setenv("WX_APPID", "wx-app")
    monkeypatch.setenv("WX_SECRET", "wx-secret-123")
    sender, key = one_send(
        f'[channels.c]\ntype = "wechat"\napi = "{h.url}"\nappid_env = "WX_APPID"\n'
        'secret_env = "WX_SECRET"\ndefault_cover = "cover.png"\n',
        files={"cover.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 32},
    )
    [outcome] = sender.send_due()
    rec = sender.ledger.send(key)
    assert outcome.state is Result.RETRY and rec is not None and rec.state is SendState.PENDING
    assert "unexpected shape" in (rec.error or "")
    nothing_claimed(sender)


def test_a_listmonk_answer_of_another_shape_is_a_reported_retry(
    h: Hostile, one_send: Make, monkeypatch
) -> None:
    h.route("/api/campaigns", body=b'{"data": {"results": "none"}}')
    monkeypatch.setenv("LM_USER", "api")
    monkeypatch.setenv("LM_TOKEN", "lm-token-123")
    sender, key = one_send(
        f'[channels.c]\ntype = "listmonk"\nurl = "{h.url}"\nusername_env = "LM_USER"\n'
        'token_env = "LM_TOKEN"\nlists = [1]\n'
    )
    [outcome] = sender.send_due()
    assert outcome.state is Result.RETRY
    assert "unexpected shape" in (sender.ledger.send(key).error or "")  # type: ignore[union-attr]
    nothing_claimed(sender)


# -- covers and images that come from the page ---------------------------------------------------

WECHAT = (
    '[channels.c]\ntype = "wechat"\napi = "{api}"\nappid_env = "WX_APPID"\n'
    'secret_env = "WX_SECRET"\nqr = false\n'
)


@pytest.fixture
def wechat_env(monkeypatch, wechat_api) -> str:
    monkeypatch.setenv("WX_APPID", "wx-ok")
    monkeypatch.setenv("WX_SECRET", "wx-secret")
    return str(wechat_api[0])


def test_a_page_cover_on_an_internal_address_is_never_fetched(
    h: Hostile, one_send: Make, wechat_env: str
) -> None:
    h.route("/latest/meta-data/iam", body=b'{"AccessKeyId": "AKIA-INSIDE"}')
    sender, _ = one_send(
        WECHAT.format(api=wechat_env),
        extra=f"cover: {h.url}/latest/meta-data/iam\n",
    )
    [outcome] = sender.send_due()
    assert outcome.state is Result.FAILED
    assert "public addresses" in outcome.detail
    assert h.hits["/latest/meta-data/iam"] == 0  # not once
    nothing_claimed(sender)


def test_an_endless_cover_fails_fast_without_filling_memory(
    h: Hostile, one_send: Make, wechat_env: str
) -> None:
    h.route("/cover.png", mode="endless")
    sender, _ = one_send(
        WECHAT.format(api=wechat_env),
        extra=f"cover: {h.url}/cover.png\n",
        network='[network]\nallow = ["127.0.0.0/8"]\n',
    )
    started = time.monotonic()
    [outcome] = sender.send_due()
    assert outcome.state is Result.FAILED and "longer than 10,485,760 bytes" in outcome.detail
    assert time.monotonic() - started < 10
    assert h.bytes_sent["/cover.png"] < 64 << 20  # it stopped reading near the cap
    nothing_claimed(sender)


def test_a_trickled_cover_is_cut_off_at_the_channel_deadline(
    h: Hostile, one_send: Make, wechat_env: str
) -> None:
    h.route("/cover.png", mode="trickle-body", delay=0.3)
    sender, _ = one_send(
        WECHAT.format(api=wechat_env) + "timeout = 2\n",
        extra=f"cover: {h.url}/cover.png\n",
        network='[network]\nallow = ["127.0.0.0/8"]\n',
    )
    started = time.monotonic()
    [outcome] = sender.send_due()
    assert time.monotonic() - started < 6
    assert outcome.state is Result.RETRY and "in time" in outcome.detail
    nothing_claimed(sender)


def test_a_template_image_cannot_read_a_file_outside_the_site(
    one_send: Make, wechat_env: str, wechat_api
) -> None:
    """A site template's ``<img src="mailto:../../../../etc/hostname">`` beside a folder named
    ``mailto:..``: read as a path it would climb out of the site and upload the file."""
    _, rec = wechat_api
    sender, _ = one_send(
        WECHAT.format(api=wechat_env) + 'default_cover = "cover.png"\n',
        files={
            "cover.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 32,
            "templates/wechat/article.html": b'<p>x</p><img src="mailto:../../../../etc/hostname">',
            "mailto:../placeholder": b"",
        },
    )
    [outcome] = sender.send_due()
    assert outcome.state is Result.FAILED and "only http(s) URLs" in outcome.detail
    assert rec.calls("/cgi-bin/media/uploadimg") == []
    nothing_claimed(sender)


@pytest.mark.parametrize(
    "src",
    [
        "mailto:../../../../etc/hostname",
        "file:///etc/hostname",
        "data:image/png;base64,AAAA",
        "//evil.example.org/x.png",
        "../../../../etc/hostname",
        "/../../../../etc/hostname",
        "/etc/hostname",
        "static/../../outside.png",
        "link-out.png",  # a symlink that resolves outside the site
        "fifo.png",  # a FIFO: never opened for a blocking read
        "folder",
        "missing.png",
    ],
)
def test_images_are_http_urls_or_files_inside_the_site(tmp_path: Path, src: str) -> None:
    from livepipe.config import ChannelSettings
    from livepipe.errors import PermanentPublishError
    from livepipe.publish import PUBLISHERS

    root = tmp_path / "site"
    (root / "static" / "images").mkdir(parents=True)
    (root / "folder").mkdir()
    (root / "static" / "images" / "ok.png").write_bytes(b"\x89PNG-ok")
    (tmp_path / "outside.png").write_bytes(b"SECRET-OUTSIDE")
    (root / "link-out.png").symlink_to(tmp_path / "outside.png")
    os.mkfifo(root / "fifo.png")
    cfg = ChannelSettings(type="wechat", appid_env="A", secret_env="S")  # type: ignore[call-arg]
    channel = PUBLISHERS["wechat"]("c", cfg, root=root, env={"A": "a", "S": "s"})
    with pytest.raises(PermanentPublishError) as caught:
        channel._image(src, from_page=True)  # type: ignore[attr-defined]
    assert caught.value.code == "bad-image"
    for good in ("/images/ok.png", "static/images/ok.png"):  # Hugo's static/ is served at /
        name, data, kind = channel._image(good, from_page=True)  # type: ignore[attr-defined]
        assert (name, data, kind) == ("ok.png", b"\x89PNG-ok", "image/png")


# -- a bug met inside a call ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "state"),
    [
        # a receiver that deduplicates by key: safe to try again
        ('[channels.c]\ntype = "webhook"\nurl = "{url}"\nunsigned = true\n', "pending"),
        # a robot cannot deduplicate: the call may have gone out
        ('[channels.c]\ntype = "slack"\nurl_env = "SLACK_URL"\n', "uncertain"),
    ],
)
def test_an_unexpected_error_after_the_claim_is_recorded(
    h: Hostile, one_send: Make, monkeypatch, channel: str, state: str
) -> None:
    url = h.route("/hook", body=b"ok")
    monkeypatch.setenv("SLACK_URL", url)
    monkeypatch.setenv("LIVEPIPE_FAULT", "raise:c")
    sender, key = one_send(channel.format(url=url))
    [outcome] = sender.send_due()
    assert outcome.state is (Result.RETRY if state == "pending" else Result.UNCERTAIN)
    rec = sender.ledger.send(key)
    assert rec is not None and rec.state == state
    assert "internal error: InjectedFault" in (rec.error or "")
    nothing_claimed(sender)


@pytest.mark.slow  # waits on purpose (make test-quick leaves it out)
def test_a_wedged_call_loses_its_lease_while_its_process_lives(
    h: Hostile, one_send: Make, monkeypatch
) -> None:
    """A thread stuck in a call forever: its lease is renewed only within the call's time
    limit, then expires, and recovery takes the send back though this process is alive."""
    url = h.route("/hook", body=b"ok")
    monkeypatch.setenv("SLACK_URL", url)
    monkeypatch.setenv("LIVEPIPE_FAULT", "wedge:c")
    sender, key = one_send('[channels.c]\ntype = "slack"\nurl_env = "SLACK_URL"\n')
    began = time.monotonic()

    def clock() -> datetime:  # NOW, running at real speed
        return NOW + timedelta(seconds=time.monotonic() - began)

    short = sender.settings.ledger.model_copy(update={"lease": timedelta(seconds=1)})
    sender.settings = sender.settings.model_copy(update={"ledger": short})
    sender.leases.lease = timedelta(seconds=1)
    sender.channels["c"].budget = lambda message: 1.5  # type: ignore[method-assign]
    sender.clock = clock
    stuck = threading.Thread(target=sender.send_due, daemon=True)
    stuck.start()
    time.sleep(0.6)
    with Sender.open(sender.settings, clock=clock) as other:
        assert other.ledger.send(key).state is SendState.CLAIMED  # type: ignore[union-attr]
        assert other.recover() == []  # renewed while the call is within its time limit
        time.sleep(3.5)  # the call's budget is spent; the lease runs out
        recovered = other.recover()
        assert [(r.key, s) for r, s in recovered] == [(key, SendState.UNCERTAIN)]
        found = other.ledger.send(key)
    assert found is not None and "stopped renewing its lease" in (found.error or "")
    assert stuck.is_alive()  # the thread is still stuck; the send is no longer its


# -- stream platforms --------------------------------------------------------------------------

WATCH = """[watch]
bilibili_api = "{url}/bilibili"
youtube_api = "{url}/youtube/v3"
timeout = "2s"
[network]
allow = ["127.0.0.0/8"]
"""


@pytest.mark.parametrize(
    ("path", "kwargs", "words"),
    [
        ("/bilibili/room/v1/Room/get_info", {"body": b'{"code": 0, "data": [1]}'}, "shape"),
        ("/bilibili/room/v1/Room/get_info", {"body": b'{"code": "0"}'}, "shape"),
        (
            "/bilibili/room/v1/Room/get_info",
            {"body": b'{"code": 0, "data": {"live_status": "1"}}'},
            "shape",
        ),
        ("/bilibili/room/v1/Room/get_info", {"body": b"\xff\xfe garbage"}, "not JSON"),
        (
            "/bilibili/room/v1/Room/get_info",
            {"status": 429, "headers": {"Retry-After": "inf"}, "body": b""},
            "refused",
        ),
        ("/bilibili/room/v1/Room/get_info", {"mode": "endless"}, "longer than"),
        ("/bilibili/room/v1/Room/get_info", {"mode": "trickle-body", "delay": 0.3}, "in time"),
        ("/bilibili/room/v1/Room/get_info", {"mode": "trickle-headers", "delay": 0.3}, "in time"),
    ],
)
def test_odd_platform_answers_are_failed_polls(
    h: Hostile, tmp_path: Path, path: str, kwargs: dict, words: str
) -> None:
    h.route(path, **kwargs)
    toml = tmp_path / "livepipe.toml"
    toml.write_text(WATCH.format(url=h.url), encoding="utf-8")
    settings = load_settings(toml)
    started = time.monotonic()
    with http_client(settings) as client:
        seen = probe(client, StreamRef("bilibili", "22580654"), settings.watch, NOW)
    assert time.monotonic() - started < 4
    assert seen.status is StreamStatus.ERROR and words in seen.error
    if kwargs.get("status") == 429:
        assert seen.rate_limited and seen.retry_after is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": "quota exceeded"}',
        b'{"error": {"errors": "quotaExceeded", "message": 5}}',
        b'{"error": {"errors": [1, 2]}}',
    ],
)
def test_youtube_errors_of_other_shapes_are_failed_polls(
    h: Hostile, tmp_path: Path, body: bytes
) -> None:
    h.route("/youtube/v3/videos", status=403, body=body)
    toml = tmp_path / "livepipe.toml"
    toml.write_text(WATCH.format(url=h.url), encoding="utf-8")
    settings = load_settings(toml)
    with http_client(settings) as client:
        seen = probe(
            client,
            StreamRef("youtube", "dQw4w9WgXcQ"),
            settings.watch,
            NOW,
            {"YOUTUBE_API_KEY": "k"},
        )
    assert seen.status is StreamStatus.ERROR and "YouTube" in seen.error


def test_the_status_url_of_a_page_stays_in_its_folder(h: Hostile, tmp_path: Path) -> None:
    """``{id}`` is the live URL's last segment: ``..`` would move the request up a folder."""
    h.route("/api/rooms/x", body=b'{"data": {"live": true}}')
    h.route("/api/admin", body=b'{"data": {"live": true}}')
    toml = tmp_path / "livepipe.toml"
    toml.write_text(
        WATCH.format(url=h.url) + f'[watch.generic.studio]\nmatch = "https://studio.example.org/"\n'
        f'url = "{h.url}/api/rooms/{{id}}"\npointer = "/data/live"\n',
        encoding="utf-8",
    )
    settings = load_settings(toml)
    with http_client(settings) as client:
        for live_url in ("https://studio.example.org/..", "https://studio.example.org/a/../.."):
            seen = probe(client, StreamRef("generic:studio", live_url), settings.watch, NOW)
            assert seen.status is StreamStatus.ERROR and "no room id" in seen.error
        ok = probe(
            client, StreamRef("generic:studio", "https://studio.example.org/x"), settings.watch, NOW
        )
    assert ok.status is StreamStatus.LIVE
    assert h.hits["/api/admin"] == 0 and h.hits["/api/rooms"] == 0
