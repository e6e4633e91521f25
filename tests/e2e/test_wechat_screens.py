"""WeChat articles as followers would see them, in Debian's Chromium: the cover generated for
a page without one (CJK title and date, 2.35:1), and an article whose outside links became
numbered references, with the live URL's QR code (decoded back with zbar). Screenshots go
to test-artifacts/."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from livepipe.addresses import parse_networks
from livepipe.config import ChannelSettings, Settings
from livepipe.publish import PUBLISHERS
from livepipe.render.messages import render_message
from livepipe.render.templating import Templates
from livepipe.site import load_path

from ..conftest import ARTIFACTS, _apt_install
from ..support import CONTENT, make_send
from ..support.apis import Recorder, make_app
from ..support.receiver import serve_app
from .test_browser import shot

pytestmark = pytest.mark.browser


def published(
    url: str, rec: Recorder, kv_ledger: Any, key: str = "w" * 24, **event_changes: Any
) -> dict:
    """The observability talk through the WeChat channel; returns the draft WeChat got."""
    event = next(e for e in load_path(CONTENT).events if e.slug == "observability1210-live")
    event = replace(event, **event_changes)
    send = make_send(
        key=key,
        uid=event.uid,
        channel="oa",
        due=datetime(2026, 11, 26, tzinfo=UTC),
        valid_until=datetime(2026, 12, 10, tzinfo=UTC),
    )
    message = render_message(send, event, Settings(), Templates())
    cfg = ChannelSettings(
        type="wechat",
        api=url,
        appid_env="APPID",
        secret_env="SECRET",
        cover_label="KubeSphere 云原生直播间",
    )
    chan = PUBLISHERS["wechat"](
        "oa",
        cfg,
        root=Path("."),
        kv=kv_ledger,
        env={"APPID": "wx-ok", "SECRET": "wx-secret"},
        network=parse_networks(["127.0.0.0/8"]),  # the page's images are on the stand-in
    )
    chan.poll_interval = 0.05  # type: ignore[attr-defined]
    chan.send(message)
    [draft] = rec.drafts.values()
    return draft


def as_page(html: str, rec: Recorder) -> str:
    """The article with each image WeChat hosts inlined (the stand-in's URLs are not real)."""
    for url, data in rec.uploads.items():
        if url.startswith("http://mmbiz.qpic.cn/"):
            html = html.replace(url, "data:image/png;base64," + base64.b64encode(data).decode())
    return (
        '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=390"></head>'
        f'<body style="margin:0;padding:16px;background:#fff;">{html}</body></html>'
    )


def test_generated_cover(
    chromium: Path, new_page: Any, wechat_api: tuple[str, Recorder], kv_ledger: Any
) -> None:
    from PIL import Image

    url, rec = wechat_api
    draft = published(url, rec, kv_ledger, cover_image=None, outline_image=None)
    cover = rec.uploads[draft["thumb_media_id"]]
    image = Image.open(io.BytesIO(cover))
    assert image.size == (900, 383)  # WeChat's 2.35:1
    assert image.getpixel((5, 5)) == (0x1A, 0x5F, 0xB4)  # the background colour
    title = image.crop((56, 56, 844, 250))
    raw = title.tobytes()
    ink = sum(raw[i : i + 3] == b"\xff\xff\xff" for i in range(0, len(raw), 3))
    assert ink > 2000  # the title was drawn …
    # … in real glyphs, not boxes: another title of as many characters looks different.
    other = published_cover_title(url, kv_ledger, "可观测性实战：从链路追踪到指标")
    assert other.crop((56, 56, 844, 250)).tobytes() != title.tobytes()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "wechat-cover-generated.png").write_bytes(cover)
    page = new_page(viewport={"width": 900, "height": 383})
    page.set_content(
        '<!DOCTYPE html><html><body style="margin:0">'
        f'<img id="c" src="data:image/png;base64,{base64.b64encode(cover).decode()}"></body></html>'
    )
    assert page.evaluate("document.getElementById('c').naturalWidth") == 900
    shot(page, "wechat-cover")


def published_cover_title(url: str, kv_ledger: Any, title: str) -> Any:
    from PIL import Image

    rec = Recorder()
    with serve_app(make_app(rec)) as other:
        draft = published(
            other, rec, kv_ledger, "v" * 24, cover_image=None, outline_image=None, title=title
        )
        return Image.open(io.BytesIO(rec.uploads[draft["thumb_media_id"]]))


def test_article_with_references_and_qr_code(
    chromium: Path, new_page: Any, wechat_api: tuple[str, Recorder], kv_ledger: Any, tmp_path: Path
) -> None:
    url, rec = wechat_api
    summary = (
        "本次直播介绍 [Prometheus](https://prometheus.io/docs/introduction/overview/) 采集指标、"
        "[Loki](https://grafana.com/oss/loki/) 汇总日志，以及 "
        "[上一期文章](https://mp.weixin.qq.com/s/previous-talk)。"
    )
    draft = published(
        url, rec, kv_ledger, summary=summary, cover_image=f"{url}/img/cover.png", outline_image=None
    )
    content = draft["content"]
    # "add to calendar" is one short .ics address, not two ~300-character references
    # (Google, Outlook) that took a third of the article on a phone
    assert "calendar.google.com" not in content and "outlook.live.com" not in content
    assert "Prometheus<sup>[1]</sup>" in content and "Loki<sup>[2]</sup>" in content
    assert 'href="https://mp.weixin.qq.com/s/previous-talk"' in content
    refs = content.split(">参考链接</h2>", 1)[1]
    assert "[1] Prometheus：https://prometheus.io/docs/introduction/overview/" in refs
    qr_url = content.split('<img src="', -1)[-1].split('"')[0]
    assert content.index(qr_url) < content.index(">参考链接</h2>")
    qr = rec.uploads[qr_url]
    # The QR code says the live URL: read back with zbar, not with the code that made it.
    if not shutil.which("zbarimg"):
        why = _apt_install("zbar-tools")
        if not shutil.which("zbarimg"):
            pytest.skip(f"zbarimg is not installed and could not be: {why}")
    (tmp_path / "qr.png").write_bytes(qr)
    read = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(tmp_path / "qr.png")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert read.stdout.strip() == "https://live.bilibili.com/00000001", read.stderr
    page = new_page(viewport={"width": 390, "height": 800}, locale="zh-CN")
    page.set_content(as_page(content, rec))
    sizes = page.evaluate("[...document.images].map(i => i.naturalWidth)")
    assert sizes and all(w > 0 for w in sizes[-1:])  # the QR code loaded
    assert page.locator("h2", has_text="参考链接").count() == 1
    shot(page, "wechat-article-references-qr")
