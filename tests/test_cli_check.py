"""`livepipe check`: formats, exit codes, and the bundled example site."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from livepipe.cli import app

from .support import CONTENT, ROOT

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_bundled_content_json() -> None:
    code, out = run("check", str(CONTENT), "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert set(data) == {"events", "problems"}
    events = {e["source"]: e for e in data["events"]}
    assert set(events) == {
        "en/events/community-day-2027.md",
        "en/events/office-hours-1201.md",
        "en/events/operators-berlin.md",
        "en/events/wasm-edge-0114.md",
        "zh/live/gitops1022-live.md",
        "zh/live/meetup-chengdu-20261219.md",
        "zh/live/observability1210-live.md",
        "zh/live/wasm-edge-0114.md",
    }
    # Sorted by start, then uid.
    keys = [(e["start"], e["uid"]) for e in data["events"]]
    starts = [e.start for e in _loaded()]
    assert [k[1] for k in keys] == [e.uid for e in _loaded()] and starts == sorted(starts)
    berlin = events["en/events/operators-berlin.md"]
    # 19:00 in Berlin on 3 Dec 2026 is CET (UTC+1): checked by hand.
    assert (berlin["start"], berlin["end"]) == (
        "2026-12-03T19:00:00+01:00",
        "2026-12-03T21:30:00+01:00",
    )
    assert berlin["timezone"] == "Europe/Berlin" and berlin["online"] and berlin["in_person"]
    assert berlin["uid"] == "en/events/operators-berlin@live.example.org"
    day = events["en/events/community-day-2027.md"]
    assert (day["start"], day["end"], day["all_day"]) == ("2027-01-16", "2027-01-17", True)
    assert events["en/events/office-hours-1201.md"]["status"] == "cancelled"
    gitops = events["zh/live/gitops1022-live.md"]
    assert gitops["end"] == "2026-10-22T21:00:00+08:00"  # start only: default 1 h
    assert gitops["replay_url"] == "https://www.bilibili.com/video/BV1xx411c7mD"
    required = {
        "uid",
        "source",
        "lang",
        "title",
        "start",
        "end",
        "timezone",
        "all_day",
        "location",
        "online",
        "live_url",
        "replay_url",
        "status",
        "tags",
    }
    assert all(required <= set(e) for e in data["events"])
    assert [(p["code"], p["severity"]) for p in data["problems"]] == [("draft", "info")]


def _loaded():
    from livepipe import load_path

    return load_path(CONTENT).events


def test_text_format_and_exit_code(write_page: Callable[..., Path]) -> None:
    write_page("ok.md", "---\ntitle: OK\nstart: 2026-12-01 10:00\n---\n")
    bad = write_page(
        "bad.md", "---\ntitle: Bad\nstart: 2026-12-01 10:00\nend: 2026-12-01 09:00\n---\n"
    )
    code, out = run("check", str(bad.parent))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].endswith(
        "bad.md:4: error end-before-start: end 2026-12-01T09:00:00+00:00 "
        "is not after start 2026-12-01T10:00:00+00:00"
    )
    assert lines[1].startswith("    hint: ")
    assert lines[-1] == "2 pages: 1 events, 1 errors, 0 warnings"


def test_github_format(write_page: Callable[..., Path]) -> None:
    bad = write_page("bad.md", "---\ntitle: a: b\n---\n")
    code, out = run("check", str(bad.parent), "--format", "github")
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith("::error file=")
    assert "bad.md,line=2,title=invalid-yaml::front matter is not valid YAML" in first


def test_json_is_one_object_even_with_errors(write_page: Callable[..., Path]) -> None:
    bad = write_page("bad.md", b"\xff\xfe")
    code, out = run("check", str(bad.parent), "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["events"] == []
    assert [(p["code"], p["line"], p["severity"]) for p in data["problems"]] == [
        ("not-utf8", 1, "error")
    ]


def test_missing_path_and_bad_config(tmp_path: Path) -> None:
    code, out = run("check", str(tmp_path / "nope"))
    assert code == 2 and "no such file or folder" in out
    (tmp_path / "livepipe.toml").write_text('[site]\ntimezone = "Mars/Olympus"\n')
    code, out = run("check", str(tmp_path))
    assert code == 2 and "site.timezone" in out and "unknown time zone" in out


def test_console_script_runs() -> None:
    exe = Path(sys.executable).parent / "livepipe"
    proc = subprocess.run(
        [str(exe), "check", "content", "--events"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "9 pages: 8 events, 0 errors, 0 warnings, 1 drafts skipped" in proc.stdout
    assert "Community Day 2027" in proc.stdout


def test_console_script_leaves_quickly_with_its_exit_code_and_all_output(
    write_page: Callable[..., Path], tmp_path: Path
) -> None:
    """build and check end with os._exit (no interpreter teardown): the exit code, the piped
    output (flushed first) and a usage error's code must be what they would be without."""
    exe = str(Path(sys.executable).parent / "livepipe")
    bad = write_page("bad.md", "---\ntitle: Bad\nstart: [x\n---\n")
    proc = subprocess.run([exe, "check", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1 and "invalid-yaml" in proc.stdout + proc.stderr
    out = tmp_path / "dist"
    proc = subprocess.run(
        [exe, "build", str(CONTENT), "--out", str(out)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().splitlines()[-1].startswith("subscribe:")  # the last line too
    assert (out / "manifest.json").is_file()
    proc = subprocess.run([exe, "build", "--no-such-option"], capture_output=True, text=True)
    assert proc.returncode == 2 and "No such option" in proc.stderr
