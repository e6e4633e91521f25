"""`livepipe sync`, `plan`, `send-due` (incl. --dry-run) and `resolve` from the command line."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livepipe.cli import app

from .support import bundled_site

NOW = "2026-11-26T09:00:00+08:00"
runner = CliRunner()


def site(tmp_path: Path) -> Path:
    return bundled_site(tmp_path / "site")


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
    rows = json.loads(out)["sends"]
    sends = [r for r in rows if r["state"] != "on stream start"]
    assert len(sends) == 18 and {s["state"] for s in sends} == {"pending"}
    # the live notices of the events on a bilibili room, due when their stream goes live
    awaiting = sorted((r["slot"], r["uid"]) for r in rows if r["state"] == "on stream start")
    assert awaiting == [
        ("live", "en/events/wasm-edge-0114@live.example.org"),
        ("live", "zh/live/meetup-chengdu-20261219@live.example.org"),
        ("live", "zh/live/observability1210-live@live.example.org"),
        ("live", "zh/live/wasm-edge-0114@live.example.org"),
    ]
    assert rows == sorted(
        rows,
        key=lambda s: (datetime.fromisoformat(s["due"]), s["slot"], s["channel"], s["key"]),
    )
    # Read-only: planning again from the same ledger shows the same.
    assert (
        json.loads(invoke("plan", str(root), "--now", NOW, "--ledger", ledger, "-f", "json")[1])[
            "sends"
        ]
        == rows
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


def test_a_misconfigured_channel_strands_nothing(tmp_path: Path) -> None:
    """A channel whose variable is unset is reported at once, by name and variable; its sends
    are never claimed (so never 'uncertain') and go out once it is fixed."""
    from livepipe.config import Settings
    from livepipe.ledger import open_ledger
    from livepipe.records import SendState

    from .support.apis import Recorder, make_app
    from .support.receiver import serve_app

    root = site(tmp_path)
    with (root / "livepipe.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[channels.team]\ntype = "slack"\nurl_env = "TEAM_SLACK_URL"\n')
        fh.write('\n[slots.announce]\nkind = "announce"\nuntil = "-2h"\nchannels = ["team"]\n')
    ledger = str(tmp_path / "l.sqlite")
    args = ("--now", NOW, "--ledger", ledger)
    code, out = invoke("sync", str(root), *args, "--out", str(tmp_path / "dist"))
    assert code == 1 and "channel team cannot send" in out and "TEAM_SLACK_URL" in out
    for _ in range(2):  # every rerun: nothing claimed, nothing stranded
        code, out = invoke("send-due", str(root), *args)
        assert code == 1 and "TEAM_SLACK_URL is not set" in out
    store = open_ledger(Settings(), ledger)
    try:
        team = [s for s in store.sends() if s.channel == "team"]
        assert team and {s.state for s in team} == {SendState.PENDING}
        assert all(s.attempts == 0 for s in team)
    finally:
        store.close()
    rec = Recorder()
    with serve_app(make_app(rec)) as url:
        result = runner.invoke(
            app,
            ["send-due", str(root), *args],
            env={"COLUMNS": "200", "TEAM_SLACK_URL": f"{url}/services/T0/B0/ok"},
        )
    assert result.exit_code == 0, result.output
    assert len(rec.calls("/services/T0/B0/ok")) == len(team)


def test_check_channels_names_the_channel_and_its_variable(tmp_path: Path) -> None:
    """`check --channels` (where up runs) fails on a channel that cannot send from this
    environment; plain `check` (a content PR, no secrets there) does not."""
    root = site(tmp_path)
    with (root / "livepipe.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[channels.team]\ntype = "slack"\nurl_env = "TEAM_SLACK_URL"\n')
    code, out = invoke("check", str(root))
    assert code == 0, out
    code, out = invoke("check", str(root), "--channels")
    assert code == 1 and "channel team cannot send" in out and "TEAM_SLACK_URL" in out
    fixed = runner.invoke(
        app,
        ["check", str(root), "--channels"],
        env={"COLUMNS": "200", "TEAM_SLACK_URL": "https://hooks.slack.example/services/T/B/x"},
    )
    assert fixed.exit_code == 0, fixed.output


def test_a_webhook_without_its_secret_does_not_send_unsigned(tmp_path: Path) -> None:
    from livepipe.config import ChannelSettings
    from livepipe.errors import ConfigError
    from livepipe.publish import PUBLISHERS

    def hook(env: dict[str, str], **options: object):  # type: ignore[no-untyped-def]
        cfg = ChannelSettings(type="webhook", url="http://127.0.0.1:9/", **options)
        return PUBLISHERS["webhook"]("ops", cfg, root=tmp_path, env=env)

    with pytest.raises(ConfigError, match="needs secret_env"):
        hook({}).validate()
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET is not set"):
        hook({}, secret_env="WEBHOOK_SECRET").validate()
    hook({"WEBHOOK_SECRET": "s3cret"}, secret_env="WEBHOOK_SECRET").validate()
    hook({}, unsigned=True).validate()  # said explicitly: allowed
    root = site(tmp_path)
    with (root / "livepipe.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[channels.ops]\ntype = "webhook"\nurl = "http://127.0.0.1:9/"\n')
    code, out = invoke("channels", "test", "ops", str(root))
    assert code != 0 and "needs secret_env" in out and "sent" not in out


def test_plan_json_times_are_all_in_the_site_zone(tmp_path: Path) -> None:
    root = site(tmp_path)
    ledger = str(tmp_path / "l.sqlite")
    invoke("sync", str(root), "--now", NOW, "--ledger", ledger, "--out", str(tmp_path / "d"))
    code, out = invoke("plan", str(root), "--now", NOW, "--ledger", ledger, "-f", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["zone"] == "Asia/Shanghai" and data["now"] == NOW
    stamps = [r[k] for r in data["sends"] for k in ("due", "valid_until")]
    assert len(stamps) > 20 and all(s.endswith("+08:00") for s in stamps), stamps


def test_plan_table_reads_at_80_columns(tmp_path: Path) -> None:
    """No line wider than the terminal; slots, channels, states and titles whole (wrapped,
    not cut with an ellipsis); a title's markup characters shown as they are."""
    root = site(tmp_path)
    page = root / "content" / "en" / "events" / "community-day-2027.md"
    text = page.read_text(encoding="utf-8")
    title = next(line for line in text.splitlines() if line.startswith("title:"))
    page.write_text(text.replace(title, "title: Day [bold]one[/bold]"), encoding="utf-8")
    result = runner.invoke(app, ["plan", str(root), "--now", NOW], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.output
    assert "reminder-1d" in result.output and "starting-soon" in result.output
    assert "on stream start" in result.output
    assert "Day [bold]one[/bold]" in result.output
    assert "Asia/Shanghai" in lines[0]
