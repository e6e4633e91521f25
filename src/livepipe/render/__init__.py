"""Renderers: one module per artifact kind, registered in ``RENDERERS`` (deterministic order).

A renderer is a small class with a ``name`` and one pure method
``render(ctx: BuildContext) -> Iterator[Artifact]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Protocol

from .context import Artifact, BuildContext, EventView
from .feeds import FeedRenderer
from .ics import IcsRenderer
from .newsletter import NewsletterRenderer
from .templating import Templates
from .wechat import WeChatRenderer


class Renderer(Protocol):
    name: ClassVar[str]

    def render(self, ctx: BuildContext) -> Iterator[Artifact]: ...


RENDERERS: dict[str, Renderer] = {
    r.name: r for r in (IcsRenderer(), FeedRenderer(), WeChatRenderer(), NewsletterRenderer())
}

__all__ = ["RENDERERS", "Artifact", "BuildContext", "EventView", "Renderer", "Templates"]
