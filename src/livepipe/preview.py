"""`livepipe preview`: what a pull request changes, for the people who review it.

For the pages changed since a git ref (every page without one) it renders each event's
artifacts, runs the validators on them, and plans the sends twice: once for the base (as if
everything due so far had gone out) and once for the working tree against that state, so the
send timeline shows what the merge would do (reminders re-timed, notices added, sends
withdrawn). The result is a static HTML report, and a Markdown summary for a pull request.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .build import context, render_all
from .errors import ConfigError
from .gitsource import git
from .ledger.sqlite import SqliteLedger
from .models import Event, Problem, Severity
from .plan import Change, plan
from .records import SendState
from .render import RENDERERS, Artifact, BuildContext, timefmt
from .render.context import place
from .render.feeds import FeedRenderer, item_dates
from .render.templating import Templates
from .site import LoadResult, Site, load
from .timeline import Planned, TimelineRow, timeline
from .timeutil import get_zone
from .writer import write_all

ATOM = "{http://www.w3.org/2005/Atom}"


@dataclass(frozen=True)
class Check:
    """One validation result of one file."""

    file: str
    tool: str  # validate-ics / validate-feed / livepipe
    ok: bool
    detail: str = ""


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


# ----------------------------------------------------------------------------------------------
# git: which pages changed, and the content as it was at the base


def _repo(content_root: Path) -> tuple[Path, str]:
    """(the repository's top folder, the content folder relative to it)."""
    try:
        top = Path(git(content_root, "rev-parse", "--show-toplevel").decode().strip())
    except ConfigError:
        raise ConfigError(
            f"{content_root} is not in a git repository: --base needs one "
            "(leave --base out to preview every page)"
        ) from None
    rel = content_root.resolve().relative_to(top.resolve()).as_posix()
    return top, "." if rel == "." else rel


def changed_files(site: Site, base: str) -> tuple[set[str], list[str]]:
    """(pages, relative to the content folder, that differ between ``base`` and the working
    tree: committed, staged, unstaged and untracked changes, deletions included;
    the site's settings and template files that changed, relative to the repository)."""
    top, rel = _repo(site.content_root)
    try:
        git(top, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    except ConfigError:
        raise ConfigError(
            f"--base {base!r} is not a commit of {top}; "
            "fetch it first (in CI: actions/checkout with fetch-depth: 0)"
        ) from None
    diff = git(top, "diff", "--name-only", "-z", "--no-renames", base)
    new = git(top, "ls-files", "--others", "--exclude-standard", "-z")
    names = {n for n in (diff + new).decode("utf-8").split("\0") if n}
    prefix = "" if rel == "." else rel + "/"
    pages = {n.removeprefix(prefix) for n in names if n.startswith(prefix)}
    root = site.settings.root
    site_files: list[str] = []
    if root is not None:
        at = root.resolve().relative_to(top.resolve()).as_posix()
        own = "" if at == "." else at + "/"
        site_files = sorted(
            n for n in names if n == f"{own}livepipe.toml" or n.startswith(f"{own}templates/")
        )
    return pages, site_files


@contextmanager
def content_at(content_root: Path, base: str) -> Iterator[Path | None]:
    """The content folder as it was at ``base``, in a temporary folder (None: it did not
    exist then)."""
    top, rel = _repo(content_root)
    with tempfile.TemporaryDirectory(prefix="livepipe-base-") as tmp:
        try:
            data = git(top, "archive", "--format=tar", base, "--", rel)
        except ConfigError:
            yield None
            return
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(tmp, filter="data")
        folder = Path(tmp) / rel
        yield folder if folder.is_dir() else None


def load_base(site: Site, base: str) -> LoadResult | None:
    with content_at(site.content_root, base) as folder:
        if folder is None:
            return None
        # A throwaway folder: its pages must not replace the site's own page cache.
        return load(Site(site.settings, folder, (folder,)), workers=1, cache=False)


# ----------------------------------------------------------------------------------------------
# The send timeline: base state (what is live), then the working tree against it


def simulate(
    base: LoadResult | None, head: LoadResult, now: datetime
) -> tuple[list[Change], list[TimelineRow]]:
    """What planning ``head`` would change, and the send timeline, against the state the base
    left (everything due by ``now`` assumed sent)."""
    settings = head.site.settings
    with tempfile.TemporaryDirectory(prefix="livepipe-preview-") as tmp:
        ledger = SqliteLedger(Path(tmp) / "ledger.sqlite")
        try:
            ledger.migrate()
            if base is not None:
                ledger.apply(plan(base.events, ledger.state(), settings, now))
                for send in ledger.sends(SendState.PENDING):  # what was due has gone out
                    if send.due <= now and ledger.claim(send.key, now, "preview"):
                        ledger.mark_sent(send.key, "preview", now, note="assumed by preview")
            state = ledger.state()
        finally:
            ledger.close()
    head_plan = plan(head.events, state, settings, now, failed_sources=head.failed)
    return head_plan.changes, timeline(state, head_plan)


# ----------------------------------------------------------------------------------------------
# Validation: the independent validators where installed, else livepipe's own checks


def find_validators(explicit: Path | None = None) -> Path | None:
    """A folder holding validate-ics and validate-feed: --validators, LIVEPIPE_VALIDATORS,
    or the one on PATH."""
    env = os.environ.get("LIVEPIPE_VALIDATORS")
    on_path = shutil.which("validate-ics")
    for folder in (explicit, Path(env) if env else None, Path(on_path).parent if on_path else None):
        if folder is not None and (folder / "validate-ics").is_file():
            return folder
    return None


def _run_validator(folder: Path, tool: str, files: list[Path], root: Path) -> list[Check]:
    proc = subprocess.run(
        [str(folder / tool), "--json", *map(str, files)], capture_output=True, text=True
    )
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        detail = (proc.stderr or proc.stdout).strip()[:300]
        return [Check(str(f.relative_to(root)), tool, False, detail) for f in files]
    out = []
    for f in report["files"]:
        bad = [c for c in f["checks"] if not c["ok"]]
        detail = "; ".join(
            f"{c['name']}: " + ", ".join(x["message"] for x in c.get("findings", [])[:2])
            for c in bad
        )
        passed = ", ".join(c["name"] for c in f["checks"] if c["ok"])
        name = str(Path(f["file"]).resolve().relative_to(root.resolve()))
        out.append(Check(name, tool, bool(f["ok"]), detail or f"passed: {passed}"))
    return out


def own_checks(path: str, data: bytes) -> Check:
    """livepipe's own structural checks, when the independent validators are not installed."""
    try:
        if path.endswith(".ics"):
            from icalendar import Calendar

            lines = data.split(b"\r\n")
            if not data.endswith(b"\r\n") or any(b"\n" in line for line in lines):
                raise ValueError("lines must end with CRLF")
            if any(len(line) > 75 for line in lines):
                raise ValueError("a line is longer than 75 octets")
            events = Calendar.from_ical(data.decode("utf-8")).walk("VEVENT")
            for ev in events:
                missing = [p for p in ("UID", "DTSTAMP", "DTSTART") if p not in ev]
                if missing:
                    raise ValueError(f"a VEVENT has no {', '.join(missing)}")
            return Check(path, "livepipe", True, f"{len(events)} events, RFC 5545")
        if path.endswith(".json"):
            doc = json.loads(data)
            if "version" in doc and not str(doc["version"]).startswith("https://jsonfeed.org/"):
                raise ValueError("not a JSON Feed version URL")
            return Check(path, "livepipe", True, "valid JSON")
        ET.fromstring(data)
        return Check(path, "livepipe", True, "well-formed XML")
    except (ValueError, ET.ParseError) as exc:
        return Check(path, "livepipe", False, str(exc))


def validate(files: dict[str, bytes], validators: Path | None) -> tuple[dict[str, Check], str]:
    if validators is None:
        return {p: own_checks(p, d) for p, d in files.items()}, "livepipe's own checks"
    with tempfile.TemporaryDirectory(prefix="livepipe-validate-") as tmp:
        root = Path(tmp)
        paths: dict[str, Path] = {}
        for rel, data in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            paths[rel] = target
        ics = [p for r, p in paths.items() if r.endswith(".ics")]
        feeds = [p for r, p in paths.items() if not r.endswith(".ics")]
        checks = []
        if ics:
            checks += _run_validator(validators, "validate-ics", ics, root)
        if feeds:
            checks += _run_validator(validators, "validate-feed", feeds, root)
    return {c.file: c for c in checks}, f"validate-ics / validate-feed ({validators})"


# ----------------------------------------------------------------------------------------------


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


def _when_utc(e: Event) -> str:
    if e.all_day:
        return ""
    start, end = e.start.astimezone(UTC), e.end.astimezone(UTC)
    return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"


def write_report(preview: Preview, out: Path) -> Path:
    """Write ``out/index.html`` (and each changed event's files under ``out/files/``)."""
    settings = preview.site.settings
    zone = get_zone(settings.site.timezone or "UTC")
    write_all(
        out / "files",
        [a for pv in preview.events for a in pv.artifacts.values()],
    )
    html = Templates().render(
        "preview",
        "report.html",
        "en",
        p=preview,
        site=settings.site,
        zone=zone.key,
        local=lambda dt: f"{dt.astimezone(zone):%Y-%m-%d %H:%M}",
        utc=lambda dt: f"{dt.astimezone(UTC):%m-%d %H:%M}Z",
        when=timefmt.when,
        when_utc=_when_utc,
        place=place,
        text=lambda a: a.data.decode("utf-8") if a else "",
        wechat_meta=lambda pv: json.loads(a.data) if (a := pv.artifact("wechat/", ".json")) else {},
        renderers=list(RENDERERS),
    )
    (out / "index.html").write_text(html, encoding="utf-8")
    return out / "index.html"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def markdown(preview: Preview, limit: int = 40) -> str:
    """A summary that fits a pull-request comment or a GitHub step summary."""
    settings = preview.site.settings
    zone = get_zone(settings.site.timezone or "UTC")
    icon = "✅" if preview.ok else "❌"
    against = f" since `{preview.base}`" if preview.base else ""
    lines = [
        f"### {icon} livepipe preview: {len(preview.events)} event page(s) changed{against}",
        "",
    ]
    if preview.site_files:
        names = ", ".join(f"`{n}`" for n in preview.site_files)
        lines += [f"Settings or templates changed ({names}): every page is shown.", ""]
    for pv in preview.failed:
        for p in pv.problems:
            lines.append(
                f"- ❌ `{p.path}:{p.line}` {_md(p.message)}"
                + (f" — {_md(p.hint)}" if p.hint else "")
            )
    if preview.failed:
        lines.append("")
    if preview.events:
        lines += ["| event | when | changes | sends | checks |", "| --- | --- | --- | --- | --- |"]
    for pv in preview.events[:limit]:
        when = timefmt.when(pv.shown) if pv.event else "deleted"
        changes = "; ".join(f"{c.what} {c.detail}".strip() for c in pv.changes) or "—"
        new = sum(r.state is Planned.NEW for r in pv.sends)
        gone = sum(r.state is Planned.WITHDRAW for r in pv.sends)
        sends = f"{new} new, {gone} withdrawn, {len(pv.sends) - new - gone} kept"
        errors = [p for p in pv.problems if p.severity is not Severity.INFO]
        failed = [c for c in pv.checks if not c.ok]
        checks = (
            "✅"
            if not failed and not errors
            else "❌ "
            + _md(
                "; ".join(
                    [f"{p.path}:{p.line} {p.message}" for p in errors]
                    + [f"{c.file}: {c.detail}" for c in failed]
                )[:300]
            )
        )
        lines.append(f"| {_md(pv.title)} | {_md(when)} | {_md(changes)} | {sends} | {checks} |")
    if len(preview.events) > limit:
        lines.append(f"\n… and {len(preview.events) - limit} more in the HTML report.")
    upcoming = sorted(
        (
            r
            for pv in preview.events
            for r in pv.sends
            if r.state in (Planned.NEW, Planned.WITHDRAW)
        ),
        key=lambda r: r.due,
    )
    if upcoming:
        lines += [
            "",
            f"<details><summary>Send timeline ({zone.key}, UTC)</summary>",
            "",
            "| due | slot → channel | event | what |",
            "| --- | --- | --- | --- |",
        ]
        for r in upcoming[:limit]:
            due = f"{r.due.astimezone(zone):%Y-%m-%d %H:%M} ({r.due.astimezone(UTC):%H:%M}Z)"
            what = "new" if r.state is Planned.NEW else f"withdrawn: {r.note}"
            lines.append(f"| {due} | {r.slot} → {r.channel} | {_md(r.title)} | {_md(what)} |")
        lines += ["", "</details>"]
    bad_site = [c for c in preview.site_checks if not c.ok]
    lines += [
        "",
        f"Checked with {preview.validator}: "
        + ("all site calendars and feeds pass." if not bad_site else "")
        + "".join(f"\n- ❌ `{c.file}`: {_md(c.detail)}" for c in bad_site),
    ]
    return "\n".join(lines) + "\n"
