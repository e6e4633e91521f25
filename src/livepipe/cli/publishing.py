"""Commands about the plan and the sends: plan, sync, deploy, verify, send-due, resolve."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import ConfigError, RenderError
from ..models import SendState, Severity
from ..text import console as safe_console
from ..text import printable
from ..timeutil import get_zone

if TYPE_CHECKING:  # the publishing side is imported by the commands that use it
    from ..config import Settings
    from ..deploy.verify import Drift

from .common import (
    ConfigOpt,
    Format,
    LedgerOpt,
    NowOpt,
    PathArg,
    app,
    clock_of,
    fail,
    load_pages,
    open_store,
    parse_now,
    settings_of,
    store_of,
)
from .output import counts, print_changes, print_timeline, report_broken


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
    result = load_pages(path, config)
    settings = result.site.settings
    at = parse_now(now)
    store = open_store(settings, ledger)
    try:
        state = store.state()
        from ..plan import plan

        the_plan = plan(result.events, state, settings, at, failed_sources=result.failed)
    finally:
        store.close()
    from ..timeline import timeline

    rows = timeline(state, the_plan)
    if format is Format.json:
        zone = get_zone(settings.site.timezone or "UTC")
        payload = {
            "now": at.astimezone(zone).isoformat(),
            "zone": zone.key,
            "sends": [r.to_json(zone) for r in rows],
        }
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
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", help="After an upgrade: send what the new rules planned (else held)."
        ),
    ] = False,
) -> None:
    """Fetch the imported calendars that are due, load, record the plan in the ledger,
    build OUT; print what changed."""
    from ..build import check_ahead

    # the files the last build wrote are checked beside the loading
    result = load_pages(
        path, config, fetch=parse_now(now), first=lambda settings: check_ahead(settings, out)
    )
    for p in result.problems:
        if p.severity is not Severity.INFO:
            safe_console(stderr=True).print(
                p.format(), highlight=False, markup=False, soft_wrap=True
            )
    store = open_store(result.site.settings, ledger)
    try:
        from ..pipeline import sync as run_sync

        done = run_sync(result.site, store, parse_now(now), out=out, loaded=result, release=yes)
        if yes:  # what earlier syncs held goes out too
            for held in store.sends(SendState.HELD):
                store.resend(held.key, parse_now(now), held.valid_until, actor="sync --yes")
    except (RenderError, OSError) as exc:
        fail(f"sync failed: {exc}")
    finally:
        store.close()
    print_changes(done.plan)
    try:
        from ..publish import broken_channels, make_channels

        broken = broken_channels(make_channels(result.site.settings))
    except ConfigError as exc:
        fail(str(exc))
    report_broken(broken)
    raise typer.Exit(1 if result.errors or broken else 0)


TargetOpt = Annotated[
    list[str] | None,
    typer.Option("--target", "-t", help="Only this [deploy.NAME] target (repeatable)."),
]


@app.command("deploy")
def deploy_cmd(
    path: PathArg = Path("."),
    out: Annotated[Path, typer.Option("--out", "-o", help="The build to deploy.")] = Path("dist"),
    target: TargetOpt = None,
    ledger: LedgerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Publish the build OUT to the [deploy.NAME] targets (only what changed), then read
    back what readers get from each public_url. Exit 1 on a failure or a drift."""
    settings = settings_of(path, config)
    _need_targets(settings, target)
    store = open_store(settings, ledger)
    try:
        from ..pipeline import publish_build

        reports, drifts, failures = publish_build(
            settings, _dist(settings, out), store, datetime.now(UTC), names=target
        )
    finally:
        store.close()
    console = safe_console()
    for report in reports:
        console.print(report.line(), highlight=False, markup=False)
    _print_drift(drifts)
    for failure in failures:
        safe_console(stderr=True).print(f"error: {failure}", highlight=False, markup=False)
    raise typer.Exit(1 if failures or any(d.found for d in drifts) else 0)


@app.command("verify")
def verify_cmd(
    path: PathArg = Path("."),
    out: Annotated[Path, typer.Option("--out", "-o", help="The build to compare with.")] = Path(
        "dist"
    ),
    target: TargetOpt = None,
    wechat: Annotated[
        bool, typer.Option("--wechat", help="Also read back the WeChat sends of 30 days.")
    ] = False,
    ledger: LedgerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Fetch the calendars and feeds each target's readers get (its public_url) and compare
    them, event by event, with the build OUT; --wechat: read the mass-sends and articles of
    the last 30 days back from WeChat. Exit 1 when anything differs."""
    settings = settings_of(path, config)
    drifted = False
    if wechat:
        from ..pipeline import read_back_wechat

        with store_of(path, config, ledger) as (_, store):
            lines = read_back_wechat(settings, store, datetime.now(UTC))
        for line in lines:
            safe_console().print(f"verify wechat: {line}", highlight=False, markup=False)
        if not lines:
            safe_console().print("verify wechat: what followers get matches what was sent")
        drifted = bool(lines)
        if not settings.deploy:
            raise typer.Exit(1 if drifted else 0)
    _need_targets(settings, target)
    from ..deploy import DeployError
    from ..deploy.verify import verify

    try:
        drifts = verify(settings, _dist(settings, out), target)
    except DeployError as exc:
        fail(str(exc))
    if not drifts:
        fail("no target has a public_url to read back: set [deploy.NAME] public_url")
    _print_drift(drifts)
    raise typer.Exit(1 if drifted or any(d.found for d in drifts) else 0)


def _need_targets(settings: Settings, names: list[str] | None) -> None:
    if not settings.deploy:
        fail("no [deploy.NAME] target in livepipe.toml (see docs/publishing.md)")
    unknown = [n for n in names or [] if n not in settings.deploy]
    if unknown:
        fail(f"unknown target {unknown[0]!r}: the targets are {', '.join(settings.deploy)}")


def _dist(settings: Settings, out: Path) -> Path:
    return out if out.is_absolute() or settings.root is None else Path.cwd() / out


def _print_drift(drifts: list[Drift]) -> None:
    console = safe_console()
    for drift in drifts:
        if not drift.found:
            console.print(f"verify {drift.target}: what {drift.url} serves matches the build",
                          highlight=False, markup=False)  # fmt: skip
            continue
        console.print(f"verify {drift.target}: {len(drift.found)} differences at {drift.url}",
                      highlight=False, markup=False)  # fmt: skip
        for line in drift.found:
            console.print(f"  {line}", highlight=False, markup=False)


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
    settings = settings_of(path, config)
    from ..send import Result, Sender

    try:
        with Sender.open(settings, clock=clock_of(now), ledger_url=ledger) as sender:
            outcomes = sender.dry_run() if dry_run else sender.send_due()
    except ConfigError as exc:
        fail(str(exc))
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
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts(outcomes).items()))
    console.print(f"{len(outcomes)} sends{': ' + summary if summary else ''}", highlight=False)
    report_broken(sender.broken)
    failed = any(o.state is Result.FAILED for o in outcomes)
    raise typer.Exit(1 if failed or sender.broken else 0)


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
    with store_of(path, config, ledger) as (_, store):
        ok = store.resolve(key, datetime.now(UTC), delivered=delivered)
    if not ok:
        fail(f"no uncertain send with key {key}")
    typer.echo(printable(f"{key}: {'sent' if delivered else 'pending again'}"))
