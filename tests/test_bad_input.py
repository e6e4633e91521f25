"""Bad input is first-class: one precise problem per bad page, every other page still loads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from livepipe.models import Severity
from livepipe.site import Site, load

GOOD = """---
title: 好的页面
section1:
  time: 2022-10-13 20:00-21:00
  base: 线上
---
## 分享内容简介

正常的页面。
"""

KS_HEAD = "---\ntitle: 标题\nsection1:\n"

# (name, file content, expected code, expected line, text the message must contain)
CASES: list[tuple[str, str | bytes, str, int, str]] = [
    (
        "invalid-yaml",
        "---\ntitle: a: b\nsection1:\n  time: 2022-10-13 20:00\n---\n",
        "invalid-yaml",
        2,
        "mapping values are not allowed",
    ),
    (
        "invalid-yaml-deep",
        KS_HEAD + "  time: 2022-10-13 20:00\n  base: [线上\n---\nbody\n",
        "invalid-yaml",
        5,  # the line that opens the unclosed [
        "not valid YAML",
    ),
    ("no-front-matter", "# Just a heading\n\nSome text.\n", "no-front-matter", 1, "front matter"),
    (
        "unterminated",
        "---\ntitle: x\nstart: 2026-12-01T10:00:00Z\n\nbody\n",
        "unterminated-front-matter",
        1,
        "never closed",
    ),
    ("not-mapping", "---\n- a\n- b\n---\n", "front-matter-not-mapping", 2, "key: value"),
    ("empty-front-matter", "---\n---\nbody\n", "empty-front-matter", 1, "empty"),
    ("missing-time", KS_HEAD + "  base: 线上\n---\n", "missing-time", 3, "section1.time"),
    ("empty-time", KS_HEAD + "  time:\n  base: 线上\n---\n", "missing-time", 4, "section1.time"),
    (
        "unparseable-time",
        KS_HEAD + "  base: 线上\n  time: next thursday 8pm\n---\n",
        "bad-time",
        5,
        "next thursday",
    ),
    (
        "impossible-date",
        KS_HEAD + "  time: 2022-02-30 20:00-21:00\n---\n",
        "bad-time",
        4,
        "day is out of range",
    ),
    (
        "native-end-before-start",
        "---\ntitle: T\nstart: 2026-12-01T10:00:00+08:00\nend: 2026-12-01T09:00:00+08:00\n---\n",
        "end-before-start",
        4,
        "is not after start",
    ),
    ("native-bad-iso", "---\ntitle: T\nstart: tomorrow at ten\n---\n", "bad-time", 3, "ISO 8601"),
    (
        "unknown-timezone",
        "---\ntitle: T\nstart: 2026-12-01 10:00\ntimezone: Asia/Shangai\n---\n",
        "unknown-timezone",
        4,
        "did you mean 'Asia/Shanghai'",
    ),
    (
        "bad-status",
        "---\ntitle: T\nstart: 2026-12-01 10:00\nstatus: postponed\n---\n",
        "bad-value",
        4,
        "postponed",
    ),
    (
        "mixed-date-and-time",
        "---\ntitle: T\nstart: 2026-12-01 10:00\nend: 2026-12-02\n---\n",
        "bad-time",
        4,
        "end is a date",
    ),
    ("missing-title", "---\nstart: 2026-12-01 10:00\n---\n", "missing-title", 1, "no title"),
    (
        "not-an-event",
        "---\ntitle: About us\n---\nWe are a community.\n",
        "not-an-event",
        1,
        "no event time",
    ),
    (
        "forced-unknown-schema",
        "---\ntitle: T\nstart: 2026-12-01 10:00\nlivepipe:\n  schema: hugo\n---\n",
        "unknown-schema",
        5,
        "'hugo'",
    ),
    (
        "merge-conflict",
        KS_HEAD + "<<<<<<< HEAD\n  time: 2022-10-13 20:00\n=======\n"
        "  time: 2022-10-14 20:00\n>>>>>>> abc123 (edit)\n---\n",
        "merge-conflict",
        4,
        "conflict",
    ),
    (
        "not-utf8",
        b"---\ntitle: caf\xe9\nstart: 2026-12-01 10:00\n---\n",
        "not-utf8",
        2,
        "not valid UTF-8",
    ),
    (
        "gbk-encoded",
        "---\ntitle: 直播\nstart: 2026-12-01 10:00\n---\n".encode("gbk"),
        "not-utf8",
        2,
        "UTF-8",
    ),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary", 3, "NUL"),
    ("empty", "", "empty", 1, "empty"),
    ("whitespace-only", "\n  \n\t\n", "empty", 1, "empty"),
    (
        "huge",
        "---\ntitle: T\nstart: 2026-12-01 10:00\n---\n" + "长" * 400_000,
        "too-large",
        1,
        "over the 1,048,576-byte limit",
    ),
    (
        "section1-not-mapping",
        "---\ntitle: T\nsection1: 2022-10-13\n---\n",
        "bad-value",
        3,
        "section1 must be a mapping",
    ),
    (
        "title-is-a-list",
        "---\ntitle: [a, b]\nstart: 2026-12-01 10:00\n---\n",
        "bad-value",
        2,
        "title must be text",
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "code", "line", "needle"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_page_gives_one_error_and_others_still_load(
    write_page: Callable[..., Path],
    name: str,
    text: str | bytes,
    code: str,
    line: int,
    needle: str,
) -> None:
    good = write_page("good.md", GOOD)
    write_page(f"{name}.md", text)
    root = good.parent
    result = load(Site.locate(root))
    errors = [p for p in result.problems if p.severity is Severity.ERROR]
    assert len(errors) == 1, [p.format() for p in result.problems]
    (problem,) = errors
    assert (Path(problem.path).name, problem.code, problem.line) == (f"{name}.md", code, line)
    assert needle in problem.message
    assert [e.title for e in result.events] == ["好的页面"]
    assert result.failed == (f"{name}.md",)


def test_unknown_keys_warn_with_did_you_mean(write_page: Callable[..., Path]) -> None:
    path = write_page(
        "typo.md",
        "---\ntitle: T\nstart: 2026-12-01 10:00\nlcoation: Berlin\n---\n",
    )
    result = load(Site.locate(path.parent))
    assert len(result.events) == 1  # warnings never drop a page
    found = {(p.code, p.line, p.hint) for p in result.problems}
    assert ("unknown-key", 4, "did you mean 'location'?") in found


def test_unknown_nested_key_on_a_kubesphere_page(write_page: Callable[..., Path]) -> None:
    path = write_page("p.md", GOOD.replace("  base: 线上", "  bsae: 线上"))
    result = load(Site.locate(path.parent))
    (problem,) = result.problems
    assert (problem.severity, problem.code, problem.line) == (Severity.WARNING, "unknown-key", 5)
    assert "section1.bsae" in problem.message and problem.hint == "did you mean 'base'?"


def test_dst_gap_and_fold_are_reported(write_page: Callable[..., Path]) -> None:
    # Europe/Berlin: clocks jump 02:00 → 03:00 on 2026-03-29 and 03:00 → 02:00 on 2026-10-25.
    write_page("gap.md", "---\ntitle: G\nstart: 2026-03-29 02:30\ntimezone: Europe/Berlin\n---\n")
    write_page("fold.md", "---\ntitle: F\nstart: 2026-10-25 02:30\ntimezone: Europe/Berlin\n---\n")
    result = load(Site.locate(write_page("ok.md", GOOD).parent))
    by_title = {e.title: e for e in result.events}
    assert by_title["G"].start.isoformat() == "2026-03-29T03:30:00+02:00"
    assert by_title["F"].start.isoformat() == "2026-10-25T02:30:00+02:00"  # first occurrence
    codes = sorted((Path(p.path).name, p.code) for p in result.problems)
    assert codes == [("fold.md", "dst-time"), ("gap.md", "dst-time")]


def test_draft_is_skipped_and_reported(write_page: Callable[..., Path]) -> None:
    path = write_page("d.md", "---\ntitle: D\nstart: 2026-12-01 10:00\ndraft: true\n---\n")
    result = load(Site.locate(path.parent))
    assert result.events == () and result.drafts == ("d.md",)
    (problem,) = result.problems
    assert (problem.severity, problem.code, problem.line) == (Severity.INFO, "draft", 4)


def test_pinned_duplicate_uid_is_an_error(write_page: Callable[..., Path]) -> None:
    write_page("a.md", "---\ntitle: A\nstart: 2026-12-01 10:00\nuid: same@x\n---\n")
    path = write_page("b.md", "---\ntitle: B\nstart: 2026-12-02 10:00\nuid: same@x\n---\n")
    result = load(Site.locate(path.parent))
    assert [e.title for e in result.events] == ["A"]
    (problem,) = result.problems
    assert (Path(problem.path).name, problem.code, problem.line) == ("b.md", "duplicate-uid", 4)
