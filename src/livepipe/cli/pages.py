"""Commands about pages: check, build, preview, schema suggest."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ..errors import ConfigError, RenderError
from ..models import Severity
from ..text import console as safe_console

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
)
from .output import github_annotation, print_build, print_events, report_broken, summary


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
    result = load_pages(path, config)
    broken: dict[str, ConfigError] = {}
    if channels:
        from ..publish import broken_channels, make_channels

        broken = broken_channels(make_channels(result.site.settings))
    if format is Format.json:
        payload = {
            "events": [e.to_json() for e in result.events],
            "problems": [p.to_json() for p in result.problems],
        }
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    elif format is Format.github:
        for p in result.problems:
            sys.stdout.write(github_annotation(p) + "\n")
        sys.stdout.write(summary(result) + "\n")
    else:
        for p in result.problems:
            sys.stdout.write(p.format() + "\n")
        if events:
            print_events(result.events)
        sys.stdout.write(summary(result) + "\n")
    report_broken(broken)
    raise typer.Exit(1 if result.errors or broken else 0)


@app.command()
def build(
    path: PathArg = Path("."),
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("dist"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only print errors.")] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Only these renderers: ics, feeds, wechat, newsletter."),
    ] = None,
    now: NowOpt = None,
    ledger: LedgerOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Validate, render every artifact (ICS, feeds, WeChat, newsletter) and write OUT, with
    the site's ledger when it has one (the same files as `sync`)."""
    from ..build import check_ahead
    from ..pipeline import build_site

    at = parse_now(now)
    # the files the last build wrote are checked beside the loading
    result = load_pages(path, config, first=lambda settings: check_ahead(settings, out))
    console = safe_console(stderr=True)
    shown = (Severity.ERROR,) if quiet else (Severity.ERROR, Severity.WARNING)
    for p in result.problems:
        if p.severity in shown:
            console.print(p.format(), highlight=False, markup=False, soft_wrap=True)
    try:
        if quiet or not console.is_terminal:
            built = build_site(result, out, at, ledger=ledger, only=tuple(only or ()))
        else:
            from rich.progress import Progress, SpinnerColumn, TextColumn  # only on a terminal

            with Progress(
                SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True
            ) as bar:
                task = bar.add_task("rendering", total=None)

                def tick(name: str, count: int) -> None:
                    bar.update(task, description=f"rendering {name}: {count} files")

                built = build_site(
                    result, out, at, ledger=ledger, progress=tick, only=tuple(only or ())
                )
    except (RenderError, OSError) as exc:
        fail(f"build failed: {exc}")
    if not quiet:
        print_build(built)
    raise typer.Exit(1 if result.errors else 0)


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
    from ..preview import find_validators, make_preview, markdown, write_report

    try:
        from ..site import Site

        site = Site.locate(path, config=config)
        result = make_preview(
            site, base=base, now=parse_now(now), validators=find_validators(validators)
        )
        report = write_report(result, out)
    except ConfigError as exc:
        fail(str(exc))
    except FileNotFoundError:
        fail(f"{path}: no such file or folder")
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
    from ..suggest import mapping_toml, propose, survey

    if not path.is_dir():
        fail(f"{path}: not a folder of pages")
    from ..config import find_config, load_settings

    found = config or find_config(path)
    try:
        settings = load_settings(found) if found else None
    except ConfigError as exc:
        fail(str(exc))
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
    from rich.table import Table

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
        fail("no key holds dates or times on most pages: is this a folder of event pages?")
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
