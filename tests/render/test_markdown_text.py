"""markdown_text skips its patterns on lines without markup characters; the result must be
what running every pattern on every line gives (the plain definition, kept here)."""

from __future__ import annotations

import random
import re

from livepipe.render.html import _EMPH, _IMAGE, _LINK, _TAG, _unwrap, markdown_text
from livepipe.site import Site, load

from ..conftest import body_of
from ..support import CONTENT, CORPUS


def every_pattern(text: str) -> str:
    out: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = _IMAGE.sub("", raw)
        line = _TAG.sub("", line)
        line = _LINK.sub(lambda m: m[1] if m[1] == m[2] else f"{m[1]} ({m[2]})", line)
        line = _EMPH.sub(r"\2", line)
        line = re.sub(r"^\s{0,3}#{1,6}\s+", "", line)
        line = re.sub(r"^\s*[-*+]\s+", "· ", line)
        out.append(line.rstrip())
    paragraphs = re.split(r"\n\s*\n", "\n".join(out))
    return "\n\n".join(_unwrap(p.strip()) for p in paragraphs if p.strip())


def test_real_pages() -> None:
    texts: list[str] = []
    for root in (CONTENT, CORPUS):
        if root.is_dir():
            site = Site.locate(root)
            for e in load(site, cache=False).events:
                body = body_of(site.content_root / e.source)
                texts += [body, e.summary, e.slides, *e.outline]
    # 30 texts in the bundled content; the corpus (in CI) brings hundreds more.
    assert len(texts) >= (300 if CORPUS.is_dir() else 30)
    for text in texts:
        assert markdown_text(text) == every_pattern(text)


def test_generated_markup() -> None:
    rng = random.Random(7)
    pieces = ["a", "中文", " ", "\n", "\n\n", "*", "**", "_", "`", "#", "# ", "- ", "+ ", "!",
              "[x](http://y)", "![i](p.png)", "<b>", "</b>", "<", ">", "[", "]", "(", ")",
              "   ", "\r\n", "·", "1. "]  # fmt: skip
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        assert markdown_text(text) == every_pattern(text), repr(text)
