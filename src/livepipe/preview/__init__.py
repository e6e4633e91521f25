"""`livepipe preview`: what a pull request changes, for the people who review it.

For the pages changed since a git ref (every page without one) it renders each event's
artifacts, runs the validators on them, and plans the sends twice: once for the base (as if
everything due so far had gone out) and once for the working tree against that state, so the
send timeline shows what the merge would do (reminders re-timed, notices added, sends
withdrawn). ``changes``: git and the simulated plan; ``checks``: the validators; ``report``:
the HTML report and the Markdown summary; here, the preview itself.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..build import context, render_all
from ..models import Event, Problem, Severity
from ..plan import Change
from ..render import Artifact, BuildContext
from ..render.feeds import FeedRenderer, item_dates
from ..site import LoadResult, Site, load
from ..timeline import TimelineRow
from .changes import changed_files, load_base, simulate
from .checks import Check, find_validators, own_checks, validate
from .report import markdown, write_report

ATOM = "{http://www.w3.org/2005/Atom}"


@dataclass
class EventPreview:
    uid: str
    source: str
    event: Event | None  # None: the page was deleted or no longer loads
    base: Event | None
    changes: list[Change] = field(default_factory=list)
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    feed: dict[str, str] = field(default_factory=dict)  # rss / atom / json → the entry
    in_feed: bool = False
    problems: list[Problem] = field(default_factory=list)
    sends: list[TimelineRow] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def shown(self) -> Event:
        """The event as it will be, or as it was when the page is gone."""
        shown = self.event or self.base
        assert shown is not None, "a preview of an event has the event or its base"
        return shown

    @property
    def title(self) -> str:
        return self.shown.title

    @property
    def ok(self) -> bool:
        errors = any(p.severity is Severity.ERROR for p in self.problems)
        return not errors and all(c.ok for c in self.checks)

    def artifact(self, prefix: str, suffix: str) -> Artifact | None:
        return next(
            (a for p, a in self.artifacts.items() if p.startswith(prefix) and p.endswith(suffix)),
            None,
        )


@dataclass
class Preview:
    site: Site
    base: str | None
    now: datetime
    events: list[EventPreview]
    failed: list[EventPreview]  # changed pages that do not load
    site_checks: list[Check]
    validator: str  # which validators ran
    site_files: list[str] = field(default_factory=list)  # settings/templates changed since base

    @property
    def ok(self) -> bool:
        return (
            not self.failed
            and all(e.ok for e in self.events)
            and all(c.ok for c in self.site_checks)
        )


def _feed_entries(e: Event, ctx: BuildContext) -> dict[str, str]:
    feeds = FeedRenderer()
    html = {e.uid: feeds.item_html(e, ctx)}
    dates = item_dates(ctx, [e])
    rss = ET.fromstring(feeds.rss(ctx, [e], html, dates)).find("channel/item")
    atom = ET.fromstring(feeds.atom(ctx, [e], html, dates)).find(f"{ATOM}entry")
    item = json.loads(feeds.json_feed(ctx, [e], html, dates))["items"][0]
    out = {"json": json.dumps(item, ensure_ascii=False, indent=2)}
    for name, element in (("rss", rss), ("atom", atom)):
        if element is not None:
            ET.indent(element)
            xml = ET.tostring(element, encoding="unicode")
            out[name] = (
                xml.replace("<atom:", "<").replace("</atom:", "</").replace("xmlns:atom=", "xmlns=")
            )
    return out


def _problems_by_source(result: LoadResult) -> dict[str, list[Problem]]:
    root = result.site.content_root.resolve()
    out: dict[str, list[Problem]] = {}
    for p in result.problems:
        try:
            rel = Path(p.path).resolve().relative_to(root).as_posix()
        except ValueError:
            rel = p.path
        out.setdefault(rel, []).append(p)
    return out


def make_preview(
    site: Site,
    *,
    base: str | None = None,
    now: datetime | None = None,
    validators: Path | None = None,
) -> Preview:
    now = now or datetime.now(UTC)
    head = load(site)
    base_result = load_base(site, base) if base else None
    sources = {e.source for e in head.events} | set(head.failed)
    changed, site_files = changed_files(site, base) if base else (sources, [])
    if site_files:  # every artifact may look different: show every page
        changed = sources | changed
    base_by_uid = {e.uid: e for e in base_result.events} if base_result else {}
    base_by_source = {e.source: e for e in base_by_uid.values()}
    changes, rows = simulate(base_result, head, now)
    ctx = context(head)
    artifacts = render_all(ctx)
    by_uid: dict[str, dict[str, Artifact]] = {}
    for art in artifacts:
        if len(art.uids) == 1 and "/" in art.path and not art.path.startswith("tags/"):
            by_uid.setdefault(art.uids[0], {})[art.path] = art
    in_feed = set(next(a.uids for a in artifacts if a.path == "feed.xml"))
    problems = _problems_by_source(head)

    previews: list[EventPreview] = []
    for e in head.events:
        if e.source not in changed:
            continue
        previews.append(
            EventPreview(
                e.uid,
                e.source,
                e,
                base_by_uid.get(e.uid) or base_by_source.get(e.source),
                [c for c in changes if c.uid == e.uid],
                by_uid.get(e.uid, {}),
                _feed_entries(e, ctx),
                e.uid in in_feed,
                problems.get(e.source, []),
                [r for r in rows if r.uid == e.uid or e.uid in r.carries],
            )
        )
    failed = [
        EventPreview("", src, None, base_by_source.get(src), problems=problems.get(src, []))
        for src in sorted(set(head.failed) & changed)
    ]
    head_uids = {e.uid for e in head.events}
    for gone in base_by_uid.values():  # deleted pages: their cancellation and withdrawn sends
        if gone.uid in head_uids or gone.source in head.failed or gone.source not in changed:
            continue
        previews.append(
            EventPreview(
                gone.uid,
                gone.source,
                None,
                gone,
                [c for c in changes if c.uid == gone.uid],
                sends=[r for r in rows if r.uid == gone.uid],
            )
        )
    previews.sort(key=lambda p: p.shown.start)

    files = {p: a.data for pv in previews for p, a in pv.artifacts.items() if p.endswith(".ics")}
    aggregates = ("calendar.ics", "feed.xml", "atom.xml", "feed.json")
    files.update({a.path: a.data for a in artifacts if a.path in aggregates})
    checks, tool = validate(files, validators)
    for pv in previews:
        pv.checks = [checks[p] for p in pv.artifacts if p in checks]
    return Preview(
        site,
        base,
        now,
        previews,
        failed,
        [checks[p] for p in aggregates if p in checks],
        tool,
        site_files,
    )


# ----------------------------------------------------------------------------------------------
# Output


__all__ = [
    "Check",
    "EventPreview",
    "Preview",
    "find_validators",
    "make_preview",
    "markdown",
    "own_checks",
    "simulate",
    "write_report",
]
