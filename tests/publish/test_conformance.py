"""One table-driven conformance test: every HTTP channel against a loopback stand-in for its
remote API (request shape, signatures, and how each documented failure is classified), and the
email channel against a real aiosmtpd server."""

from __future__ import annotations

import base64
import email
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.policy import default as default_policy
from pathlib import Path

import pytest

from livepipe.config import ChannelSettings, Settings
from livepipe.errors import ConfigError, PermanentPublishError, TransientPublishError
from livepipe.models import SlotKind
from livepipe.publish import PUBLISHERS, Channel
from livepipe.render.messages import render_message
from livepipe.render.templating import Templates
from livepipe.site import load_path

from ..support import CONTENT, make_send
from ..support.apis import DINGTALK_SECRET, FEISHU_SECRET, LISTMONK_AUTH, Recorder, Seen, make_app
from ..support.receiver import free_port, serve_app

SECRET_WORDS = [FEISHU_SECRET, DINGTALK_SECRET, LISTMONK_AUTH[1]]


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()
    with serve_app(make_app(rec)) as url:
        yield url, rec


@pytest.fixture(scope="module")
def message():
    event = next(e for e in load_path(CONTENT).events if e.slug == "observability1210-live")
    send = make_send(
        key="k" * 24,
        uid=event.uid,
        channel="x",
        due=datetime(2026, 11, 26, 1, tzinfo=UTC),
        valid_until=datetime(2026, 12, 10, tzinfo=UTC),
    )
    return render_message(send, event, Settings(), Templates())


def channel(kind: str, env: dict[str, str], **options: object) -> Channel:
    cfg = ChannelSettings(type=kind, **options)  # type: ignore[arg-type]
    return PUBLISHERS[kind]("chan", cfg, root=Path("."), env=env)


def check_wecom(seen: Seen) -> None:
    data = seen.json()
    assert data["msgtype"] == "markdown"  # type: ignore[index]
    assert data["markdown"]["content"].startswith("**【活动预告】")  # type: ignore[index]
    assert len(data["markdown"]["content"].encode()) <= 4096  # type: ignore[index]


def check_feishu_signed(seen: Seen) -> None:
    data = seen.json()
    assert isinstance(data, dict) and data["msg_type"] == "interactive"
    [actions] = [el for el in data["card"]["elements"] if el["tag"] == "action"]
    assert [(b["text"]["content"], b["url"]) for b in actions["actions"]] == [
        ("观看直播", "https://live.bilibili.com/00000001"),
        ("添加到日历", "http://localhost/events/observability1210-live.ics"),  # Settings()
    ]
    key = f"{data['timestamp']}\n{FEISHU_SECRET}".encode()
    assert data["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def check_dingtalk_signed(seen: Seen) -> None:
    stamp = seen.query["timestamp"]
    assert len(stamp) == 13  # milliseconds
    digest = hmac.new(
        DINGTALK_SECRET.encode(), f"{stamp}\n{DINGTALK_SECRET}".encode(), hashlib.sha256
    ).digest()
    assert seen.query["sign"] == base64.b64encode(digest).decode()
    assert seen.json()["msgtype"] == "markdown"  # type: ignore[index]


def check_slack(seen: Seen) -> None:
    data = seen.json()
    assert isinstance(data, dict) and data["text"].startswith("【活动预告】")
    assert [b["type"] for b in data["blocks"]] == ["header", "section", "section", "context"]
    # 2026-12-10 20:00–21:00 in Beijing: each reader sees it in their own zone
    start = int(datetime(2026, 12, 10, 12, 0, tzinfo=UTC).timestamp())
    when = data["blocks"][2]["text"]["text"]
    assert when.startswith(f"*时间:* <!date^{start}^{{date_long_pretty}} {{time}}|")
    assert "|2026-12-10 20:00 Asia/Shanghai>" in when


# (id, channel type, url path, env, options, expected outcome, request check)
ROWS: list[tuple[str, str, str, dict[str, str], dict[str, object], str, Callable | None]] = [
    ("wecom-ok", "wecom", "/cgi-bin/webhook/send?key=ok", {}, {}, "ok", check_wecom),
    ("wecom-freq-limit", "wecom", "/cgi-bin/webhook/send?key=limit", {}, {}, "transient", None),
    ("wecom-bad-key", "wecom", "/cgi-bin/webhook/send?key=nope", {}, {}, "permanent", None),
    ("wecom-500", "wecom", "/cgi-bin/webhook/send?key=e500", {}, {}, "transient", None),
    ("wecom-429", "wecom", "/cgi-bin/webhook/send?key=e429", {}, {}, "transient-7", None),
    (
        "wecom-timeout",
        "wecom",
        "/cgi-bin/webhook/send?key=slow",
        {},
        {"timeout": 1},
        "transient",
        None,
    ),
    (
        "feishu-signed",
        "feishu",
        "/open-apis/bot/v2/hook/signed",
        {"FS": FEISHU_SECRET},
        {"secret_env": "FS"},
        "ok",
        check_feishu_signed,
    ),
    (
        "feishu-bad-secret",
        "feishu",
        "/open-apis/bot/v2/hook/signed",
        {"FS": "wrong"},
        {"secret_env": "FS"},
        "permanent",
        None,
    ),
    ("feishu-limit", "feishu", "/open-apis/bot/v2/hook/limit", {}, {}, "transient", None),
    (
        "dingtalk-signed",
        "dingtalk",
        "/robot/send?access_token=signed",
        {"DT": DINGTALK_SECRET},
        {"secret_env": "DT"},
        "ok",
        check_dingtalk_signed,
    ),
    (
        "dingtalk-bad-secret",
        "dingtalk",
        "/robot/send?access_token=signed",
        {"DT": "x"},
        {"secret_env": "DT"},
        "permanent",
        None,
    ),
    ("dingtalk-too-fast", "dingtalk", "/robot/send?access_token=limit", {}, {}, "transient", None),
    ("slack-ok", "slack", "/services/T/B/ok", {}, {}, "ok", check_slack),
    ("slack-archived", "slack", "/services/T/B/archived", {}, {}, "permanent", None),
    ("slack-invalid", "slack", "/services/T/B/invalid", {}, {}, "permanent", None),
    ("slack-429", "slack", "/services/T/B/e429", {}, {}, "transient-7", None),
]


@pytest.mark.parametrize(
    ("rid", "kind", "path", "env", "options", "expect", "check"), ROWS, ids=[r[0] for r in ROWS]
)
def test_robot_channels(api, message, rid, kind, path, env, options, expect, check) -> None:
    url, rec = api
    before = len(rec.requests)
    chan = channel(kind, {**env, "HOOK_URL": url + path}, url_env="HOOK_URL", **options)
    if expect == "ok":
        receipt = chan.send(message)
        assert receipt.note
    else:
        error = TransientPublishError if expect.startswith("transient") else PermanentPublishError
        with pytest.raises(error) as info:
            chan.send(message)
        assert info.value.channel == "chan" and info.value.code
        if expect == "transient-7":
            assert info.value.retry_after == 7.0
        text = f"{info.value} {info.value.hint}"
        assert all(word not in text for word in [*SECRET_WORDS, "key=", "access_token"])
    seen = rec.requests[before:]
    assert len(seen) == 1 and seen[0].method == "POST"
    assert seen[0].headers["content-type"] == "application/json"
    assert seen[0].headers["user-agent"].startswith("livepipe/")
    if check:
        check(seen[0])


def test_connection_refused_is_transient(message) -> None:
    chan = channel("slack", {"U": f"http://127.0.0.1:{free_port()}/services/x"}, url_env="U")
    with pytest.raises(TransientPublishError) as info:
        chan.send(message)
    assert info.value.code == "connection"


def test_missing_secret_is_a_config_error(message) -> None:
    with pytest.raises(ConfigError, match="WECOM_URL is not set"):
        channel("wecom", {}, url_env="WECOM_URL").send(message)


def test_listmonk_creates_once_and_starts(api, message) -> None:
    url, rec = api
    env = {"LM_USER": LISTMONK_AUTH[0], "LM_TOKEN": LISTMONK_AUTH[1]}
    chan = channel(
        "listmonk",
        env,
        url=url,
        username_env="LM_USER",
        token_env="LM_TOKEN",
        lists=[3],
        **{"from": "Live <live@example.org>"},
    )
    first = chan.send(message)
    again = chan.send(message)  # a retry after a crash finds the same campaign
    assert first.remote_id == again.remote_id
    (campaign,) = [c for c in rec.campaigns.values() if c["name"] == message.key]
    assert campaign["status"] == "running" and campaign["lists"] == [3]
    assert campaign["subject"] == message.title and campaign["content_type"] == "html"
    bad = channel(
        "listmonk",
        {"LM_USER": "api", "LM_TOKEN": "wrong"},
        url=url,
        username_env="LM_USER",
        token_env="LM_TOKEN",
        lists=[3],
    )
    with pytest.raises(PermanentPublishError) as info:
        bad.send(message)
    assert info.value.code == "401" and "wrong" not in str(info.value)


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, SmtpSink]]:
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


def email_channel(port: int, root: Path, **options: object) -> Channel:
    """An email channel to the loopback SMTP server, recipients from root/subs.txt."""
    settings = ChannelSettings(
        type="email",
        host="127.0.0.1",
        port=port,
        security="none",
        recipients_file="subs.txt",
        **{"from": "Community Live <live@example.org>"},
        **options,  # type: ignore[arg-type]
    )
    return PUBLISHERS["email"]("news", settings, root=root, env={})


def test_email_batches_multipart_and_headers(smtp, message, tmp_path: Path) -> None:
    port, sink = smtp
    (tmp_path / "subs.txt").write_text(
        "# subscribers\na@example.org\nb@example.org\nc@example.org  # vip\n"
    )
    chan = email_channel(port, tmp_path, batch=2, unsubscribe="mailto:bye@example.org")
    receipt = chan.send(message)
    assert receipt.note == "3 recipients"
    assert [rcpts for _, rcpts, _ in sink.messages] == [
        ["a@example.org", "b@example.org"],
        ["c@example.org"],
    ]
    mail = email.message_from_bytes(sink.messages[0][2], policy=default_policy)
    assert mail["Message-ID"] == f"<{message.key}@example.org>"
    assert mail["Subject"] == message.title  # decoded back from RFC 2047
    assert "=?utf-8?" in sink.messages[0][2].decode().split("Subject:", 1)[1].splitlines()[0]
    assert mail["List-Unsubscribe"] == "<mailto:bye@example.org>"
    assert mail["Bcc"] is None  # never disclosed
    assert mail.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in mail.iter_parts()]
    assert parts == ["text/plain", "text/html", "text/calendar"]  # an announcement: an invite


def test_email_is_7bit_with_one_click_unsubscribe_in_both_parts(
    smtp, message, tmp_path: Path
) -> None:
    """A relay without 8BITMIME gets 7-bit parts (MAIL FROM says nothing of BODY=8BITMIME);
    RFC 8058 one-click unsubscribe, and the link visible in both parts, per recipient."""
    port, sink = smtp
    (tmp_path / "subs.txt").write_text("a+news@example.org\nb@example.org\n")
    chan = email_channel(
        port,
        tmp_path,
        unsubscribe=["https://example.org/leave?email={email}", "mailto:bye@example.org"],
    )
    chan.send(message)
    # "{email}" names the recipient: one message each, not one Bcc batch
    assert [rcpts for _, rcpts, _ in sink.messages] == [["a+news@example.org"], ["b@example.org"]]
    raw = sink.messages[0][2]
    assert max(raw) < 0x80, "8-bit octets sent without BODY=8BITMIME"
    mail = email.message_from_bytes(raw, policy=default_policy)
    leave = "https://example.org/leave?email=a%2Bnews@example.org"
    assert mail["List-Unsubscribe"] == f"<{leave}>, <mailto:bye@example.org>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html, _invite = mail.iter_parts()
    assert text["Content-Transfer-Encoding"] == html["Content-Transfer-Encoding"]
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    plain = text.get_content()
    assert "可观测性" in plain  # the text survives the encoding
    assert plain.rstrip().endswith(f"退订: {leave}")
    page = html.get_content()
    assert page.count("<main>") == 1
    # the link is inside the landmark, after the content
    footer = page[page.rindex("</table>") : page.index("</main>")]
    assert f'<a href="{leave}"' in footer and "退订" in footer
    second = email.message_from_bytes(sink.messages[1][2], policy=default_policy)
    assert "email=b@example.org" in second["List-Unsubscribe"]


def test_email_with_a_mailto_unsubscribe_only_has_no_one_click_header(
    smtp, message, tmp_path: Path
) -> None:
    port, sink = smtp
    (tmp_path / "subs.txt").write_text("a@example.org\n")
    chan = email_channel(port, tmp_path, unsubscribe="mailto:bye@example.org")
    chan.send(message)
    mail = email.message_from_bytes(sink.messages[0][2], policy=default_policy)
    assert mail["List-Unsubscribe-Post"] is None  # RFC 8058 needs an https URI
    assert "退订: mailto:bye@example.org" in next(mail.iter_parts()).get_content()


def test_email_server_down_is_transient(message, tmp_path: Path) -> None:
    (tmp_path / "subs.txt").write_text("a@example.org\n")
    chan = PUBLISHERS["email"](
        "news",
        ChannelSettings(
            type="email",
            host="127.0.0.1",
            port=free_port(),
            security="none",
            recipients_file="subs.txt",
            **{"from": "x@example.org"},
        ),
        root=tmp_path,
        env={},
    )  # type: ignore[arg-type]
    with pytest.raises(TransientPublishError):
        chan.send(message)


def test_every_publisher_is_registered() -> None:
    assert set(PUBLISHERS) == {
        "outbox",
        "webhook",
        "wecom",
        "feishu",
        "dingtalk",
        "slack",
        "email",
        "listmonk",
        "wechat",
        "apprise",
    }


def test_channels_test_command_and_secrets_stay_out_of_output(api, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from livepipe.cli import app

    url, rec = api
    secret_url = url + "/cgi-bin/webhook/send?key=ok"
    (tmp_path / "livepipe.toml").write_text(
        '[site]\nname = "T"\nbase_url = "https://t.example"\n'
        '[channels.group]\ntype = "wecom"\nurl_env = "LP_WECOM_URL"\n'
        '[channels.broken]\ntype = "wecom"\nurl_env = "LP_BROKEN_URL"\n'
    )
    (tmp_path / "content").mkdir()
    runner = CliRunner()
    env = {
        "LP_WECOM_URL": secret_url,
        "LP_BROKEN_URL": url + "/cgi-bin/webhook/send?key=topsecretkey",
    }
    ok = runner.invoke(app, ["channels", "test", "group", str(tmp_path)], env=env)
    assert ok.exit_code == 0, ok.output
    assert rec.requests[-1].json()["markdown"]["content"].startswith("**livepipe test message")  # type: ignore[index]
    bad = runner.invoke(app, ["channels", "test", "broken", str(tmp_path)], env=env)
    assert bad.exit_code == 2 and "PermanentPublishError 93000" in bad.output
    listing = runner.invoke(app, ["channels", "list", str(tmp_path)], env=env)
    for out in (ok.output, bad.output, listing.output):
        assert "topsecretkey" not in out and "key=ok" not in out


def test_slack_escapes_page_text_so_it_cannot_ping_or_link(api, message) -> None:
    """A page title ``<!channel> … <https://evil.example|bank>`` would ping the whole
    channel and show a disguised link in mrkdwn: it arrives as text."""
    url, rec = api
    hostile = replace(
        message,
        title="<!channel> Free & open <https://evil.example|your bank>",
        text="Join <!here> at <https://evil.example|the venue> & more\n",
        url="https://live.example.org/a|b>c",
    )
    chan = channel("slack", {"HOOK_URL": url + "/services/T/B/ok"}, url_env="HOOK_URL")
    chan.send(hostile)
    data = rec.requests[-1].json()
    # what Slack reads as mrkdwn: the top-level text and every mrkdwn object
    mrkdwn = [data["text"]] + [
        str(obj["text"])
        for block in data["blocks"]
        for obj in [block.get("text", {}), *block.get("elements", [])]
        if obj.get("type") == "mrkdwn"
    ]
    body = json.dumps(mrkdwn, ensure_ascii=False)
    assert "<!channel>" not in body and "<!here>" not in body
    assert "<https://evil.example|" not in body
    assert data["blocks"][0]["text"]["type"] == "plain_text"  # the header is never mrkdwn
    assert data["blocks"][1]["text"]["text"].startswith(
        "Join &lt;!here&gt; at &lt;https://evil.example|the venue&gt; &amp; more"
    )
    assert data["text"].startswith("&lt;!channel&gt; Free &amp; open")
    assert data["blocks"][-1]["elements"][0]["text"] == (
        "<https://live.example.org/a%7Cb%3Ec|详情>"
    )


def test_short_messages_are_wecom_cards_and_cards_can_be_turned_off(api, message) -> None:
    url, rec = api
    short = replace(message, title="今晚八点：可观测性", text="直播马上开始，欢迎加入。\n")
    env = {"HOOK_URL": url + "/cgi-bin/webhook/send?key=ok"}
    channel("wecom", env, url_env="HOOK_URL").send(short)
    data = rec.requests[-1].json()
    assert data["msgtype"] == "template_card"
    card = data["template_card"]
    assert card["main_title"]["title"] == "今晚八点：可观测性"
    assert [(j["title"], j["url"]) for j in card["jump_list"]] == [
        ("观看直播", "https://live.bilibili.com/00000001"),
        ("添加到日历", "http://localhost/events/observability1210-live.ics"),
    ]
    assert card["card_action"]["url"] == message.url
    channel("wecom", env, url_env="HOOK_URL", cards=False).send(short)
    assert rec.requests[-1].json()["msgtype"] == "markdown"  # type: ignore[index]
    # Too long for a card: markdown, whatever the setting.
    channel("wecom", env, url_env="HOOK_URL").send(message)
    assert rec.requests[-1].json()["msgtype"] == "markdown"  # type: ignore[index]
    feishu = {"HOOK_URL": url + "/open-apis/bot/v2/hook/plain"}
    channel("feishu", feishu, url_env="HOOK_URL", cards=False).send(message)
    assert rec.requests[-1].json()["msg_type"] == "text"  # type: ignore[index]
    cancelled = replace(message, kind=SlotKind.CANCELLED)
    channel("feishu", feishu, url_env="HOOK_URL").send(cancelled)
    assert rec.requests[-1].json()["msg_type"] == "text"  # type: ignore[index]  # no buttons
