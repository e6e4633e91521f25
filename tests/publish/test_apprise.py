"""The apprise channel against loopback stand-ins of an ntfy server (its JSON publish API,
basic auth, and its documented error answers: 429 limit reached, 401 unauthorized, 500) and
of a plain JSON webhook, through the real apprise library."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from livepipe.config import ChannelSettings
from livepipe.errors import ConfigError, PermanentPublishError, TransientPublishError
from livepipe.publish import PUBLISHERS, broken_channels

from ..support import make_send
from ..support.receiver import serve_app
from .test_conformance import message  # noqa: F401 (the fixture)

USER, PASSWORD = "community", "ntfy-secret-pw"


@pytest.fixture(scope="module")
def ntfy() -> Iterator[tuple[str, list[dict]]]:
    got: list[dict] = []

    async def publish(request: Request) -> Response:
        body = json.loads(await request.body())
        got.append({"path": request.url.path, "auth": request.headers.get("authorization"), **body})
        topic = body.get("topic", "")
        auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if topic == "limited":
            return JSONResponse(
                {"code": 42901, "http": 429, "error": "limit reached: too many requests"},
                status_code=429,
            )
        if topic == "broken":
            return JSONResponse({"code": 50001, "http": 500, "error": "internal error"}, 500)
        if request.headers.get("authorization") != auth:
            return JSONResponse({"code": 40101, "http": 401, "error": "unauthorized"}, 401)
        return JSONResponse({"id": "hwQ2YpKdmg", "event": "message", "topic": topic})

    async def hook(request: Request) -> Response:
        got.append({"path": request.url.path, **json.loads(await request.body())})
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[Route("/", publish, methods=["POST"]), Route("/hook", hook, methods=["POST"])]
    )
    with serve_app(app) as url:
        yield url.split("//", 1)[1], got


def chan(urls: str):
    settings = ChannelSettings(type="apprise", url_env="APPRISE_URLS")
    return PUBLISHERS["apprise"]("chat", settings, root=None, env={"APPRISE_URLS": urls})  # type: ignore[arg-type]


def test_apprise_sends_to_every_service(ntfy, message) -> None:  # noqa: F811
    host, got = ntfy
    before = len(got)
    receipt = chan(f"ntfy://{USER}:{PASSWORD}@{host}/community-live, json://{host}/hook").deliver(
        message
    )
    assert receipt.note == "2 service(s)"
    # apprise notifies the services concurrently: tell them apart by where they went
    [sent] = [g for g in got[before:] if g["path"] == "/"]
    [hooked] = [g for g in got[before:] if g["path"] == "/hook"]
    assert sent["topic"] == "community-live" and sent["title"] == message.title
    assert (
        sent["message"].startswith("云原生可观测性实战")
        or message.text.strip()[:10] in sent["message"]
    )
    assert sent["message"].rstrip().endswith(message.url)
    assert hooked["path"] == "/hook" and hooked["title"] == message.title


@pytest.mark.parametrize(
    ("topic", "error", "code"),
    [
        ("limited", TransientPublishError, "429"),
        ("broken", TransientPublishError, "500"),
    ],
)
def test_apprise_failures_are_mapped(ntfy, message, topic, error, code) -> None:  # noqa: F811
    host, _ = ntfy
    with pytest.raises(error) as info:
        chan(f"ntfy://{USER}:{PASSWORD}@{host}/{topic}").deliver(message)
    assert info.value.code == code
    assert PASSWORD not in str(info.value)


def test_apprise_bad_credentials_are_permanent_and_redacted(ntfy, message) -> None:  # noqa: F811
    host, _ = ntfy
    with pytest.raises(PermanentPublishError) as info:
        chan(f"ntfy://{USER}:wrong-password-1@{host}/community-live").deliver(message)
    assert info.value.code == "401"
    text = f"{info.value} {info.value.hint}"
    assert "wrong-password-1" not in text and "ntfy" in text.lower()


def test_apprise_server_down_is_transient(message) -> None:  # noqa: F811
    with pytest.raises(TransientPublishError):
        chan("json://127.0.0.1:9/hook").deliver(message)


def test_apprise_urls_it_cannot_read_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="scheme nosuchservice://"):
        chan("nosuchservice://x/y").validate()
    with pytest.raises(ConfigError, match="holds no apprise URL"):
        chan("  ,  ").validate()
    broken = broken_channels({"chat": chan("nosuchservice://token-abcdef/y")})
    assert "token-abcdef" not in str(broken["chat"])


def test_a_crash_mid_call_leaves_the_send_uncertain(tmp_path) -> None:
    """Apprise cannot deduplicate by key: a sender that died during the call is not retried
    blindly but waits for `livepipe resolve`, as for the robots."""
    from datetime import UTC, datetime, timedelta

    from livepipe.config import Settings
    from livepipe.ledger import open_ledger
    from livepipe.plan import Plan
    from livepipe.records import SendState

    channel = chan("json://127.0.0.1:9/hook")
    assert channel.accepts_idempotency_key is False
    now = datetime(2026, 12, 1, tzinfo=UTC)
    ledger = open_ledger(Settings(), str(tmp_path / "l.sqlite"))
    try:
        send = make_send(key="a" * 24, uid="ev@x", channel="chat", due=now)
        ledger.apply(Plan(now, add=[send]))
        ledger.claim(send.key, now, "host:1:1")
        ledger.start_call(send.key, "host:1:1", now)
        recovered = ledger.recover(
            now + timedelta(hours=1),
            lease=timedelta(minutes=10),
            idempotent=lambda name: channel.accepts_idempotency_key,
            alive=lambda owner: False,
        )
        assert [state for _, state in recovered] == [SendState.UNCERTAIN]
    finally:
        ledger.close()
