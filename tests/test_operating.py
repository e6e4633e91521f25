"""What an operator fixes failures with, from the command line, against a loopback receiver
that fails on demand: `sends` (filters, JSON in the site's zone), `resend`, `skip`, `pause`
/ `resume`, `operations`; alerts to the operators' channel, once each; sends held after an
upgrade until released."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from typer.testing import CliRunner

from livepipe.cli import app
from livepipe.config import load_settings
from livepipe.ledger import open_ledger
from livepipe.pipeline import VERSION_KEY

from .support.receiver import serve_app

SH = "+08:00"
T0 = datetime.fromisoformat(f"2026-12-10T19:50:00{SH}")  # the first event's starting-soon
runner = CliRunner()


@dataclass
class Remote:
    """A webhook receiver that answers 400 while ``broken``; ``got[path]``: bodies."""

    broken: bool = False
    got: dict[str, list[dict[str, object]]] = field(default_factory=dict)

    def app(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            body = json.loads(await request.body())
            if self.broken and request.url.path == "/hook":
                return JSONResponse({"error": "no such room"}, status_code=400)
            self.got.setdefault(request.url.path, []).append(body)
            return JSONResponse({"id": f"m{len(self.got[request.url.path])}"})

        return Starlette(routes=[Route("/{name}", hook, methods=["POST"])])


@pytest.fixture
def remote() -> Iterator[tuple[Remote, str]]:
    r = Remote()
    with serve_app(r.app()) as base:
        yield r, base


def make_site(tmp_path: Path, base: str, *, reminders: bool = False) -> Path:
    root = tmp_path / "site"
    (root / "content").mkdir(parents=True, exist_ok=True)
    (root / "livepipe.toml").write_text(
        '[site]\nname = "Ops"\nbase_url = "https://ops.example"\ntimezone = "Asia/Shanghai"\n'
        f'[channels.hook]\ntype = "webhook"\nurl = "{base}/hook"\nunsigned = true\n'
        f'[channels.ops]\ntype = "webhook"\nurl = "{base}/ops"\nunsigned = true\n'
        '[alerts]\nchannel = "ops"\n'
        "[slots.announce]\nenabled = false\n[slots.digest]\nenabled = false\n"
        + ('[slots.reminder-1d]\nchannels = ["hook"]\n' if reminders else "")
        + ("" if reminders else "[slots.reminder-1d]\nenabled = false\n")
        + '[slots.starting-soon]\nchannels = ["hook"]\n',
        encoding="utf-8",
    )
    for name, start in (("one", T0 + timedelta(minutes=10)), ("two", T0 + timedelta(hours=1))):
        (root / "content" / f"{name}.md").write_text(
            f"---\ntitle: Talk {name}\nstart: {start.isoformat()}\nlocation: online\n---\n",
            encoding="utf-8",
        )
    return root


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def at(offset: timedelta = timedelta()) -> str:
    return (T0 + offset).isoformat()


def rows(root: Path, *args: str) -> list[dict[str, object]]:
    code, out = cli("sends", str(root), "-f", "json", *args)
    assert code == 0, out
    return json.loads(out)["sends"]  # type: ignore[no-any-return]


def test_a_failed_send_alerts_once_then_resend_delivers_it(
    tmp_path: Path, remote: tuple[Remote, str]
) -> None:
    r, base = remote
    root = make_site(tmp_path, base)
    assert cli("sync", str(root), "--now", at(), "-o", str(tmp_path / "dist"))[0] == 0
    r.broken = True
    code, out = cli("send-due", str(root), "--now", at())
    assert "failed" in out, out
    [failed] = rows(root, "--state", "failed")
    assert failed["channel"] == "hook" and failed["title"] == "Talk one"
    assert "HTTP 400" in str(failed["error"]) and "no such room" in str(failed["error"])
    # every time in the JSON is in the site's zone
    assert str(failed["due"]).endswith(SH) and str(failed["valid_until"]).endswith(SH)
    # the alert went to the operators' channel, once, saying what and why
    [alert] = r.got["/ops"]
    assert "failed" in json.dumps(alert) and "HTTP 400" in json.dumps(alert)
    cli("send-due", str(root), "--now", at(timedelta(minutes=1)))
    assert len(r.got["/ops"]) == 1  # not again
    # fixed: the operator sends it again, inside a new window
    r.broken = False
    key = str(failed["key"])
    code, out = cli(
        "resend", key, "--for", "30m", "--why", "room fixed", "--site", str(root),
        "--now", at(timedelta(minutes=2)),
    )  # fmt: skip
    assert code == 0 and f"{key}: pending again, valid until" in out, out
    code, out = cli("send-due", str(root), "--now", at(timedelta(minutes=2)))
    assert code == 0, out
    [body] = r.got["/hook"]
    assert body["slot"] == "starting-soon" and body["event"]["title"] == "Talk one"  # type: ignore[index]
    [sent] = [x for x in rows(root) if x["key"] == key]
    assert sent["state"] == "sent"
    # a sent send cannot be sent again, an unknown key is named
    code, out = cli("resend", key, "--site", str(root), "--now", at(timedelta(minutes=3)))
    assert code == 1 and "it is sent" in out
    code, out = cli("skip", "nope", "--site", str(root))
    assert code == 1 and "nope: no such send" in out
    # the operator's action is in the ledger: when, who, why
    code, out = cli("operations", str(root), "-f", "json")
    [op] = json.loads(out)["operations"]
    assert op["action"] == "resend" and op["target"] == key and op["why"] == "room fixed"
    assert op["at"] == at(timedelta(minutes=2)) and "@" in op["by"]


def test_skip_keeps_a_send_from_going_out(tmp_path: Path, remote: tuple[Remote, str]) -> None:
    r, base = remote
    root = make_site(tmp_path, base)
    cli("sync", str(root), "--now", at(), "-o", str(tmp_path / "dist"))
    [one] = [x for x in rows(root) if x["title"] == "Talk one"]
    code, out = cli("skip", str(one["key"]), "--why", "cancelled by hand", "--site", str(root))
    assert code == 0 and "skipped" in out
    cli("send-due", str(root), "--now", at())
    assert "/hook" not in r.got
    assert [x["state"] for x in rows(root) if x["key"] == one["key"]] == ["skipped"]
    assert rows(root, "--state", "skipped", "--event", "talk one")[0]["key"] == one["key"]
    assert rows(root, "--state", "skipped", "--event", "talk two") == []


def test_pause_holds_a_channel_and_resume_reports_what_was_missed(
    tmp_path: Path, remote: tuple[Remote, str]
) -> None:
    r, base = remote
    root = make_site(tmp_path, base)
    cli("sync", str(root), "--now", at(), "-o", str(tmp_path / "dist"))
    code, out = cli("pause", "hook", "--why", "incident 42", "--site", str(root), "--now", at())
    assert code == 0 and "hook: paused; its 2 pending sends wait" in out, out
    assert cli("pause", "hook", "--site", str(root), "--now", at())[1].count("already paused")
    code, out = cli("pause", "hooks", "--site", str(root))
    assert code == 2 and "no channel 'hooks' (did you mean 'hook'?)" in out and "hook, ops" in out
    code, out = cli("send-due", str(root), "--now", at())
    assert "/hook" not in r.got  # paused: nothing claimed
    assert {x["state"] for x in rows(root, "--channel", "hook")} == {"pending"}
    # resumed after the first talk's window: it is missed, the second still goes out
    later = timedelta(minutes=50)
    code, out = cli("resume", "hook", "--site", str(root), "--now", at(later))
    assert code == 0 and "1 sends go out now (or when due), 1 missed" in out, out
    [missed_line] = [line for line in out.splitlines() if line.startswith("  missed")]
    assert "starting-soon → hook" in missed_line
    cli("send-due", str(root), "--now", at(later))
    assert [b["event"]["title"] for b in r.got["/hook"]] == ["Talk two"]  # type: ignore[index]
    assert cli("resume", "hook", "--site", str(root))[1].count("is not paused")
    code, out = cli("operations", str(root), "-f", "json")
    assert [(o["action"], o["why"]) for o in json.loads(out)["operations"]] == [
        ("resume", ""),
        ("pause", "incident 42"),
    ]


def test_missed_while_paused_is_reported_even_when_reconcile_marked_it(
    tmp_path: Path, remote: tuple[Remote, str]
) -> None:
    """`up`'s reconcile marks a paused channel's expired sends missed meanwhile: resume still
    names them (they were missed during the pause)."""
    _, base = remote
    root = make_site(tmp_path, base)
    cli("sync", str(root), "--now", at(), "-o", str(tmp_path / "dist"))
    cli("pause", "hook", "--site", str(root), "--now", at())
    ledger = open_ledger(load_settings(root / "livepipe.toml"))
    try:
        assert len(ledger.expire(T0 + timedelta(minutes=30))) == 1  # what reconcile does
    finally:
        ledger.close()
    code, out = cli("resume", "hook", "--site", str(root), "--now", at(timedelta(minutes=50)))
    assert code == 0 and "1 sends go out now (or when due), 1 missed" in out, out


def test_sends_after_an_upgrade_are_held_until_released(
    tmp_path: Path, remote: tuple[Remote, str]
) -> None:
    """Rules the new version adds (here: day-before reminders) do not send on their own for
    events that did not change: they are held and listed; `resend` or `sync --yes` sends."""
    r, base = remote
    before = T0 - timedelta(days=1, hours=1)
    root = make_site(tmp_path, base)
    cli("sync", str(root), "--now", before.isoformat(), "-o", str(tmp_path / "dist"))
    ledger = open_ledger(load_settings(root / "livepipe.toml"))
    try:
        ledger.kv_put(VERSION_KEY, "0.1.0", None)  # synced last by an older livepipe
    finally:
        ledger.close()
    root = make_site(tmp_path, base, reminders=True)  # … whose rules had no reminder-1d
    code, out = cli("sync", str(root), "--now", before.isoformat(), "-o", str(tmp_path / "d"))
    held = rows(root, "--state", "held")
    assert sorted(str(h["title"]) for h in held) == ["Talk one", "Talk two"], out
    assert {h["slot"] for h in held} == {"reminder-1d"}
    assert "2 sends held: planned only by rules this livepipe version added" in out
    for h in held:
        assert f"  held      reminder-1d → hook {h['uid']} {h['key']}" in out
    cli("send-due", str(root), "--now", (T0 - timedelta(days=1)).isoformat())
    assert "/hook" not in r.got  # held sends do not go out
    code, out = cli(
        "resend", str(held[0]["key"]), "--site", str(root), "--now",
        (T0 - timedelta(days=1)).isoformat(),
    )  # fmt: skip
    assert code == 0, out
    cli("send-due", str(root), "--now", (T0 - timedelta(days=1)).isoformat())
    assert len(r.got["/hook"]) == 1
    # the next sync by the same version holds nothing new; --yes releases the rest
    code, out = cli(
        "sync", str(root), "--now", (T0 - timedelta(days=1)).isoformat(), "--yes", "-o",
        str(tmp_path / "d"),
    )  # fmt: skip
    assert rows(root, "--state", "held") == []
    cli("send-due", str(root), "--now", (T0 - timedelta(days=1)).isoformat())
    assert len(r.got["/hook"]) == 2
