"""A bounded fuzz test of the page reader: whatever bytes a page holds, loading it gives
problems (a ContentError's file:line), never a traceback and never a hang."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livepipe.models import Severity
from livepipe.site import Site, load

# Pieces that real and hostile pages are made of: front-matter fences, keys the schemas read,
# YAML syntax (anchors, tags, flow collections, escapes), times and offsets, control bytes.
PIECES = [
    "---\n",
    "+++\n",
    "title: ",
    "start: ",
    "end: ",
    "timezone: ",
    "tags: ",
    "section1:\n",
    "  time: ",
    "  base: ",
    "livepipe: ",
    "uid: ",
    "cover: ",
    "live_url: ",
    "https://[x/a.png",  # urls urlsplit cannot read
    "http://x]:8/",
    "2026-12-03 19:00",
    "2026-12-03T19:00:00+25:00",
    "9999-12-31 23:30",
    "0001-01-01",
    "Asia/Shanghai",
    "线上",
    "[",
    "]",
    "{",
    "}",
    "&a ",
    "*a",
    "!!python/object:os.system ",
    '"\\u0001\\e[31m"',
    "'x'",
    "|\n",
    "  - ",
    ": ",
    "\n",
    " ",
    "\t",
    "\r",
    "\x00",
    "\x1b",
    "\ufeff",
    "<<<<<<< HEAD\n",
    "9" * 50,
    "#",
    "%",
    "\\",
]


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure is reproducible, CI stable
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), max_size=40),
    st.binary(max_size=16),
)
def test_any_page_is_an_event_or_problems(tmp_path: Path, parts: list[str], tail: bytes) -> None:
    site = tmp_path / "fuzz"
    (site / "content").mkdir(parents=True, exist_ok=True)
    page = site / "content" / "page.md"
    page.write_bytes("".join(parts).encode("utf-8", "surrogatepass") + tail)
    result = load(Site.locate(site / "content"), cache=False)
    assert result.pages == 1
    errors = [p for p in result.problems if p.severity is Severity.ERROR]
    assert all(p.code != "internal-error" for p in errors), errors
    assert len(result.events) + len(result.drafts) + bool(errors) == 1
    for p in result.problems:
        assert p.path.endswith("page.md") and p.line >= 1 and p.message
