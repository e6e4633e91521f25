"""The WeChat Official Account channel against a loopback stand-in for its API."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livepipe.addresses import parse_networks
from livepipe.config import ChannelSettings, Settings
from livepipe.errors import PermanentPublishError
from livepipe.ledger import open_ledger
from livepipe.publish import PUBLISHERS
from livepipe.render.messages import render_message
from livepipe.render.templating import Templates
from livepipe.site import load_path

from ..support import CONTENT, make_send


def message(url: str, key: str = "k" * 24):
    event = next(e for e in load_path(CONTENT).events if e.slug == "observability1210-live")
    event = replace(
        event, cover_image=f"{url}/img/cover.png", outline_image=f"{url}/img/outline.png"
    )
    send = make_send(
        key=key,
        uid=event.uid,
        channel="oa",
        due=datetime(2026, 11, 26, tzinfo=UTC),
        valid_until=datetime(2026, 12, 10, tzinfo=UTC),
    )
    return render_message(send, event, Settings(), Templates())


LOOPBACK = parse_networks(["127.0.0.0/8"])


def channel(url: str, kv, appid: str = "wx-ok", **options: object):
    cfg = ChannelSettings(type="wechat", api=url, appid_env="APPID", secret_env="SECRET", **options)  # type: ignore[arg-type]
    chan = PUBLISHERS["wechat"](
        "oa",
        cfg,
        root=Path("."),
        kv=kv,
        env={"APPID": appid, "SECRET": "wx-secret"},
        network=LOOPBACK,  # the page's cover and images are on the loopback stand-in
    )
    chan.poll_interval = 0.05  # type: ignore[attr-defined]
    return chan


def test_publish_flow(wechat_api, kv_ledger) -> None:
    url, rec = wechat_api
    receipt = channel(url, kv_ledger).send(message(url))
    assert receipt.remote_url == "https://mp.weixin.qq.com/s/PUB-1"
    assert len(rec.calls("/cgi-bin/stable_token")) == 1
    assert len(rec.calls("/cgi-bin/material/add_material")) == 1  # the cover
    (draft,) = rec.drafts.values()
    assert draft["title"] == "云原生可观测性实战：从指标到链路追踪"
    assert draft["thumb_media_id"].startswith("THUMB-")
    assert draft["content_source_url"].endswith("/zh/live/observability1210-live/")
    # Every body image was re-hosted: no external URL is left in the article.
    srcs = [s.split('"')[0] for s in draft["content"].split('src="')[1:]]
    assert srcs and all(s.startswith("http://mmbiz.qpic.cn/fake/") for s in srcs)
    assert "style=" in draft["content"] and "class=" not in draft["content"]
    assert len(rec.calls("/cgi-bin/freepublish/get")) == 2  # polled until published


def test_token_is_shared_between_workers(wechat_api, kv_ledger) -> None:
    url, rec = wechat_api
    channel(url, kv_ledger).send(message(url, "a" * 24))
    channel(url, kv_ledger).send(message(url, "b" * 24))  # another worker, same kv_ledger
    assert len(rec.calls("/cgi-bin/stable_token")) == 1


def test_expired_token_is_refreshed_once(wechat_api, kv_ledger) -> None:
    url, rec = wechat_api
    chan = channel(url, kv_ledger)
    chan.send(message(url, "a" * 24))
    rec.expire_next = True
    chan.send(message(url, "b" * 24))
    tokens = rec.calls("/cgi-bin/stable_token")
    assert len(tokens) == 2 and tokens[-1].json()["force_refresh"] is True  # type: ignore[index]


def test_retry_after_submit_does_not_publish_twice(wechat_api, kv_ledger) -> None:
    url, rec = wechat_api
    chan = channel(url, kv_ledger)
    msg = message(url)
    chan.send(msg)
    chan.send(msg)  # e.g. the process died before recording, and the send was retried
    assert len(rec.publishes) == 1 and len(rec.drafts) == 1


def test_draft_only(wechat_api, kv_ledger) -> None:
    url, rec = wechat_api
    receipt = channel(url, kv_ledger, draft_only=True).send(message(url))
    assert receipt.remote_id == "DRAFT-1" and rec.publishes == {}


@pytest.mark.parametrize(
    ("appid", "code", "hint"),
    [
        ("wx-personal", "48001", "draft_only"),
        ("wx-quota", "45009", "quota"),
    ],
)
def test_permanent_account_errors(wechat_api, kv_ledger, appid: str, code: str, hint: str) -> None:
    url, _ = wechat_api
    with pytest.raises(PermanentPublishError) as info:
        channel(url, kv_ledger, appid=appid).send(message(url))
    assert info.value.code == code and hint in info.value.hint
    assert "wx-secret" not in str(info.value)


def test_digest_has_no_article(wechat_api, kv_ledger) -> None:
    url, _ = wechat_api
    msg = replace(message(url), article=None, article_meta=None, kind="digest")
    with pytest.raises(PermanentPublishError, match="no article"):
        channel(url, kv_ledger).send(msg)


# -- mass-send: what reaches the followers ---------------------------------------------------


def test_mass_send_reaches_followers_with_the_send_key_as_clientmsgid(
    wechat_api, kv_ledger
) -> None:
    url, rec = wechat_api
    msg = message(url)
    receipt = channel(url, kv_ledger, mass_send=True).send(msg)
    [sendall] = rec.calls("/cgi-bin/message/mass/sendall")
    body = sendall.json()
    assert body == {
        "filter": {"is_to_all": True},
        "mpnews": {"media_id": "DRAFT-1"},
        "msgtype": "mpnews",
        "send_ignore_reprint": 0,
        "clientmsgid": msg.key,
    }
    assert receipt.remote_id == "1000" and receipt.note == "mass-send: SEND_SUCCESS"
    assert len(rec.calls("/cgi-bin/message/mass/get")) == 2  # SENDING, then SEND_SUCCESS
    assert rec.calls("/cgi-bin/freepublish/submit") == []  # not only the account's page


def test_mass_send_once_per_key_across_a_crash(wechat_api, kv_ledger) -> None:
    """The process dies after WeChat accepted the job but before the kv_ledger knew: the retry
    asks again with the same clientmsgid, WeChat answers 45065 with the job it has, and
    nobody gets the article twice."""
    url, rec = wechat_api
    msg = message(url)
    channel(url, kv_ledger, mass_send=True).send(msg)
    kv_ledger.kv_delete(f"wechat-progress:{msg.key}")  # what a crash right after sendall leaves
    again = channel(url, kv_ledger, mass_send=True).send(msg)
    assert len(rec.calls("/cgi-bin/message/mass/sendall")) == 2
    assert rec.masses == {msg.key: 1000}  # one job, ever
    assert again.remote_id == "1000"
    # a retry that finds the job in its progress does not even ask
    channel(url, kv_ledger, mass_send=True).send(msg)
    assert len(rec.calls("/cgi-bin/message/mass/sendall")) == 2


def test_mass_send_to_a_tag_and_without_quota(wechat_api, kv_ledger) -> None:
    url, rec = wechat_api
    channel(url, kv_ledger, mass_send=True, tag_id=2).send(message(url, "t" * 24))
    assert rec.calls("/cgi-bin/message/mass/sendall")[-1].json()["filter"] == {  # type: ignore[index]
        "is_to_all": False,
        "tag_id": 2,
    }
    with pytest.raises(PermanentPublishError) as info:
        channel(url, kv_ledger, appid="wx-nomass", mass_send=True).send(message(url, "q" * 24))
    assert info.value.code == "45028" and "once a day" in info.value.hint


def test_preview_goes_to_each_reviewer_once(wechat_api, kv_ledger) -> None:
    url, rec = wechat_api
    msg = replace(message(url, "p" * 24), audience="reviewers")
    chan = channel(url, kv_ledger, mass_send=True, preview_to=["oReviewer1", "wxname:alice"])
    receipt = chan.send(msg)
    assert receipt.note == "previewed to 2 reviewer(s)"
    assert [(p.get("touser"), p.get("towxname")) for p in rec.previews] == [
        ("oReviewer1", None),
        (None, "alice"),
    ]
    assert all(
        p["mpnews"]["media_id"] == "DRAFT-1" and p["msgtype"] == "mpnews" for p in rec.previews
    )
    chan.send(msg)  # a retry previews nobody twice
    assert len(rec.previews) == 2
    assert rec.calls("/cgi-bin/message/mass/sendall") == []
    bad = channel(url, kv_ledger, mass_send=True, preview_to=["not-an-openid"])
    with pytest.raises(PermanentPublishError) as info:
        bad.send(replace(msg, key="b" * 24))
    assert info.value.code == "40003" and "follower" in info.value.hint


def test_the_plan_previews_before_the_mass_send(tmp_path: Path) -> None:
    from livepipe.config import load_settings
    from livepipe.pipeline import sync
    from livepipe.site import Site

    root = tmp_path / "site"
    (root / "content").mkdir(parents=True)
    (root / "content" / "talk.md").write_text(
        "---\ntitle: Talk\nstart: 2026-12-10T20:00:00+08:00\nlocation: online\n---\n",
        encoding="utf-8",
    )
    (root / "livepipe.toml").write_text(
        '[site]\nname = "S"\nbase_url = "https://s.test"\ntimezone = "Asia/Shanghai"\n'
        '[channels.oa]\ntype = "wechat"\nappid_env = "A"\nsecret_env = "B"\nmass_send = true\n'
        'preview_to = ["oReviewer1"]\npreview_lead = "2h"\n'
        '[slots.announce]\nchannels = ["oa", "outbox"]\n[slots.reminder-1d]\nchannels = ["oa"]\n'
        "[slots.digest]\nenabled = false\n[slots.starting-soon]\nenabled = false\n",
        encoding="utf-8",
    )
    store = open_ledger(load_settings(root / "livepipe.toml"), str(tmp_path / "l.sqlite"))
    try:
        merged = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
        result = sync(Site.locate(root), store, merged, out=None)
        got = sorted((s.key_slot, s.channel, s.due, s.valid_until) for s in result.plan.add)
    finally:
        store.close()
    hours = lambda n: timedelta(hours=n)  # noqa: E731
    day_before = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
    start = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
    assert got == [
        # the announcement waits 2 h for the reviewers; the outbox is not previewed
        ("announce", "oa", merged + hours(2), start - timedelta(minutes=30)),
        ("announce", "outbox", merged, start - timedelta(minutes=30)),
        ("announce:preview", "oa", merged, merged + hours(2)),
        ("reminder-1d", "oa", day_before, day_before + hours(12)),
        ("reminder-1d:preview", "oa", day_before - hours(2), day_before),
    ]


def test_published_articles_and_mass_sends_are_read_back(wechat_api, kv_ledger) -> None:
    """Issue 27: what followers get now, against what was sent: an article retitled or
    deleted in the editor, a mass-send that did not reach them."""
    url, rec = wechat_api
    chan = channel(url, kv_ledger)
    msg = message(url)
    receipt = chan.send(msg)
    title = msg.article_meta["title"]
    assert receipt.remote_id == "ART-PUB-1"
    assert chan.read_back("ART-PUB-1", title) == []
    rec.edited["ART-PUB-1"] = {"title": "改过的标题"}
    assert chan.read_back("ART-PUB-1", title) == [
        f"article ART-PUB-1 is titled '改过的标题', sent {title!r}"
    ]
    rec.edited["ART-PUB-1"] = {"is_deleted": True}
    assert chan.read_back("ART-PUB-1", title) == ["article ART-PUB-1 was deleted"]
    mass = channel(url, kv_ledger, mass_send=True).send(message(url, key="m" * 24))
    assert chan.read_back(mass.remote_id or "", title) == []
    rec.mass_status[int(mass.remote_id or 0)] = "SEND_FAIL"
    assert chan.read_back(mass.remote_id or "", title) == [
        f"mass-send {mass.remote_id} is SEND_FAIL"
    ]


def test_verify_reads_back_what_was_sent_and_alerts_on_a_difference(
    wechat_api, tmp_path: Path, monkeypatch
) -> None:
    from livepipe.pipeline import read_back_wechat, sync
    from livepipe.records import SendState
    from livepipe.send import Sender
    from livepipe.site import Site

    from ..support import make_site, page

    url, rec = wechat_api
    monkeypatch.setenv("OA_APPID", "wx-ok")
    monkeypatch.setenv("OA_SECRET", "wx-secret")
    start = datetime(2026, 12, 20, 12, tzinfo=UTC)
    root = make_site(
        tmp_path,
        {"talk.md": page("Kubernetes Office Hours", start)},
        channels={"oa": {"type": "wechat", "api": url, "appid_env": "OA_APPID",
                         "secret_env": "OA_SECRET"}},
        slots={"announce": {"channels": ["oa"]}, "reminder-1d": {"enabled": False},
               "starting-soon": {"enabled": False}},
        alerts={"channel": "outbox"},
    )  # fmt: skip
    site = Site.locate(root)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    ledger = open_ledger(site.settings, str(tmp_path / "ledger.sqlite"))
    try:
        sync(site, ledger, now, out=None)
        with Sender.open(
            site.settings, clock=lambda: now, ledger_url=str(tmp_path / "ledger.sqlite")
        ) as sender:
            outcomes = sender.send_due()
        assert [o.state.value for o in outcomes] == ["sent"], outcomes
        assert read_back_wechat(site.settings, ledger, now + timedelta(days=1)) == []
        rec.edited["ART-PUB-1"] = {"title": "Edited in the editor"}
        (line,) = read_back_wechat(site.settings, ledger, now + timedelta(days=2))
        assert (
            "oa announce talk@live.test: article ART-PUB-1 is titled 'Edited in the editor'" in line
        )
        assert "'Kubernetes Office Hours'" in line
        alerts = [s for s in ledger.sends(SendState.PENDING) if s.slot == "alert"]
        assert len(alerts) == 1 and "Edited in the editor" in (alerts[0].text or "")
        assert ledger.kv_prefix("drift:wechat") == {"drift:wechat": "1"}
        # a month and more later it is no longer read back
        assert read_back_wechat(site.settings, ledger, now + timedelta(days=40)) == []
    finally:
        ledger.close()
