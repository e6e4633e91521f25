"""How commands print: tables of events, builds and the send timeline, summaries, GitHub
annotations (terminal text cleaned of control characters)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from ..errors import ConfigError
from ..models import Event, Problem, SendState, Severity
from ..text import console as safe_console
from ..timeutil import get_zone

if TYPE_CHECKING:  # the heavy side is imported by the commands that use it
    from ..build import BuildResult
    from ..config import Settings
    from ..plan import Plan
    from ..send import Outcome
    from ..site import LoadResult
    from ..timeline import TimelineRow


def summary(result: LoadResult) -> str:
    skipped = f", {len(result.drafts)} drafts skipped" if result.drafts else ""
    return (
        f"{result.pages} pages: {len(result.events)} events, "
        f"{result.errors} errors, {result.warnings} warnings{skipped}"
    )


def github_annotation(p: Problem) -> str:
    level = {Severity.ERROR: "error", Severity.WARNING: "warning"}.get(p.severity, "notice")

    def esc(text: str, prop: bool = False) -> str:
        text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return text.replace(":", "%3A").replace(",", "%2C") if prop else text

    message = f"{p.message} (hint: {p.hint})" if p.hint else p.message
    return (
        f"::{level} file={esc(p.path, True)},line={p.line},title={esc(p.code, True)}"
        f"::{esc(message)}"
    )


def print_events(events: tuple[Event, ...], console: Console | None = None) -> None:
    console = console or safe_console()
    from rich.table import Table  # here: `check` prints no table (3 ms of its start)

    table = Table(title=f"{len(events)} events", title_justify="left")
    table.add_column("start", no_wrap=True)
    table.add_column("title")
    table.add_column("where")
    table.add_column("lang")
    table.add_column("status")
    for e in events:
        when = (
            f"{e.start:%Y-%m-%d} (all day)"
            if e.all_day
            else f"{e.start:%Y-%m-%d %H:%M} {e.start.tzname()}"
        )
        where = e.location or ("online" if e.online else "")
        if e.location and e.online:
            where += " + online"
        table.add_row(when, e.title, where, e.lang, str(e.status))
    console.print(table)


def print_build(built: BuildResult, console: Console | None = None) -> None:
    console = console or safe_console()
    from rich.table import Table

    table = Table(title=f"built {built.out}", title_justify="left")
    table.add_column("artifacts")
    table.add_column("files", justify="right")
    for label, prefix in (
        ("per-event calendars", "events/"),
        ("tag calendars", "tags/"),
        ("calendars", "calendar"),
        ("feeds", "feed."),
        ("atom", "atom."),
        ("WeChat", "wechat/"),
        ("newsletter", "newsletter/"),
    ):
        table.add_row(label, str(built.count(prefix)))
    console.print(table)
    report = built.report
    console.print(
        f"{len(built.files)} files: {len(report.written)} written, "
        f"{len(report.unchanged)} unchanged, {len(report.removed)} removed; "
        f"{len(built.load.events)} events, {built.load.errors} pages with errors left out",
        highlight=False,
    )
    base = built.out / "calendar.ics"
    console.print(
        f"subscribe: {base}  {built.out / 'feed.xml'}  {built.out / 'atom.xml'}  "
        f"{built.out / 'feed.json'}",
        highlight=False,
        soft_wrap=True,
    )


def report_broken(broken: Mapping[str, ConfigError]) -> None:
    """Channels that cannot send: said once each; their sends stay pending."""
    console = safe_console(stderr=True)
    for name in sorted(broken):
        console.print(
            f"[bold red]error:[/] channel {escape(name)} cannot send, its sends stay pending: "
            f"{escape(str(broken[name]))}",
            highlight=False,
            soft_wrap=True,
        )


def counts(outcomes: list[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.state] = counts.get(o.state, 0) + 1
    return counts


_TIMELINE_STYLES = {
    "uncertain": "bold red",
    "failed": "red",
    "miss": "yellow",
    "missed": "yellow",
    "held": "magenta",
    "new": "green",
    "on stream start": "cyan",
    "if not live": "cyan",
    "withdraw": "dim",
    "withdrawn": "dim",
    "sent": "dim",
}


def print_timeline(rows: list[TimelineRow], settings: Settings, now: datetime) -> None:
    """The timeline as a table that reads at any width: due time, send, event and state at
    80 columns; the end of each window from 100; UTC times and send keys from 120."""
    zone = get_zone(settings.site.timezone or "UTC")
    console = safe_console()
    width = console.width
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"send timeline at {now.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key}); "
        "times in that zone",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("due", no_wrap=True)
    if width >= 100:
        table.add_column("valid until", no_wrap=True)
    table.add_column("send", no_wrap=True)
    table.add_column("event", ratio=1, min_width=12, overflow="fold")
    table.add_column("state", max_width=18 if width < 120 else 28, overflow="fold")
    if width >= 120:
        table.add_column("key", no_wrap=True)
    for r in rows:
        due = f"{r.due.astimezone(zone):%m-%d %H:%M}"
        if width >= 120:
            due += f"\n[dim]{r.due.astimezone(UTC):%m-%d %H:%M}Z[/]"
        cells = [due]
        if width >= 100:
            cells.append(f"{r.valid_until.astimezone(zone):%m-%d %H:%M}")
        cells += [
            f"{r.slot}\n→ {r.channel}" if width < 120 else f"{r.slot} → {r.channel}",
            escape(r.title),
            str(r.state) + (f"\n[dim]{escape(r.note)}[/]" if r.note else ""),
        ]
        if width >= 120:
            cells.append(r.key)
        table.add_row(*cells, style=_TIMELINE_STYLES.get(r.state, ""))
    console.print(table)
    uncertain = [r for r in rows if r.state is SendState.UNCERTAIN]
    if uncertain:
        console.print(
            f"[bold red]{len(uncertain)} uncertain send(s)[/]: a process died during the call; "
            "check the channel, then `livepipe resolve KEY --delivered` or `--resend`:"
        )
        for r in uncertain:
            console.print(
                f"  {r.key}  {r.slot} → {r.channel}  {r.title}", highlight=False, markup=False
            )


def print_changes(p: Plan) -> None:
    console = safe_console()
    for c in p.changes:
        console.print(f"{c.what:11} {c.uid}  {c.detail}", highlight=False, markup=False)
    console.print(
        f"{len(p.add)} sends added, {len(p.withdraw)} withdrawn, {len(p.missed)} missed; "
        f"{len(p.events)} event records updated",
        highlight=False,
    )
    for rec, reason in p.withdraw:
        console.print(
            f"  withdrawn {rec.slot} → {rec.channel} {rec.uid} ({reason})",
            highlight=False,
            markup=False,
        )
    for rec in p.missed:
        console.print(
            f"  missed    {rec.slot} → {rec.channel} {rec.uid} "
            f"(window ended {rec.valid_until.isoformat()})",
            highlight=False,
            markup=False,
        )
    held = [s for s in p.add if s.key in p.held]
    if held:
        console.print(
            f"{len(held)} sends held: planned only by rules this livepipe version added, for "
            "events that did not change; `livepipe resend KEY` sends one, `livepipe sync "
            "--yes` all",
            highlight=False,
            markup=False,
        )
    for s in held:
        console.print(
            f"  held      {s.key_slot} → {s.channel} {s.uid} {s.key}",
            highlight=False,
            markup=False,
        )
