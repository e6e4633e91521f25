"""livepipe's own templates are compiled per language with their constant phrases folded in
(``t("article.details")`` becomes its text when the template compiles). The output must be
byte for byte what the calls made at render time, in text and HTML templates, with a
site's own catalogue (markup and ampersands in its phrases), and an edit to that catalogue
must be seen by a long-running process's next render."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest

from livepipe import i18n
from livepipe.config import Settings
from livepipe.errors import RenderError
from livepipe.i18n import phrases
from livepipe.models import SlotKind
from livepipe.render import templating
from livepipe.render.messages import render_message
from livepipe.render.templating import Templates
from livepipe.site import load_path

from ..support import CONTENT, ROOT, make_send
from .helpers import build_memory

# phrases a site may write: markup kept as written in HTML, an ampersand, quotes, and one
# with a value ({zone}) that an HTML template escapes
OWN_EN = """
[label]
when = "Q&A <i>time</i>: "
site_time = "At the site ({zone}) & co: "
[article]
details = "Details & \\"more\\""
[newsletter]
ics_apps = "Apple <b>&</b> Thunderbird"
"""
OWN_ZH = '[label]\nwhere = "地点 & <u>场地</u>："\n'


def site_with_catalogues(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    shutil.copytree(CONTENT, root / "content")
    shutil.copy(ROOT / "livepipe.toml", root / "livepipe.toml")
    (root / "i18n").mkdir()
    (root / "i18n" / "en.toml").write_text(OWN_EN, encoding="utf-8")
    (root / "i18n" / "zh.toml").write_text(OWN_ZH, encoding="utf-8")
    return root


def unfolded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templating, "_constant_phrase", lambda call, words: None)


def test_every_artifact_is_the_same_with_phrases_folded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = site_with_catalogues(tmp_path)
    _, folded = build_memory(root)
    asked: list[str] = []
    real_fill = i18n.fill

    def counting(phrase: str, values: Any, *, html: bool = False) -> str:
        asked.append(phrase)
        return real_fill(phrase, values, html=html)

    monkeypatch.setattr(i18n, "fill", counting)
    _, _ = build_memory(root)
    asked_folded = len(asked)
    asked.clear()
    unfolded(monkeypatch)
    _, plain = build_memory(root)
    assert asked_folded < len(asked) / 2  # most phrase calls were folded away
    assert folded.keys() == plain.keys()
    for path, data in plain.items():
        assert folded[path] == data, path
    # the site's phrases are in them, escaped where the template escapes values
    articles = b"".join(v for k, v in folded.items() if k.startswith("wechat/"))
    mails = b"".join(v for k, v in folded.items() if k.startswith("newsletter/"))
    assert b"Apple <b>&</b> Thunderbird" in mails  # a phrase of an HTML template: as written
    assert "地点 & <u>场地</u>：".encode() in b"".join(folded.values())
    assert b'>Details &amp; "more"</h2>' in articles


def test_every_message_is_the_same_with_phrases_folded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = site_with_catalogues(tmp_path)
    events = load_path(root).events

    def messages() -> list[object]:
        templates = Templates(root / "templates", root)
        out: list[object] = []
        for event in events:
            for kind, slot in (
                (SlotKind.ANNOUNCE, "announce"),
                (SlotKind.REMINDER, "starting-soon"),
                (SlotKind.CHANGED, "changed"),
                (SlotKind.CANCELLED, "cancelled"),
                (SlotKind.REPLAY, "replay"),
            ):
                send = make_send(uid=event.uid, slot=slot, kind=kind, channel="ops")
                out.append(
                    render_message(send, event, Settings(), templates, parts={"html", "article"})
                )
        return out

    folded = messages()
    unfolded(monkeypatch)
    assert messages() == folded


def test_a_catalogue_edited_while_running_is_seen_at_the_next_render(tmp_path: Path) -> None:
    """`up` keeps its templates for days; a merge that edits the site's catalogue changes
    what the next message says (the folded templates are compiled again)."""
    root = site_with_catalogues(tmp_path)
    event = next(e for e in load_path(root).events if e.lang == "en" and not e.cancelled)
    templates = Templates(root / "templates", root)
    send = make_send(uid=event.uid, slot="announce", kind=SlotKind.ANNOUNCE, channel="ops")
    before = render_message(send, event, Settings(), templates, parts={"article"})
    assert "\nQ&A <i>time</i>: Thursday" in before.text
    assert '<strong style="font-weight:bold;">Q&amp;A time:</strong> Thursday' in str(
        before.article
    )
    own = root / "i18n" / "en.toml"
    own.write_text(OWN_EN.replace("Q&A <i>time</i>", "Starts"), encoding="utf-8")
    after = render_message(send, event, Settings(), templates, parts={"article"})
    assert "Q&A" not in after.text + str(after.article)
    assert "\nStarts: Thursday" in after.text
    assert '<strong style="font-weight:bold;">Starts:</strong> Thursday' in str(after.article)


def folded_env(source: str, html: bool = False) -> jinja2.Template:
    env = templating._FoldedEnvironment(
        phrases("en"), html, undefined=jinja2.StrictUndefined, autoescape=html
    )
    return env.from_string(source)


def test_what_is_folded_and_what_is_left_to_render_time() -> None:
    words = phrases("en")
    # a missing key is not an error when the template compiles, but when it renders
    missing = folded_env('{{ t("no.such.key") }}')
    with pytest.raises(RenderError, match=r"no\.such\.key"):
        missing.render(t=words)
    # a value from the page is not a constant: the call stays
    source = '{{ t("message.announce", title=z) }}'
    template = folded_env(source, html=True)
    assert "context.call" in template.environment.compile(source, raw=True)
    html = template.render(t=words.for_template(html=True), z="<b>T</b>")
    assert html == words.html("message.announce", title="<b>T</b>")
    assert "&lt;b&gt;T&lt;/b&gt;" in html
    # constants are folded: the compiled code asks nothing at render time
    code = template.environment.compile('{{ t.strong("when") }}{{ t("label.where") }}', raw=True)
    assert "context.call" not in code
    # a template that gives `t` another value keeps every call as written
    rebound = folded_env(
        '{% for t in [words] %}{{ t("label.when") }}{% endfor %}{{ t("label.when") }}'
    )
    assert rebound.render(t=words, words=lambda key: f"<{key}>") == "<label.when>When: "
    assert "context.call" in rebound.environment.compile(
        '{% set t = x %}{{ t("label.when") }}', raw=True
    )


def test_a_send_reads_the_catalogues_once_and_the_next_send_sees_an_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message asks for its phrases many times; the site's catalogue files are looked at
    once per message (each ask looked at them: 5 % of a send), and an edit between two
    sends is in the second."""
    from livepipe.publish import make_channels
    from livepipe.records import SendState
    from livepipe.send import Sender

    from ..support.scenario import Scenario

    sc = Scenario(tmp_path / "site", str(tmp_path / "ledger.sqlite"))
    sc.write(
        "talk.md",
        "---\ntitle: 讲座\nstart: 2030-01-10T20:00:00+08:00\nlocation: 线上\n---\n内容\n",
    )
    (sc.root / "i18n").mkdir()
    own = sc.root / "i18n" / "zh.toml"
    own.write_text('[label]\nwhen = "开讲："\n', encoding="utf-8")
    now = datetime(2030, 1, 1, tzinfo=UTC)
    sc.sync(now)
    send = sc.sends(SendState.PENDING)[0]
    sender = Sender(sc.ledger, sc.settings, make_channels(sc.settings), clock=lambda: now)
    looked: list[Path] = []
    real = i18n._stamp

    def stamp(path: Path) -> tuple[int, int] | None:
        looked.append(path)
        return real(path)

    monkeypatch.setattr(i18n, "_stamp", stamp)
    first = sender.message(send)
    assert "开讲：" in first.text
    assert 0 < len(looked) <= 2  # the site's two catalogues (its en.toml, its zh.toml), once
    own.write_text('[label]\nwhen = "时间到："\n', encoding="utf-8")
    second = sender.message(send)
    assert "时间到：" in second.text and "开讲：" not in second.text
    sc.close()
