"""Front matter in the shape nearly every page has, read without building a YAML node tree.

PyYAML (even with libyaml) spends ~0.1 ms per page composing nodes and calling a Python
constructor for each one; that was a quarter of the time to load a 10k-page site. Most event
pages are a flat mapping of ``key: scalar`` lines, with a nested mapping or a list of small
mappings under a key. This module reads exactly that shape and returns None for anything
else, so the caller falls back to PyYAML: anchors, tags, block scalars (``|`` ``>``),
multi-line or escaped strings, flow mappings, comments after values, deeper nesting, tabs,
errors of every kind.

Scalars are typed by PyYAML's own resolver and constructors (YAML 1.1: ``yes`` is true,
``2026-12-03`` a date, ``0o17`` an int), so a page means the same either way. Tests hold
the two to equal results on the bundled pages, the real corpus and generated documents.
"""

from __future__ import annotations

import re

from yaml import ScalarNode
from yaml.constructor import SafeConstructor
from yaml.reader import Reader
from yaml.resolver import Resolver

_RESOLVER = Resolver()
_CONSTRUCTOR = SafeConstructor()
_STR = "tag:yaml.org,2002:str"
_PLAIN = (True, False)
# The first characters of every implicitly typed plain scalar (null, bool, int, float, date…).
_TYPED_FIRST = frozenset(k for k in Resolver.yaml_implicit_resolvers if k)
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
# What a plain scalar may not start with, and what it may not contain, to stay a plain
# one-line scalar in YAML 1.1 block context (": " and " #" end it; the rest are indicators).
_NOT_FIRST = frozenset("-?:,[]{}#&*!|>'\"%@`")
_FLOW_UNSAFE = frozenset("[]{}#'\"?")
# Line breaks for YAML besides "\n", and a byte-order mark: leave such text to PyYAML.
_ODD_CHARS = re.compile("[\r\x85\u2028\u2029\ufeff\t]")


class _Unsupported(Exception):
    """Not the simple shape: let PyYAML read it."""


def load(text: str) -> dict[object, object] | None:
    """The mapping PyYAML's safe loader would give for ``text``, or None to use PyYAML."""
    if _ODD_CHARS.search(text) or Reader.NON_PRINTABLE.search(text):
        return None
    lines = [
        (len(line) - len(body), body)
        for line in text.split("\n")
        if (body := line.lstrip(" ")) and not body.startswith("#")
    ]
    try:
        result, end = _mapping(lines, 0, 0)
    except _Unsupported:
        return None
    return result if end == len(lines) and result else None


def _mapping(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[dict[object, object], int]:
    """The ``key: value`` lines at ``indent`` from line ``i``; returns where they end."""
    out: dict[object, object] = {}
    while i < len(lines) and lines[i][0] == indent:
        body = lines[i][1]
        if body.startswith("- ") or body == "-":
            break  # an item of the enclosing list
        key_text, colon, rest = body.partition(":")
        if not colon or (rest and rest[0] != " "):
            raise _Unsupported
        key = _key(key_text)
        value_text = rest.strip(" ")
        i += 1
        if value_text:
            out[key] = _value(value_text)
        elif i == len(lines) or lines[i][0] < indent:
            out[key] = None
        elif lines[i][1].startswith("- ") and lines[i][0] >= indent:
            out[key], i = _sequence(lines, i, lines[i][0])  # may sit at its key's indent
        elif lines[i][0] > indent:
            out[key], i = _mapping(lines, i, lines[i][0])
        else:
            out[key] = None
    if i < len(lines) and lines[i][0] > indent:
        raise _Unsupported  # a continuation line or deeper nesting
    return out, i


def _sequence(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[list[object], int]:
    """``- item`` lines at ``indent``: scalars, or small mappings (``- a: 1`` then ``  b: 2``)."""
    out: list[object] = []
    while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
        item = lines[i][1][2:].lstrip(" ")
        inner = indent + len(lines[i][1]) - len(item)
        if not item:
            raise _Unsupported
        key_text, colon, rest = item.partition(":")
        if colon and (not rest or rest[0] == " ") and _KEY.match(key_text):
            # "- a: 1" opens a mapping whose keys line up under "a"
            block = [(inner, item)]
            j = i + 1
            while j < len(lines) and lines[j][0] > indent:
                block.append(lines[j])
                j += 1
            value, end = _mapping(block, 0, inner)
            if end != len(block):
                raise _Unsupported
            out.append(value)
            i = j
        else:
            out.append(_value(item))
            i += 1
            if i < len(lines) and lines[i][0] > indent:
                raise _Unsupported
    return out, i


_KEYS: dict[str, object] = {}  # the same few keys on every page: checked and typed once


def _key(text: str) -> object:
    try:
        return _KEYS[text]
    except KeyError:
        if not _KEY.match(text):
            raise _Unsupported from None
        key = _plain(text)
        if len(_KEYS) < 4096:
            _KEYS[text] = key
        return key


def _value(text: str) -> object:
    first = text[0]
    if first in "\"'":
        return _quoted(text)
    if first == "[":
        return _flow_list(text)
    return _plain(text)


def _plain(text: str) -> object:
    if text[0] in _NOT_FIRST or text.endswith(":") or ": " in text or " #" in text:
        raise _Unsupported
    if text[0] not in _TYPED_FIRST:
        return text  # no implicit type starts with this character: a string
    tag = _RESOLVER.resolve(ScalarNode, text, _PLAIN)  # type: ignore[no-untyped-call]
    if tag == _STR:
        return text
    constructor = _CONSTRUCTOR.yaml_constructors.get(tag)
    if constructor is None:
        raise _Unsupported
    return constructor(_CONSTRUCTOR, ScalarNode(tag, text))


def _quoted(text: str) -> str:
    quote = text[0]
    if len(text) < 2 or text[-1] != quote:
        raise _Unsupported
    inner = text[1:-1]
    if quote == '"':
        if '"' in inner or "\\" in inner:
            raise _Unsupported
        return inner
    if "'" in inner.replace("''", ""):
        raise _Unsupported
    return inner.replace("''", "'")


def _flow_list(text: str) -> list[object]:
    if not text.endswith("]") or _FLOW_UNSAFE.intersection(text[1:-1]):
        raise _Unsupported
    inner = text[1:-1].strip(" ")
    if not inner:
        return []
    items = [item.strip(" ") for item in inner.split(",")]
    if not all(items):
        raise _Unsupported
    return [_plain(item) for item in items]
