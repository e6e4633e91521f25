"""`livepipe sync`, `plan`, `send-due` (incl. --dry-run) and `resolve` from the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from livepipe.cli import app

from .conftest import CONTENT, ROOT

NOW = "2026-11-26T09:00:00+08:00"
runner = CliRunner()


def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    shutil.copytree(CONTENT, root / "content")
    shutil.copy(ROOT / "livepipe.toml", root / "livepipe.toml")
    return root


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_sync_plan_send_due_cycle(tmp_path: Path) -> None:
    root = site(tmp_path)
    ledger = str(tmp_path / "l.sqlite")
    code, out = invoke(
        "sync", str(root), "--now", NOW, "--ledger", ledger, "--out", str(tmp_path / "dist")
    )
    assert code == 0, out
    assert "18 sends added, 0 withdrawn, 0 missed; 8 event records updated" in out
    code, out = invoke("plan", str(root), "--now", NOW, "--ledger", ledger, "-f", "json")
    assert code == 0
    sends = json.loads(out)["sends"]
    assert len(sends) == 18 and {s["state"] for s in sends} == {"pending"}
    assert sends == sorted(sends, key=lambda s: (s["due"], s["slot"], s["channel"], s["key"]))
    # Read-only: planning again from the same ledger shows the same.
    assert (
        json.loads(invoke("plan", str(root), "--now", NOW, "--ledger", ledger, "-f", "json")[1])[
            "sends"
        ]
        == sends
    )
    code, out = invoke("send-due", str(root), "--now", NOW, "--ledger", ledger, "--dry-run")
    assert code == 0 and "6 sends: 6 dry-run" in out
    assert '"title": "【活动预告】云原生可观测性实战：从指标到链路追踪"' in out
    assert not (root / ".livepipe" / "outbox").exists()  # nothing sent
    code, out = invoke("send-due", str(root), "--now", NOW, "--ledger", ledger)
    assert code == 0 and "6 sends: 6 sent" in out
    assert len(list((root / ".livepipe" / "outbox" / "outbox").glob("*.json"))) == 6
    code, out = invoke("send-due", str(root), "--now", NOW, "--ledger", ledger)
    assert code == 0 and "0 sends" in out


def test_now_needs_an_offset(tmp_path: Path) -> None:
    code, out = invoke("plan", str(site(tmp_path)), "--now", "2026-11-26T09:00:00")
    assert code == 2 and "has no UTC offset" in out


def test_resolve_unknown_key(tmp_path: Path) -> None:
    root = site(tmp_path)
    code, out = invoke(
        "resolve",
        "nope",
        "--delivered",
        "--site",
        str(root),
        "--ledger",
        str(tmp_path / "l.sqlite"),
    )
    assert code == 2 and "no uncertain send with key nope" in out
