"""A bounded fuzz test of what remotes answer: for every API livepipe calls (the group robots,
WeChat, listmonk, webhooks, bilibili, YouTube, a generic status URL), any status, any
Retry-After and any JSON (or not-JSON) body ends in a typed error or an observation — never a
traceback. The answers come from httpx.MockTransport; the shapes from each API's own keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livepipe.config import ChannelSettings, WatchSettings
from livepipe.errors import PublishError
from livepipe.models import Message, SlotKind
from livepipe.net import Client, Policy
from livepipe.publish import PUBLISHERS
from livepipe.records import StreamStatus
from livepipe.streams import StreamRef
from livepipe.watch import probe

KEYS = [
    "errcode",
    "errmsg",
    "code",
    "msg",
    "message",
    "data",
    "live_status",
    "live_time",
    "items",
    "liveStreamingDetails",
    "actualStartTime",
    "actualEndTime",
    "error",
    "errors",
    "reason",
    "access_token",
    "expires_in",
    "media_id",
    "url",
    "publish_id",
    "publish_status",
    "article_id",
    "article_detail",
    "item",
    "article_url",
    "msg_id",
    "msg_status",
    "results",
    "id",
    "name",
    "status",
    "live",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["0", "ok", "SEND_SUCCESS", "2026-12-07T12:00:00Z", "0000-00-00 00:00:00"])
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), children, max_size=6)
    ),
    max_leaves=20,
)


def _encode(value: object) -> bytes:
    try:
        return json.dumps(value, allow_nan=True).encode()
    except (ValueError, OverflowError):
        return b"{}"


BODIES = st.one_of(
    JSON.map(_encode),
    st.fixed_dictionaries({k: JSON for k in ("errcode", "errmsg")}).map(_encode),
    st.fixed_dictionaries({"code": JSON, "data": JSON}).map(_encode),
    st.fixed_dictionaries({"items": st.lists(JSON, max_size=2)}).map(_encode),
    st.binary(max_size=40),
)
ANSWERS = st.tuples(
    st.sampled_from([200, 200, 200, 201, 204, 301, 400, 403, 404, 412, 429, 500, 503]),
    st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["inf", "²", "99999999999999"])),
    BODIES,
)
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def transport(answers: list[tuple[int, str | None, bytes]]) -> httpx.MockTransport:
    """Answers every request with the next generated answer (the last one repeated)."""
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        status, retry, body = queue.pop(0) if len(queue) > 1 else queue[0]
        headers = {"Retry-After": retry} if retry is not None else {}
        try:
            return httpx.Response(status, headers=headers, content=body)
        except (UnicodeEncodeError, ValueError):
            return httpx.Response(status, content=body)

    return httpx.MockTransport(handler)


def message() -> Message:
    return Message(
        key="k" * 24,
        uid="talk@h.example.org",
        slot="announce",
        kind=SlotKind.ANNOUNCE,
        channel="c",
        lang="en",
        title="Talk",
        text="Hello\n",
        url="https://h.example.org/talk/",
        due=NOW,
        article="<p>Hi</p>",
        article_meta={
            "title": "Talk",
            "author": "A",
            "digest": "d",
            "cover_image": None,
            "content_source_url": "https://h.example.org/talk/",
        },
    )


CHANNELS = {
    "wecom": ({"url_env": "URL"}, {"URL": "https://robot.example.org/send?key=k"}),
    "feishu": ({"url_env": "URL"}, {"URL": "https://robot.example.org/hook/k"}),
    "dingtalk": ({"url_env": "URL"}, {"URL": "https://robot.example.org/robot?t=k"}),
    "slack": ({"url_env": "URL"}, {"URL": "https://robot.example.org/services/k"}),
    "webhook": ({"url": "https://hook.example.org/x", "unsigned": True}, {}),
    "listmonk": (
        {"url": "https://lists.example.org", "username_env": "U", "token_env": "T", "lists": [1]},
        {"U": "api", "T": "token"},
    ),
    "wechat": (
        {"api": "https://wx.example.org", "appid_env": "A", "secret_env": "S", "qr": False},
        {"A": "wx-app", "S": "wx-secret"},
    ),
}


@pytest.mark.parametrize("kind", sorted(CHANNELS))
def test_any_channel_answer_is_a_typed_outcome(kind: str, tmp_path: Path) -> None:
    options, env = CHANNELS[kind]
    cover = tmp_path / "cover.png"
    cover.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    if kind == "wechat":
        options = {**options, "default_cover": "cover.png"}

    @FUZZ
    @given(st.lists(ANSWERS, min_size=1, max_size=6))
    def run(answers: list[tuple[int, str | None, bytes]]) -> None:
        cfg = ChannelSettings(type=kind, **options)  # type: ignore[arg-type]
        channel = PUBLISHERS[kind]("c", cfg, root=tmp_path, env=env)
        channel.transport = transport(answers)
        if kind == "wechat":
            channel.poll_timeout = 0.0  # type: ignore[attr-defined]
            channel.poll_interval = 0.0  # type: ignore[attr-defined]
        try:
            channel.deliver(message())
        except PublishError as exc:
            assert str(exc)  # a reason, always
        finally:
            channel.close()

    run()


PLATFORMS = {
    "bilibili": StreamRef("bilibili", "22580654"),
    "youtube": StreamRef("youtube", "dQw4w9WgXcQ"),
    "generic:studio": StreamRef("generic:studio", "https://studio.example.org/rooms/7"),
}


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_any_platform_answer_is_an_observation(name: str) -> None:
    watch = WatchSettings.model_validate(
        {
            "generic": {
                "studio": {
                    "match": "https://studio.example.org/",
                    "url": "https://studio.example.org/api/{id}",
                    "pointer": "/data/live",
                }
            }
        }
    )

    @FUZZ
    @given(ANSWERS)
    def run(answer: tuple[int, str | None, bytes]) -> None:
        with Client(Policy.operator(), transport=transport([answer])) as client:
            seen = probe(client, PLATFORMS[name], watch, NOW, {"YOUTUBE_API_KEY": "key-123"})
        assert seen.status in StreamStatus
        assert seen.status is not StreamStatus.ERROR or seen.error
        assert "internal error" not in seen.error  # every odd answer is understood as one
        assert seen.retry_after is None or 0 <= seen.retry_after <= 86400

    run()
