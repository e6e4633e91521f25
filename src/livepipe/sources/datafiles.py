"""Events kept in data files: ``[sources.NAME] file = "data/events.toml"`` in livepipe.toml.

Many communities keep their events in one TOML, YAML or JSON file (rust-lang/calendar: one
``[[events]]`` table per meeting, ``start = {date, timezone}``, several ``recurrence_rules``,
``exceptions``, ``[meta] includes``). Each event of such a file is read through the source's
field mapping exactly as a page is through ``[schemas.NAME]``, and then gets the same checks,
renderers and plan.

- **Identity**: an event's id is its table key (``[events.rustconf]``) or its mapped ``uid``,
  never its position: an event inserted above another must not take over its reminders. Its
  uid is ``<source>/<id>@<site host>``; its ``source`` is ``<file>#<id>``, the file relative
  to the site folder.
- **Several rules**: an event with several recurrence rules (each its own days and hours)
  becomes one series per rule, named by the rule's days and hours (``…~tuesday-16``).
- **Problems** are file:line per event; one bad event never drops the others. A file that
  cannot be read at all is one problem, and the plan keeps every event it had.
- **Files** stay inside the site (includes too), are read with a byte cap, and YAML is read
  safely (no tags, no alias bombs). TOML 1.1 (multi-line inline tables, trailing commas) is
  read by tomli, which Python 3.11's tomllib is not.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import text as _text
from ..config import DataSource
from ..errors import ContentError
from ..identity import source_marker
from .base import RawPage, lookup
from .files import inspect_values, read_text, yaml_reader

MAX_INCLUDES = 64  # files one source may read, includes included
_MAX_DEPTH = 8  # includes of includes


@dataclass(frozen=True, slots=True)
class Failure:
    """A file (or one event of it) that could not be read: reported, and what it had kept."""

    source: str  # the file (``data/events.toml``) or the event (``data/events.toml#id``)
    display: str
    error: ContentError


def read_source(
    name: str,
    source: DataSource,
    *,
    site_root: Path,
    display: Callable[[Path], str],
    max_bytes: int,
) -> tuple[list[RawPage], list[Failure]]:
    """Every event of the source's file and its includes, as pages for the mapping to read;
    and what could not be read."""
    pages: list[RawPage] = []
    failures: list[Failure] = []
    seen: set[Path] = set()
    todo: list[tuple[Path, int]] = [(site_root / source.file, 0)]
    while todo:
        path, depth = todo.pop(0)
        rel = _relative(path, site_root)
        shown = display(path)
        try:
            real = _inside(path, site_root, shown)
            if real in seen:
                continue
            seen.add(real)
            if len(seen) > MAX_INCLUDES:
                raise _fail(shown, "too-many-includes", f"more than {MAX_INCLUDES} files")
            text, data = _parse(path, rel, shown, max_bytes, site_root)
            events = _at(data, source.events)
            if events is None:
                if depth == 0 and not _includes(data, source.includes):
                    raise _fail(
                        shown,
                        "no-events",
                        f"no {source.events or 'events'!r} list or table in the file",
                        hint=f'set events = "..." in [sources.{name}] to where they are',
                    )
                events = []
            for include in _includes(data, source.includes):
                if depth >= _MAX_DEPTH:
                    raise _fail(shown, "too-many-includes", f"includes nest over {_MAX_DEPTH}")
                todo.append((path.parent / include, depth + 1))
        except ContentError as exc:  # the first file: every event of the source is kept
            failures.append(Failure(rel if depth else source_marker(name), shown, exc))
            continue
        lines = tuple(text.split("\n"))
        starts, on_head = _entry_lines(path.suffix, text, lines, source.events, events)
        for index, (key, meta) in enumerate(_entries(events)):
            start = starts[index] if index < len(starts) else 0
            end = next((s for s in sorted(starts) if s > start), len(lines))
            body = start if on_head else start + 1  # its first key: on the head line or below
            own = _identity(key, meta, source)
            if own is None or _text.PATH_UNSAFE.search(own) or not own.strip():
                failures.append(
                    Failure(
                        f"{rel}#{index + 1}",
                        shown,
                        ContentError(
                            "no-uid",
                            "this event has no id: a list's events need a uid (their position "
                            "would change with every event added above them)",
                            line=start + 1,
                            hint='add uid = "…" to the event, or keep events in a table of '
                            "tables ([events.my-event])",
                            path=shown,
                        ),
                    )
                )
                continue
            for suffix, one in _series(meta, source):
                ident = own + suffix
                pages.append(
                    RawPage(
                        path=path,
                        rel=PurePosixPath(f"{name}/{ident}"),
                        display=shown,
                        lang=source.language,
                        meta=one,
                        fm_lines=_dedent(lines[body:end]),
                        body="",
                        body_line=0,
                        source=f"{rel}#{ident}",
                        first_line=body + 1,
                        head_line=start + 1,
                    )
                )
    return pages, failures


def _fail(shown: str, code: str, message: str, *, line: int = 1, hint: str = "") -> ContentError:
    return ContentError(code, message, line=line, hint=hint, path=shown)


def _relative(path: Path, site_root: Path) -> str:
    """The file as sources name it: relative to the site folder (``data/team.toml``)."""
    return Path(os.path.relpath(path, site_root)).as_posix()


def _inside(path: Path, site_root: Path, shown: str) -> Path:
    real = Path(os.path.realpath(path))
    root = Path(os.path.realpath(site_root))
    if real != root and root not in real.parents:
        raise _fail(
            shown,
            "outside-site",
            "the data file is outside the site",
            hint="data files (and their includes) must be inside the site folder",
        )
    if not real.is_file():
        raise _fail(shown, "unreadable", "no such file", hint="check [sources] file and includes")
    return real


def _parse(path: Path, rel: str, shown: str, max_bytes: int, site_root: Path) -> tuple[str, object]:
    def fail(code: str, message: str, line: int = 1, hint: str = "") -> ContentError:
        return _fail(shown, code, message, line=line, hint=hint)

    text = read_text(
        path,
        PurePosixPath(rel),
        fail,
        max_bytes=max_bytes,
        site_root=os.path.realpath(site_root),
        what="data file",
    )
    import tomli  # the parsers, when a data file is read (not when the page cache answers)
    import yaml

    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: object = tomli.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.load(text, Loader=yaml_reader()[1])
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise fail("unknown-format", f"{suffix or 'no suffix'}: use .toml, .yaml or .json")
    except tomli.TOMLDecodeError as exc:
        raise fail("invalid-toml", _first(exc), getattr(exc, "lineno", 1) or 1) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise fail("invalid-yaml", _first(exc), mark.line + 1 if mark else 1) from None
    except json.JSONDecodeError as exc:
        raise fail("invalid-json", exc.msg, exc.lineno) from None
    except (ValueError, RecursionError) as exc:
        raise fail("invalid-data", _first(exc)) from None
    if isinstance(data, Mapping) or isinstance(data, list):
        inspect_values(data, fail)  # alias bombs, deep nesting
    return text, data


def _first(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def _at(data: object, dotted: str) -> object:
    value = lookup(data, dotted) if dotted else data
    return value if isinstance(value, (list, Mapping)) else None


def _includes(data: object, dotted: str | None) -> list[str]:
    value = lookup(data, dotted) if dotted else None
    return [str(v) for v in value] if isinstance(value, list) else []


def _entries(events: object) -> Iterator[tuple[str | None, Mapping[str, object]]]:
    """(table key or None, the event's table) in file order; non-tables are skipped."""
    if isinstance(events, Mapping):
        for key, value in events.items():
            if isinstance(value, Mapping):
                yield str(key), value
    elif isinstance(events, list):
        for value in events:
            if isinstance(value, Mapping):
                yield None, value


def _identity(key: str | None, meta: Mapping[str, object], source: DataSource) -> str | None:
    for path in source.uid:
        value = lookup(meta, path)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return key


def _series(
    meta: Mapping[str, object], source: DataSource
) -> Iterator[tuple[str, Mapping[str, object]]]:
    """(id suffix, the event's table) per recurrence rule: an event with several rules
    (rust-lang/calendar's ``recurrence_rules``) is one series per rule."""
    for path in source.repeat:
        rules = lookup(meta, path)
        if isinstance(rules, list) and len(rules) > 1:
            labels = _labels(rules)
            for label, rule in zip(labels, rules, strict=True):
                yield f"~{label}", _replaced(meta, path.split("."), [rule])
            return
        if rules is not None:
            break
    yield "", meta


def _labels(rules: list[object]) -> list[str]:
    """A name per rule from its days and hours (``tuesday-16``): stable when the rules are
    reordered or their ``until`` changes; ``rule-N`` where that does not tell them apart."""
    names = []
    for rule in rules:
        words: list[str] = []
        if isinstance(rule, Mapping):
            for key in ("by_month", "by_month_day", "by_day", "by_hour", "by_minute"):
                for item in rule.get(key) or []:
                    if isinstance(item, Mapping):
                        words.append(f"{item.get('num', '')}{item.get('day', '')}")
                    else:
                        words.append(str(item))
            words = words or [str(rule.get("frequency", ""))]
        names.append(re.sub(r"[^a-z0-9-]+", "-", "-".join(words).lower()).strip("-") or "rule")
    if len(set(names)) < len(names):
        return [f"rule-{i + 1}" for i in range(len(rules))]
    return names


def _replaced(meta: Mapping[str, object], path: list[str], value: object) -> dict[str, object]:
    out = dict(meta)
    if len(path) == 1:
        out[path[0]] = value
        return out
    inner = out.get(path[0])
    out[path[0]] = _replaced(inner if isinstance(inner, Mapping) else {}, path[1:], value)
    return out


def _entry_lines(
    suffix: str, text: str, lines: tuple[str, ...], dotted: str, events: object
) -> tuple[list[int], bool]:
    """(the 0-based line where each event, in ``_entries`` order, starts; whether its first
    key is on that line: a YAML list item's is, a TOML header's is not)."""
    count = sum(1 for _ in _entries(events))
    found: list[int] = []
    if suffix.lower() == ".toml":
        found = _toml_heads(lines, dotted, events)
        if len(found) == count:
            return found, False
    elif suffix.lower() in (".yaml", ".yml"):
        found = _yaml_heads(text, dotted)
        if len(found) == count:
            return found, isinstance(events, list)
    found = []  # inline tables, JSON: where each event's id first appears
    after = 0
    for key, meta in _entries(events):
        needle = key if key is not None else str(meta.get("uid", meta.get("title", "")))
        at = next((i for i in range(after, len(lines)) if needle and needle in lines[i]), after)
        found.append(at)
        after = at
    return found, True


def _toml_heads(lines: tuple[str, ...], dotted: str, events: object) -> list[int]:
    """``[[events]]`` headers (a list), or ``[events.KEY]`` ones (a table of tables)."""
    if isinstance(events, list):
        head = re.compile(rf"^\s*\[\[\s*{re.escape(dotted)}\s*\]\]\s*(#.*)?$")
        return [i for i, line in enumerate(lines) if head.match(line)]
    prefix = re.escape(dotted) + r"\s*\.\s*" if dotted else ""
    head = re.compile(rf"^\s*\[\s*{prefix}(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)\s*\]\s*(#.*)?$")
    out: list[int] = []
    keys = [k for k, _ in _entries(events)]
    for i, line in enumerate(lines):
        m = head.match(line)
        if m and m[1].strip("\"'") in keys and len(out) < len(keys):
            out.append(i)
    return out


def _yaml_heads(text: str, dotted: str) -> list[int]:
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml_reader()[1])
    except yaml.YAMLError:
        return []
    for part in dotted.split(".") if dotted else ():
        if not isinstance(node, yaml.MappingNode):
            return []
        node = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
    if isinstance(node, yaml.SequenceNode):
        return [item.start_mark.line for item in node.value]
    if isinstance(node, yaml.MappingNode):
        return [key.start_mark.line for key, _ in node.value]
    return []


def _dedent(lines: tuple[str, ...]) -> tuple[str, ...]:
    """An event's lines as top-level keys (a YAML list item's ``- `` and indent removed), so
    problems name the line of the key they are about."""
    if not lines:
        return lines
    first = lines[0]
    stripped = first.lstrip()
    if stripped.startswith("- "):
        lines = (first.replace("- ", "  ", 1), *lines[1:])
    indents = [len(x) - len(x.lstrip()) for x in lines if x.strip()]
    cut = min(indents) if indents else 0
    return tuple(x[cut:] for x in lines)
