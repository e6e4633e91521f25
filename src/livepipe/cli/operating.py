"""What operators fix failures with: sends (list and filter), resend, skip, pause, resume,
operations (what operators did).
Each change is recorded in the ledger (the send's log and the operations table: when, who,
why) and told like anything livepipe does."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ..models import SendState
from ..text import console as safe_console
from ..text import printable
from ..timeutil import get_zone, parse_duration

if TYPE_CHECKING:
    from ..ledger import Ledger
    from ..records import SendRecord

from .common import ConfigOpt, Format, LedgerOpt, NowOpt, app, fail, parse_now, store_of

SiteOpt = Annotated[Path, typer.Option("--site", help="The site (default: here).")]
WhyOpt = Annotated[str, typer.Option("--why", help="Why (kept in the ledger's log).")]
KeysArg = Annotated[list[str], typer.Argument(help="Send keys (as `livepipe sends` lists them).")]


def actor() -> str:
    """Who did it, for the ledger: user@host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "someone"
    import socket

    return f"{user}@{socket.gethostname()}"


@app.command()
def sends(
    path: Annotated[Path, typer.Argument(help="The site.")] = Path("."),
    state: Annotated[
        list[SendState] | None, typer.Option("--state", "-s", help="Only these states.")
    ] = None,
    channel: Annotated[list[str] | None, typer.Option("--channel", help="Only these.")] = None,
    event: Annotated[
        str | None, typer.Option("--event", help="Only events whose uid or title has this.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Due at or after (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Due before (ISO 8601).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest due last).")] = 200,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.text,
    ledger: LedgerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List the sends in the ledger, filtered: what is pending, what failed and why."""
    with store_of(path, config, ledger) as (settings, store):
        rows = store.sends(*(state or ()))
        titles = {r.uid: r.event.title for r in store.events()}
    lo = parse_now(since) if since else None
    hi = parse_now(until) if until else None
    needle = (event or "").lower()
    picked = [
        r
        for r in rows
        if (not channel or r.channel in channel)
        and (not needle or needle in r.uid.lower() or needle in titles.get(r.uid, "").lower())
        and (lo is None or r.due >= lo)
        and (hi is None or r.due < hi)
    ][-limit:]
    zone = get_zone(settings.site.timezone or "UTC")
    if format is Format.json:
        out = [_as_json(r, titles, zone) for r in picked]
        sys.stdout.write(json.dumps({"sends": out}, ensure_ascii=False, indent=2) + "\n")
        return
    console = safe_console()
    from rich.table import Table

    table = Table(title=f"{len(picked)} sends (times in {zone})", title_justify="left")
    for column in ("due", "state", "send", "event"):
        table.add_column(column, overflow="fold")
    for r in picked:
        what = f"{r.key_slot} → {r.channel}\n[dim]{r.key}[/]"
        note = f"\n[dim]{escape(r.error)}[/]" if r.error and r.state != SendState.SENT else ""
        table.add_row(
            f"{r.due.astimezone(zone):%m-%d %H:%M}",
            str(r.state),
            what,
            escape(titles.get(r.uid, r.uid)) + note,
            style=_STYLES.get(r.state, ""),
        )
    console.print(table)


_STYLES = {
    SendState.FAILED: "red",
    SendState.UNCERTAIN: "bold red",
    SendState.MISSED: "yellow",
    SendState.HELD: "magenta",
    SendState.SENT: "dim",
    SendState.WITHDRAWN: "dim",
    SendState.SKIPPED: "dim",
}


def _as_json(r: SendRecord, titles: dict[str, str], zone: object) -> dict[str, object]:
    def at(value: datetime | None) -> str | None:
        return value.astimezone(zone).isoformat() if value else None  # type: ignore[arg-type]

    return {
        "key": r.key,
        "state": str(r.state),
        "slot": r.key_slot,
        "channel": r.channel,
        "uid": r.uid,
        "title": titles.get(r.uid, ""),
        "due": at(r.due),
        "valid_until": at(r.valid_until),
        "sent_at": at(r.sent_at),
        "attempts": r.attempts,
        "error": r.error,
    }


@app.command()
def resend(
    keys: KeysArg,
    for_: Annotated[
        str, typer.Option("--for", help="How long the new window lasts (from now).")
    ] = "1h",
    why: WhyOpt = "",
    path: SiteOpt = Path("."),
    now: NowOpt = None,
    ledger: LedgerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Send failed, missed, uncertain, skipped or held sends again, inside a new window."""
    at = parse_now(now)
    try:
        until = at + parse_duration(for_)
    except ValueError as exc:
        fail(f"--for {for_!r}: {exc}")
    _each(
        keys,
        path,
        config,
        ledger,
        lambda store, key: store.resend(key, at, until, actor=actor(), why=why),
        f"pending again, valid until {until.isoformat()}",
    )


@app.command()
def skip(
    keys: KeysArg,
    why: WhyOpt = "",
    path: SiteOpt = Path("."),
    now: NowOpt = None,
    ledger: LedgerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Do not send these (pending, held, failed or uncertain) sends: skipped."""
    at = parse_now(now)
    _each(
        keys,
        path,
        config,
        ledger,
        lambda store, key: store.skip(key, at, actor=actor(), why=why),
        "skipped",
    )


def _each(
    keys: list[str],
    path: Path,
    config: Path | None,
    ledger: str | None,
    do: Callable[[Ledger, str], str | None],
    done: str,
) -> None:
    failed = 0
    with store_of(path, config, ledger) as (_, store):
        for key in keys:
            why_not = do(store, key)
            if why_not:
                failed += 1
                safe_console(stderr=True).print(
                    f"[bold red]error:[/] {escape(key)}: {escape(why_not)}", highlight=False
                )
            else:
                typer.echo(printable(f"{key}: {done}"))
    raise typer.Exit(1 if failed else 0)


@app.command()
def pause(
    channel: Annotated[str, typer.Argument(help="The channel (livepipe channels list).")],
    why: WhyOpt = "",
    path: SiteOpt = Path("."),
    now: NowOpt = None,
    ledger: LedgerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Stop sending to a channel during an incident: its sends stay pending."""
    at = parse_now(now)
    with store_of(path, config, ledger) as (settings, store):
        if channel not in settings.channels:
            from ..config import did_you_mean

            fail(
                f"no channel {channel!r}{did_you_mean(channel, settings.channels)}; "
                f"the channels are {', '.join(settings.channels)}"
            )
        if not store.pause(channel, at, actor=actor(), why=why):
            fail(f"{channel} is already paused")
        waiting = [s for s in store.sends(SendState.PENDING) if s.channel == channel]
    typer.echo(
        printable(
            f"{channel}: paused; its {len(waiting)} pending sends wait (`livepipe resume "
            f"{channel}` sends those still valid then)"
        )
    )


@app.command()
def resume(
    channel: Annotated[str, typer.Argument(help="A paused channel.")],
    why: WhyOpt = "",
    path: SiteOpt = Path("."),
    now: NowOpt = None,
    ledger: LedgerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Send to a paused channel again: what is still valid goes out, the rest is missed."""
    at = parse_now(now)
    with store_of(path, config, ledger) as (_, store):
        since = store.paused().get(channel, (at,))[0]
        if not store.resume(channel, at, actor=actor(), why=why):
            fail(f"{channel} is not paused")
        store.expire(at)
        mine = [s for s in store.sends() if s.channel == channel]
    go = [s for s in mine if s.state is SendState.PENDING and s.valid_until > at]
    # missed while it was paused (here, or by a reconcile pass meanwhile)
    missed = [
        s
        for s in mine
        if s.state is SendState.MISSED and s.updated_at is not None and s.updated_at >= since
    ]
    typer.echo(
        printable(
            f"{channel}: resumed; {len(go)} sends go out now (or when due), "
            f"{len(missed)} missed (their window passed while paused)"
        )
    )
    for s in missed:
        typer.echo(printable(f"  missed {s.key_slot} → {s.channel}  {s.key}"))


@app.command()
def operations(
    path: Annotated[Path, typer.Argument(help="The site.")] = Path("."),
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.text,
    ledger: LedgerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """What operators did (resend, skip, pause, resume, sync --yes): when, who, why."""
    with store_of(path, config, ledger) as (settings, store):
        done = store.operations(limit)
    zone = get_zone(settings.site.timezone or "UTC")
    if format is Format.json:
        rows = [
            {"at": at.astimezone(zone).isoformat(), "by": by, "action": a, "target": t, "why": w}
            for at, by, a, t, w in done
        ]
        sys.stdout.write(json.dumps({"operations": rows}, ensure_ascii=False, indent=2) + "\n")
        return
    from rich.table import Table

    table = Table(title=f"{len(done)} operations (times in {zone})", title_justify="left")
    for column in ("at", "by", "action", "target", "why"):
        table.add_column(column, overflow="fold")
    for at, by, a, t, w in done:
        table.add_row(f"{at.astimezone(zone):%m-%d %H:%M}", by, a, t, w)
    safe_console().print(table)
