"""Languages: one catalogue per language, every key in every catalogue; Japanese pages and
messages render from the same templates as Chinese and English; a site's own catalogue
changes a phrase or adds a language; a page in a language nobody wrote words for is told."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from markupsafe import Markup
from typer.testing import CliRunner

from livepipe.build import build
from livepipe.cli import app
from livepipe.i18n import (
    EXTRA_VALUES,
    FALLBACK,
    HERE,
    builtin_languages,
    catalogue,
    held,
    phrases,
    placeholders,
)
from livepipe.models import SlotKind
from livepipe.render.messages import render_message
from livepipe.render.templating import Templates
from livepipe.site import Site, load

from .support import make_send

LANGUAGES = builtin_languages()


def test_the_three_languages_are_there() -> None:
    assert LANGUAGES == ["en", "ja", "zh"]


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != FALLBACK])
def test_every_key_in_every_catalogue(lang: str) -> None:
    english, other = catalogue(HERE / "en.toml"), catalogue(HERE / f"{lang}.toml")
    missing = sorted(set(english) - set(other))
    extra = sorted(set(other) - set(english))
    assert (missing, extra) == ([], []), f"{lang}: missing {missing}, not in English {extra}"
    for key, value in english.items():
        assert type(other[key]) is type(value), key
        if isinstance(value, list):
            assert len(other[key]) == len(value), key
        if key == "zones":
            continue  # names of the zones each language knows
        allowed = placeholders(value) | EXTRA_VALUES.get(key, frozenset())
        assert placeholders(other[key]) <= allowed, f"{lang} {key}: {other[key]!r}"


def test_no_language_is_spelled_out_in_the_code() -> None:
    """Words live in the catalogues: no `lang == "zh"` branch and no template twins left."""
    root = Path(__file__).resolve().parents[1]
    for path in (root / "src" / "livepipe").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert 'lang == "zh"' not in text and "lang == 'zh'" not in text, path
    twins = [p for p in (root / "templates").rglob("*.*.*")]
    assert twins == []


def japanese_site(root: Path) -> Path:
    (root / "content").mkdir(parents=True)
    (root / "livepipe.toml").write_text(
        '[site]\nname = "東京 Meetup"\nbase_url = "https://tokyo.example"\n'
        'timezone = "Asia/Tokyo"\nlanguages = ["ja", "en"]\ndefault_language = "ja"\n',
        encoding="utf-8",
    )
    (root / "content" / "k8s.ja.md").write_text(
        "---\ntitle: Kubernetes 入門\nstart: 2026-12-10T20:00:00+09:00\n"
        "end: 2026-12-10T21:00:00+09:00\ntimezone: Asia/Tokyo\nlocation: online\nlive_url: https://live.example/tokyo\n"
        "speakers:\n  - name: 山田太郎\n    bio: エンジニア\n---\nコンテナの基本。\n",
        encoding="utf-8",
    )
    return root


def test_japanese_pages_render_in_japanese(tmp_path: Path) -> None:
    site = Site.locate(japanese_site(tmp_path / "site"))
    result = load(site)
    [event] = result.events
    assert event.lang == "ja"
    assert not [p for p in result.problems if p.code == "no-catalogue"]
    build(result, tmp_path / "dist")
    ics = (tmp_path / "dist" / "events" / "k8s.ics").read_bytes().decode("utf-8")
    unfolded = ics.replace("\r\n ", "").replace("\\n", "\n")
    assert "日時：2026年12月10日（木）20:00–21:00（日本時間）" in unfolded
    assert "登壇者：山田太郎" in unfolded and "場所：オンライン配信" in unfolded
    article = next((tmp_path / "dist" / "wechat").glob("k8s*.html")).read_text(encoding="utf-8")
    assert ">イベント情報</h2>" in article and ">日時：</strong>2026年12月10日（木）" in article
    feed = json.loads((tmp_path / "dist" / "feed.json").read_text(encoding="utf-8"))
    assert "<strong>場所：</strong>オンライン配信" in feed["items"][0]["content_html"]
    templates = Templates(site.settings.root / "templates")

    def message(kind: SlotKind, ahead: timedelta) -> tuple[str, str]:
        send = make_send(
            key="k" * 24, uid=event.uid, slot=str(kind), kind=kind, due=event.start,
            valid_until=event.end,
        )  # fmt: skip
        m = render_message(send, event, site.settings, templates, now=event.start - ahead)
        return m.title, m.text

    title, text = message(SlotKind.ANNOUNCE, timedelta(days=3))
    assert title == "【開催のお知らせ】Kubernetes 入門"
    assert "⏰ 日時：2026年12月10日（木）20:00–21:00（日本時間）" in text
    assert "🎤 登壇者：山田太郎" in text
    assert message(SlotKind.REMINDER, timedelta(minutes=10))[0] == (
        "【10 分後に開始】Kubernetes 入門"
    )
    assert message(SlotKind.REMINDER, timedelta(days=1))[0] == "【明日開始】Kubernetes 入門"
    title, text = message(SlotKind.CANCELLED, timedelta(days=1))
    assert title == "【開催中止】Kubernetes 入門" and "中止になりました" in text


def test_a_site_catalogue_changes_a_phrase_and_adds_a_language(tmp_path: Path) -> None:
    root = japanese_site(tmp_path / "site")
    (root / "i18n").mkdir()
    (root / "i18n" / "ja.toml").write_text(
        '[message]\nannounce = "【告知】{title}"\n', encoding="utf-8"
    )
    (root / "i18n" / "fr.toml").write_text(
        '[meta]\nname = "Français"\n[label]\nwhen = "Quand : "\n'
        '[message]\nannounce = "À venir : {title}"\n',
        encoding="utf-8",
    )
    words = phrases("ja", root)
    assert words("message.announce", title="X") == "【告知】X"
    assert words("message.cancelled", title="X") == "【開催中止】X"  # the rest is livepipe's
    french = phrases("fr", root)
    assert french.known and french("meta.name") == "Français"
    assert french("message.announce", title="Y") == "À venir : Y"
    assert french.label("where") == "Where: "  # not translated yet: English
    assert not phrases("fr").known  # livepipe itself has no French


def test_a_build_reads_the_site_catalogues_once_the_next_sees_an_edit(tmp_path: Path) -> None:
    """Inside held() (one build) each language's phrases are looked up once; outside, an
    edit is seen at the next ask (serve rebuilds on it)."""
    (tmp_path / "i18n").mkdir()
    own = tmp_path / "i18n" / "en.toml"
    own.write_text('[message]\nannounce = "Soon: {title}"\n', encoding="utf-8")
    with held():
        assert phrases("en", tmp_path)("message.announce", title="T") == "Soon: T"
        own.write_text('[message]\nannounce = "Coming up: {title}"\n', encoding="utf-8")
        assert phrases("en", tmp_path)("message.announce", title="T") == "Soon: T"
        assert phrases("en", tmp_path)("label.when") == "When: "  # plain phrases as before
        assert phrases("en", tmp_path).html("label.when") == Markup("When: ")
    assert phrases("en", tmp_path)("message.announce", title="T") == "Coming up: T"
    own.write_text('[message]\nannounce = "Later: {title}"\n', encoding="utf-8")
    assert phrases("en", tmp_path)("message.announce", title="T") == "Later: T"


def test_a_phrase_cannot_reach_into_values(tmp_path: Path) -> None:
    """A site's catalogue fills {name} only: no attribute access, no format specs."""
    (tmp_path / "i18n").mkdir()
    (tmp_path / "i18n" / "en.toml").write_text(
        '[message]\nannounce = "{title.__class__} {title!r} {title:>99999}"\n', encoding="utf-8"
    )
    said = phrases("en", tmp_path)("message.announce", title="T")
    assert said == "{title.__class__} {title!r} {title:>99999}"


def test_a_language_without_words_is_told(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "content").mkdir(parents=True)
    (root / "livepipe.toml").write_text(
        '[site]\nname = "S"\nbase_url = "https://s.example"\nlanguages = ["de", "en"]\n',
        encoding="utf-8",
    )
    for name in ("a.de.md", "b.de.md", "c.en.md"):
        (root / "content" / name).write_text(
            "---\ntitle: T\nstart: 2030-01-01T10:00:00Z\nlocation: online\n---\n",
            encoding="utf-8",
        )
    result = CliRunner().invoke(app, ["check", str(root)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    told = [line for line in result.output.splitlines() if "no-catalogue" in line]
    assert len(told) == 1 and "a.de.md:1: warning no-catalogue" in told[0], result.output
    assert "i18n/de.toml" in result.output


def test_chinese_and_english_serve_pages_and_japanese_names(tmp_path: Path) -> None:
    from livepipe.serve import language_name

    assert [language_name(c, None) for c in ("zh", "en", "ja", "fr")] == [
        "中文",
        "English",
        "日本語",
        "fr",
    ]


def test_gathered_title_is_its_own_line() -> None:
    """A daily mass-send listing three events: the title names the first and the count, and
    each event is a line of the text (the title once ran into the first line)."""
    from livepipe.config import Settings
    from livepipe.models import Event
    from livepipe.render.messages import render_gathered

    day = datetime.fromisoformat("2026-12-10T20:00:00+08:00")
    events = [
        Event(
            uid=f"e{i}@x",
            source=f"e{i}.md",
            slug=f"e{i}",
            lang="zh",
            schema="native",
            url=f"https://x.example/e{i}/",
            title=f"活动 {i}",
            description="",
            start=day + timedelta(days=i),
            end=day + timedelta(days=i, hours=1),
            timezone="Asia/Shanghai",
        )
        for i in range(3)
    ]
    send = make_send(key="g" * 24, uid="site@x", channel="wx", occurrence="daily", due=day)
    settings = Settings.model_validate(
        {"site": {"default_language": "zh", "timezone": "Asia/Shanghai"}}
    )
    m = render_gathered(send, events, settings, Templates())
    assert m.title == "【活动预告】活动 0 等 3 场活动"
    assert m.text.splitlines() == [
        "· 活动 0：2026 年 12 月 10 日（周四）20:00–21:00（北京时间）",
        "· 活动 1：2026 年 12 月 11 日（周五）20:00–21:00（北京时间）",
        "· 活动 2：2026 年 12 月 12 日（周六）20:00–21:00（北京时间）",
    ]
