"""The allow-list sanitizer and Markdown conversions."""

from __future__ import annotations

import re

from livepipe.render.html import BASIC, EMAIL, WECHAT, markdown_html, markdown_text, sanitize

ALLOWED_WECHAT = {
    "p",
    "section",
    "span",
    "strong",
    "em",
    "img",
    "a",
    "h2",
    "h3",
    "ul",
    "ol",
    "li",
    "blockquote",
    "br",
    "code",
}


def tags(html: str) -> set[str]:
    return set(re.findall(r"<([a-z0-9]+)", html))


def test_scripts_iframes_and_event_handlers_are_removed() -> None:
    dirty = (
        '<p onclick="x()">hi <script>alert(1)</script><iframe src="//evil"></iframe>'
        '<a href="javascript:alert(1)">x</a><a href="https://ok.example/">ok</a>'
        '<img src="data:image/png;base64,AAA"><center>c</center><style>p{}</style></p>'
    )
    clean = sanitize(dirty, WECHAT)
    assert "script" not in clean and "iframe" not in clean and "alert" not in clean
    assert "onclick" not in clean and "javascript:" not in clean and "data:" not in clean
    assert "<center" not in clean and ">c<" in clean  # unwrapped, text kept
    assert '<a href="https://ok.example/" style=' in clean
    assert tags(clean) <= ALLOWED_WECHAT


def test_every_wechat_tag_gets_inline_style_and_no_class() -> None:
    html = markdown_html("## H\n\ntext **b** `c`\n\n- one\n- two\n\n> quote\n", WECHAT)
    assert "class=" not in html
    for tag in ("p", "li", "ul", "blockquote", "h2", "code"):
        assert re.search(rf"<{tag} style=\"[^\"]+\">", html), tag


def test_markdown_escapes_text() -> None:
    html = markdown_html('a < b & c > d ]]> "q"', BASIC)
    assert html == '<p>a &lt; b &amp; c &gt; d ]]&gt; "q"</p>'


def test_shift_headings() -> None:
    assert markdown_html("## Intro", EMAIL, shift_headings=True).startswith("<h3")


def test_markdown_text() -> None:
    md = "## 讲师\n\n![](https://x/a.png)\n**张三**，[主页](https://z.example) <b>x</b>\n- 一\n"
    assert markdown_text(md) == "讲师\n\n张三，主页 (https://z.example) x\n· 一"
