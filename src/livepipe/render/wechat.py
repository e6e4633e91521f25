"""WeChat Official Account article (inline-styled HTML + metadata) and the group text.

The WeChat editor strips <style>, classes and scripts, so the article is allow-listed HTML with
inline styles only (html.WECHAT). Limits from the draft/add API: title ≤ 32 characters,
author ≤ 16, digest ≤ 128.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from collections.abc import Iterator, Mapping
from typing import ClassVar

from markupsafe import Markup

from ..addresses import split_url
from ..i18n import Phrases
from ..models import Event
from ..options import WECHAT_TITLE_MAX
from .context import Artifact, BuildContext, EventOutput
from .html import WECHAT, markdown_html, sanitize, truncate

TITLE_MAX = WECHAT_TITLE_MAX
AUTHOR_MAX = 16
DIGEST_MAX = 128


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
        # the allow-list also covers the templates
        return with_references(sanitize(body, WECHAT), ctx.view(e).words) + "\n"

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


_LINK = re.compile(r'<a\b[^>]*?\bhref="([^"]*)"[^>]*>(.*?)</a>', re.S)
_TAGS = re.compile(r"<[^>]+>")
_P = '<p style="margin:0 0 16px;font-size:15px;line-height:1.75;color:#333;">'
_REF = '<p style="margin:0 0 8px;font-size:13px;line-height:1.6;color:#666;word-break:break-all;">'
_H2 = '<h2 style="margin:24px 0 12px;font-size:18px;font-weight:bold;color:#1a5fb4;">'


def _inside_wechat(url: str) -> bool:
    parts = split_url(htmllib.unescape(url))
    return parts is not None and (parts.hostname or "").lower() == "mp.weixin.qq.com"


def with_references(article: str, words: Phrases) -> str:
    """WeChat removes links to pages outside mp.weixin.qq.com (the text stays, the link is
    gone): each such link becomes its text and a number, and the numbered references
    (text and URL) are listed at the end. A link whose text is its URL stays as that text;
    the same URL twice gets one number."""
    numbers: dict[str, int] = {}
    refs: list[tuple[int, str, str]] = []

    def cut(m: re.Match[str]) -> str:
        href, inner = m.group(1), m.group(2)
        if _inside_wechat(href):
            return m.group(0)
        text = htmllib.unescape(_TAGS.sub("", inner)).strip()
        url = htmllib.unescape(href)
        if not url.startswith(("http://", "https://")) or text in (url, url.rstrip("/")):
            return inner
        if url not in numbers:
            numbers[url] = len(numbers) + 1
            refs.append((numbers[url], text, url))
        return f"{inner}<sup>[{numbers[url]}]</sup>"

    body = _LINK.sub(cut, article)
    if not refs:
        return body
    title, sep = words("article.links"), words("article.link_sep")
    lines = [f"{_H2}{title}</h2>"] + [
        f"{_REF}[{n}] {htmllib.escape(text)}{sep}{htmllib.escape(url)}</p>" for n, text, url in refs
    ]
    block = "\n".join(lines)
    end = body.rfind("</section>")
    return f"{body[:end]}{block}\n{body[end:]}" if end != -1 else f"{body}\n{block}"


def qr_png(url: str, scale: int = 8) -> bytes:
    """The URL as a QR code, PNG (segno: pure Python)."""
    import io

    import segno

    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


def qr_block(src: str, words: Phrases) -> str:
    """The live URL's QR code (``src``: where the image is hosted) for the article's end:
    a link WeChat would remove, scanned with the phone instead."""
    label = htmllib.escape(words("article.qr"))
    return (
        f'{_P}<img src="{htmllib.escape(src)}" alt="{label}" '
        'style="width:200px;height:200px;display:block;margin:8px auto;"></p>\n'
        f'<p style="margin:0 0 16px;font-size:14px;line-height:1.6;color:#666;text-align:center;">'
        f"{label}</p>"
    )


def with_qr(article: str, src: str, words: Phrases) -> str:
    """``qr_block`` placed before the references (or at the end of the article)."""
    block = qr_block(src, words)
    heading = f"{_H2}{words('article.links')}</h2>"
    at = article.rfind(heading)
    if at == -1:
        at = article.rfind("</section>")
    if at == -1:
        return f"{article}{block}\n"
    return f"{article[:at]}{block}\n{article[at:]}"
