"""Markdown → safe HTML, HTML → allow-listed HTML with inline styles, Markdown → plain text.

Page bodies are untrusted: raw HTML in them (iframes, scripts) is dropped or unwrapped by an
allow-list sanitizer, never passed through. Profiles give each target its tags and styles
(WeChat's editor keeps only inline styles; mail clients ignore <style> blocks).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape, unescape
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from ..addresses import split_url

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


@functools.cache
def _markdown() -> MarkdownIt:
    """The Markdown parser, made on first use (an ICS-only build never needs it)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})


_DROP_WITH_CONTENT = frozenset(
    {
        "script",
        "style",
        "iframe",
        "object",
        "embed",
        "template",
        "noscript",
        "svg",
        "math",
        "head",
        "title",
        "form",
        "textarea",
        "select",
        "button",
        "video",
        "audio",
        "canvas",
    }
)
_VOID = frozenset({"img", "br", "hr"})
_URL_ATTRS = frozenset({"href", "src"})
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})


@dataclass(frozen=True)
class Profile:
    """Which tags and attributes survive, and the inline style each tag gets."""

    tags: frozenset[str]
    attrs: Mapping[str, frozenset[str]]
    styles: Mapping[str, str] = field(default_factory=dict)
    # what a start tag without attributes becomes (``_opening``), made once per profile
    openings: dict[str, str | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )


BASIC = Profile(
    tags=frozenset(
        {
            "p",
            "br",
            "strong",
            "em",
            "b",
            "i",
            "a",
            "img",
            "h2",
            "h3",
            "h4",
            "ul",
            "ol",
            "li",
            "blockquote",
            "code",
            "pre",
            "hr",
            "section",
            "span",
        }
    ),
    attrs={"a": frozenset({"href"}), "img": frozenset({"src", "alt"})},
)

WECHAT = Profile(
    tags=frozenset(
        {
            "p",
            "section",
            "span",
            "strong",
            "em",
            "img",
            "a",
            "h2",
            "h3",
            "ul",
            "ol",
            "li",
            "blockquote",
            "br",
            "code",
        }
    ),
    attrs={"a": frozenset({"href"}), "img": frozenset({"src", "alt"})},
    styles={
        "p": "margin:0 0 16px;font-size:15px;line-height:1.75;color:#333;",
        "h2": "margin:24px 0 12px;font-size:18px;font-weight:bold;color:#1a5fb4;",
        "h3": "margin:20px 0 8px;font-size:16px;font-weight:bold;color:#333;",
        "ul": "margin:0 0 16px;padding-left:20px;",
        "ol": "margin:0 0 16px;padding-left:20px;",
        "li": "margin:0 0 6px;font-size:15px;line-height:1.75;color:#333;",
        "blockquote": "margin:0 0 16px;padding:8px 12px;border-left:3px solid #1a5fb4;"
        "background:#f5f7fa;color:#555;",
        "img": "max-width:100%;height:auto;display:block;margin:8px auto;",
        "a": "color:#1a5fb4;text-decoration:none;",
        "code": "font-family:Menlo,Consolas,monospace;font-size:14px;background:#f2f2f2;"
        "padding:0 4px;",
        "strong": "font-weight:bold;",
    },
)

EMAIL = Profile(
    tags=BASIC.tags,
    attrs=BASIC.attrs,
    styles={
        "p": "margin:0 0 14px;font-size:15px;line-height:1.6;color:#222222;",
        "h2": "margin:22px 0 10px;font-size:18px;color:#111111;",
        "h3": "margin:18px 0 8px;font-size:16px;color:#111111;",
        "li": "margin:0 0 6px;font-size:15px;line-height:1.6;color:#222222;",
        "a": "color:#1a5fb4;",
        "img": "max-width:100%;height:auto;border:0;",
        "blockquote": "margin:0 0 14px;padding-left:12px;border-left:3px solid #cccccc;"
        "color:#555555;",
        "pre": "font-family:Menlo,Consolas,monospace;font-size:13px;white-space:pre-wrap;",
        "code": "font-family:Menlo,Consolas,monospace;font-size:13px;",
    },
)


def markdown_html(text: str, profile: Profile = BASIC, *, shift_headings: bool = False) -> str:
    """Render Markdown and sanitise it for ``profile``."""
    return sanitize(_rendered(text, shift_headings), profile)


@functools.lru_cache(maxsize=16)
def _rendered(text: str, shift_headings: bool) -> str:
    """Markdown → HTML, before sanitising: the renderers of one event (feed item, WeChat
    article, newsletter) each ask for the same summary in turn, and parse it once."""
    html: str = _markdown().render(text)
    if shift_headings:  # a page's `##` becomes `h3` inside an article that has its own h2
        html = re.sub(r"<(/?)h([1-5])\b", lambda m: f"<{m[1]}h{int(m[2]) + 1}", html)
    return html


def sanitize(html: str, profile: Profile) -> str:
    cleaner = _Cleaner(profile)
    return cleaner.result() if _plain(html, cleaner) else _parsed(html, profile)


def _parsed(html: str, profile: Profile) -> str:
    """``sanitize`` through HTMLParser, for any HTML."""
    cleaner = _Cleaner(profile)
    cleaner.feed(html)
    cleaner.close()
    return cleaner.result()


# Most HTML that reaches the sanitizer is plain: the templates' output, Markdown's: text,
# tags with double-quoted attribute values, character references. Such HTML is cut into
# the same tokens by one regex as by HTMLParser (whose pure-Python scanner was 40 % of a
# WeChat article's time); anything else (a comment, a declaration, a script or style, a
# `<` that starts no tag, another quoting or spacing) goes to HTMLParser. A test holds the
# two to the same output on generated HTML.
_SPACE = "[ \t\n\r\f]"
_NAME = "[a-zA-Z][-a-zA-Z0-9_:.]*"
_PLAIN_TOKEN = re.compile(
    rf'([^<]+)|<([a-zA-Z][a-zA-Z0-9]*)((?:{_SPACE}+{_NAME}(?:="[^"]*")?)*){_SPACE}*(/?)>'
    r"|</([a-zA-Z][a-zA-Z0-9]*)>"
)
_PLAIN_ATTR = re.compile(rf'{_SPACE}+({_NAME})(?:="([^"]*)")?')
# Elements whose content this Python's HTMLParser reads as text, not tags (later versions
# add RCDATA ones: textarea, title).
_RAW_TEXT = frozenset(
    (*HTMLParser.CDATA_CONTENT_ELEMENTS, *getattr(HTMLParser, "RCDATA_CONTENT_ELEMENTS", ()))
)


def _plain(html: str, cleaner: _Cleaner) -> bool:
    """Feed ``cleaner`` the tokens of ``html`` when it is plain (above); False when it is
    not (the cleaner is then half fed: throw it away). The usual tokens (text without a
    character reference or ``>``, a start tag without attributes whose opening the profile
    knows, the end tag of the element open last) are taken here as the cleaner's methods
    would take them; the rest go to those methods."""
    pos, end = 0, len(html)
    match = _PLAIN_TOKEN.match
    out, opened, dropping = cleaner.out, cleaner.open, cleaner.dropping
    openings = cleaner.profile.openings
    while pos < end:
        m = match(html, pos)
        if m is None:
            return False
        pos = m.end()
        text, tag, attrs, closed, end_tag = m.groups()
        if text is not None:
            if dropping:
                continue
            if "&" in text:
                text = escape(unescape(text), quote=False)
            elif ">" in text:
                text = text.replace(">", "&gt;")
            out.append(text)
        elif end_tag is not None:
            end_tag = end_tag.lower()
            if not dropping and opened and opened[-1] == end_tag:
                opened.pop()
                out.append(f"</{end_tag}>")
            else:
                cleaner.handle_endtag(end_tag)
        else:
            tag = tag.lower()
            if tag in _RAW_TEXT:  # HTMLParser reads their content as raw text
                return False
            if not attrs and not closed and not dropping and tag in openings:
                opening = openings[tag]  # (a tag dropped with its content is never here)
                if opening is not None:
                    out.append(opening)
                    if tag not in _VOID:
                        opened.append(tag)
                continue
            pairs = (
                [
                    (a[1].lower(), None if a[2] is None else unescape(a[2]))
                    for a in _PLAIN_ATTR.finditer(attrs)
                ]
                if attrs
                else []
            )
            if closed:
                cleaner.handle_startendtag(tag, pairs)
            else:
                cleaner.handle_starttag(tag, pairs)
    return True


class _Cleaner(HTMLParser):
    def __init__(self, profile: Profile) -> None:
        super().__init__(convert_charrefs=True)
        self.profile = profile
        self.out: list[str] = []
        self.open: list[str] = []
        self.dropping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.dropping:
            if tag == self.dropping[-1] and tag not in _VOID:
                self.dropping.append(tag)
            return
        if tag in _DROP_WITH_CONTENT:
            self.dropping.append(tag)
            return
        profile = self.profile
        if attrs:
            opening = _opening(profile, tag, attrs)
        else:  # most tags of a template: what they become depends on the profile only
            try:
                opening = profile.openings[tag]
            except KeyError:
                opening = profile.openings[tag] = _opening(profile, tag, attrs)
        if opening is None:
            return
        self.out.append(opening)
        if tag not in _VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.open and self.open[-1] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.dropping:
            if tag == self.dropping[-1]:
                self.dropping.pop()
            return
        if tag in self.open:
            while self.open:
                top = self.open.pop()
                self.out.append(f"</{top}>")
                if top == tag:
                    break

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(escape(data, quote=False))

    def result(self) -> str:
        while self.open:
            self.out.append(f"</{self.open.pop()}>")
        return "".join(self.out).strip()


def _opening(profile: Profile, tag: str, attrs: list[tuple[str, str | None]]) -> str | None:
    """The start tag ``tag`` becomes under ``profile``: its allowed attributes (URLs of a
    safe scheme only) and the profile's style; None when it goes (its text stays)."""
    if tag not in profile.tags:
        return None  # unwrap: keep the text, drop the tag
    kept = []
    allowed = profile.attrs.get(tag, frozenset())
    for name, value in attrs:
        if name not in allowed or value is None:
            continue
        if name in _URL_ATTRS and not _safe_url(value):
            continue
        kept.append(f' {name}="{escape(value, quote=True)}"')
    style = profile.styles.get(tag)
    if style:
        kept.append(f' style="{escape(style, quote=True)}"')
    if tag == "img" and not any(k.startswith(" src=") for k in kept):
        return None
    return f"<{tag}{''.join(kept)}>"


def _safe_url(value: str) -> bool:
    parts = split_url(value.strip())  # one that cannot be read is not safe
    return parts is not None and parts.scheme.lower() in _SAFE_SCHEMES


_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(\s*<?([^)\s>]+)>?[^)]*\)")
_TAG = re.compile(r"<[^>]+>")
_EMPH = re.compile(r"(\*\*|__|\*|`)(.+?)\1")


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_BULLET = re.compile(r"^\s*[-*+]\s+")
# A line without any of these characters is plain text already: no pattern above can match.
_MARKUP = re.compile(r"[!<\[*_`#+-]")


def markdown_text(text: str) -> str:
    """Markdown → readable plain text: images and HTML dropped, links as ``text (url)``."""
    out: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw
        if _MARKUP.search(line):
            line = _IMAGE.sub("", line)
            line = _TAG.sub("", line)
            line = _LINK.sub(lambda m: m[1] if m[1] == m[2] else f"{m[1]} ({m[2]})", line)
            line = _EMPH.sub(r"\2", line)
            line = _HEADING.sub("", line)
            line = _BULLET.sub("· ", line)
        out.append(line.rstrip())
    paragraphs = re.split(r"\n\s*\n", "\n".join(out))
    return "\n\n".join(_unwrap(p.strip()) for p in paragraphs if p.strip())


def _unwrap(paragraph: str) -> str:
    """Join soft-wrapped lines (not list items); no space between two CJK characters."""
    lines = paragraph.split("\n")
    if any(line.startswith("· ") for line in lines):
        return paragraph
    text = lines[0]
    for line in lines[1:]:
        line = line.strip()
        if not line:
            continue
        cjk = text and ord(text[-1]) > 0x2E80 and ord(line[0]) > 0x2E80
        text += ("" if cjk else " ") + line
    return text


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending with … when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
