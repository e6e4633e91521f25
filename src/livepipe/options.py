"""Each channel type's options in ``[channels.NAME]``, as typed models: validated when the
settings load (an unknown key gets a did-you-mean, a value of the wrong type its key), read
by the planner (WeChat's mass-send policy) and the publishers, and listed in the settings
reference (docs/settings.md is generated from these classes).

Secrets never appear here: an option ending in ``_env`` names the environment variable that
holds one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from .addresses import http_url_problem
from .timeutil import parse_duration


def _duration(value: object) -> object:
    return parse_duration(value) if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


def _http_url(value: str) -> str:
    """A URL written in livepipe.toml: checked when the settings load (`check` says it), not
    at the first send."""
    problem = http_url_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
WECHAT_TITLE_MAX = 32  # characters of an article title (draft/add)


class ChannelOptions(BaseModel):
    """What every channel takes."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)
    type: ClassVar[str] = ""
    # the longest title the service shows whole (check warns about longer ones)
    title_max: ClassVar[int | None] = None
    kind: str = Field(default="", alias="type", description="the channel type (required)")
    enabled: bool = Field(default=True, description="false: the channel is not used")
    languages: tuple[str, ...] = Field(
        default=(), description='only pages in these languages, e.g. ["zh"] (empty: all)'
    )
    timeout: float = Field(
        default=10.0, gt=0, le=600, description="seconds one request may take in all"
    )


class OutboxOptions(ChannelOptions):
    type: ClassVar[str] = "outbox"
    path: str = Field(
        default=".livepipe/outbox", description="the folder (inside the site) for the files"
    )


class WebhookOptions(ChannelOptions):
    type: ClassVar[str] = "webhook"
    url: HttpUrl | None = Field(default=None, description="where to POST (required)")
    secret_env: str | None = Field(
        default=None, description="variable holding the HMAC signing secret (required)"
    )
    unsigned: bool = Field(default=False, description="true: send without a signature")
    idempotency: bool = Field(
        default=True, description="the receiver deduplicates by Idempotency-Key"
    )


class RobotOptions(ChannelOptions):
    url_env: str | None = Field(
        default=None, description="variable holding the robot's webhook URL (required)"
    )


class WeComOptions(RobotOptions):
    type: ClassVar[str] = "wecom"
    cards: bool = Field(default=True, description="a template card when the message fits one")


class FeishuOptions(RobotOptions):
    type: ClassVar[str] = "feishu"
    secret_env: str | None = Field(default=None, description="variable: the signing secret")
    cards: bool = Field(default=True, description="an interactive card with buttons")


class DingTalkOptions(RobotOptions):
    type: ClassVar[str] = "dingtalk"
    secret_env: str | None = Field(default=None, description="variable: the 加签 secret")


class SlackOptions(RobotOptions):
    type: ClassVar[str] = "slack"


class AppriseOptions(ChannelOptions):
    type: ClassVar[str] = "apprise"
    title_max: ClassVar[int | None] = 250
    url_env: str | None = Field(
        default=None, description="variable holding one or more apprise URLs (required)"
    )


class EmailOptions(ChannelOptions):
    type: ClassVar[str] = "email"
    title_max: ClassVar[int | None] = 200  # a subject longer than this is cut by most clients
    timeout: float = Field(default=20.0, gt=0, le=600, description="seconds per connection step")
    host: str | None = Field(default=None, description="the SMTP server (required)")
    port: int = Field(default=587, ge=1, le=65535, description="the SMTP server's port")
    security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls", description="STARTTLS on 587, TLS from the start (465), or none"
    )
    username_env: str | None = Field(default=None, description="variable: the SMTP user")
    password_env: str | None = Field(default=None, description="variable: its password")
    sender: str | None = Field(
        default=None, alias="from", description="the From address (required)"
    )
    to: str | None = Field(default=None, description="the To of Bcc'd batches (default: from)")
    recipients_file: str | None = Field(
        default=None, description="one address a line, inside the site (required)"
    )
    batch: int = Field(default=50, ge=1, le=1000, description="recipients per message (Bcc)")
    rate_per_second: float = Field(default=0.0, ge=0, description="messages a second (0: any)")
    unsubscribe: str | list[str] | None = Field(
        default=None, description="unsubscribe URIs; {email} is the recipient"
    )
    invite: bool = Field(default=True, description="calendar invitations in the emails")
    list_id: str | None = Field(default=None, description='List-Id (default: "Site" <name.host>)')


class ListmonkOptions(ChannelOptions):
    type: ClassVar[str] = "listmonk"
    url: HttpUrl | None = Field(default=None, description="listmonk's base URL (required)")
    username_env: str | None = Field(default=None, description="variable: the API user")
    token_env: str | None = Field(default=None, description="variable: its token")
    lists: list[int] = Field(default_factory=list, description="list ids (required)")
    sender: str | None = Field(default=None, alias="from", description="the From address")


class WeChatOptions(ChannelOptions):
    type: ClassVar[str] = "wechat"
    title_max: ClassVar[int | None] = WECHAT_TITLE_MAX
    timeout: float = Field(default=20.0, gt=0, le=600, description="seconds one call may take")
    appid_env: str | None = Field(default=None, description="variable: the AppID (required)")
    secret_env: str | None = Field(default=None, description="variable: the AppSecret")
    api: HttpUrl = Field(default="https://api.weixin.qq.com", description="the API base")
    draft_only: bool = Field(default=False, description="stop at the draft (publish by hand)")
    default_cover: str | None = Field(
        default=None, description="cover for pages without one: a URL or a file in the site"
    )
    mass_send: bool | Literal["daily"] = Field(
        default=False, description='push to followers; "daily": once a day, gathered'
    )
    tag_id: int | None = Field(default=None, description="only followers with this tag")
    preview_to: list[str] = Field(
        default_factory=list, description='reviewers: openids or "wxname:ID"'
    )
    preview_lead: Duration = Field(
        default=timedelta(hours=2), description="reviewers get it this long before everyone"
    )
    daily_at: str = Field(default="20:00", description="the daily mass-send's time (site zone)")
    qr: bool = Field(default=True, description="the live URL as a QR code in the article")
    cover_font: str | None = Field(default=None, description="a CJK font file in the site")
    cover_label: str = Field(default="", description="a label on generated covers")
    cover_colors: tuple[str, str] = Field(
        default=("#1a5fb4", "#ffffff"), description="background and text of generated covers"
    )

    @field_validator("daily_at")
    @classmethod
    def _clock(cls, v: str) -> str:
        hour, _, minute = v.partition(":")
        if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
            raise ValueError('daily_at is a time of day such as "20:00"')
        return f"{int(hour):02d}:{int(minute):02d}"

    @property
    def reviewers_first(self) -> timedelta | None:
        """How long before a mass-send its reviewers get it, or None (no reviewers)."""
        return self.preview_lead if self.mass_send and self.preview_to else None

    @property
    def daily(self) -> str | None:
        """The local time of the day's one mass-send, for ``mass_send = "daily"``."""
        return self.daily_at if self.mass_send == "daily" else None


OPTIONS: dict[str, type[ChannelOptions]] = {
    cls.type: cls
    for cls in (
        OutboxOptions,
        WebhookOptions,
        WeComOptions,
        FeishuOptions,
        DingTalkOptions,
        SlackOptions,
        EmailOptions,
        ListmonkOptions,
        WeChatOptions,
        AppriseOptions,
    )
}
