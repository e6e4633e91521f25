"""Articles WeChat accepts: links outside mp.weixin.qq.com become numbered references (WeChat
would strip them), and the cover a page lacks is generated, with a CJK font found or named."""

from __future__ import annotations

from pathlib import Path

import pytest

from livepipe.errors import ConfigError
from livepipe.i18n import phrases
from livepipe.render.cover import find_font
from livepipe.render.wechat import with_qr, with_references

P = '<p style="x">'


def test_outside_links_become_numbered_references() -> None:
    article = (
        "<section>\n"
        f'{P}Metrics with <a href="https://prometheus.io/docs/" style="c">Prometheus</a> and '
        f'<a href="https://grafana.com/oss/loki/">Loki</a>; again '
        f'<a href="https://prometheus.io/docs/">the docs</a>.</p>\n'
        f'{P}Read <a href="https://mp.weixin.qq.com/s/abc">our last article</a>.</p>\n'
        f'{P}Join: <a href="https://live.bilibili.com/1">https://live.bilibili.com/1</a></p>\n'
        f'{P}<a href="javascript:alert(1)">click</a> '
        f'<a href="https://x.example/?a=1&amp;b=&quot;2&quot;">a &lt;b&gt; link</a></p>\n'
        "</section>"
    )
    out = with_references(article, phrases("en"))
    assert "Prometheus<sup>[1]</sup>" in out and "Loki<sup>[2]</sup>" in out
    assert "the docs<sup>[1]</sup>" in out  # the same URL: the same number
    assert '<a href="https://mp.weixin.qq.com/s/abc">our last article</a>' in out  # kept
    assert "Join: https://live.bilibili.com/1</p>" in out  # its text is its URL: plain text
    assert f"{P}click a &lt;b&gt; link<sup>[3]</sup></p>" in out  # no javascript: reference
    assert "<a " not in out.replace('<a href="https://mp.weixin.qq.com/s/abc">', "")
    refs = out.split(">Links</h2>", 1)[1]
    assert "[1] Prometheus: https://prometheus.io/docs/</p>" in refs
    assert "[2] Loki: https://grafana.com/oss/loki/</p>" in refs
    # escaped once, never raw: the quote and the angle brackets stay text
    assert "[3] a &lt;b&gt; link: https://x.example/?a=1&amp;b=&quot;2&quot;</p>" in refs
    assert out.endswith("</section>")
    zh = with_references(article, phrases("zh"))
    assert ">参考链接</h2>" in zh and "[1] Prometheus：https://prometheus.io/docs/" in zh


def test_no_outside_links_no_references() -> None:
    article = f"<section>\n{P}Nothing to see.</p>\n</section>"
    assert with_references(article, phrases("zh")) == article


def test_qr_goes_before_the_references() -> None:
    article = with_references(
        f'<section>\n{P}<a href="https://a.example/">A</a></p>\n</section>', phrases("zh")
    )
    out = with_qr(article, "http://mmbiz.qpic.cn/qr", phrases("zh"))
    assert out.index('src="http://mmbiz.qpic.cn/qr"') < out.index(">参考链接</h2>")
    assert "长按识别二维码，观看直播" in out


def test_font_configured_found_or_a_clear_error(tmp_path: Path) -> None:
    fonts = tmp_path / "fonts" / "opentype" / "noto"
    fonts.mkdir(parents=True)
    (fonts / "NotoSansCJK-Regular.ttc").write_bytes(b"x")
    (fonts / "NotoSansCJK-Bold.ttc").write_bytes(b"x")
    (tmp_path / "mine.otf").write_bytes(b"x")
    assert find_font(None, None, [tmp_path / "fonts"]) == fonts / "NotoSansCJK-Bold.ttc"
    assert find_font("mine.otf", tmp_path) == tmp_path / "mine.otf"
    with pytest.raises(
        ConfigError, match=r"cover_font nope\.otf is not a font file inside the site"
    ):
        find_font("nope.otf", tmp_path)
    with pytest.raises(ConfigError, match="no CJK font found") as info:
        find_font(None, None, [tmp_path / "empty"])
    assert "fonts-noto-cjk" in (info.value.hint or "")
