"""The WeChat Official Account channel against a loopback stand-in for its API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from livepipe.config import ChannelSettings, Settings
from livepipe.errors import PermanentPublishError
from livepipe.ledger import open_ledger
from livepipe.plan import Send
from livepipe.publish import PUBLISHERS
from livepipe.render.messages import render_message
from livepipe.render.templating import Templates
from livepipe.site import load_path

from ..conftest import CONTENT
from ..fake_apis import Recorder, make_app
from ..receiver import serve_app


@pytest.fixture
def api() -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()
    with serve_app(make_app(rec)) as url:
        yield url, rec


@pytest.fixture
def ledger(tmp_path: Path):
    store = open_ledger(Settings(), str(tmp_path / "l.sqlite"))
    yield store
    store.close()


def message(url: str, key: str = "k" * 24):
    event = next(e for e in load_path(CONTENT).events if e.slug == "observability1210-live")
    event = replace(
        event, cover_image=f"{url}/img/cover.png", outline_image=f"{url}/img/outline.png"
    )
    send = Send(
        key,
        event.uid,
        "announce",
        "announce",
        "oa",
        "once",
        datetime(2026, 11, 26, tzinfo=UTC),
        datetime(2026, 12, 10, tzinfo=UTC),
    )
    return render_message(send, event, Settings(), Templates())


def channel(url: str, kv, appid: str = "wx-ok", **options: object):
    cfg = ChannelSettings(type="wechat", api=url, appid_env="APPID", secret_env="SECRET", **options)  # type: ignore[arg-type]
    chan = PUBLISHERS["wechat"](
        "oa", cfg, root=Path("."), kv=kv, env={"APPID": appid, "SECRET": "wx-secret"}
    )
    chan.poll_interval = 0.05  # type: ignore[attr-defined]
    return chan


def test_publish_flow(api, ledger) -> None:
    url, rec = api
    receipt = channel(url, ledger).send(message(url))
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


def test_token_is_shared_between_workers(api, ledger) -> None:
    url, rec = api
    channel(url, ledger).send(message(url, "a" * 24))
    channel(url, ledger).send(message(url, "b" * 24))  # another worker, same ledger
    assert len(rec.calls("/cgi-bin/stable_token")) == 1


def test_expired_token_is_refreshed_once(api, ledger) -> None:
    url, rec = api
    chan = channel(url, ledger)
    chan.send(message(url, "a" * 24))
    rec.expire_next = True
    chan.send(message(url, "b" * 24))
    tokens = rec.calls("/cgi-bin/stable_token")
    assert len(tokens) == 2 and tokens[-1].json()["force_refresh"] is True  # type: ignore[index]


def test_retry_after_submit_does_not_publish_twice(api, ledger) -> None:
    url, rec = api
    chan = channel(url, ledger)
    msg = message(url)
    chan.send(msg)
    chan.send(msg)  # e.g. the process died before recording, and the send was retried
    assert len(rec.publishes) == 1 and len(rec.drafts) == 1


def test_draft_only(api, ledger) -> None:
    url, rec = api
    receipt = channel(url, ledger, draft_only=True).send(message(url))
    assert receipt.remote_id == "DRAFT-1" and rec.publishes == {}


@pytest.mark.parametrize(
    ("appid", "code", "hint"),
    [
        ("wx-personal", "48001", "draft_only"),
        ("wx-quota", "45009", "quota"),
    ],
)
def test_permanent_account_errors(api, ledger, appid: str, code: str, hint: str) -> None:
    url, _ = api
    with pytest.raises(PermanentPublishError) as info:
        channel(url, ledger, appid=appid).send(message(url))
    assert info.value.code == code and hint in info.value.hint
    assert "wx-secret" not in str(info.value)


def test_digest_has_no_article(api, ledger) -> None:
    url, _ = api
    msg = replace(message(url), article=None, article_meta=None, kind="digest")
    with pytest.raises(PermanentPublishError, match="no article"):
        channel(url, ledger).send(msg)
