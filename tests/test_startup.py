"""What a command loads before it starts: `--help` and `check` (a pre-commit hook, every CI
step) must not pay for what only other commands use. Checked by the modules each one
imports (`python -X importtime`), not by a stopwatch; the times are bench/bench_check.py's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .support import CONTENT

LIVEPIPE = str(Path(sys.executable).parent / "livepipe")
HEAVY = {"jinja2", "httpx", "httpcore", "icalendar", "prefect", "starlette", "uvicorn", "PIL",
         "psycopg", "apprise", "segno", "prometheus_client"}  # fmt: skip


def imported(*args: str, whole: bool = False) -> set[str]:
    """The packages a command imports (``whole``: the modules, by their whole names)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", LIVEPIPE, *args],
        capture_output=True,
        text=True,
        timeout=60,
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
def test_check_loads_no_renderer_server_or_network(command: list[str]) -> None:
    loaded = imported(*command, str(CONTENT))
    assert {"pydantic", "yaml"} <= loaded  # it did read the settings and the pages
    assert loaded & HEAVY == set()


def test_check_and_help_load_nothing_of_the_ledger_or_the_send_path() -> None:
    """The commands name send states in their options (SendState lives in models): reading
    the ledger's records, sending or planning is imported by the commands that do it."""
    for args in (["--help"], ["check", str(CONTENT)]):
        loaded = imported(*args, whole=True)
        assert "livepipe.cli.operating" in loaded  # every command was registered
        assert {"livepipe.records", "livepipe.ledger", "livepipe.send", "livepipe.plan"} & (
            loaded
        ) == set(), args
