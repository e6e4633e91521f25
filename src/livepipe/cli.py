"""The `livepipe` command line (typer): the same pipeline as the flows, without Prefect."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from .build import BuildResult
from .errors import ConfigError, RenderError
from .models import Event, Problem, Severity
from .site import LoadResult, Site, load

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

        typer.echo(f"livepipe {__version__}")
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
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


@app.command()
def check(
    path: PathArg = Path("."),
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    events: Annotated[bool, typer.Option(help="Also print a table of the events found.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Parse and validate every page; print each problem as path:line. Exit 1 on errors."""
    result = _load(path, config)
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
    raise typer.Exit(1 if result.errors else 0)


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
    console = console or Console()
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
    console = Console(stderr=True)
    if not quiet:
        for p in result.problems:
            if p.severity is not Severity.INFO:
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
    console = console or Console()
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
        f"{len(built.artifacts)} files: {len(report.written)} written, "
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


def main() -> None:
    app()
