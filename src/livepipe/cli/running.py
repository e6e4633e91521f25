"""Commands that run livepipe: run, up, worker, notify, serve, watch."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import ConfigError
from ..models import SendState
from ..text import console as safe_console
from ..text import printable
from ..timeutil import get_zone

if TYPE_CHECKING:  # the publishing side is imported by the commands that use it
    pass

from .common import (
    ConfigOpt,
    Format,
    LedgerOpt,
    NowOpt,
    PathArg,
    app,
    fail,
    load_pages,
    parse_now,
    settings_of,
    store_of,
)
from .output import print_timeline

LogFormatOpt = Annotated[
    str,
    typer.Option("--log-format", help="text: one line per thing that matters; json: JSON lines."),
]


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
    log_format: LogFormatOpt = "text",
    ledger: LedgerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Show what each stream watcher sees right now: the events whose watching window is
    open at NOW, their room, and the platform's answer (one request per room; nothing is
    recorded). Exit 1 when a platform answers with an error."""
    if follow:
        if now is not None:
            fail("--follow watches in real time: leave out --now")
        _follow(path, config, ledger, log_format)
        return
    result = load_pages(path, config)
    settings = result.site.settings
    at = parse_now(now)
    from datetime import timedelta

    from ..records import StreamStatus
    from ..streams import targets
    from ..watch import http_client, probe

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


def _follow(path: Path, config: Path | None, ledger: str | None, log_format: str) -> None:
    """`watch --follow`: the watchers in this process, telling the story as `up` does (a
    line when a stream goes live, ends or is late, when a poll fails, when a send goes out)."""
    import signal
    import threading

    from ..activity import What, tell, to_console
    from ..send import Sender
    from ..watch import watch_all

    settings = settings_of(path, config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    to_console(get_zone(settings.site.timezone or "UTC"), as_json=log_format == "json")
    try:
        with Sender.open(settings, ledger_url=ledger) as sender:
            tell(
                What.STARTED,
                f"livepipe watch: watching open windows every "
                f"{settings.watch.interval.total_seconds():g} s; Ctrl-C stops",
            )
            watch_all(sender, stop)
            tell(What.STOPPING, "stopped")
    except ConfigError as exc:
        fail(str(exc))


@app.command()
def run(
    path: PathArg = Path("."),
    out: Annotated[Path, typer.Option("--out", "-o")] = Path("dist"),
) -> None:
    """Run the sync flow once through Prefect's local embedded API (no server needed): build,
    plan, send what is due (each send a task run of the sync), print the timeline and what
    is still waiting for its time."""
    from flows import runtime

    try:
        summary = runtime.run_embedded(str(path), str(out.resolve()))
    except ConfigError as exc:
        fail(str(exc))
    except Exception as exc:  # the sync run failed: its reason in one line, no traceback
        fail(f"the sync run failed: {type(exc).__name__}: {exc}"[:500])
    now = datetime.now(UTC)
    with store_of(path, None, None) as (settings, store):
        from ..records import Plan
        from ..timeline import timeline

        rows = timeline(store.state(), Plan(now))
        waiting = [s for s in store.sends(SendState.PENDING) if s.valid_until > now]
    print_timeline(rows, settings, now)
    console = safe_console()
    console.print(
        f"sync: {summary.get('sent', 0)} sent now, {summary.get('added', 0)} sends planned, "
        f"{summary.get('errors', 0)} page errors",
        highlight=False,
    )
    zone = get_zone(settings.site.timezone or "UTC")
    for s in waiting[:10]:
        console.print(
            f"  {s.due.astimezone(zone):%Y-%m-%d %H:%M %Z}  {s.key_slot} → {s.channel}  {s.key}",
            highlight=False,
            markup=False,
        )
    if len(waiting) > 10:
        console.print(f"  … and {len(waiting) - 10} more", highlight=False)
    if waiting:
        console.print(
            f"{len(waiting)} sends are waiting for their time: nothing sends them after this "
            f"command ends. `livepipe up {path}` (long-running) delivers each one on time; "
            f"`livepipe send-due {path}` sends whatever is due whenever you run it.",
            highlight=False,
            markup=False,
        )
    console.print(
        f"Livestreams are watched by `livepipe up {path}` (from 30 min before each start: "
        "it says when a stream really goes live); this one pass watches none.",
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


def _running(start: Callable[[], int]) -> None:
    """Run a long-running command: a busy port is exit 1, broken settings or a ledger newer
    than this livepipe exit 2, each one line."""
    from ..errors import PortInUseError

    try:
        code = start()
    except PortInUseError as exc:
        safe_console(stderr=True, soft_wrap=True).print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False
        )
        raise typer.Exit(1) from None
    except ConfigError as exc:
        fail(str(exc))
    raise typer.Exit(code)


@app.command()
def up(
    path: PathArg = Path("."),
    port: Annotated[
        int, typer.Option(help="Port of the local Prefect server (and its UI).")
    ] = 4200,
    hook_port: Annotated[
        int, typer.Option(help="Port of /hooks/git, /hooks/wechat, /healthz and /metrics.")
    ] = 8765,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish/--no-publish",
            help="Send from this process (default), or leave sending to `livepipe worker`s.",
        ),
    ] = True,
    threads: Annotated[int, typer.Option(help="Sends delivered at once.")] = 16,
    log_format: LogFormatOpt = "text",
) -> None:
    """Long-running: a local Prefect server (unless PREFECT_API_URL is set), the hooks with
    /healthz and /metrics, this process's dispatcher (a daily deliver run, one task run per
    send) and the sync, reconcile and watch runs in threads here. The first sync runs at
    once; Ctrl-C or SIGTERM stops everything within seconds."""
    from flows import runtime

    _running(
        lambda: runtime.up(
            str(path),
            port=port,
            hook_port=hook_port,
            publish=publish,
            threads=threads,
            log_format=log_format,
        )
    )


@app.command()
def worker(
    path: PathArg = Path("."),
    threads: Annotated[int, typer.Option(help="Sends delivered at once.")] = 16,
    port: Annotated[int, typer.Option(help="Port of /healthz and /metrics.")] = 8766,
    log_format: LogFormatOpt = "text",
) -> None:
    """Scale-out: deliver from the shared ledger and run watch runs of the Prefect server at
    PREFECT_API_URL in this process (start several, on several machines, the ledger on
    PostgreSQL)."""
    from flows import runtime

    _running(
        lambda: runtime.worker(
            str(path.resolve()), threads=threads, port=port, log_format=log_format
        )
    )


@app.command()
def notify(
    commit: Annotated[str, typer.Option("--commit", help="The merged commit SHA.")],
    ref: Annotated[str, typer.Option("--ref")] = "refs/heads/main",
    path: PathArg = Path("."),
) -> None:
    """CI step after a merge: emit `livepipe.content.merged` so the sync deployment runs."""
    from flows import runtime

    try:
        runtime.notify(commit, ref, str(path))
    except ConfigError as exc:
        fail(str(exc))
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
    from ..inbound import bind
    from ..serve import Rebuilder, ServeApp
    from ..serve.http import Server

    settings_of(path, config_file)  # a missing site or broken settings: a clear error, exit 2
    try:
        sock = bind(host, port, "--port")
    except ConfigError as exc:
        fail(str(exc))
    console = safe_console(stderr=True)
    rebuilder = Rebuilder(
        path,
        out,
        config=config_file,
        ledger=ledger,
        log=lambda m: console.print(m, highlight=False, markup=False),
    )
    if not rebuilder.check():
        fail(rebuilder.error or "nothing to serve")
    app_ = ServeApp(out, rebuilder, interval=watch, public_url=public_url)
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"serving {out}/ at http://{shown}:{port}/  (subscribe: webcal://{shown}:{port}/"
        f"calendar.ics){'  watching for changes' if watch > 0 else ''}",
        highlight=False,
        soft_wrap=True,
    )
    # headers within 5 s, idle connections closed after 5 s, at most 512 at once (serve/http.py)
    with app_:
        Server(app_, log=lambda m: console.print(m, highlight=False, markup=False)).run(sock)
