"""RSS 2.0, Atom (RFC 4287) and JSON Feed 1.1 of the site's events, newest start first.

Built with xml.etree (which escapes every text and attribute) and json, not templates; only
the HTML inside each item comes from a template. Ids are tag: URIs from the event uid; dates
are page revision times, so the same content gives the same bytes.
"""

from __future__ import annotations

import json
import mimetypes
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import ClassVar

from markupsafe import Markup

from ..identity import site_host, tag_uri
from ..models import Event
from .context import Artifact, BuildContext, EventOutput
from .html import BASIC, markdown_html

ATOM_NS = "http://www.w3.org/2005/Atom"
ET.register_namespace("atom", ATOM_NS)


def _rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc822(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC), usegmt=True)


def _image_type(url: str) -> str:
    guessed, _ = mimetypes.guess_type(url.split("?", 1)[0])
    return guessed or "image/jpeg"


class FeedRenderer:
    name: ClassVar[str] = "feeds"
    extension: ClassVar[str] = ".xml"
    media_types: ClassVar[dict[str, str]] = {
        "feed.xml": "application/rss+xml",
        "atom.xml": "application/atom+xml",
        "feed.json": "application/feed+json",
    }

    def render_event(self, e: Event, ctx: BuildContext) -> EventOutput:
        return EventOutput()  # feeds are aggregates only

    def render_site(self, ctx: BuildContext, fragments: Mapping[str, bytes]) -> Iterator[Artifact]:
        items = sorted(ctx.events, key=lambda e: (e.start, e.uid), reverse=True)
        items = items[: ctx.settings.feeds.max_items]
        html = {e.uid: self.item_html(e, ctx) for e in items}
        uids = tuple(e.uid for e in items)
        yield Artifact("feed.xml", self.media_types["feed.xml"], self.rss(ctx, items, html), uids)
        yield Artifact("atom.xml", self.media_types["atom.xml"], self.atom(ctx, items, html), uids)
        yield Artifact(
            "feed.json", self.media_types["feed.json"], self.json_feed(ctx, items, html), uids
        )

    def item_html(self, e: Event, ctx: BuildContext) -> str:
        return ctx.templates.render(
            "feeds",
            "item.html",
            e.lang,
            e=ctx.view(e),
            summary_html=Markup(markdown_html(e.summary, BASIC, shift_headings=True)),
        ).strip()

    def _title(self, e: Event) -> str:
        if not e.cancelled:
            return e.title
        return f"【已取消】{e.title}" if e.lang == "zh" else f"[Cancelled] {e.title}"

    def rss(self, ctx: BuildContext, items: list[Event], html: dict[str, str]) -> bytes:
        site = ctx.settings.site
        rss = ET.Element("rss", {"version": "2.0"})
        ch = ET.SubElement(rss, "channel")
        ET.SubElement(ch, "title").text = site.name
        ET.SubElement(ch, "link").text = f"{site.base_url}/"
        ET.SubElement(ch, "description").text = site.description or site.name
        if site.default_language:
            ET.SubElement(ch, "language").text = site.default_language
        ET.SubElement(ch, "lastBuildDate").text = _rfc822(ctx.site_revision)
        ET.SubElement(ch, "generator").text = "livepipe"
        ET.SubElement(
            ch,
            f"{{{ATOM_NS}}}link",
            {"href": f"{site.base_url}/feed.xml", "rel": "self", "type": "application/rss+xml"},
        )
        for e in items:
            it = ET.SubElement(ch, "item")
            ET.SubElement(it, "title").text = self._title(e)
            ET.SubElement(it, "link").text = e.url
            ET.SubElement(it, "guid", {"isPermaLink": "false"}).text = tag_uri(e.uid, site.tag_date)
            ET.SubElement(it, "pubDate").text = _rfc822(ctx.revision_time(e))
            ET.SubElement(it, "description").text = html[e.uid]
            for tag in e.tags:
                ET.SubElement(it, "category").text = tag
            if e.cover_image:
                ET.SubElement(
                    it,
                    "enclosure",
                    {"url": e.cover_image, "length": "0", "type": _image_type(e.cover_image)},
                )
        return _xml(rss)

    def atom(self, ctx: BuildContext, items: list[Event], html: dict[str, str]) -> bytes:
        site = ctx.settings.site
        attrs = {"xml:lang": site.default_language} if site.default_language else {}
        feed = ET.Element(f"{{{ATOM_NS}}}feed", attrs)

        def sub(parent: ET.Element, tag: str, text: str | None = None, **a: str) -> ET.Element:
            el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", a)
            el.text = text
            return el

        sub(feed, "id", f"tag:{site_host(site.base_url)},{site.tag_date}:feed")
        sub(feed, "title", site.name)
        if site.description:
            sub(feed, "subtitle", site.description)
        sub(feed, "updated", _rfc3339(ctx.site_revision))
        sub(feed, "link", href=f"{site.base_url}/atom.xml", rel="self", type="application/atom+xml")
        sub(feed, "link", href=f"{site.base_url}/", rel="alternate", type="text/html")
        sub(sub(feed, "author"), "name", site.name)
        sub(feed, "generator", "livepipe")
        for e in items:
            entry = sub(feed, "entry")
            sub(entry, "id", tag_uri(e.uid, site.tag_date))
            sub(entry, "title", self._title(e))
            sub(entry, "updated", _rfc3339(ctx.revision_time(e)))
            sub(entry, "link", href=e.url, rel="alternate", type="text/html")
            if e.cover_image:
                sub(
                    entry,
                    "link",
                    href=e.cover_image,
                    rel="enclosure",
                    type=_image_type(e.cover_image),
                )
            if e.description:
                sub(entry, "summary", e.description, type="text")
            sub(entry, "content", html[e.uid], type="html")
            for tag in e.tags:
                sub(entry, "category", term=tag)
        return _xml(feed)

    def json_feed(self, ctx: BuildContext, items: list[Event], html: dict[str, str]) -> bytes:
        site = ctx.settings.site
        feed: dict[str, object] = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": site.name,
            "home_page_url": f"{site.base_url}/",
            "feed_url": f"{site.base_url}/feed.json",
            "description": site.description or site.name,
            "authors": [{"name": site.name}],
        }
        if site.default_language:
            feed["language"] = site.default_language
        entries = []
        for e in items:
            stamp = _rfc3339(ctx.revision_time(e))
            item: dict[str, object] = {
                "id": tag_uri(e.uid, site.tag_date),
                "url": e.url,
                "title": self._title(e),
                "content_html": html[e.uid],
                "summary": e.description,
                "date_published": stamp,
                "date_modified": stamp,
                "language": e.lang,
                "tags": list(e.tags),
                # JSON Feed extension (keys starting with "_"): the event itself.
                "_event": {
                    "start": e.start_date.isoformat() if e.all_day else e.start.isoformat(),
                    "end": e.end_date.isoformat() if e.all_day else e.end.isoformat(),
                    "timezone": e.timezone,
                    "all_day": e.all_day,
                    "status": str(e.status),
                    "location": e.location,
                    "online": e.online,
                    "live_url": e.live_url,
                    "replay_url": e.replay_url,
                },
            }
            if e.cover_image:
                item["image"] = e.cover_image
            entries.append(item)
        feed["items"] = entries
        return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"
