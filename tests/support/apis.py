"""All the API stand-ins on one loopback server (WeCom, Feishu, DingTalk, Slack, listmonk,
WeChat), answering as their public documentation says, including their error codes, 429
with Retry-After, 5xx and answers slower than the client's timeout. Every request is
recorded in the ``Recorder``."""

from __future__ import annotations

from starlette.applications import Starlette

from . import listmonk, robots, wechat
from .listmonk import LISTMONK_AUTH
from .recorder import Recorder, Seen
from .robots import DINGTALK_SECRET, FEISHU_SECRET
from .wechat import PNG, WECHAT_APPS


def make_app(rec: Recorder) -> Starlette:
    return Starlette(routes=[*wechat.routes(rec), *robots.routes(rec), *listmonk.routes(rec)])


__all__ = [
    "DINGTALK_SECRET",
    "FEISHU_SECRET",
    "LISTMONK_AUTH",
    "PNG",
    "WECHAT_APPS",
    "Recorder",
    "Seen",
    "make_app",
]
