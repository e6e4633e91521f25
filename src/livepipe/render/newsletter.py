"""Newsletter emails: one announcement per event and a weekly digest, HTML + plain text.

HTML uses table layout and inline styles only (html.EMAIL): most mail clients drop <style>.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import ClassVar

from markupsafe import Markup

from ..models import Event
from ..timeutil import get_zone
from .context import Artifact, BuildContext, EventOutput
from .html import EMAIL, markdown_html
from .ics import primary_events

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


class NewsletterRenderer:
    name: ClassVar[str] = "newsletter"

    def render_site(self, ctx: BuildContext, fragments: Mapping[str, bytes]) -> Iterator[Artifact]:
        return self.digests(ctx)

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

    def digests(self, ctx: BuildContext) -> Iterator[Artifact]:
        """``newsletter/digest-<YYYY-Www>``: the events starting in each ISO week (site zone)."""
        site = ctx.settings.site
        zone = get_zone(site.timezone or "UTC")
        lang = site.language
        weeks: dict[str, list[Event]] = {}
        for e in primary_events(ctx):
            iso = e.start.astimezone(zone).isocalendar()
            weeks.setdefault(f"{iso.year}-W{iso.week:02d}", []).append(e)
        for week, events in sorted(weeks.items()):
            views = [ctx.view(e) for e in events]
            uids = tuple(v.uid for v in views)
            values = {"week": week, "events": views, "site": site}
            html = ctx.templates.render("newsletter", "digest.html", lang, **values)
            text = ctx.templates.render("newsletter", "digest.txt", lang, **values)
            yield Artifact(f"newsletter/digest-{week}.html", HTML, html.encode("utf-8"), uids)
            yield Artifact(f"newsletter/digest-{week}.txt", TEXT, text.encode("utf-8"), uids)
