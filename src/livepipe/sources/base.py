"""What every page-schema adapter shares: the raw page, the draft it produces, the protocol."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import ClassVar, Protocol

from ..errors import ContentError
from ..models import QA, Problem, Severity, Speaker, Status

# Front-matter keys Hugo itself understands; valid on every page whatever its schema.
HUGO_KEYS = frozenset(
    {
        "aliases",
        "categories",
        "date",
        "draft",
        "expiryDate",
        "headless",
        "isCJKLanguage",
        "keywords",
        "lastmod",
        "layout",
        "linkTitle",
        "markup",
        "outputs",
        "publishDate",
        "resources",
        "series",
        "slug",
        "summary",
        "tags",
        "translationKey",
        "type",
        "url",
        "weight",
        "description",
        "title",
        "images",
        "livepipe",
        "build",
        "cascade",
        "params",
        "sitemap",
        "menu",
        "menus",
    }
)


@dataclass(frozen=True, slots=True)
class RawPage:
    """A page file read and split: front matter mapping, body, and where each part starts."""

    path: Path
    rel: PurePosixPath  # relative to the content root
    display: str  # how the path is shown in problems
    lang: str | None  # from the path (`content/<lang>/`, `slug.<lang>.md`), if it says
    meta: Mapping[str, object]
    fm_lines: tuple[str, ...]  # front-matter source lines, fm_lines[0] is file line 2
    body: str
    body_line: int  # file line (1-based) where the body starts
    controls_removed: bool = False  # control characters were taken out (livepipe.text)
    source: str = ""  # the event's source when not the page path: data.toml#key
    first_line: int = 2  # the file line of fm_lines[0] (a data file's event: where it starts)
    head_line: int = 1  # the line a problem names when no key is found (the opening ---)
    _top: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_top", _top_level_keys(self.fm_lines))

    def line_of(self, *keys: str) -> int:
        """File line of a (nested) front-matter key, e.g. ``line_of("section1", "time")``.

        Falls back to the innermost key found, then to line 1 (the opening ``---``).
        """
        line = self.head_line
        index = 0
        for depth, key in enumerate(keys):
            if depth == 0 and not _ODD_KEY.intersection(key):
                found = self._top.get(key)  # what _find_key would find, from one scan
            else:
                found = _find_key(self.fm_lines, key, index, nested=depth > 0)
            if found is None:
                return line
            index = found
            line = found + self.first_line
        return line


# Keys with these characters are looked up by scanning (the index splits lines at them).
_ODD_KEY = frozenset(":='\"")


def _top_level_keys(lines: tuple[str, ...]) -> dict[str, int]:
    """Each top-level key's first line: the keys ``_find_key(…, nested=False)`` matches, i.e.
    an unindented ``key:``, ``'key':``, ``"key":`` or ``key =``."""
    index: dict[str, int] = {}
    for i, text in enumerate(lines):
        if not text or text[0].isspace():
            continue
        head, colon, _ = text.partition(":")
        if colon:
            if len(head) >= 2 and head[0] == head[-1] and head[0] in "'\"":
                index.setdefault(head[1:-1], i)
            index.setdefault(head, i)
        head, equals, _ = text.partition(" =")
        if equals:
            index.setdefault(head, i)
    return index


def _find_key(lines: tuple[str, ...], key: str, start: int, *, nested: bool) -> int | None:
    for i in range(start, len(lines)):
        text = lines[i]
        stripped = text.lstrip()
        if nested == (text != stripped) and (
            stripped.startswith((f"{key}:", f"'{key}':", f'"{key}":', f"{key} ="))
        ):
            return i
    return None


@dataclass(slots=True)
class PageContext:
    """One page on its way to an Event: the page plus the warnings found so far."""

    page: RawPage
    problems: list[Problem] = field(default_factory=list)

    def warn(self, code: str, message: str, *, line: int = 1, hint: str = "") -> None:
        self._add(Severity.WARNING, code, message, line, hint)

    def info(self, code: str, message: str, *, line: int = 1, hint: str = "") -> None:
        self._add(Severity.INFO, code, message, line, hint)

    def _add(self, sev: Severity, code: str, message: str, line: int, hint: str) -> None:
        self.problems.append(Problem(self.page.display, line, sev, code, message, hint))

    def error(self, code: str, message: str, *, line: int = 1, hint: str = "") -> ContentError:
        """Build (not raise) the error, so call sites read ``raise ctx.error(...)``."""
        return ContentError(code, message, line=line, hint=hint, path=self.page.display)

    def check_keys(
        self, meta: Mapping[str, object], known: Iterable[str], *, parent: str | None = None
    ) -> None:
        """Warn about unknown keys with a did-you-mean."""
        known_set = set(known)
        for key in meta:
            name = str(key)
            if name in known_set:
                continue
            close = difflib.get_close_matches(name, known_set, n=1, cutoff=0.6)
            where = f"{parent}.{name}" if parent else name
            line = self.page.line_of(parent, name) if parent else self.page.line_of(name)
            self.warn(
                "unknown-key",
                f"unknown front-matter key {where!r}",
                line=line,
                hint=f"did you mean {close[0]!r}?" if close else "remove it or check the spelling",
            )


@dataclass(slots=True)
class Draft:
    """What an adapter read from a page, before times get zones and URLs get normalised.

    ``start``/``end`` may be naive (wall clock in ``timezone`` or the site zone), aware, or
    dates (all-day). ``*_line`` fields point problems at the right line.
    """

    title: str
    start: datetime | date
    start_line: int
    end: datetime | date | None = None
    end_line: int = 0
    duration: timedelta | None = None  # instead of an end: elapsed time after a timed start
    timezone: str | None = None
    timezone_line: int = 0
    description: str = ""
    summary: str = ""
    location: str | None = None
    online: bool = False
    in_person: bool = False
    live_url: str | None = None
    replay_url: str | None = None
    register_url: str | None = None
    repeat: object = None  # the raw `repeat:` mapping or RRULE text (checked in normalize)
    repeat_line: int = 0
    cover_image: str | None = None
    outline_image: str | None = None
    tags: tuple[str, ...] = ()
    status: Status = Status.SCHEDULED
    speakers: tuple[Speaker, ...] = ()
    outline: tuple[str, ...] = ()
    qa: tuple[QA, ...] = ()
    slides: str = ""
    uid: str | None = None
    url: str | None = None  # the event's own page, when it is not the page itself
    translation_key: str | None = None
    draft: bool = False
    publish_date: object = None
    expiry_date: object = None
    options: object = None  # the raw `livepipe:` mapping (checked in normalize)


class PageSchema(Protocol):
    """A page-schema adapter: declared attributes and one method that makes a Draft."""

    @property
    def name(self) -> str: ...  # a class attribute, or one per instance (mapped schemas)

    default_timezone: ClassVar[str]
    default_language: ClassVar[str]

    def detect(self, meta: Mapping[str, object]) -> bool: ...

    def extract(self, ctx: PageContext) -> Draft: ...


def lookup(value: object, dotted: str, default: object = None) -> object:
    """The value at a dotted path (``event.start_date``) of nested mappings; ``default``
    when a part of the path is not there (front matter, a data file's table)."""
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def text_value(ctx: PageContext, value: object, *keys: str) -> str:
    """A scalar front-matter value as stripped text; lists and maps are an error."""
    if value is None:
        return ""
    if isinstance(value, (str, int, float, date)):
        return str(value).strip()
    raise ctx.error(
        "bad-value",
        f"{'.'.join(keys)} must be text, not a {type(value).__name__}",
        line=ctx.page.line_of(*keys),
        hint="quote the value",
    )


def title_value(ctx: PageContext) -> str:
    """The page title (required on every schema)."""
    title = text_value(ctx, ctx.page.meta.get("title"), "title")
    if not title:
        raise ctx.error(
            "missing-title",
            "the page has no title",
            line=ctx.page.line_of("title"),
            hint="add a 'title:' line to the front matter",
        )
    return title


def bool_value(ctx: PageContext, value: object, *keys: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "yes", "false", "no", ""}:
        return value.strip().lower() in {"true", "yes"}
    raise ctx.error(
        "bad-value",
        f"{'.'.join(keys)} must be true or false, not {value!r}",
        line=ctx.page.line_of(*keys),
    )


def tags_value(ctx: PageContext, value: object, *keys: str) -> tuple[str, ...]:
    """Tags from a YAML list or a comma-separated string; trimmed, deduplicated, in order."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items: list[object] = [p for p in value.replace("，", ",").split(",")]
    elif isinstance(value, list):
        items = value
    else:
        raise ctx.error(
            "bad-value",
            f"{'.'.join(keys)} must be a list or a comma-separated string",
            line=ctx.page.line_of(*keys),
        )
    seen: dict[str, None] = {}
    for item in items:
        tag = str(item).strip()
        if tag and tag.lower() not in {t.lower() for t in seen}:
            seen[tag] = None
    return tuple(seen)
