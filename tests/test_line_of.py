"""RawPage.line_of answers top-level keys from an index built in one scan; it must name the
same line the plain scan (`_find_key`) names, for every key of every real page and for the
odd shapes front matter takes (quoted keys, TOML, duplicates, colons in values)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from livepipe.sources.base import RawPage, _find_key
from livepipe.sources.files import discover

from .support import CONTENT, CORPUS

ODD = """\
title: "a: b"
'quoted': 1
"double": 2
toml = 3
toml2 = x: y
spaced key: 4
  title: indented, not top level
- item
:empty
dup: 1
dup: 2
weird'key: 5
url: https://example.org/a:b
title = later
 = lone
a b = c
""".splitlines()


def _page(lines: list[str] | tuple[str, ...]) -> RawPage:
    return RawPage(Path("p.md"), PurePosixPath("p.md"), "p.md", None, {}, tuple(lines), "", 1)


def _scan(page: RawPage, key: str) -> int:
    found = _find_key(page.fm_lines, key, 0, nested=False)
    return 1 if found is None else found + 2


def _candidates(lines: tuple[str, ...]) -> set[str]:
    keys = {"", "a", "a b", "title", "toml", "toml2", "missing", "spaced key", "dup", "url"}
    for text in lines:
        for sep in (":", " =", "="):
            head = text.strip().partition(sep)[0]
            keys |= {head, head.strip("'\""), head[:-1], head + " "}
    return keys


def _pages() -> list[list[str] | tuple[str, ...]]:
    found: list[list[str] | tuple[str, ...]] = [ODD]
    for root in (CONTENT, CORPUS):
        if root.is_dir():
            for path in discover(root):
                lines = path.read_text(encoding="utf-8").split("\n")
                end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), 1)
                found.append(tuple(line.rstrip("\r") for line in lines[1:end]))
    return found


def test_index_names_the_line_the_scan_names() -> None:
    pages = _pages()
    assert len(pages) > 1 + 5  # the odd page, the bundled content (and the corpus in CI)
    checked = 0
    for lines in pages:
        page = _page(lines)
        for key in _candidates(page.fm_lines):
            assert page.line_of(key) == _scan(page, key), (key, lines)
            checked += 1
    # 744 keys in the odd page and the bundled content; thousands more with the corpus.
    assert checked >= (3000 if CORPUS.is_dir() else 700)


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("title", 2),  # the first of two, not the indented one or the TOML one
        ("quoted", 3),
        ("double", 4),
        ("toml", 5),
        ("toml2", 6),
        ("spaced key", 7),
        ("dup", 11),
        ("weird'key", 13),
        ("url", 14),
        ("a b", 17),
        ("missing", 1),
        ("item", 1),
    ],
)
def test_odd_front_matter_lines(key: str, line: int) -> None:
    assert _page(ODD).line_of(key) == line  # fm_lines[0] is file line 2


def test_nested_keys_still_scan_below_their_parent() -> None:
    page = _page(["section1:", "  time: x", "title: t", "other:", "  time: y"])
    assert page.line_of("section1", "time") == 3
    assert page.line_of("other", "time") == 6
    assert page.line_of("other", "nope") == 5  # the innermost key found
