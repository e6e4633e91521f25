"""RSS 2.0, Atom (RFC 4287) and JSON Feed 1.1 of the site's events, newest start first.

Built with xml.etree (which escapes every text and attribute) and json, not templates; only
the HTML inside each item comes from a template. Ids are tag: URIs from the event uid.

Dates come from git and the ledger, never the clock, so the same content gives the same
bytes: an item's pubDate / published is when its page was first committed, updated /
date_modified its last significant change (``BuildContext.updated_time``). Pages that share a
commit (a first import) would all share one date, and readers would sort them arbitrarily
(W3C: DuplicateUpdated), so equal times are moved a second apart each, in feed order (the
newest start keeps the commit time): a reader sorting by date keeps the feed's order. Atom
is written in the default namespace (two npm parsers reject an ``atom:`` prefix); RSS keeps
``atom:link rel=self``, which is how RSS names it.
"""

from __future__ import annotations

import json
import mimetypes
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import ClassVar

from markupsafe import Markup

from .. import recurrence
from ..i18n import phrases
from ..identity import site_host, tag_uri
from ..models import Event
from .context import NEXT_DATES, Artifact, BuildContext, EventOutput
from .html import BASIC, markdown_html

ATOM_NS = "http://www.w3.org/2005/Atom"
ET.register_namespace("atom", ATOM_NS)
# The JSON Feed extension's description (JSON Feed 1.1: an extension object has "about").
EVENT_EXTENSION_ABOUT = "https://github.com/livepipe/livepipe/blob/main/README.md#json-feed-_event"


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
        dates = item_dates(ctx, items)
        for name, make in (("feed.xml", self.rss), ("atom.xml", self.atom)):
            yield Artifact(name, self.media_types[name], make(ctx, items, html, dates), uids)
        yield Artifact(
            "feed.json",
            self.media_types["feed.json"],
            self.json_feed(ctx, items, html, dates),
            uids,
        )

    def item_html(self, e: Event, ctx: BuildContext) -> str:
        return ctx.templates.render(
            "feeds",
            "item.html",
            e.lang,
            e=ctx.view(e),
            summary_html=Markup(markdown_html(e.summary, BASIC, shift_headings=True)),
        ).strip()

    def _title(self, e: Event, root: Path | None = None) -> str:
        if not e.cancelled:
            return e.title
        return phrases(e.lang, root)("status.cancelled", title=e.title)

    def rss(
        self, ctx: BuildContext, items: list[Event], html: dict[str, str], dates: Dates
    ) -> bytes:
        site = ctx.settings.site
        language = feed_language(ctx, items)
        rss = ET.Element("rss", {"version": "2.0"})
        ch = ET.SubElement(rss, "channel")
        ET.SubElement(ch, "title").text = site.name
        ET.SubElement(ch, "link").text = f"{site.base_url}/"
        ET.SubElement(ch, "description").text = site.description or site.name
        if language:
            ET.SubElement(ch, "language").text = language
        ET.SubElement(ch, "lastBuildDate").text = _rfc822(ctx.site_revision)
        ET.SubElement(ch, "generator").text = "livepipe"
        ET.SubElement(
            ch,
            f"{{{ATOM_NS}}}link",
            {"href": f"{site.base_url}/feed.xml", "rel": "self", "type": "application/rss+xml"},
        )
        for e in items:
            it = ET.SubElement(ch, "item")
            ET.SubElement(it, "title").text = self._title(e, ctx.settings.root)
            ET.SubElement(it, "link").text = e.url
            ET.SubElement(it, "guid", {"isPermaLink": "false"}).text = tag_uri(e.uid, site.tag_date)
            ET.SubElement(it, "pubDate").text = _rfc822(dates[e.uid][0])
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

    def atom(
        self, ctx: BuildContext, items: list[Event], html: dict[str, str], dates: Dates
    ) -> bytes:
        site = ctx.settings.site
        language = feed_language(ctx, items)
        # Plain names under a literal xmlns: ElementTree's default_namespace option refuses
        # unqualified attributes (href, rel, type), which Atom's are.
        attrs = {"xmlns": ATOM_NS, **({"xml:lang": language} if language else {})}
        feed = ET.Element("feed", attrs)

        def sub(parent: ET.Element, tag: str, text: str | None = None, **a: str) -> ET.Element:
            el = ET.SubElement(parent, tag, a)
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
            sub(entry, "title", self._title(e, ctx.settings.root))
            sub(entry, "published", _rfc3339(dates[e.uid][0]))
            sub(entry, "updated", _rfc3339(dates[e.uid][1]))
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

    def json_feed(
        self, ctx: BuildContext, items: list[Event], html: dict[str, str], dates: Dates
    ) -> bytes:
        site = ctx.settings.site
        language = feed_language(ctx, items)
        feed: dict[str, object] = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": site.name,
            "home_page_url": f"{site.base_url}/",
            "feed_url": f"{site.base_url}/feed.json",
            "description": site.description or site.name,
            "authors": [{"name": site.name}],
        }
        if language:
            feed["language"] = language
        entries = []
        for e in items:
            published, modified = dates[e.uid]
            item: dict[str, object] = {
                "id": tag_uri(e.uid, site.tag_date),
                "url": e.url,
                "title": self._title(e, ctx.settings.root),
                "content_html": html[e.uid],
                "summary": e.description,
                "date_published": _rfc3339(published),
                "date_modified": _rfc3339(modified),
                "language": e.lang,
                "tags": list(e.tags),
                # JSON Feed extension (keys starting with "_"): the event itself.
                "_event": {
                    "about": EVENT_EXTENSION_ABOUT,
                    "start": e.start_date.isoformat() if e.all_day else e.start.isoformat(),
                    "end": e.end_date.isoformat() if e.all_day else e.end.isoformat(),
                    "timezone": e.timezone,
                    "all_day": e.all_day,
                    "status": str(e.status),
                    "location": e.location,
                    "online": e.online,
                    "live_url": e.live_url,
                    "replay_url": e.replay_url,
                    **(
                        {
                            "rrule": e.rrule,
                            "next": [s.isoformat() for s in next_starts(ctx, e)],
                        }
                        if e.rrule
                        else {}
                    ),
                },
            }
            if e.cover_image:
                item["image"] = e.cover_image
            entries.append(item)
        feed["items"] = entries
        return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


Dates = Mapping[str, tuple[datetime, datetime]]  # uid → (published, updated)


def next_starts(ctx: BuildContext, e: Event) -> list[datetime]:
    """A recurring event's next occurrences (from ``ctx.now``, else the site's newest
    revision); [] for a one-off event."""
    if not e.rrule:
        return []
    return recurrence.upcoming(e, ctx.now or ctx.site_revision, NEXT_DATES)


def item_dates(ctx: BuildContext, items: list[Event]) -> dict[str, tuple[datetime, datetime]]:
    """Each item's (published, updated): first and last commit, made distinct (see above);
    updated is never before published."""
    published = _distinct(items, ctx.published_time)
    # never changed since publication: updated is published, the same (distinct) value
    same = {e.uid for e in items if ctx.updated_time(e) == ctx.published_time(e)}
    updated = _distinct(
        [e for e in items if e.uid not in same],
        ctx.updated_time,
        used={published[uid] for uid in same},
    )
    return {
        e.uid: (published[e.uid], max(published[e.uid], updated.get(e.uid, published[e.uid])))
        for e in items
    }


def _distinct(
    items: list[Event], time_of: Callable[[Event], datetime], used: set[datetime] | None = None
) -> dict[str, datetime]:
    used = set() if used is None else used
    out = {}
    for e in items:  # feed order: the newest start first keeps its time
        t = time_of(e).replace(microsecond=0)
        while t in used:
            t -= timedelta(seconds=1)
        used.add(t)
        out[e.uid] = t
    return out


def feed_language(ctx: BuildContext, items: list[Event]) -> str | None:
    """The site's default language, else the language most of the items are in."""
    if ctx.settings.site.default_language:
        return ctx.settings.site.default_language
    counts = Counter(e.lang for e in items if e.lang)
    return min(counts, key=lambda lang: (-counts[lang], lang)) if counts else None


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"
