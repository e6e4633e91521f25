"""The `livepipe` command line (typer): the same pipeline as the flows, without Prefect.
One module per command group (pages, publishing, running, channels); what they share in
common.py, how they print in output.py."""

from __future__ import annotations

import copy
import gc
import os
import sys

import typer
from rich.markup import escape
from typer.models import CommandInfo

from ..text import console as safe_console
from . import channels, operating, pages, publishing, running  # noqa: F401 (they register commands)
from .common import app

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


def only(command: str | None) -> typer.Typer:
    """The app with ``command`` its only command, when it is one of the top level: typer
    makes a click command of every command at each start (reading their signatures, 20 ms),
    to run one. The root stays a group, so usage, --help, --version and errors read the
    same. With no command (``livepipe --help``), the app as its help lists it (`listed`);
    anything else (a group, a typo) gets the whole app."""
    from typer.main import get_command_name

    if command is None:
        return listed()
    chosen = [
        info
        for info in app.registered_commands
        if (info.name or get_command_name(getattr(info.callback, "__name__", ""))) == command
    ]
    if len(chosen) != 1:
        return app
    narrowed = copy.copy(app)
    narrowed.registered_commands = chosen
    narrowed.registered_groups = []
    return narrowed


def listed() -> typer.Typer:
    """The app as ``livepipe --help`` shows it: each command's name, help and panel, with
    none of its parameters (read from 24 signatures, they were an eighth of the help's
    time). No command runs from it: a command word in the arguments selects `only`."""
    narrowed = copy.copy(app)
    narrowed.registered_commands = [_without_parameters(c) for c in app.registered_commands]
    return narrowed


def _without_parameters(info: CommandInfo) -> CommandInfo:
    def stub() -> None:
        raise AssertionError("a listed command is never run")

    callback = info.callback
    if callback is None:
        return info
    # what typer reads of a callback: its name (the command's, unless given) and docstring
    stub.__name__, stub.__doc__ = callback.__name__, callback.__doc__
    listed_info = copy.copy(info)
    listed_info.callback = stub
    return listed_info


def main() -> None:
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    # livepipe's settings are no place for third-party pydantic plugins, and looking for
    # them reads every installed package's entry points: 7 ms of each command's start.
    # (PYDANTIC_DISABLE_PLUGINS set to anything, even empty, is left as it is.)
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if command in _QUICK_EXIT:
        # No cyclic collection at all: they make almost no cycles, and leave without the
        # teardown; turned back on after a build, the collector first walks every object
        # the build made (50 ms at 10k pages) for a process about to end.
        gc.disable()
    try:
        try:
            only(command)()
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


__all__ = ["app", "main"]
