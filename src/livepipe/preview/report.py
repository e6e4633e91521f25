"""The preview as a static HTML report (with each changed event's files) and as a Markdown
summary for the pull request."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

from ..models import Event, Severity
from ..render import RENDERERS, timefmt
from ..render.context import place
from ..render.templating import Templates
from ..timeline import Planned
from ..timeutil import get_zone
from ..writer import write_all

if TYPE_CHECKING:
    from . import Preview


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
