"""`livepipe channels list|test`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import ConfigError, PublishError
from ..models import Message, SlotKind
from ..text import console as safe_console
from ..text import printable

if TYPE_CHECKING:  # the publishing side is imported by the commands that use it
    pass

from .common import ConfigOpt, PathArg, app, fail, settings_of

channels_app = typer.Typer(help="Look at and try the configured channels.", no_args_is_help=True)

app.add_typer(channels_app, name="channels")


@channels_app.command("list")
def channels_list(path: PathArg = Path("."), config: ConfigOpt = None) -> None:
    """The configured channels: their type, languages and whether they deduplicate by key."""
    settings = settings_of(path, config)
    from rich.table import Table

    table = Table()
    for col in ("name", "type", "languages", "dedup by key", "enabled"):
        table.add_column(col)
    try:
        from ..publish import make_channels

        built = make_channels(settings)
    except ConfigError as exc:
        fail(str(exc))
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
    settings = settings_of(path, config)
    try:
        from ..publish import make_channels

        chan = make_channels(settings).get(name)
    except ConfigError as exc:
        fail(str(exc))
    if chan is None:
        fail(f"no enabled channel {name!r}; configured: {', '.join(settings.channels)}")
    now = datetime.now(UTC)
    lang = settings.site.language
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
        fail(f"{name}: {type(exc).__name__} {exc.code}: {exc}{hint}")
    except ConfigError as exc:
        fail(str(exc))
    typer.echo(printable(f"{name}: sent ({receipt.remote_id or receipt.note or 'ok'})"))
