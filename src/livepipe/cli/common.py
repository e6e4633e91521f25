"""What every command shares: the typer app, the common options, loading a site and
the one error mapping (a clear line and exit 2, never a traceback)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.markup import escape

from ..errors import ConfigError
from ..text import console as safe_console
from ..text import printable

if TYPE_CHECKING:  # what loads a site is imported by the commands that use it
    from ..config import Settings
    from ..ledger import Ledger
    from ..site import LoadResult


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


def _version(value: bool) -> None:
    if value:
        from ..version import __version__

        typer.echo(printable(f"livepipe {__version__}"))
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Event pages → calendars, feeds, WeChat and newsletters, published on time."""


PathArg = Annotated[
    Path, typer.Argument(help="A page, a folder of pages, or a site root (with livepipe.toml).")
]

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="livepipe.toml to use (default: nearest one above PATH)."),
]

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


def load_pages(
    path: Path,
    config: Path | None,
    *,
    fetch: datetime | None = None,
    first: Callable[[Settings], object] | None = None,
) -> LoadResult:
    """The site at ``path``, loaded; ``fetch``: imported calendars that are due are fetched
    first (what happened to each is printed); ``first``: called with the site's settings
    before its pages are read."""
    try:
        from ..site import Site, load

        site = Site.locate(path, config=config)
        if first is not None:
            first(site.settings)
        if fetch is not None and site.settings.imports:
            from ..imports import refresh_imports

            for done in refresh_imports(site.settings, fetch):
                if done.outcome != "not due":
                    safe_console(stderr=True).print(
                        f"import {done.name}: {done.outcome}"
                        + (f" ({done.detail})" if done.detail else ""),
                        highlight=False,
                        markup=False,
                    )
        return load(site)
    except ConfigError as exc:
        fail(str(exc))
    except FileNotFoundError:
        fail(f"{path}: no such file or folder")


def fail(message: str) -> NoReturn:
    safe_console(stderr=True, soft_wrap=True).print(
        f"[bold red]error:[/] {escape(message)}", highlight=False
    )
    raise typer.Exit(2)


def parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--now {value!r} is not an ISO 8601 date-time")
    if parsed.tzinfo is None:
        fail(f"--now {value!r} has no UTC offset; write e.g. {value}+08:00 or {value}Z")
    return parsed


def clock_of(value: str | None) -> Callable[[], datetime]:
    """A fixed clock for --now (tests, rehearsals), else the real one."""
    if value is None:
        return lambda: datetime.now(UTC)
    fixed = parse_now(value)
    return lambda: fixed


def open_store(settings: Settings, url: str | None) -> Ledger:
    try:
        from ..ledger import open_ledger

        return open_ledger(settings, url)
    except ConfigError as exc:
        fail(str(exc))


@contextmanager
def store_of(path: Path, config: Path | None, url: str | None) -> Iterator[tuple[Settings, Ledger]]:
    """The site's settings and its ledger, closed afterwards."""
    settings = settings_of(path, config)
    store = open_store(settings, url)
    try:
        yield settings, store
    finally:
        store.close()


def settings_of(path: Path, config: Path | None) -> Settings:
    try:
        from ..site import Site

        return Site.locate(path, config=config).settings
    except ConfigError as exc:
        fail(str(exc))
    except FileNotFoundError:
        fail(f"{path}: no such file or folder")
