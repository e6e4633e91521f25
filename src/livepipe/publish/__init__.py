"""Publishers: one module per channel type, registered in ``PUBLISHERS``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..config import Settings
from ..errors import ConfigError
from .apprise_channel import AppriseChannel
from .base import Channel, KeyValue, Receipt, environ
from .email import EmailChannel
from .listmonk import ListmonkChannel
from .outbox import OutboxChannel
from .robots import DingTalkChannel, FeishuChannel, SlackChannel, WeComChannel
from .webhook import WebhookChannel
from .wechat import WeChatChannel

PUBLISHERS: dict[str, type[Channel]] = {
    c.type: c
    for c in (
        OutboxChannel,
        WebhookChannel,
        WeComChannel,
        FeishuChannel,
        DingTalkChannel,
        SlackChannel,
        EmailChannel,
        ListmonkChannel,
        WeChatChannel,
        AppriseChannel,
    )
}


def make_channels(
    settings: Settings,
    *,
    root: Path | None = None,
    env: Mapping[str, str] | None = None,
    kv: KeyValue | None = None,
) -> dict[str, Channel]:
    """Every enabled channel of the site, ready to send."""
    out: dict[str, Channel] = {}
    for name, cfg in settings.channels.items():
        if not cfg.enabled:
            continue
        cls = PUBLISHERS.get(cfg.type)
        if cls is None:
            raise ConfigError(
                f"channels.{name}: unknown type {cfg.type!r}",
                hint=f"use one of {', '.join(sorted(PUBLISHERS))}",
            )
        out[name] = cls(
            name,
            cfg,
            root=root or settings.root or Path.cwd(),
            env=env or environ(),
            kv=kv,
            network=settings.network.networks(),
            site_name=settings.site.name,
            site_url=settings.site.base_url,
        )
    return out


def broken_channels(channels: Mapping[str, Channel]) -> dict[str, ConfigError]:
    """The channels that cannot send (``Channel.validate``), with why."""
    broken: dict[str, ConfigError] = {}
    for name, channel in channels.items():
        try:
            channel.validate()
        except ConfigError as exc:
            broken[name] = exc
    return broken


__all__ = ["PUBLISHERS", "Channel", "Receipt", "broken_channels", "make_channels"]
