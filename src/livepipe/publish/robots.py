"""Group robots: WeCom (企业微信), Feishu/Lark (飞书), DingTalk (钉钉) and Slack.

Each posts one message to an incoming-webhook URL held in an environment variable (the URL is
the credential). Their documented answers map onto Transient (rate limits, 5xx) and Permanent
(bad URL, bad signature, rejected content) errors.

```toml
[channels.wecom-group]
type = "wecom"
url_env = "WECOM_WEBHOOK_URL"        # https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…

[channels.feishu-group]
type = "feishu"
url_env = "FEISHU_WEBHOOK_URL"       # https://open.feishu.cn/open-apis/bot/v2/hook/…
secret_env = "FEISHU_SECRET"         # optional "signature verification" secret

[channels.dingtalk-group]
type = "dingtalk"
url_env = "DINGTALK_WEBHOOK_URL"     # https://oapi.dingtalk.com/robot/send?access_token=…
secret_env = "DINGTALK_SECRET"       # optional "加签" secret

[channels.slack]
type = "slack"
url_env = "SLACK_WEBHOOK_URL"        # https://hooks.slack.com/services/…
```

Messages about an event say its time in each reader's own zone on Slack
(``<!date^unix^{date_long_pretty} {time}|fallback>``), and come as cards with "watch" and
"add to calendar" buttons on Feishu (``interactive``) and WeCom (``template_card``);
``cards = false`` sends plain text/markdown instead, and so does a message too long for a
card. Text from pages is escaped for Slack's mrkdwn (``&``, ``<``, ``>``: a title cannot
ping ``<!channel>``); Feishu cards show it as plain text, not lark_md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from ..errors import PermanentPublishError, TransientPublishError
from ..i18n import Phrases
from ..models import Event, Message, SlotKind
from ..net import Answer
from ..render.html import truncate
from . import http
from .base import Channel, Receipt


class RobotAnswer(BaseModel):
    """A group robot's answer: WeCom and DingTalk say ``errcode``/``errmsg``, Feishu
    ``code``/``msg`` (older Feishu also ``StatusCode``); codes are integers."""

    model_config = ConfigDict(extra="ignore")
    errcode: StrictInt | None = None
    errmsg: StrictStr | None = None
    code: StrictInt | None = None
    msg: StrictStr | None = None


class RobotChannel(Channel):
    """POST a JSON payload to the webhook URL and check the robot's own error code."""

    # Robot error codes that mean "try again later"; every other non-zero code is permanent.
    transient_codes: ClassVar[frozenset[int]] = frozenset()
    code_field: ClassVar[str] = "errcode"
    required_secrets: ClassVar[tuple[str, ...]] = ("url_env",)
    optional_secrets: ClassVar[tuple[str, ...]] = ("secret_env",)
    uses_http = True

    def url(self) -> str:
        value = self.secret("url_env")
        assert value is not None
        return value

    def payload(self, message: Message) -> dict[str, Any]:
        raise NotImplementedError

    def target(self) -> str:
        return self.url()

    def send(self, message: Message) -> Receipt:
        body = json.dumps(self.payload(message), ensure_ascii=False).encode("utf-8")
        if self.body_max and len(body) > self.body_max:
            raise PermanentPublishError(
                f"message is {len(body)} bytes, over the {self.body_max}-byte limit",
                channel=self.name,
                code="too-large",
                hint="shorten the page's summary",
            )
        answer = http.request(
            self.http(),
            self.name,
            "POST",
            self.target(),
            deadline=self.deadline,
            content=body,
            headers={"Content-Type": "application/json"},
        )
        http.check_status(answer, self.name)
        return self.check_answer(answer)

    def check_answer(self, answer: Answer) -> Receipt:
        """The robot's own verdict: ``{"errcode": 0, "errmsg": "ok"}`` (Feishu: ``code`` and
        ``msg``); an answer of another shape is a BadAnswerError (transient, reported)."""
        data = answer.parse(RobotAnswer, f"the {self.type} robot")
        code = data.errcode if self.code_field == "errcode" else data.code
        text = (data.errmsg or data.msg or "")[:200]
        if not code:
            return Receipt(note=text or "ok")
        if code in self.transient_codes:
            raise TransientPublishError(
                f"{self.type} error {code}: {text}",
                channel=self.name,
                code=str(code),
                retry_after=60.0,
            )
        raise PermanentPublishError(
            f"{self.type} error {code}: {text}",
            channel=self.name,
            code=str(code),
            hint=self.hint(code),
        )

    def hint(self, code: int) -> str:
        return ""

    def preview(self, message: Message) -> str:
        return json.dumps(self.payload(message), ensure_ascii=False, indent=2)


def _markdown(message: Message) -> str:
    return f"**{message.title}**\n\n{message.text.strip()}"


class WeComChannel(RobotChannel):
    """WeCom group robot, markdown message (content ≤ 4096 bytes, 20 messages a minute)."""

    type: ClassVar[str] = "wecom"
    body_max: ClassVar[int | None] = 4096 + 256
    transient_codes = frozenset({45009, 45033, -1})  # frequency limits, system busy

    def payload(self, message: Message) -> dict[str, Any]:
        card = self.card(message) if self.option("cards", True) else None
        if card is not None:
            return card
        content = _markdown(message).encode("utf-8")[:4096].decode("utf-8", "ignore")
        return {"msgtype": "markdown", "markdown": {"content": content}}

    def card(self, message: Message) -> dict[str, Any] | None:
        """A ``template_card`` (text_notice) with jump buttons, when the message fits one
        (title ≤ 26 characters shown whole, text ≤ 112): else None, and markdown goes."""
        buttons = _buttons(message, self.words(message))
        title, text = message.title, message.text.strip()
        if not buttons or len(title) > 26 or len(text) > 112:
            return None
        return {
            "msgtype": "template_card",
            "template_card": {
                "card_type": "text_notice",
                "main_title": {"title": title},
                "sub_title_text": text,
                "jump_list": [{"type": 1, "url": url, "title": label} for label, url in buttons],
                "card_action": {"type": 1, "url": message.url},
            },
        }

    def hint(self, code: int) -> str:
        return {
            93000: "the webhook key is invalid: copy the robot's URL again",
            93004: "the robot was removed from the group",
        }.get(code, "")


class FeishuChannel(RobotChannel):
    """Feishu/Lark custom bot, text message, optionally signed (timestamp + secret)."""

    type: ClassVar[str] = "feishu"
    body_max: ClassVar[int | None] = 20 * 1024
    code_field = "code"
    transient_codes = frozenset({11232, 9499})  # frequency limit, server busy

    def payload(self, message: Message) -> dict[str, Any]:
        data: dict[str, Any] = {
            "msg_type": "text",
            "content": {"text": f"{message.title}\n\n{message.text.strip()}"},
        }
        buttons = _buttons(message, self.words(message)) if self.option("cards", True) else []
        if buttons:
            data = {"msg_type": "interactive", "card": _feishu_card(message, buttons)}
        secret = self.secret("secret_env", required=False)
        if secret:
            stamp = str(http.unix_now())
            data["timestamp"] = stamp
            data["sign"] = feishu_sign(secret, stamp)
        return data

    def hint(self, code: int) -> str:
        return {
            19021: "signature mismatch: check FEISHU secret and the machine clock",
            19024: "the bot's keyword filter rejected the message",
        }.get(code, "")


def _buttons(message: Message, words: Phrases) -> list[tuple[str, str]]:
    """("watch", live or replay URL), ("add to calendar", the .ics): the buttons of a card
    about an event (none for digests, cancellations, or an event with neither)."""
    e = message.event
    if e is None or message.kind in (SlotKind.CANCELLED, SlotKind.DIGEST) or e.cancelled:
        return []
    replay = message.kind == SlotKind.REPLAY
    out = []
    watch = e.replay_url if replay else e.live_url
    if watch and watch.startswith(("https://", "http://")):
        out.append((words("button.watch_replay" if replay else "button.watch"), watch))
    if message.calendar_url and not replay:
        out.append((words("button.add"), message.calendar_url))
    return out


def _feishu_card(message: Message, buttons: list[tuple[str, str]]) -> dict[str, Any]:
    """A Feishu message card: header, the text as plain text (no lark_md: page text is not
    markup), the buttons."""
    return {
        "config": {"wide_screen_mode": True},
        "header": {
            "title": {"tag": "plain_text", "content": truncate(message.title, 100)},
            "template": "blue",
        },
        "elements": [
            {"tag": "div", "text": {"tag": "plain_text", "content": message.text.strip()}},
            {
                "tag": "action",
                "actions": [
                    {
                        "tag": "button",
                        "text": {"tag": "plain_text", "content": label},
                        "type": "primary" if i == 0 else "default",
                        "url": url,
                    }
                    for i, (label, url) in enumerate(buttons)
                ],
            },
        ],
    }


def feishu_sign(secret: str, timestamp: str) -> str:
    """Feishu: HMAC-SHA256 keyed with "timestamp\\nsecret" over an empty message, base64."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


class DingTalkChannel(RobotChannel):
    """DingTalk robot, markdown message, optionally signed (加签)."""

    type: ClassVar[str] = "dingtalk"
    body_max: ClassVar[int | None] = 20 * 1024
    transient_codes = frozenset({130101, -1})  # sending too fast, system busy

    def target(self) -> str:
        url = self.url()
        secret = self.secret("secret_env", required=False)
        if not secret:
            return url
        stamp = str(http.unix_now() * 1000)
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}timestamp={stamp}&sign={dingtalk_sign(secret, stamp)}"

    def payload(self, message: Message) -> dict[str, Any]:
        return {
            "msgtype": "markdown",
            "markdown": {"title": truncate(message.title, 64), "text": _markdown(message)},
        }

    def hint(self, code: int) -> str:
        return {
            310000: "signature, keyword or IP check failed: see the robot's security settings"
        }.get(code, "")


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """DingTalk: base64(HMAC-SHA256(secret, "timestamp\\nsecret")), URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return urllib.parse.quote_plus(base64.b64encode(digest.digest()).decode())


class SlackChannel(RobotChannel):
    """Slack incoming webhook with blocks (section text ≤ 3000 characters)."""

    type: ClassVar[str] = "slack"
    body_max: ClassVar[int | None] = 40 * 1024

    def payload(self, message: Message) -> dict[str, Any]:
        blocks: list[dict[str, Any]] = [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": truncate(message.title, 150)},
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": truncate(slack_escape(message.text), 3000)},
            },
        ]
        e = message.event
        if e is not None and message.kind != SlotKind.DIGEST:
            label = self.words(message)("button.when")
            blocks.append(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"*{label}:* {slack_when(e)}"},
                }
            )
        details = self.words(message)("button.details")
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{_slack_url(message.url)}|{details}>"}],
            }
        )
        return {"text": slack_escape(message.title), "blocks": blocks}

    def check_answer(self, answer: Answer) -> Receipt:
        return Receipt(note=answer.text(40) or "ok")  # Slack answers plain "ok"


def slack_escape(text: str) -> str:
    """Slack mrkdwn's control characters as entities: ``<!channel>``, ``<@U123>`` and
    ``<url|text>`` written on a page stay text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_url(url: str) -> str:
    """A URL inside ``<…|…>``: the characters that would end it percent-encoded."""
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")


def slack_when(e: Event) -> str:
    """The event's time as Slack date tokens: each reader sees it in their own zone (the
    fallback, for clients that cannot, in the event's zone)."""
    start, end = int(e.start.timestamp()), int(e.end.timestamp())
    if e.all_day:
        return f"<!date^{start}^{{date_long_pretty}}|{e.start:%Y-%m-%d}>"
    fallback = f"{e.start:%Y-%m-%d %H:%M} {e.timezone}"  # start/end are in the event's zone
    return (
        f"<!date^{start}^{{date_long_pretty}} {{time}}|{fallback}>"
        f"–<!date^{end}^{{time}}|{e.end:%H:%M}>"
    )
