"""The allow-list sanitizer and Markdown conversions."""

from __future__ import annotations

import re
from html import escape as html_escape

from hypothesis import example, given, settings
from hypothesis import strategies as st

from livepipe.render.html import (
    BASIC,
    EMAIL,
    WECHAT,
    Profile,
    _Cleaner,
    _parsed,
    _plain,
    _rendered,
    markdown_html,
    markdown_text,
    sanitize,
)

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


def _markup(plain: bool) -> st.SearchStrategy[str]:
    """HTML made of tags and text: only what the quick path takes when ``plain`` (so that
    most examples go through it), else with the odd pieces too (other spaces and quotes,
    comments, declarations, raw-text elements, references without ';', a stray '<')."""
    pick = st.sampled_from
    tags = ["p", "P", "a", "A", "img", "IMG", "br", "span-x", "h2", "li", "code", "x:y"]
    tags += ["svg", "FORM", "video"]  # dropped with what they hold (tags and text)
    spaces = [" ", "\t", "\n"]
    values = [
        "",
        '=""',
        '="https://ok.example/?a=1&amp;b=2"',
        '="javascript:alert(1)"',
        '="a &amp; b &lt;c&gt; &not &#60;"',
        '="java&#x09;script:x"',
        '="<b>\'"',
    ]
    texts = ["text", "中文", " ", "\n", "&amp;", "&lt;", "&lt", "&#60;", "&#x3c;", "&notin;"]
    texts += ["&not", "&", ";", ">", '"', "'", "=", "/", "\xa0"]
    if not plain:
        tags += ["script", "style", "iframe", "b\u3000c"]
        spaces += ["\u3000", "\v", "", "/"]
        values += ["='x'", "=x", ' = "y"', '="unclosed']
        texts += ["<", "a < b", "<!-- c -->", "<!--", "-->", "<!DOCTYPE html>", "<?pi?>"]
        texts += ["<![CDATA[x]]>", "</>", "\x00", "</p >", "<p/x>"]
    attr = st.tuples(pick(spaces), pick(["href", "HREF", "src", "alt", "title", "on", "d-x"]))
    start = st.builds(
        lambda tag, attrs, space, close: f"<{tag}{''.join(attrs)}{space}{close}>",
        pick(tags),
        st.lists(st.builds(lambda a, v: "".join(a) + v, attr, pick(values)), max_size=3),
        pick(["", *spaces]),
        pick(["", "/"]),
    )
    end = st.builds(lambda tag: f"</{tag}>", pick(tags))
    return st.lists(st.one_of(start, end, pick(texts)), max_size=20).map("".join)


@settings(max_examples=2000, deadline=None)
@example("<p><svg></p></svg>text", WECHAT)  # an end tag inside what is dropped
@example("<p><svg><p></svg>x</p>", EMAIL)  # a start tag inside what is dropped
@given(
    st.one_of(_markup(plain=True), _markup(plain=False)), st.sampled_from([WECHAT, EMAIL, BASIC])
)
def test_the_quick_path_cleans_as_htmlparser_does(html: str, profile: Profile) -> None:
    """Plain HTML skips HTMLParser (it was 40 % of a WeChat article): whatever it is given,
    the sanitizer's output is what HTMLParser's tokens make of it."""
    assert sanitize(html, profile) == _parsed(html, profile)


def test_markdown_and_templates_take_the_quick_path() -> None:
    """The speed holds: Markdown's output and template-like HTML are plain."""
    markdown = _rendered(
        "## Agenda\n\nSome **bold**, [a link](https://ex.org/?a=1&b=2), `x < y` & 5 < 6\n\n"
        "- one\n- two\n\n> quoted\n\n![logo](https://ex.org/l.png)\n",
        shift_headings=True,
    )
    template = (
        '<section style="margin:0"><p style="font-size:15px">时间：<strong>周四</strong></p>'
        '<a href="https://ex.org/e?x=1&amp;y=2" title="a &quot;b&quot;">Join</a><br/></section>'
    )
    for html in (markdown, template):
        assert _plain(html, _Cleaner(WECHAT)), html
    assert not _plain("<p>a<!-- hidden --></p>", _Cleaner(WECHAT))
    assert not _plain("<p>a < b</p>", _Cleaner(WECHAT))
    # A script's content is raw text to HTMLParser: the inner <script> is not a tag, so the
    # first </script> ends it and "b" is seen (checked by hand).
    nested = "<p>a<script><script></script>b</script></p>"
    assert sanitize(nested, BASIC) == "<p>ab</p>"


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("[]:/@%?#&;.x1 \t\n\x00\u3000"), max_size=30),
    st.sampled_from(["http://", "https://", "mailto:", "javascript:", "//", ""]),
)
def test_no_url_makes_the_sanitiser_or_the_references_fail(rest: str, scheme: str) -> None:
    """urlsplit raises on some URLs (an unbalanced '[' in the host): a page's raw HTML may
    hold any of them. The attribute goes unless it is a safe URL; the text stays."""
    from livepipe.i18n import phrases
    from livepipe.render.wechat import with_references

    url = html_escape(scheme + rest, quote=True)
    for profile in (WECHAT, EMAIL, BASIC):
        out = sanitize(f'<p><a href="{url}">link</a><img src="{url}" alt="a"></p>', profile)
        assert "link" in out
    article = f'<section><a href="{url}">link</a></section>'
    assert "link" in with_references(article, phrases("en"))
