"""Newsletter emails: one announcement per event and a weekly digest, HTML + plain text.

HTML uses table layout and inline styles only (html.EMAIL): most mail clients drop <style>.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import ClassVar

from markupsafe import Markup

from ..models import Event
from ..timeutil import get_zone
from .context import Artifact, BuildContext, EventOutput, KeyedPart
from .html import EMAIL, markdown_html
from .ics import primary_events

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


class NewsletterRenderer:
    name: ClassVar[str] = "newsletter"

    def render_site(self, ctx: BuildContext, fragments: Mapping[str, bytes]) -> Iterator[Artifact]:
        for part in self.site_parts(ctx, fragments):
            yield from part()

    def site_parts(self, ctx: BuildContext, fragments: Mapping[str, bytes]) -> list[KeyedPart]:
        """A digest per ISO week (site zone) of the events starting in it, each a part its
        events' keys decide (an unchanged week is not rendered again)."""
        zone = get_zone(ctx.settings.site.timezone or "UTC")
        weeks: dict[str, list[Event]] = {}
        for e in primary_events(ctx):
            iso = e.start.astimezone(zone).isocalendar()
            weeks.setdefault(f"{iso.year}-W{iso.week:02d}", []).append(e)
        parts = []
        for week, events in sorted(weeks.items()):
            make = functools.partial(self.digest, ctx, week, events)
            parts.append(KeyedPart(f"\0newsletter/digest-{week}", ((week, events),), make))
        return parts

    def render_event(self, e: Event, ctx: BuildContext) -> EventOutput:
        return EventOutput(tuple(self._files(e, ctx)))

    def _files(self, e: Event, ctx: BuildContext) -> Iterator[Artifact]:
        site = ctx.settings.site
        stem = ctx.stems[e.uid]
        view = ctx.view(e)
        values = {
            "e": view,
            "site": site,
            "summary_html": Markup(markdown_html(e.summary, EMAIL, shift_headings=True)),
        }
        html = ctx.templates.render("newsletter", "event.html", e.lang, **values)
        text = ctx.templates.render("newsletter", "event.txt", e.lang, **values)
        yield Artifact(f"newsletter/{stem}.html", HTML, html.encode("utf-8"), (e.uid,))
        yield Artifact(f"newsletter/{stem}.txt", TEXT, text.encode("utf-8"), (e.uid,))

    def digest(self, ctx: BuildContext, week: str, events: list[Event]) -> Iterator[Artifact]:
        """``newsletter/digest-<YYYY-Www>``: the events starting in that ISO week."""
        site = ctx.settings.site
        views = [ctx.view(e) for e in events]
        uids = tuple(v.uid for v in views)
        values = {"week": week, "events": views, "site": site}
        html = ctx.templates.render("newsletter", "digest.html", site.language, **values)
        text = ctx.templates.render("newsletter", "digest.txt", site.language, **values)
        yield Artifact(f"newsletter/digest-{week}.html", HTML, html.encode("utf-8"), uids)
        yield Artifact(f"newsletter/digest-{week}.txt", TEXT, text.encode("utf-8"), uids)
