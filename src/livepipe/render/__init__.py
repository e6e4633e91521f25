"""Renderers: one module per artifact kind, registered in ``RENDERERS`` (deterministic order).

A renderer is a small class with a ``name`` and two pure methods, one per build stage:
``render_event(event, ctx) -> EventOutput`` makes an event's own files (events are independent,
so this stage runs in parallel) plus a fragment the renderer wants back, and
``render_site(ctx, fragments) -> Iterator[Artifact]`` assembles the aggregate files (calendars,
feeds, digests) from those fragments, so no event is rendered twice. A renderer may also
have ``prepare(ctx)``: run once before stage 1 (before worker processes fork), to make what
every event would otherwise make again in each worker (ICS: the VTIMEZONEs); and
``site_parts(ctx, fragments)``: its site stage as independent pieces, which a big build makes
in parallel (ICS: thousands of tag calendars).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import ClassVar, Protocol

from ..models import Event
from .context import Artifact, BuildContext, EventOutput, EventView
from .feeds import FeedRenderer
from .ics import IcsRenderer
from .newsletter import NewsletterRenderer
from .templating import Templates
from .wechat import WeChatRenderer


class Renderer(Protocol):
    name: ClassVar[str]

    def render_event(self, e: Event, ctx: BuildContext) -> EventOutput: ...

    def render_site(
        self, ctx: BuildContext, fragments: Mapping[str, bytes]
    ) -> Iterator[Artifact]: ...


RENDERERS: dict[str, Renderer] = {
    r.name: r for r in (IcsRenderer(), FeedRenderer(), WeChatRenderer(), NewsletterRenderer())
}

__all__ = [
    "RENDERERS",
    "Artifact",
    "BuildContext",
    "EventOutput",
    "EventView",
    "Renderer",
    "Templates",
]
