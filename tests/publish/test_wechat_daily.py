"""A subscription account may mass-send once a day: a `wechat` channel with
`mass_send = "daily"` gathers the day's announcements into one mass-send at `daily_at`
(site time), up to 8 articles; the plan shows it as one row with its articles, and the
send goes through the WeChat stand-in once, with the articles of the events still on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from livepipe.ledger import open_ledger
from livepipe.pipeline import sync
from livepipe.publish import make_channels
from livepipe.records import SendState
from livepipe.send import Result, Sender
from livepipe.site import Site
from livepipe.timeline import timeline

from ..support.apis import Recorder

CST = ZoneInfo("Asia/Shanghai")
MERGED = datetime(2026, 12, 1, 10, 0, tzinfo=CST)
EVENING = datetime(2026, 12, 1, 20, 0, tzinfo=CST)


@pytest.fixture
def root(tmp_path: Path, wechat_api: tuple[str, Recorder], monkeypatch: pytest.MonkeyPatch) -> Path:
    url, _ = wechat_api
    monkeypatch.setenv("WX_APPID", "wx-ok")
    monkeypatch.setenv("WX_SECRET", "wx-secret")
    root = tmp_path / "site"
    (root / "content").mkdir(parents=True)
    (root / "livepipe.toml").write_text(
        '[site]\nname = "云原生直播间"\nbase_url = "https://s.test"\ntimezone = "Asia/Shanghai"\n'
        'default_language = "zh"\n'
        f'[channels.oa]\ntype = "wechat"\napi = "{url}"\nappid_env = "WX_APPID"\n'
        'secret_env = "WX_SECRET"\nmass_send = "daily"\ndaily_at = "20:00"\n'
        f'default_cover = "{url}/img/cover.png"\nqr = false\n'
        '[slots.announce]\nchannels = ["oa"]\n'
        "[slots.digest]\nenabled = false\n[slots.reminder-1d]\nenabled = false\n"
        "[slots.starting-soon]\nenabled = false\n",
        encoding="utf-8",
    )
    return root


def page(root: Path, name: str, day: int) -> None:
    (root / "content" / f"{name}.md").write_text(
        f"---\ntitle: 活动 {name}\nstart: 2026-12-{day:02d}T20:00:00+08:00\nlocation: online\n"
        f"description: 第 {name} 场\n---\n## 分享内容\n\n内容 {name}。\n",
        encoding="utf-8",
    )


def test_the_days_announcements_are_one_mass_send(root: Path, wechat_api) -> None:
    _, rec = wechat_api
    for i, day in enumerate((10, 11, 12)):
        page(root, f"e{i}", day)
    site = Site.locate(root)
    kv_ledger = open_ledger(site.settings, str(root / "kv_ledger.sqlite"))
    try:
        first = sync(site, kv_ledger, MERGED, out=None)
        [gathered] = first.plan.add
        assert (gathered.slot, gathered.channel, gathered.occurrence) == (
            "announce",
            "oa",
            "daily:2026-12-01",
        )
        assert gathered.due == EVENING
        # `livepipe plan` shows one row, with its articles
        rows = {(r.key, r.title) for r in timeline(kv_ledger.state(), first.plan)}
        assert rows == {(gathered.key, "3 articles: 活动 e0 · 活动 e1 · 活动 e2")}
        # Merged after 20:00: tomorrow's mass-send.
        page(root, "late", 13)
        later = sync(Site.locate(root), kv_ledger, EVENING + timedelta(hours=1), out=None)
        assert [(s.occurrence, s.due) for s in later.plan.add] == [
            ("daily:2026-12-02", EVENING + timedelta(days=1))
        ]
        # One of today's is deleted before 20:00: the push carries the other two.
        (root / "content" / "e1.md").unlink()
        sync(Site.locate(root), kv_ledger, EVENING - timedelta(minutes=5), out=None)
        settings = Site.locate(root).settings
        sender = Sender(
            kv_ledger, settings, make_channels(settings, kv=kv_ledger), clock=lambda: EVENING
        )
        sender.channels["oa"].poll_interval = 0.05  # type: ignore[attr-defined]
        outcomes = sender.send_due()
        assert [o.state for o in outcomes] == [Result.SENT], outcomes
        [articles] = rec.draft_articles.values()
        assert [a["title"] for a in articles] == ["活动 e0", "活动 e2"]
        assert all(a["content"].startswith("<section>") for a in articles)
        [sendall] = rec.calls("/cgi-bin/message/mass/sendall")
        assert sendall.json()["clientmsgid"] == gathered.key  # type: ignore[index]
        assert sender.send_due() == []  # once
        assert kv_ledger.send(gathered.key).state is SendState.SENT  # type: ignore[union-attr]
    finally:
        kv_ledger.close()


def test_at_most_eight_articles_a_day(root: Path) -> None:
    for i in range(9):
        page(root, f"n{i}", 10 + i)
    site = Site.locate(root)
    kv_ledger = open_ledger(site.settings, str(root / "kv_ledger.sqlite"))
    try:
        result = sync(site, kv_ledger, MERGED, out=None)
    finally:
        kv_ledger.close()
    days = {s.occurrence: s.key for s in result.plan.add}
    assert sorted(days) == ["daily:2026-12-01", "daily:2026-12-02"]
    carried = {s.key: s.carries for s in result.plan.add}
    assert [len(carried[days[d]]) for d in sorted(days)] == [8, 1]


def test_reviewers_get_the_days_push_first(root: Path, wechat_api) -> None:
    _, rec = wechat_api
    toml = root / "livepipe.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace(
            'daily_at = "20:00"\n',
            'daily_at = "20:00"\npreview_to = ["oReviewer"]\npreview_lead = "1h"\n',
        ),
        encoding="utf-8",
    )
    page(root, "a", 10)
    page(root, "b", 11)
    site = Site.locate(root)
    kv_ledger = open_ledger(site.settings, str(root / "kv_ledger.sqlite"))
    try:
        result = sync(site, kv_ledger, MERGED, out=None)
        assert sorted((s.key_slot, s.due, s.valid_until) for s in result.plan.add) == [
            ("announce", EVENING, EVENING + timedelta(hours=6)),
            ("announce:preview", EVENING - timedelta(hours=1), EVENING),
        ]
        sender = Sender(
            kv_ledger,
            site.settings,
            make_channels(site.settings, kv=kv_ledger),
            clock=lambda: EVENING - timedelta(hours=1),
        )
        [outcome] = sender.send_due()
        assert outcome.state is Result.SENT and outcome.send.key_slot == "announce:preview"
        [preview] = rec.previews
        assert preview["touser"] == "oReviewer"
        [articles] = rec.draft_articles.values()
        assert [a["title"] for a in articles] == ["活动 a", "活动 b"]
        assert rec.calls("/cgi-bin/message/mass/sendall") == []  # not yet to everyone
    finally:
        kv_ledger.close()


def test_a_pull_request_preview_shows_the_days_push_under_each_of_its_events(root: Path) -> None:
    from livepipe.preview import simulate
    from livepipe.site import load

    page(root, "a", 10)
    page(root, "b", 11)
    head = load(Site.locate(root))
    _, rows = simulate(None, head, MERGED)
    [row] = [r for r in rows if r.channel == "oa"]
    uids = {e.uid for e in head.events}
    assert set(row.carries) == uids and row.title == "2 articles: 活动 a · 活动 b"
    assert row.to_json(UTC)["carries"] == list(row.carries)
