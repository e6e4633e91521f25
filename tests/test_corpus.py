"""The real KubeSphere corpus: every page parses; the two conflicted pages give one clear error."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from livepipe.config import Settings, SiteSettings
from livepipe.models import Event, Severity
from livepipe.site import Site, load

CONFLICTED = {"clickhouse0512-live.md": 9, "jinaai0602-live.md": 9}
DATE_ONLY = {"cs4all-kubesphere.md", "fudata-kubesphere.md", "zhijianglab-kubesphere.md"}
KS = Settings(site=SiteSettings(base_url="https://kubesphere.io"))


def load_folder(folder: Path, settings: Settings = KS) -> tuple[dict[str, Event], list]:
    result = load(Site(settings, folder, (folder,)))
    return {Path(e.source).name: e for e in result.events}, list(result.problems)


@pytest.fixture(scope="module")
def loaded(corpus: Path) -> tuple[dict[str, Event], list]:
    return load_folder(corpus)


def test_every_page_parses_except_the_conflicted_two(corpus: Path, loaded) -> None:
    events, problems = loaded
    pages = {p.name for p in corpus.glob("*.md")} - {"_index.md"}
    assert len(pages) == 187
    assert set(events) == pages - set(CONFLICTED)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    assert sorted((Path(p.path).name, p.line, p.code) for p in errors) == sorted(
        (name, line, "merge-conflict") for name, line in CONFLICTED.items()
    )
    warnings = [p for p in problems if p.severity is Severity.WARNING]
    # Independent reading of the titles: WeChat allows 32 characters.
    long_titles = set()
    for page in pages - set(CONFLICTED):
        meta = yaml.safe_load((corpus / page).read_text(encoding="utf-8").split("---")[1])
        if len(" ".join(str(meta["title"]).split())) > 32:
            long_titles.add(page)
    assert 10 < len(long_titles) < 100
    # The settings have no WeChat channel: nothing about WeChat's title length.
    assert sorted((Path(p.path).name, p.code, p.line) for p in warnings) == sorted(
        [(name, "date-only", 11) for name in DATE_ONLY]
    )
    # With one, each long title is named on its line.
    with_wechat = Settings.model_validate(
        {
            "site": {"base_url": "https://kubesphere.io"},
            "channels": {"wx": {"type": "wechat"}},
            "slots": {"announce": {"channels": ["wx"]}},
        }
    )
    _, problems = load_folder(corpus, with_wechat)
    titles = [p for p in problems if p.code == "title-too-long"]
    assert sorted((Path(p.path).name, p.line) for p in titles) == sorted(
        (name, 2) for name in long_titles
    )
    assert all("wx (wechat) shows 32" in p.message for p in titles)


# Hand-checked: Beijing is UTC+8 all year (no DST since 1991).
@pytest.mark.parametrize(
    ("page", "start_utc", "end_utc"),
    [
        (
            "argocd0217-live.md",
            datetime(2022, 2, 17, 12, tzinfo=UTC),
            datetime(2022, 2, 17, 13, tzinfo=UTC),
        ),
        ("ai-cic.md", datetime(2021, 7, 29, 6, tzinfo=UTC), datetime(2021, 7, 29, 9, tzinfo=UTC)),
        (
            "okg0118-live.md",
            datetime(2024, 1, 18, 12, tzinfo=UTC),
            datetime(2024, 1, 18, 13, tzinfo=UTC),
        ),  # start only: default 1 h
        (
            "chengdu1104-kubesphere-v4.0.md",
            datetime(2023, 11, 4, 6, tzinfo=UTC),
            datetime(2023, 11, 4, 10, tzinfo=UTC),
        ),
        (
            "meetup-hangzhou.md",
            datetime(2021, 5, 29, 6, tzinfo=UTC),
            datetime(2021, 5, 29, 10, tzinfo=UTC),
        ),
    ],
)
def test_exact_instants(loaded, page: str, start_utc: datetime, end_utc: datetime) -> None:
    event = loaded[0][page]
    assert event.start == start_utc and event.end == end_utc
    assert event.start.utcoffset().total_seconds() == 8 * 3600
    assert event.timezone == "Asia/Shanghai" and not event.all_day


def test_date_only_pages_are_all_day(loaded) -> None:
    event = loaded[0]["cs4all-kubesphere.md"]
    assert event.all_day
    assert event.to_json()["start"] == "2023-03-31"
    assert event.to_json()["end"] == "2023-04-01"  # exclusive


def test_fields_of_a_live_page(loaded) -> None:
    e = loaded[0]["argocd0217-live.md"]
    assert e.uid == "argocd0217-live@kubesphere.io"
    assert e.title == "Argo CD 速度通关指南"
    assert e.lang == "zh" and e.online and not e.in_person and e.location is None
    assert e.live_url == "https://live.bilibili.com/22580654"  # http upgraded
    assert e.replay_url == "https://www.bilibili.com/video/BV1aq4y1t7XJ"
    assert e.replay_embed_url is not None
    assert e.replay_embed_url.startswith("https://player.bilibili.com/player.html?aid=594178574")
    assert e.tags == ("KubeSphere", "Kubernetes", "Argo CD")
    assert [s.name for s in e.speakers] == ["裴振飞"]
    assert e.outline_image == (
        "https://pek3b.qingstor.com/kubesphere-community/images/argocd0217-live.png"
    )
    assert len(e.qa) == 7
    assert e.qa[0].question.startswith("Argo CD 与 Flux 主要区别")
    assert e.qa[0].answer.startswith("Argo CD 和 Flux 都是非常优秀的 GitOps 工具")
    # Q2's question continues on the line after its heading.
    assert "编写 yml 配置文件难度较高" in e.qa[1].question


def test_places(loaded) -> None:
    events = loaded[0]
    hz = events["meetup-hangzhou.md"]
    assert hz.location == "浙江省杭州市拱墅区丰潭路430号丰元国际大厦A座硬趣空间地下一层"
    assert hz.online and hz.in_person
    assert hz.live_url == "https://live.bilibili.com/22580654"  # section1.liveUrl
    cd = events["chengdu1104-kubesphere-v4.0.md"]
    assert (cd.location, cd.online, cd.in_person) == ("成都", True, True)


def test_uid_does_not_depend_on_title_or_time(corpus: Path, tmp_path: Path) -> None:
    text = (corpus / "argocd0217-live.md").read_text(encoding="utf-8")
    moved = text.replace("Argo CD 速度通关指南", "新标题").replace(
        "2022-02-17 20:00", "2022-03-01 19:00"
    )
    (tmp_path / "argocd0217-live.md").write_text(moved, encoding="utf-8")
    events, _ = load_folder(tmp_path)
    e = events["argocd0217-live.md"]
    assert e.uid == "argocd0217-live@kubesphere.io"
    original = load_folder(corpus)[0]["argocd0217-live.md"]
    assert e.significant != original.significant and e.revision != original.revision


def test_duplicate_titles_get_distinct_uids(loaded) -> None:
    events = loaded[0]
    a, b = events["chengdu1104-kubesphere-v4.0.md"], events["chengdu1123-kubesphere1.md"]
    assert a.title == b.title and a.uid != b.uid


def test_history_versions_parse(history: Path) -> None:
    for folder in sorted(history.iterdir()):
        events, problems = load_folder(folder)
        errors = [p for p in problems if p.severity is Severity.ERROR]
        if folder.name == "clickhouse0512-live":
            assert [(p.code, p.line) for p in errors] == [("merge-conflict", 9)]
            continue
        assert not errors, errors
        assert len(events) == len(list(folder.glob("*.md")))


def test_body_only_edit_keeps_significant_hash(history: Path) -> None:
    # ckacks1021-live 01 → 02: only the body changed (http → https live link, Q&A added).
    events, _ = load_folder(history / "ckacks1021-live")
    v1, v2 = events["01-ef8d09a6.md"], events["02-535cd661.md"]
    assert v1.revision != v2.revision
    assert v1.live_url == v2.live_url == "https://live.bilibili.com/22580654"
    assert v1.significant == v2.significant
    # go1104-live 01 → 02: a Q&A section was appended.
    events, _ = load_folder(history / "go1104-live")
    g1, g2 = events["01-7f4d425c.md"], events["02-e2bd6534.md"]
    assert len(g2.qa) == len(g1.qa) + 2
    assert g1.significant == g2.significant


def test_parallel_load_gives_the_same_result(corpus: Path, monkeypatch) -> None:
    import livepipe.site as site_module

    serial = load(Site(KS, corpus, (corpus,)), workers=1)
    monkeypatch.setattr(site_module, "PARALLEL_MIN_PAGES", 0)
    parallel = load(Site(KS, corpus, (corpus,)), workers=2)
    assert parallel.events == serial.events
    assert parallel.problems == serial.problems and parallel.failed == serial.failed
