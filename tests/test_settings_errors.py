"""Mistakes in livepipe.toml: one line naming the file, the line, the key and what is wrong,
with a did-you-mean for a misspelt key, slot or channel type; exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from livepipe.cli import app

HEAD = '[site]\nname = "X"\nbase_url = "https://x.example"\n\n'


@pytest.mark.parametrize(
    ("toml", "line", "says"),
    [
        (
            '[pages]\ndefault_durration = "1h"\n',
            6,
            "pages.default_durration: unknown key (did you mean 'default_duration'?)",
        ),
        (
            '[slots.starting-son]\noffset = "-5m"\n',
            5,
            "slots.starting-son: not a built-in slot (did you mean 'starting-soon'?)",
        ),
        (
            '[channels.team]\ntype = "webhok"\nurl = "https://hooks.example/x"\n',
            6,
            "did you mean 'webhook'?",
        ),
        (
            '[slots.replay]\nuntil = "2h"\n',
            5,
            'a replay slot is valid for a window after it is due: use window = "7d", not until',
        ),
        ('[pages]\nmin_repeat_interval = "often"\n', 6, "pages.min_repeat_interval"),
        ("[alerts]\nwatch_failures = 0\n", 6, "alerts.watch_failures"),
        (  # said by `check`, not by the first send's failure
            '[channels.team]\ntype = "webhook"\nurl = "ftp://hooks.example/x"\n',
            7,
            "channels.team: url: must start with http:// or https://",
        ),
        (
            '[channels.news]\ntype = "listmonk"\nurl = "https://[lists.example"\n',
            7,
            "channels.news: url: is not a URL with a host ('[' and ']' may only enclose",
        ),
        (  # urlsplit cannot read it
            '[imports.meetups]\nurl = "https://[feeds.example/all.ics"\n',
            6,
            "imports.meetups.url: url is not a URL with a host ('[' and ']' may only enclose",
        ),
    ],
)
def test_a_settings_mistake_is_one_line_with_its_place(
    tmp_path: Path, toml: str, line: int, says: str
) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "livepipe.toml").write_text(HEAD + toml, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    first = result.output.strip().splitlines()[0]
    assert first.startswith(f"error: {tmp_path / 'livepipe.toml'}:{line}: "), result.output
    assert says in result.output
    assert "Traceback" not in result.output


def test_a_base_url_urlsplit_cannot_read_is_a_settings_error(tmp_path: Path) -> None:
    """It was accepted: then every page was an internal error and the build a traceback."""
    (tmp_path / "content").mkdir()
    (tmp_path / "livepipe.toml").write_text('[site]\nbase_url = "https://[x"\n', encoding="utf-8")
    for command in ("check", "build"):
        result = CliRunner().invoke(app, [command, str(tmp_path)], env={"COLUMNS": "300"})
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"error: {tmp_path / 'livepipe.toml'}:2: site.base_url")
        assert "Traceback" not in result.output


def check(root: Path, toml: str, pages: dict[str, str] | None = None) -> tuple[int, str]:
    (root / "content").mkdir(parents=True, exist_ok=True)
    (root / "livepipe.toml").write_text(HEAD + toml, encoding="utf-8")
    for name, text in (pages or {}).items():
        (root / "content" / name).write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(root)], env={"COLUMNS": "300"})
    return result.exit_code, result.output


TEAM = '[channels.team]\ntype = "webhook"\nurl = "https://hooks.example/x"\nsecret_env = "S"\n'


def test_slots_left_on_the_outbox_beside_real_channels_are_named(tmp_path: Path) -> None:
    code, out = check(tmp_path, TEAM + '\n[slots.announce]\nchannels = ["team"]\n')
    assert code == 0, out
    lines = [line for line in out.splitlines() if "outbox-fallback" in line]
    assert lines == [
        f"{tmp_path / 'livepipe.toml'}:10: warning outbox-fallback: slots cancelled, changed, "
        "digest, live, reminder-1d, replay, starting-soon still go to the file outbox "
        "(.livepipe/outbox); only announce go to your channels"
    ]
    assert 'channels = ["team"]' in out and "enabled = false" in out


def test_no_outbox_warning_when_the_outbox_is_chosen_or_unused(tmp_path: Path) -> None:
    routed = "".join(
        f'[slots.{s}]\nchannels = ["team"]\n'
        for s in ("announce", "reminder-1d", "starting-soon", "replay", "changed", "cancelled")
    )
    rest = '[slots.digest]\nchannels = ["outbox"]\n[slots.live]\nenabled = false\n'
    code, out = check(tmp_path / "a", TEAM + routed + rest)
    assert code == 0 and "outbox-fallback" not in out, out
    code, out = check(tmp_path / "b", "")  # nothing but the outbox: a site trying livepipe
    assert code == 0 and "outbox-fallback" not in out, out


LONG = "A" * 40


def test_title_length_is_checked_only_for_channels_the_site_sends_to(tmp_path: Path) -> None:
    page = {"a.md": f"---\ntitle: {LONG}\nstart: 2030-01-01T10:00:00Z\nlocation: online\n---\n"}
    code, out = check(tmp_path / "plain", TEAM, page)
    assert "title-too-long" not in out and "WeChat" not in out, out
    wechat = '[channels.wx]\ntype = "wechat"\n[slots.announce]\nchannels = ["wx"]\n'
    code, out = check(tmp_path / "wx", wechat, page)
    assert "a.md:2: warning title-too-long: title has 40 characters; wx (wechat) shows 32" in out
    assert repr(LONG[:31] + "…") in out
    # a WeChat channel no slot sends to says nothing
    code, out = check(tmp_path / "idle", '[channels.wx]\ntype = "wechat"\n', page)
    assert code == 0 and "title-too-long" not in out, out
