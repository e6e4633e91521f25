"""The fast front-matter reader must mean exactly what PyYAML means, or step aside (None).

Checked on every real page (bundled, corpus, corpus history) and on thousands of generated
documents built from the tricky parts of YAML 1.1: implicit types, indicators, quotes,
comments, indentation, odd characters. Values are compared with their types (True == 1 and
1 == 1.0 in Python, so a plain == would hide a wrong type).
"""

from __future__ import annotations

import random
from datetime import date, datetime
from pathlib import Path

import yaml

from livepipe.fast import yaml_scan as fastyaml
from livepipe.sources.files import discover, yaml_reader

from .support import CONTENT, CORPUS, HISTORY


def typed(value: object) -> object:
    if isinstance(value, dict):
        return ("map", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("seq", [typed(v) for v in value])
    if isinstance(value, datetime):
        return ("datetime", value.isoformat(), str(value.tzinfo))
    if isinstance(value, date):
        return ("date", value.isoformat())
    return (type(value).__name__, repr(value))


def reference(text: str) -> object:
    try:
        return typed(yaml.load(text, Loader=yaml_reader()[1]))
    except yaml.YAMLError as exc:
        return ("error", type(exc).__name__)


def front_matter(path: Path) -> str | None:
    lines = path.read_text(encoding="utf-8").split("\n")
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() == "---"), None)
    return None if end is None else "\n".join(x.rstrip("\r") for x in lines[1:end])


def test_real_pages_read_the_same_and_mostly_fast() -> None:
    fast = total = 0
    for root in (CONTENT, CORPUS, HISTORY):
        if not root.is_dir():
            continue
        for path in discover(root):
            text = front_matter(path)
            if text is None:
                continue
            total += 1
            got = fastyaml.load(text)
            if got is not None:
                fast += 1
                assert typed(got) == reference(text), path
    assert total >= 10
    # the point of the module: the usual page takes the fast path
    assert fast / total > 0.9, (fast, total)


SHAPES = [
    "title: Hello",
    'title: "A: quoted, title"',
    "tags: [a, b]",
    "section1:\n  time: 2022-10-13 20:00-21:00\n  base: 线上",
    "speakers:\n  - name: A\n    bio: x\n  - name: B",
    "speakers:\n- name: A\n  bio: x",
    "tags:\n  - a\n  - b\nnext: 1",
    "a:\n  b:\n  - x\n  c: 1",
    "start: 2026-12-03T19:00:00+08:00",
    "date: 2026-12-03",
]
KEYS = ["title", "a", "yes", "No", "null", "1", "~", "on", "key-x", "_k", "Title", "y", "T"]
SCALARS = [
    "x",
    "yes",
    "No",
    "ON",
    "off",
    "true",
    "False",
    "y",
    "n",
    "~",
    "null",
    "Null",
    "0",
    "12",
    "-1",
    "+1",
    "0o17",
    "017",
    "0x1F",
    "0b101",
    "1_000",
    "1:20",
    "190:20:30",
    "1.5",
    "1e3",
    "1.0e+3",
    ".inf",
    "-.inf",
    ".NaN",
    "6.8523015e+5",
    "685.230_15e+03",
    "2026-12-03",
    "2026-1-3",
    "2026-12-03 20:00:00 +08:00",
    "2026-12-03T19:00:00Z",
    "2026-12-03t19:00:00.5-05:00",
    "2022-10-13 20:00-21:00",
    "20:00",
    "a b",
    "a # b",
    "a#b",
    "C#",
    "a: b",
    "a:",
    "a:b",
    "http://x/y?a=b&c",
    "a, b",
    "a [b]",
    "[a, b]",
    "[a,b]",
    "[]",
    "[ ]",
    "[a,]",
    "[a, 'b']",
    '["a", b]',
    "[a: b]",
    "[yes, 1, ~]",
    "[a, [b]]",
    "[a ? b]",
    "[a",
    "{a: 1}",
    '"q"',
    '"a\\"b"',
    '"a\\nb"',
    '""',
    "''",
    "'it''s'",
    "'x",
    '"x',
    "'a' b",
    '"a" "b"',
    "&a x",
    "*a",
    "!!str 1",
    "|",
    ">",
    "- x",
    "-x",
    "--x",
    "@x",
    "`x",
    "%x",
    "?x",
    "? x",
    ":x",
    ",x",
    "=",
    "<<",
    "北京 时间",
    "emoji 🎉",
    "a\tb",
    "a\x07b",
    "a\u2028b",
    "\ufeffa",
    "a\rb",
    "a  ",
    "  a",
    "#x",
]
PREFIXES = ["", "  ", "    ", "- ", "  - ", "# c\n", "\n"]
SEPARATORS = [": ", ":", ":  ", " : ", ":\t"]


def generated(rng: random.Random) -> str:
    lines: list[str] = []
    for _ in range(rng.randint(1, 6)):
        roll = rng.random()
        if roll < 0.2:
            lines.append(rng.choice(SHAPES))
            continue
        prefix = rng.choice(PREFIXES) if roll < 0.45 else ""
        sep = rng.choice(SEPARATORS) if roll < 0.55 else ": "
        value = rng.choice(SCALARS) if rng.random() < 0.9 else ""
        lines.append(f"{prefix}{rng.choice(KEYS)}{sep}{value}")
        if rng.random() < 0.1:
            lines.append(rng.choice(["  more text", "# comment", "", "  # indented comment"]))
    return "\n".join(lines)


def test_generated_documents_read_the_same_or_fall_back() -> None:
    rng = random.Random(20261126)
    fast = 0
    for _ in range(20000):
        text = generated(rng)
        got = fastyaml.load(text)
        if got is None:
            continue
        fast += 1
        assert typed(got) == reference(text), text
    assert fast > 2500  # enough documents took the fast path to make the comparison count


def test_errors_and_unusual_shapes_are_left_to_pyyaml() -> None:
    for text in [
        "title: [x",  # unclosed flow list
        'title: "x',  # unclosed quote
        "a: b: c",
        "a: 1\n  b: 2",  # continuation / bad indentation
        "- a\n- b",  # not a mapping
        "just text",
        "a: &x 1\nb: *x",  # anchors
        "a: |\n  block",
        "",
        "# only a comment",
    ]:
        assert fastyaml.load(text) is None, text
