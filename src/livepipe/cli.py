"""The `livepipe` command line (typer): the same pipeline as the flows, without Prefect."""

from __future__ import annotations

import enum
import importlib
import json
import os
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from .build import BuildResult
from .config import Settings, find_config, load_settings
from .errors import ConfigError, PublishError, RenderError
from .models import Event, Message, Problem, Severity, SlotKind
from .plan import SendState
from .site import LoadResult, Site, load
from .text import console as safe_console
from .text import printable
from .timeutil import get_zone

if TYPE_CHECKING:  # the publishing side is imported by the commands that use it
    from .ledger import Ledger
    from .plan import Plan
    from .send import Outcome
    from .timeline import TimelineRow

app = typer.Typer(
    name="livepipe",
    help="Event pages → calendars, feeds, WeChat and newsletters, published on time.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Format(enum.StrEnum):
    text = "text"
    json = "json"
    github = "github"


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """Event pages → calendars, feeds, WeChat and newsletters, published on time."""
    if version:
        from . import __version__

        typer.echo(printable(f"livepipe {__version__}"))
        raise typer.Exit()


PathArg = Annotated[
    Path, typer.Argument(help="A page, a folder of pages, or a site root (with livepipe.toml).")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="livepipe.toml to use (default: nearest one above PATH)."),
]


def _load(path: Path, config: Path | None) -> LoadResult:
    try:
        return load(Site.locate(path, config=config))
    except ConfigError as exc:
        _fail(str(exc))
    except FileNotFoundError:
        _fail(f"{path}: no such file or folder")


def _fail(message: str) -> NoReturn:
    safe_console(stderr=True, soft_wrap=True).print(
        f"[bold red]error:[/] {escape(message)}", highlight=False
    )
    raise typer.Exit(2)


@app.command()
def check(
    path: PathArg = Path("."),
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    events: Annotated[bool, typer.Option(help="Also print a table of the events found.")] = False,
    channels: Annotated[
        bool,
        typer.Option(
            "--channels",
            help="Also check that every channel can send from this environment (its options "
            "and secret variables): where `up` or a worker runs, not in a content PR.",
        ),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Parse and validate every page; print each problem as path:line. Exit 1 on errors."""
    result = _load(path, config)
    broken: dict[str, ConfigError] = {}
    if channels:
        from .publish import broken_channels, make_channels

        broken = broken_channels(make_channels(result.site.settings))
    if format is Format.json:
        payload = {
            "events": [e.to_json() for e in result.events],
            "problems": [p.to_json() for p in result.problems],
        }
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    elif format is Format.github:
        for p in result.problems:
            sys.stdout.write(_github_annotation(p) + "\n")
        sys.stdout.write(_summary(result) + "\n")
    else:
        for p in result.problems:
            sys.stdout.write(p.format() + "\n")
        if events:
            print_events(result.events)
        sys.stdout.write(_summary(result) + "\n")
    _report_broken(broken)
    raise typer.Exit(1 if result.errors or broken else 0)


def _summary(result: LoadResult) -> str:
    skipped = f", {len(result.drafts)} drafts skipped" if result.drafts else ""
    return (
        f"{result.pages} pages: {len(result.events)} events, "
        f"{result.errors} errors, {result.warnings} warnings{skipped}"
    )


def _github_annotation(p: Problem) -> str:
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


@app.command()
def build(
    path: PathArg = Path("."),
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("dist"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only print errors.")] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Only these renderers: ics, feeds, wechat, newsletter."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Validate, render every artifact (ICS, feeds, WeChat, newsletter) and write OUT."""
    from .build import build as run_build

    result = _load(path, config)
    console = safe_console(stderr=True)
    shown = (Severity.ERROR,) if quiet else (Severity.ERROR, Severity.WARNING)
    for p in result.problems:
        if p.severity in shown:
            console.print(p.format(), highlight=False, markup=False, soft_wrap=True)
    try:
        if quiet or not console.is_terminal:
            built = run_build(result, out, only=tuple(only or ()))
        else:
            with Progress(
                SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True
            ) as bar:
                task = bar.add_task("rendering", total=None)

                def tick(name: str, count: int) -> None:
                    bar.update(task, description=f"rendering {name}: {count} files")

                built = run_build(result, out, progress=tick, only=tuple(only or ()))
    except (RenderError, OSError) as exc:
        _fail(f"build failed: {exc}")
    if not quiet:
        print_build(built)
    raise typer.Exit(1 if result.errors else 0)


def print_build(built: BuildResult, console: Console | None = None) -> None:
    console = console or safe_console()
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


NowOpt = Annotated[
    str | None,
    typer.Option("--now", help="Pretend it is this instant (ISO 8601 with offset); default: now."),
]
LedgerOpt = Annotated[
    str | None,
    typer.Option(
        "--ledger",
        help="postgresql://… or a SQLite path (default: LIVEPIPE_LEDGER_URL, then "
        "ledger.url in livepipe.toml, then .livepipe/ledger.sqlite).",
    ),
]


def _now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"--now {value!r} is not an ISO 8601 date-time")
    if parsed.tzinfo is None:
        _fail(f"--now {value!r} has no UTC offset; write e.g. {value}+08:00 or {value}Z")
    return parsed


def _clock(value: str | None) -> Callable[[], datetime]:
    """A fixed clock for --now (tests, rehearsals), else the real one."""
    if value is None:
        return lambda: datetime.now(UTC)
    fixed = _now(value)
    return lambda: fixed


def _ledger(settings: Settings, url: str | None) -> Ledger:
    try:
        from .ledger import open_ledger

        return open_ledger(settings, url)
    except ConfigError as exc:
        _fail(str(exc))


@contextmanager
def _store(path: Path, config: Path | None, url: str | None) -> Iterator[tuple[Settings, Ledger]]:
    """The site's settings and its ledger, closed afterwards."""
    settings = _settings(path, config)
    store = _ledger(settings, url)
    try:
        yield settings, store
    finally:
        store.close()


def _settings(path: Path, config: Path | None) -> Settings:
    try:
        return Site.locate(path, config=config).settings
    except ConfigError as exc:
        _fail(str(exc))
    except FileNotFoundError:
        _fail(f"{path}: no such file or folder")


@app.command("plan")
def plan_cmd(
    path: PathArg = Path("."),
    now: NowOpt = None,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.text,
    ledger: LedgerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Show the send timeline: every send, when it is due, until when, and its state.

    Read-only: the ledger is not changed.
    """
    result = _load(path, config)
    settings = result.site.settings
    at = _now(now)
    store = _ledger(settings, ledger)
    try:
        state = store.state()
        from .plan import plan

        the_plan = plan(result.events, state, settings, at, failed_sources=result.failed)
    finally:
        store.close()
    from .timeline import timeline

    rows = timeline(state, the_plan)
    if format is Format.json:
        payload = {"now": at.isoformat(), "sends": [r.to_json() for r in rows]}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    else:
        print_timeline(rows, settings, at)
    uncertain = [r for r in rows if r.state is SendState.UNCERTAIN]
    raise typer.Exit(1 if uncertain else 0)


@app.command("sync")
def sync_cmd(
    path: PathArg = Path("."),
    now: NowOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to build.")] = Path("dist"),
    ledger: LedgerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Load, record the plan in the ledger, build OUT; print what changed."""
    result = _load(path, config)
    for p in result.problems:
        if p.severity is not Severity.INFO:
            safe_console(stderr=True).print(
                p.format(), highlight=False, markup=False, soft_wrap=True
            )
    store = _ledger(result.site.settings, ledger)
    try:
        from .pipeline import sync as run_sync

        done = run_sync(result.site, store, _now(now), out=out, loaded=result)
    except (RenderError, OSError) as exc:
        _fail(f"sync failed: {exc}")
    finally:
        store.close()
    print_changes(done.plan)
    try:
        from .publish import broken_channels, make_channels

        broken = broken_channels(make_channels(result.site.settings))
    except ConfigError as exc:
        _fail(str(exc))
    _report_broken(broken)
    raise typer.Exit(1 if result.errors or broken else 0)


@app.command("send-due")
def send_due_cmd(
    path: PathArg = Path("."),
    now: NowOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what each channel would receive; send nothing.")
    ] = False,
    ledger: LedgerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Send every due, still valid, unsent send once, through its channel."""
    settings = _settings(path, config)
    from .send import Result, Sender

    try:
        with Sender.open(settings, clock=_clock(now), ledger_url=ledger) as sender:
            outcomes = sender.dry_run() if dry_run else sender.send_due()
    except ConfigError as exc:
        _fail(str(exc))
    console = safe_console()
    for o in outcomes:
        s = o.send
        console.print(
            f"[bold]{o.state:8}[/] {s.slot} → {s.channel}  {s.uid}  [dim]{s.key}[/]"
            + (f"  {o.detail}" if o.detail and o.detail != s.key else ""),
            highlight=False,
            soft_wrap=True,
        )
        if o.preview:
            console.print(o.preview, markup=False, highlight=False, soft_wrap=True)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(_counts(outcomes).items()))
    console.print(f"{len(outcomes)} sends{': ' + summary if summary else ''}", highlight=False)
    _report_broken(sender.broken)
    failed = any(o.state is Result.FAILED for o in outcomes)
    raise typer.Exit(1 if failed or sender.broken else 0)


def _report_broken(broken: dict[str, ConfigError]) -> None:
    """Channels that cannot send: said once each; their sends stay pending."""
    console = safe_console(stderr=True)
    for name in sorted(broken):
        console.print(
            f"[bold red]error:[/] channel {escape(name)} cannot send, its sends stay pending: "
            f"{escape(str(broken[name]))}",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def watch(
    path: PathArg = Path("."),
    now: NowOpt = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="Keep watching every open window (what the watch runs do): record what is "
            "seen in the ledger and send the live notices. Ctrl-C stops.",
        ),
    ] = False,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.text,
    ledger: LedgerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Show what each stream watcher sees right now: the events whose watching window is
    open at NOW, their room, and the platform's answer (one request per room; nothing is
    recorded). Exit 1 when a platform answers with an error."""
    if follow:
        if now is not None:
            _fail("--follow watches in real time: leave out --now")
        _follow(path, config, ledger)
        return
    result = _load(path, config)
    settings = result.site.settings
    at = _now(now)
    from datetime import timedelta

    from .streams import StreamStatus, targets
    from .watch import http_client, probe

    found = targets(result.events, settings, at, at + timedelta(microseconds=1))
    rows = []
    with http_client(settings) as client:
        seen = {t.stream: probe(client, t.stream, settings.watch, at) for t in found}
    for t in found:
        o = seen[t.stream]
        rows.append(
            {
                "uid": t.uid,
                "title": t.event.title,
                "stream": t.stream.id,
                "opens": t.opens.isoformat(),
                "closes": t.closes.isoformat(),
                "status": str(o.status),
                "live_since": o.started_at.isoformat() if o.started_at else None,
                "replay_url": o.replay_url,
                "error": o.error or None,
            }
        )
    if format is Format.json:
        payload = {"now": at.isoformat(), "watching": rows}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    else:
        console = safe_console()
        if not rows:
            ahead = targets(result.events, settings, at, at + timedelta(days=60))
            nxt = (
                f"; next: {ahead[0].event.title} on {ahead[0].stream.id} from "
                f"{ahead[0].opens.isoformat()}"
                if ahead
                else ""
            )
            console.print(f"no watching window is open at {at.isoformat()}{nxt}", markup=False)
        table = Table(title=f"stream watchers at {at.isoformat()}", title_justify="left")
        for column in ("stream", "event", "window", "sees"):
            table.add_column(column)
        for r in rows:
            sees = str(r["status"])
            if r["live_since"]:
                sees += f" since {r['live_since']}"
            if r["replay_url"]:
                sees += f"\nreplay {r['replay_url']}"
            if r["error"]:
                sees += f"\n{r['error']}"
            table.add_row(
                escape(str(r["stream"])),
                escape(str(r["title"])),
                f"{r['opens']}\n{r['closes']}",
                escape(sees),
                style="red" if r["error"] else "",
            )
        if rows:
            console.print(table)
    raise typer.Exit(1 if any(o.status is StreamStatus.ERROR for o in seen.values()) else 0)


def _follow(path: Path, config: Path | None, ledger: str | None) -> None:
    import signal
    import threading

    from .send import Sender
    from .streams import StreamRef
    from .watch import Seen, watch_all

    settings = _settings(path, config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    console = safe_console()

    def said(ref: StreamRef, seen: Seen) -> None:
        o = seen.observation
        text = f"{seen.at.isoformat()} {ref.id}: {o.status}"
        text += f" ({o.error})" if o.error else ""
        text += f", made due {len(seen.added)} send(s)" if seen.added else ""
        console.print(text, markup=False, highlight=False)

    try:
        with Sender.open(settings, ledger_url=ledger) as sender:
            console.print(
                f"livepipe watch: watching open windows every "
                f"{settings.watch.interval.total_seconds():g} s; Ctrl-C stops",
                highlight=False,
            )
            watch_all(sender, stop, on_poll=said)
    except ConfigError as exc:
        _fail(str(exc))


@app.command()
def resolve(
    key: Annotated[str, typer.Argument(help="The key of an uncertain send.")],
    delivered: Annotated[
        bool,
        typer.Option("--delivered/--resend", help="It did arrive / it did not: send it again."),
    ],
    path: Annotated[Path, typer.Option("--site", help="Site root.")] = Path("."),
    ledger: LedgerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Settle an uncertain send after checking the channel by hand."""
    with _store(path, config, ledger) as (_, store):
        ok = store.resolve(key, datetime.now(UTC), delivered=delivered)
    if not ok:
        _fail(f"no uncertain send with key {key}")
    typer.echo(printable(f"{key}: {'sent' if delivered else 'pending again'}"))


def _flows() -> types.ModuleType:
    """flows.serve, imported only by the commands that run Prefect (it is slow to import)."""
    try:
        return importlib.import_module("flows.serve")
    except ImportError as exc:  # pragma: no cover - flows ship in the same wheel
        _fail(f"the Prefect flows are not installed: {exc}")


@app.command()
def run(
    path: PathArg = Path("."),
    out: Annotated[Path, typer.Option("--out", "-o")] = Path("dist"),
) -> None:
    """Run the sync flow once through Prefect's local ephemeral API (no server needed): build,
    plan, send what is due, schedule a publish run per future send, print the timeline."""
    summary = _flows().run_embedded(str(path), str(out.resolve()))
    with _store(path, None, None) as (settings, store):
        from .plan import Plan
        from .timeline import timeline

        rows = timeline(store.state(), Plan(datetime.now(UTC)))
    print_timeline(rows, settings, datetime.now(UTC))
    runs = _flows().scheduled_runs()
    console = safe_console()
    console.print(
        f"sync: {summary.get('sent', 0)} sent now, {summary.get('scheduled', 0)} publish runs "
        f"scheduled in Prefect ({len(runs)} waiting), {summary.get('errors', 0)} page errors",
        highlight=False,
    )
    zone = get_zone(settings.site.timezone or "UTC")
    for when, name, state in runs[:10]:
        try:
            local = f"{datetime.fromisoformat(when).astimezone(zone):%Y-%m-%d %H:%M %Z}"
        except ValueError:
            local = when
        console.print(f"  {local}  {name}  {state}", highlight=False, markup=False)
    if len(runs) > 10:
        console.print(f"  … and {len(runs) - 10} more", highlight=False)
    if runs:
        console.print(
            f"{len(runs)} sends are waiting for their time: nothing runs them after this "
            f"command ends. `livepipe up {path}` (long-running) delivers each one on time; "
            f"`livepipe send-due {path}` sends whatever is due whenever you run it.",
            highlight=False,
            markup=False,
        )
    if summary.get("watches"):
        console.print(
            f"{summary['watches']} stream watch runs scheduled: `livepipe up {path}` watches "
            "each livestream from 30 min before its start and says when it goes live.",
            highlight=False,
            markup=False,
        )
    root = settings.root or Path.cwd()
    console.print(
        f"dist: {out}/ (calendar.ics, feed.xml, atom.xml, feed.json)\n"
        f"outbox: {root / '.livepipe' / 'outbox'}\nledger: {root / '.livepipe' / 'ledger.sqlite'}\n"
        f"browse and subscribe: livepipe serve {path} --out {out}",
        highlight=False,
    )


@app.command()
def up(
    path: PathArg = Path("."),
    port: Annotated[int, typer.Option(help="Port of the local Prefect server.")] = 4200,
    hook_port: Annotated[int, typer.Option(help="Port of POST /hooks/git.")] = 8765,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish/--no-publish",
            help="Execute publish runs here (default), or leave them to `livepipe worker`s.",
        ),
    ] = True,
    threads: Annotated[int, typer.Option(help="Publish runs executed at once.")] = 16,
) -> None:
    """Long-running: a local Prefect server (unless PREFECT_API_URL is set), the sync and
    reconcile deployments, publish runs executed in threads of this process, and the git
    webhook endpoint."""
    _flows().up(str(path), port=port, hook_port=hook_port, publish=publish, threads=threads)


@app.command()
def worker(
    path: PathArg = Path("."),
    threads: Annotated[int, typer.Option(help="Publish runs executed at once.")] = 8,
) -> None:
    """Run publish runs of the Prefect server at PREFECT_API_URL in this process (start
    several, on several machines, with the ledger on PostgreSQL)."""
    _flows().worker(str(path.resolve()), threads=threads)


@app.command()
def notify(
    commit: Annotated[str, typer.Option("--commit", help="The merged commit SHA.")],
    ref: Annotated[str, typer.Option("--ref")] = "refs/heads/main",
    path: PathArg = Path("."),
) -> None:
    """CI step after a merge: emit `livepipe.content.merged` so the sync deployment runs."""
    _flows().notify(commit, ref, str(path))
    typer.echo(printable(f"livepipe.content.merged emitted for {commit}"))


@app.command()
def serve(
    path: PathArg = Path("."),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    out: Annotated[Path, typer.Option("--out", "-o", help="The folder to build and serve.")] = Path(
        "dist"
    ),
    watch: Annotated[
        float, typer.Option(help="Seconds between checks for changed pages; 0 turns it off.")
    ] = 1.0,
    public_url: Annotated[
        str | None,
        typer.Option(help="The public address behind a proxy, for subscribe links."),
    ] = None,
    ledger: LedgerOpt = None,
    config_file: ConfigOpt = None,
) -> None:
    """Build OUT and serve it: calendars and feeds with ETag/304 and gzip, an index page of
    upcoming events with subscribe and add-to-calendar links, /healthz; rebuilds on change."""
    import uvicorn

    from .inbound import bind, config
    from .serve import Rebuilder, create_app

    _settings(path, config_file)  # a missing site or broken settings: a clear error, exit 2
    try:
        sock = bind(host, port, "--port")
    except ConfigError as exc:
        _fail(str(exc))
    console = safe_console(stderr=True)
    rebuilder = Rebuilder(
        path,
        out,
        config=config_file,
        ledger=ledger,
        log=lambda m: console.print(m, highlight=False, markup=False),
    )
    if not rebuilder.check():
        _fail(rebuilder.error or "nothing to serve")
    app_ = create_app(out, rebuilder, interval=watch, public_url=public_url)
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"serving {out}/ at http://{shown}:{port}/  (subscribe: webcal://{shown}:{port}/"
        f"calendar.ics){'  watching for changes' if watch > 0 else ''}",
        highlight=False,
        soft_wrap=True,
    )
    # headers within 5 s, idle connections closed after 5 s, at most 512 at once (inbound.py)
    uvicorn.Server(config(app_)).run(sockets=[sock])


VALIDATORS_HELP = (
    "Folder with validate-ics and validate-feed (default: LIVEPIPE_VALIDATORS, then PATH; "
    "without them livepipe's own checks run)."
)


@app.command()
def preview(
    path: PathArg = Path("."),
    base: Annotated[
        str | None,
        typer.Option(help="A git ref: preview only the pages changed since it (default: all)."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the report.")] = Path(
        "preview"
    ),
    format: Annotated[
        Format,
        typer.Option(
            "--format", "-f", help="github: also print a Markdown summary for a pull request."
        ),
    ] = Format.text,
    validators: Annotated[Path | None, typer.Option(help=VALIDATORS_HELP)] = None,
    now: NowOpt = None,
    config: ConfigOpt = None,
) -> None:
    """A static HTML report of the changed event pages: calendar entry, WeChat article, group
    text, newsletter, feed entries, validation, and the send timeline with what changed.
    Exit 1 when a changed page or a generated file fails its checks."""
    from .preview import find_validators, make_preview, markdown, write_report

    try:
        site = Site.locate(path, config=config)
        result = make_preview(
            site, base=base, now=_now(now), validators=find_validators(validators)
        )
        report = write_report(result, out)
    except ConfigError as exc:
        _fail(str(exc))
    except FileNotFoundError:
        _fail(f"{path}: no such file or folder")
    if format is Format.github:
        sys.stdout.write(markdown(result))
    else:
        console = safe_console()
        for pv in result.events:
            mark = "[green]ok[/]  " if pv.ok else "[red]FAIL[/]"
            changes = ", ".join(c.what for c in pv.changes) or ("deleted" if not pv.event else "")
            console.print(
                f"{mark} {escape(pv.title)}  [dim]{escape(pv.source)}  {changes}[/]",
                highlight=False,
            )
        for pv in result.failed:
            console.print(f"[red]FAIL[/] {escape(pv.source)}: does not load", highlight=False)
        console.print(
            f"{len(result.events)} changed event page(s); report: {report}", highlight=False
        )
    raise typer.Exit(0 if result.ok else 1)


channels_app = typer.Typer(help="Look at and try the configured channels.", no_args_is_help=True)
app.add_typer(channels_app, name="channels")


@channels_app.command("list")
def channels_list(path: PathArg = Path("."), config: ConfigOpt = None) -> None:
    """The configured channels, their type, limits and whether they deduplicate by key."""
    settings = _settings(path, config)
    table = Table()
    for col in ("name", "type", "languages", "dedup by key", "enabled"):
        table.add_column(col)
    try:
        from .publish import make_channels

        built = make_channels(settings)
    except ConfigError as exc:
        _fail(str(exc))
    for name, cfg in settings.channels.items():
        chan = built.get(name)
        dedup = "yes" if chan is not None and chan.accepts_idempotency_key else "no"
        table.add_row(name, cfg.type, ", ".join(cfg.languages) or "all", dedup, str(cfg.enabled))
    safe_console().print(table)


@channels_app.command("test")
def channels_test(
    name: Annotated[str, typer.Argument(help="The channel to send a test message to.")],
    path: PathArg = Path("."),
    config: ConfigOpt = None,
) -> None:
    """Send one test message to one channel now (not recorded in the ledger)."""
    settings = _settings(path, config)
    try:
        from .publish import make_channels

        chan = make_channels(settings).get(name)
    except ConfigError as exc:
        _fail(str(exc))
    if chan is None:
        _fail(f"no enabled channel {name!r}; configured: {', '.join(settings.channels)}")
    now = datetime.now(UTC)
    lang = settings.site.default_language or "en"
    message = Message(
        key=f"test-{int(now.timestamp())}",
        uid="test",
        slot="test",
        kind=SlotKind.ANNOUNCE,
        channel=name,
        lang=lang,
        title="livepipe test message",
        text=f"This is a test from livepipe for {settings.site.name} ({now:%Y-%m-%d %H:%M} UTC).\n",
        url=settings.site.base_url + "/",
        due=now,
    )
    try:
        chan.validate()
        receipt = chan.deliver(message)
    except PublishError as exc:
        hint = f" (hint: {exc.hint})" if exc.hint else ""
        _fail(f"{name}: {type(exc).__name__} {exc.code}: {exc}{hint}")
    except ConfigError as exc:
        _fail(str(exc))
    typer.echo(printable(f"{name}: sent ({receipt.remote_id or receipt.note or 'ok'})"))


def _counts(outcomes: list[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.state] = counts.get(o.state, 0) + 1
    return counts


def print_timeline(rows: list[TimelineRow], settings: Settings, now: datetime) -> None:
    zone = get_zone(settings.site.timezone or "UTC")
    console = safe_console()
    table = Table(
        title=f"send timeline at {now.astimezone(zone):%Y-%m-%d %H:%M} {zone.key} "
        f"({now.astimezone(UTC):%H:%M}Z); due times in {zone.key}, UTC below",
        title_justify="left",
    )
    wide = console.width >= 120
    table.add_column("due", no_wrap=True)
    table.add_column("valid until", no_wrap=True)
    table.add_column("slot → channel")
    table.add_column("event", ratio=1, min_width=12)
    table.add_column("state", no_wrap=True)
    if wide:
        table.add_column("key", no_wrap=True)
    styles = {
        "uncertain": "bold red",
        "failed": "red",
        "miss": "yellow",
        "missed": "yellow",
        "new": "green",
        "on stream start": "cyan",
        "if not live": "cyan",
        "withdraw": "dim",
        "withdrawn": "dim",
        "sent": "dim",
    }
    for r in rows:
        due, until = r.due.astimezone(zone), r.valid_until.astimezone(zone)
        cells = [
            f"{due:%m-%d %H:%M}\n[dim]{r.due.astimezone(UTC):%m-%d %H:%M}Z[/]",
            f"{until:%m-%d %H:%M}",
            f"{r.slot} → {r.channel}",
            r.title,
            r.state + (f"\n[dim]{r.note}[/]" if r.note else ""),
        ]
        table.add_row(*cells, *([r.key] if wide else []), style=styles.get(r.state, ""))
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


# Batch commands end holding a whole site (10k pages: millions of objects), and the
# interpreter's teardown frees them one by one: 0.3-0.4 s after the work is done. Their
# files are written and closed, their pools joined: they leave without the teardown.
_QUICK_EXIT = frozenset({"build", "check"})


def _storage_errors() -> tuple[type[BaseException], ...]:
    import sqlite3

    errors: list[type[BaseException]] = [OSError, sqlite3.Error]
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        errors.append(psycopg.Error)
    return tuple(errors)


def main() -> None:
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    try:
        try:
            app()
        except Exception as exc:
            if not isinstance(exc, _storage_errors()):
                raise
            # A full disk, a read-only folder, a ledger that went away: say so, no traceback.
            # Every ledger change is one transaction, so nothing was half recorded.
            safe_console(stderr=True, soft_wrap=True).print(
                f"[bold red]error:[/] {escape(str(exc) or type(exc).__name__)}\n"
                "    hint: check free disk space and that the site's .livepipe/ folder and "
                "the ledger are writable, then run the command again",
                highlight=False,
            )
            raise SystemExit(2) from None
    except SystemExit as exc:
        if command not in _QUICK_EXIT:
            raise
        code = exc.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)  # what the interpreter does for a non-int code
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)


schema_app = typer.Typer(help="Read your site's own page shapes.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")


@schema_app.command("suggest")
def schema_suggest(
    path: Annotated[Path, typer.Argument(help="A folder of event pages (e.g. _events).")],
    name: Annotated[str, typer.Option(help="The name of the proposed [schemas.NAME].")] = (
        "community"
    ),
    config: ConfigOpt = None,
) -> None:
    """Report the front-matter keys of a folder of pages (their shapes, how many pages have
    each) and propose a [schemas.NAME] mapping for livepipe.toml; `livepipe check` then
    validates it."""
    from .suggest import mapping_toml, propose, survey

    if not path.is_dir():
        _fail(f"{path}: not a folder of pages")
    found = config or find_config(path)
    try:
        settings = load_settings(found) if found else None
    except ConfigError as exc:
        _fail(str(exc))
    if settings is not None and settings.content_root is not None:
        content_root = settings.content_root
    else:  # no livepipe.toml yet: it goes beside the folder's parent
        content_root = path.resolve().parent
    with safe_console(stderr=True).status(f"reading the pages below {path} …"):
        s = survey(path)
    console = safe_console()
    console.print(f"{s.pages} pages with front matter below {path}", highlight=False)
    for problem in s.unreadable[:10]:
        console.print(f"  [yellow]unreadable:[/] {escape(problem)}", highlight=False)
    table = Table()
    for col in ("key", "pages", "shapes", "example"):
        table.add_column(col)
    for key, stats in sorted(s.keys.items(), key=lambda kv: (-kv[1].pages, kv[0])):
        shapes = ", ".join(f"{shape} {n}" for shape, n in stats.shapes.most_common())
        table.add_row(
            key, str(stats.pages), shapes, escape(stats.examples[0] if stats.examples else "")
        )
    console.print(table)
    chosen = propose(s)
    if "start" not in chosen:
        _fail("no key holds dates or times on most pages: is this a folder of event pages?")
    where = found or content_root / "livepipe.toml"
    console.print(
        f"\nProposed mapping (add it to {where}, then run `livepipe check`):\n", highlight=False
    )
    toml = mapping_toml(s, chosen, name, content_root)
    if found is None:
        toml = (
            '[site]\ncontent_dir = "."\n# timezone = "Europe/Berlin"  # for times written '
            "without an offset or a zone field\n\n" + toml
        )
    typer.echo(toml, nl=False)
