"""Find page files and read them into RawPage: size, encoding, conflict markers, front matter.

Every way a file can be unreadable becomes one ContentError with the file's line.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import frontmatter.default_handlers
import yaml

from ..errors import ContentError
from . import fastyaml
from .base import RawPage

PAGE_SUFFIXES = (".md", ".markdown")
_CONFLICT = re.compile(r"^<{7}(?: |$)", re.MULTILINE)
_YAML = frontmatter.default_handlers.YAMLHandler()
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def is_section_page(path: Path) -> bool:
    """Hugo's ``_index.md`` (and ``_index.<lang>.md``) are list pages, not events."""
    return path.name.startswith("_index.")


def discover(root: Path, sections: tuple[str, ...] = ()) -> Iterator[Path]:
    """Every page file under ``root`` in a deterministic order; hidden folders are skipped."""
    bases = [root / s for s in sections] if sections else [root]
    for base in bases:
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
                if f.endswith(PAGE_SUFFIXES) and not f.startswith(".")
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


def read_page(
    path: Path, rel: PurePosixPath, display: str, *, languages: tuple[str, ...], max_bytes: int
) -> RawPage:
    def fail(code: str, message: str, line: int = 1, hint: str = "") -> ContentError:
        return ContentError(code, message, line=line, hint=hint, path=display)

    try:  # one open, its size, then (if allowed) its bytes; no file object (half the time)
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            if size > max_bytes:
                raise fail(
                    "too-large",
                    f"page is {size:,} bytes, over the {max_bytes:,}-byte limit",
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
    return RawPage(
        path=path,
        rel=rel,
        display=display,
        lang=language_of(rel, languages),
        meta=meta,
        fm_lines=fm_lines,
        body="\n".join(lines[close + 1 :]).replace("\r\n", "\n"),
        body_line=close + 2,
    )


# YAML notices an unclosed bracket or quote only where the text ends; the line to fix is
# where it was opened.
_OPENED_AT = ("while parsing a flow", "while scanning a quoted scalar")


def _load_front_matter(
    fm_text: str, opener: str, fail: Callable[..., ContentError]
) -> dict[str, object]:
    try:
        if opener == "+++":
            meta: object = tomllib.loads(fm_text)
        else:  # the common simple shape directly, everything else (and errors) by PyYAML
            meta = fastyaml.load(fm_text)
            if meta is None:
                meta = _YAML.load(fm_text, Loader=_YAML_LOADER)
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
