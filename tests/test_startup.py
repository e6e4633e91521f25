"""What a command loads before it starts: `--help` and `check` (a pre-commit hook, every CI
step) must not pay for what only other commands use. Checked by the modules each one
imports (`python -X importtime`), not by a stopwatch; the times are bench/bench_check.py's."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .support import CONTENT

LIVEPIPE = str(Path(sys.executable).parent / "livepipe")
HEAVY = {"jinja2", "httpx", "httpcore", "icalendar", "prefect", "starlette", "uvicorn", "PIL",
         "psycopg", "apprise", "segno", "prometheus_client"}  # fmt: skip


def imported(*args: str, whole: bool = False, cache: Path | None = None) -> set[str]:
    """The packages a command imports (``whole``: the modules, by their whole names), with
    its page cache in ``cache`` when given."""
    env = {**os.environ, "LIVEPIPE_CACHE_DIR": str(cache)} if cache else None
    done = subprocess.run(
        [sys.executable, "-X", "importtime", LIVEPIPE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return {
        m.group(1) if whole else m.group(1).split(".")[0]
        for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", done.stderr, re.M)
    }


def test_help_loads_no_settings_and_no_renderer() -> None:
    loaded = imported("--help")
    assert "typer" in loaded  # it did run
    assert loaded & (HEAVY | {"pydantic", "yaml", "frontmatter"}) == set()


@pytest.mark.parametrize("command", [["check"], ["check", "--format", "json"]])
def test_check_loads_no_renderer_server_or_network(command: list[str], tmp_path: Path) -> None:
    loaded = imported(*command, str(CONTENT), cache=tmp_path)
    assert {"pydantic", "yaml"} <= loaded  # it did read the settings and the pages
    assert loaded & HEAVY == set()
    # Once the page cache knows the pages, no YAML reader is loaded at all (15 ms).
    again = imported(*command, str(CONTENT), cache=tmp_path)
    assert "pydantic" in again and again & (HEAVY | {"yaml", "frontmatter"}) == set()


def test_check_and_help_load_nothing_of_the_ledger_or_the_send_path() -> None:
    """The commands name send states in their options (SendState lives in models): reading
    the ledger's records, sending or planning is imported by the commands that do it."""
    for args in (["--help"], ["check", str(CONTENT)]):
        loaded = imported(*args, whole=True)
        assert "livepipe.cli.operating" in loaded  # every command was registered
        assert {"livepipe.records", "livepipe.ledger", "livepipe.send", "livepipe.plan"} & (
            loaded
        ) == set(), args


def test_a_command_runs_with_only_itself_built_and_reads_the_same() -> None:
    """typer builds a click command of every command to run one (20 ms of a start): `main`
    gives it the one asked for. Usage, errors and --version read as with the whole app."""
    from livepipe.cli import app, only

    assert [c.callback.__name__ for c in only("check").registered_commands] == ["check"]
    assert only("check").registered_groups == [] and app.registered_groups  # app untouched
    for whole in ("channels", "chek", "--help"):
        assert only(whole) is app

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([LIVEPIPE, *args], capture_output=True, text=True, timeout=60)

    bad = run("check", "--bogus")
    assert bad.returncode == 2
    assert "Usage: livepipe check [OPTIONS]" in bad.stderr and "--bogus" in bad.stderr
    typo = run("chek", str(CONTENT))
    assert typo.returncode == 2 and "No such command 'chek'" in typo.stderr
    assert "Did you mean 'check'" in typo.stderr
    assert run("--version").stdout.startswith("livepipe ")
    helped = run("check", "--help")
    assert "Usage: livepipe check [OPTIONS]" in helped.stdout and "--format" in helped.stdout
    assert run("check", str(CONTENT)).returncode == 0


def test_the_help_lists_every_command_without_reading_their_parameters() -> None:
    """`livepipe --help` (no command word) gets the app with its commands' parameters left
    out (reading 24 signatures was an eighth of its time): it reads the same as the whole
    app's help, and no command can run from it."""
    from typer.testing import CliRunner

    from livepipe.cli import app, listed, only

    whole = CliRunner().invoke(app, ["--help"], terminal_width=100)
    shown = CliRunner().invoke(only(None), ["--help"], terminal_width=100)
    assert whole.exit_code == shown.exit_code == 0
    assert "check" in shown.output and "Validate" in shown.output
    assert shown.output == whole.output
    assert [c.callback.__name__ for c in listed().registered_commands] == [
        c.callback.__name__ for c in app.registered_commands
    ]
    assert all(not inspect.signature(c.callback).parameters for c in listed().registered_commands)
    assert any(inspect.signature(c.callback).parameters for c in app.registered_commands)
    bare = subprocess.run([LIVEPIPE], capture_output=True, text=True, timeout=60)
    assert "Usage: livepipe" in bare.stdout + bare.stderr and "check" in bare.stdout + bare.stderr
