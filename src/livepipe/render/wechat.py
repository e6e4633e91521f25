"""WeChat Official Account article (inline-styled HTML + metadata) and the group text.

The WeChat editor strips <style>, classes and scripts, so the article is allow-listed HTML with
inline styles only (html.WECHAT). Limits from the draft/add API: title ≤ 32 characters,
author ≤ 16, digest ≤ 128.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import ClassVar

from markupsafe import Markup

from ..models import Event
from .context import Artifact, BuildContext, EventOutput
from .html import WECHAT, markdown_html, sanitize, truncate

TITLE_MAX = 32
AUTHOR_MAX = 16
DIGEST_MAX = 128


def lint(event: Event) -> Iterator[tuple[str, str, str, str]]:
    """(code, front-matter key, message, hint) for each WeChat limit the page breaks."""
    if len(event.title) > TITLE_MAX:
        yield (
            "wechat-title-too-long",
            "title",
            f"title has {len(event.title)} characters; WeChat articles allow {TITLE_MAX}",
            f"shorten the title, or the article title is cut to "
            f"{truncate(event.title, TITLE_MAX)!r}",
        )


class WeChatRenderer:
    name: ClassVar[str] = "wechat"
    limits: ClassVar[dict[str, int]] = {
        "title": TITLE_MAX,
        "author": AUTHOR_MAX,
        "digest": DIGEST_MAX,
    }

    def render_site(self, ctx: BuildContext, fragments: Mapping[str, bytes]) -> Iterator[Artifact]:
        return iter(())

    def render_event(self, e: Event, ctx: BuildContext) -> EventOutput:
        return EventOutput(tuple(self._files(e, ctx)))

    def article(self, e: Event, ctx: BuildContext) -> str:
        """The article body: allow-listed HTML with inline styles only."""
        body = ctx.templates.render(
            "wechat",
            "article.html",
            e.lang,
            e=ctx.view(e),
            summary_html=Markup(markdown_html(e.summary, WECHAT, shift_headings=True)),
        )
        return sanitize(body, WECHAT) + "\n"  # the allow-list also covers the templates

    def meta(self, e: Event, ctx: BuildContext) -> dict[str, str | None]:
        """The draft/add fields, within WeChat's limits."""
        return {
            "title": truncate(e.title, TITLE_MAX),
            "author": self.author(e, ctx),
            "digest": truncate(e.description or ctx.view(e).summary_text, DIGEST_MAX),
            "cover_image": e.cover_image,
            "content_source_url": e.url,
        }

    def _files(self, e: Event, ctx: BuildContext) -> Iterator[Artifact]:
        stem = ctx.stems[e.uid]
        html = self.article(e, ctx)
        yield Artifact(
            f"wechat/{stem}.html", "text/html; charset=utf-8", html.encode("utf-8"), (e.uid,)
        )
        meta = {**self.meta(e, ctx), "content": f"wechat/{stem}.html"}
        data = json.dumps(meta, ensure_ascii=False, indent=2) + "\n"
        yield Artifact(f"wechat/{stem}.json", "application/json", data.encode("utf-8"), (e.uid,))
        text = ctx.templates.render("wechat", "group.txt", e.lang, e=ctx.view(e)).strip() + "\n"
        yield Artifact(
            f"wechat/{stem}.txt", "text/plain; charset=utf-8", text.encode("utf-8"), (e.uid,)
        )

    def author(self, e: Event, ctx: BuildContext) -> str:
        configured = ctx.settings.wechat.author
        name = configured or next((s.name for s in e.speakers if s.name), ctx.settings.site.name)
        return truncate(name, AUTHOR_MAX)
