"""Find page files and read them into RawPage: size, encoding, conflict markers, front matter.

Every way a file can be unreadable becomes one ContentError with the file's line.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from .. import text as _text
from ..errors import ContentError
from .base import RawPage

PAGE_SUFFIXES = (".md", ".markdown")
_CONFLICT = re.compile(r"^<{7}(?: |$)", re.MULTILINE)


@functools.cache
def yaml_reader() -> tuple[Any, Any]:
    """python-frontmatter's YAML handler and PyYAML's fastest safe loader, made when the
    first page is read (importing them costs 15 ms; a `check` that the page cache answers
    never needs them)."""
    import frontmatter.default_handlers
    import yaml

    return frontmatter.default_handlers.YAMLHandler(), getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def is_section_page(path: Path) -> bool:
    """Hugo's ``_index.md`` (and ``_index.<lang>.md``) are list pages, not events."""
    return path.name.startswith("_index.")


def discover(
    root: Path, sections: tuple[str, ...] = (), extensions: tuple[str, ...] = PAGE_SUFFIXES
) -> Iterator[Path]:
    """Every page file under ``root`` in a deterministic order; hidden folders are skipped.
    Symlinked folders are not followed, and a section that resolves outside ``root`` is not
    read (a symlinked page file is checked where it is read: ``read_page``)."""
    bases = [root / s for s in sections] if sections else [root]
    for base in bases:
        if sections and not _inside(os.path.realpath(base), os.path.realpath(root)):
            continue
        if base.is_file():
            yield base
            continue
        found: list[tuple[list[str], str]] = []  # (parts: the order Path sorts in, name)
        for folder, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")) or d == "_index")
            parts = folder.split(os.sep)
            found.extend(
                ([*parts, f], os.path.join(folder, f))
                for f in files
                if f.endswith(extensions) and not f.startswith(".")
            )
        found.sort(key=lambda item: item[0])  # strings: sorting 10k Paths took 0.1 s
        yield from (Path(name) for _, name in found)


def language_of(rel: PurePosixPath, languages: tuple[str, ...]) -> str | None:
    """``slug.<lang>.md`` or ``<lang>/…`` when ``<lang>`` is a configured language."""
    stem_parts = rel.name.split(".")
    if len(stem_parts) >= 3 and stem_parts[-2] in languages:
        return stem_parts[-2]
    if len(rel.parts) > 1 and rel.parts[0] in languages:
        return rel.parts[0]
    return None


def _read_all(fd: int, size: int) -> bytes:
    """The file's bytes: one read for the size fstat gave; on to the end if the read came
    back short or the file has grown since."""
    data = os.read(fd, size + 1)
    if len(data) == size:
        return data
    chunks = [data]
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root if root.endswith(os.sep) else root + os.sep)


# Never blocks (a FIFO named *.md), never follows a symlink without checking where it goes.
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_page(path: Path, site_root: str | None, fail: Callable[..., ContentError]) -> int:
    """A descriptor of the page's regular file; a symlink only to a file inside the site."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        real = os.path.realpath(path)
        if site_root is not None and not _inside(real, site_root):
            raise fail(
                "outside-site",
                "the page is a symlink to a file outside the site",
                hint="pages must be files inside the site folder: copy the file in",
            ) from exc
        fd = os.open(real, _OPEN_FLAGS)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise fail(
            "not-a-file",
            "not a regular file (a FIFO, socket or device named like a page)",
            hint="only regular Markdown files belong in the content folder",
        )
    return fd


def read_text(
    path: Path,
    rel: PurePosixPath,
    fail: Callable[..., ContentError],
    *,
    max_bytes: int,
    site_root: str | None = None,
    what: str = "page",
) -> str:
    """A site file's text (a page, a data file): a regular file inside the site, at most
    ``max_bytes``, UTF-8 (a BOM dropped), no NUL; anything else is a ``fail(...)``."""
    bad = _text.PATH_UNSAFE.search(str(rel))
    if bad is not None:
        raise fail(
            "bad-path",
            f"the file name contains the control character U+{ord(bad.group()):04X}",
            hint="rename the file: letters, digits, '-', '_' and '.' make safe page names",
        )
    try:  # one open, its size, then (if allowed) its bytes; no file object (half the time)
        fd = _open_page(path, site_root, fail)
        try:
            size = os.fstat(fd).st_size
            if size > max_bytes:
                raise fail(
                    "too-large",
                    f"{what} is {size:,} bytes, over the {max_bytes:,}-byte limit",
                    hint="move large media out of the page, or raise pages.max_page_bytes",
                )
            data = _read_all(fd, size)
        finally:
            os.close(fd)
    except OSError as exc:
        raise fail("unreadable", f"cannot read the file: {exc.strerror or exc}") from exc
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise fail(
            "binary",
            "file contains NUL bytes: not a text page",
            line,
            hint="only Markdown pages belong in the content folder",
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise fail(
            "not-utf8",
            f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not valid UTF-8",
            line,
            hint="save the file as UTF-8",
        ) from exc
    return text


def read_page(
    path: Path,
    rel: PurePosixPath,
    display: str,
    *,
    languages: tuple[str, ...],
    max_bytes: int,
    site_root: str | None = None,
) -> RawPage:
    """Read one page. ``site_root`` (resolved): a symlinked page must resolve inside it."""

    def fail(code: str, message: str, line: int = 1, hint: str = "") -> ContentError:
        return ContentError(code, message, line=line, hint=hint, path=display)

    text = read_text(path, rel, fail, max_bytes=max_bytes, site_root=site_root)
    if not text.strip():
        raise fail("empty", "the file is empty", hint="add front matter with a title and a time")
    conflict = _CONFLICT.search(text)
    if conflict:
        line = text.count("\n", 0, conflict.start()) + 1
        raise fail(
            "merge-conflict",
            "unresolved git merge conflict (<<<<<<< / ======= / >>>>>>> markers)",
            line,
            hint="keep one side of the conflict and delete the marker lines",
        )
    lines = text.split("\n")
    opener = lines[0].rstrip()
    if opener not in ("---", "+++"):
        raise fail(
            "no-front-matter",
            "the page does not start with front matter",
            hint="start the file with a '---' line, the YAML keys, and another '---' line",
        )
    close = next((i for i in range(1, len(lines)) if lines[i].rstrip() == opener), None)
    if close is None:
        raise fail(
            "unterminated-front-matter",
            f"front matter opened with {opener!r} on line 1 is never closed",
            hint=f"add a {opener!r} line after the last front-matter key",
        )
    fm_lines = tuple(line.rstrip("\r") for line in lines[1:close])
    fm_text = "\n".join(fm_lines)
    meta = _load_front_matter(fm_text, opener, fail)
    body = "\n".join(lines[close + 1 :])
    controls = False
    if "&" in fm_text or "\\" in fm_text or len(fm_lines) > _MAX_DEPTH:
        controls = inspect_values(meta, fail)  # aliases, escapes or deep nesting: look closer
    if controls:
        meta = {k: _text.clean_value(v) for k, v in meta.items()}
    if _text.has_controls(body):
        body, controls = _text.clean(body), True
    return RawPage(
        path=path,
        rel=rel,
        display=display,
        lang=language_of(rel, languages),
        meta=meta,
        fm_lines=fm_lines,
        body=body,
        body_line=close + 2,
        controls_removed=controls,
    )


# YAML aliases share one object, so a kilobyte of anchors can stand for billions of values
# (an "alias bomb") that any walk over the front matter would take forever to visit.
_MAX_VALUES = 100_000
_MAX_DEPTH = 64


def inspect_values(meta: object, fail: Callable[..., ContentError]) -> bool:
    """Walk the front matter (without recursion, bounded): too many values or too deep is an
    ``invalid-yaml`` error; returns whether any string holds a control character."""
    stack: list[tuple[object, int]] = [(meta, 0)]
    seen = 0
    controls = False
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > _MAX_VALUES:
            raise fail(
                "invalid-yaml",
                f"front matter expands to more than {_MAX_VALUES:,} values (YAML aliases?)",
                hint="write the values out instead of repeating anchors (&a / *a)",
            )
        if depth > _MAX_DEPTH:
            raise fail(
                "invalid-yaml",
                f"front matter is nested more than {_MAX_DEPTH} levels deep",
                hint="event pages need only a few levels of keys",
            )
        if isinstance(value, str):
            controls = controls or _text.has_controls(value)
        elif isinstance(value, Mapping):
            stack.extend((k, depth + 1) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return controls


def _bad_value_line(fm_text: str) -> int:
    """The file line of the first ``key: value`` whose value alone fails to load (the
    loaders' ValueErrors carry no position); 1 if none does."""
    import yaml

    loader = yaml_reader()[1]
    for number, line in enumerate(fm_text.split("\n"), start=2):
        value = line.partition(": ")[2].strip() or line.lstrip(" -").strip()
        try:
            yaml.load(value, Loader=loader)
        except (ValueError, OverflowError):
            return number
        except Exception:  # a fragment out of context: not what we look for
            continue
    return 1


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()
    return text[0][:200] if text else type(exc).__name__


# YAML notices an unclosed bracket or quote only where the text ends; the line to fix is
# where it was opened.
_OPENED_AT = ("while parsing a flow", "while scanning a quoted scalar")


def _load_front_matter(
    fm_text: str, opener: str, fail: Callable[..., ContentError]
) -> dict[str, object]:
    import yaml

    from ..fast import yaml_scan as fastyaml

    try:
        if opener == "+++":
            meta: object = tomllib.loads(fm_text)
        else:  # the common simple shape directly, everything else (and errors) by PyYAML
            meta = fastyaml.load(fm_text)
            if meta is None:
                handler, loader = yaml_reader()
                meta = handler.load(fm_text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        context = getattr(exc, "context", None) or ""
        opened = getattr(exc, "context_mark", None)
        if context.startswith(_OPENED_AT) and opened is not None:
            mark = opened  # an unclosed [ { or quote: where it was opened
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise fail(
            "invalid-yaml",
            f"front matter is not valid YAML: {problem}",
            line,
            hint="quote values that contain ': ' or start with [ { * & ! | > % @",
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = int(m.group(1)) + 1 if m else 1
        raise fail("invalid-toml", f"front matter is not valid TOML: {exc}", line) from exc
    except RecursionError as exc:
        raise fail(
            "invalid-yaml",
            "front matter is nested too deeply to read",
            hint="event pages need only a few levels of keys",
        ) from exc
    except (ValueError, OverflowError) as exc:  # a 5,000-digit number, an offset of +25:00
        raise fail(
            "invalid-yaml",
            f"front matter has a value that cannot be read: {_first_line(exc)}",
            _bad_value_line(fm_text),
            hint="UTC offsets lie between -23:59 and +23:59"
            if "offset" in str(exc)
            else "quote the value to keep it as text, or correct it",
        ) from exc
    if meta is None:
        raise fail(
            "empty-front-matter",
            "the front matter is empty",
            hint="add at least a title and a time",
        )
    if not isinstance(meta, dict):
        raise fail(
            "front-matter-not-mapping",
            f"front matter must be key: value pairs, not a {type(meta).__name__}",
            2,
        )
    return {str(k): v for k, v in meta.items()}
