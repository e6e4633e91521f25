"""Phase one of every command: find the pages of a site, read, validate and normalise them all.

A bad page becomes one Problem and is left out; every other page still loads.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TypeVar

from .advice import language_problems, settings_problems, title_limits, title_problems
from .config import Settings, find_config, load_settings
from .errors import ContentError
from .fast import parallel
from .fast.gc import paused_gc
from .fast.pagecache import PageCache, Shard, Stamp, allow, stamp
from .fast.pickling import quick_pickle
from .models import Event, Problem, Severity
from .normalize import normalize
from .sources import (
    SCHEMAS,
    PageContext,
    PageSchema,
    detect_schema,
    discover,
    forced_schema,
    read_page,
)
from .sources.base import RawPage
from .sources.calendars import ImportSchema, feed_path, read_feed
from .sources.datafiles import read_source
from .sources.files import is_section_page
from .sources.mapped import MappedSchema
from .text import PATH_UNSAFE


@dataclass(frozen=True, slots=True)
class Site:
    """Where the pages are and how to read them."""

    settings: Settings
    content_root: Path  # page ids are relative to this
    targets: tuple[Path, ...]  # what to scan: the content root, a sub-folder or one file

    @classmethod
    def locate(cls, path: Path, *, config: Path | None = None) -> Site:
        """Resolve a page, a folder of pages, or a site root (with livepipe.toml)."""
        path = path.resolve()
        if not path.exists():
            raise FileNotFoundError(path)
        config = config or find_config(path)
        settings = load_settings(config)
        root = settings.content_root.resolve() if settings.content_root else None
        if root is not None and (path == root or root in path.parents):
            return cls(settings, root, (path,))
        if root is not None and config is not None and path == config.parent.resolve():
            return cls(settings, root, (root,))
        folder = path if path.is_dir() else path.parent
        return cls(settings, folder, (path,))


@dataclass(frozen=True, slots=True)
class LoadResult:
    site: Site
    events: tuple[Event, ...]  # sorted by start, then uid; drafts excluded
    problems: tuple[Problem, ...]
    pages: int  # event pages looked at (section pages excluded)
    drafts: tuple[str, ...] = ()
    failed: tuple[str, ...] = field(default=())  # sources of pages that did not load
    # page file → its mtime (whole seconds) when it was read: revision times need no stat
    mtimes: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def errors(self) -> int:
        return sum(p.severity is Severity.ERROR for p in self.problems)

    @property
    def warnings(self) -> int:
        return sum(p.severity is Severity.WARNING for p in self.problems)


@allow  # cache files may hold it
@quick_pickle
@dataclass(frozen=True, slots=True)
class _PageResult:
    """One page read: its event (None when it failed), its problems, and how to report it."""

    rel: str
    display: str
    event: Event | None
    problems: tuple[Problem, ...]
    uid_line: int = 1


DATA_FILE_PAGES = 16  # a data file may be this many times a page's byte limit
# Below this many pages a worker pool costs more than it saves.
PARALLEL_MIN_PAGES = 2000
CHUNK_MIN_PAGES = 64  # pages a worker reads per task (and per cache shard), at least


def load(site: Site, *, workers: int | None = None, cache: bool = True) -> LoadResult:
    """Read every page (in worker processes for big sites; unchanged ones from the cache of
    the last run) and collect events and problems."""
    with paused_gc():
        return _load_site(site, workers, cache)


def _load_site(site: Site, workers: int | None, cache: bool) -> LoadResult:
    paths = [
        path
        for target in site.targets
        for path in discover(
            target,
            site.settings.pages.sections if target == site.content_root else (),
            site.settings.pages.extensions,
        )
        if not is_section_page(path)
    ]
    pages = PageCache(site.settings, site.content_root, enabled=cache)
    stamps = [stamp(p) for p in paths]
    # A page that met a bug in livepipe is read again: the bug may be fixed by now.
    cached = [
        hit if hit is None or not _met_a_bug(hit) else None
        for hit in (pages.get(p, key) for p, key in zip(paths, stamps, strict=True))
    ]
    todo = [(p, key) for p, key, hit in zip(paths, stamps, cached, strict=True) if hit is None]
    shards = _read_pages(site, todo, workers, keep=pages.path is not None)
    fresh = (r for _, part in shards for r in part)
    results = [hit if hit is not None else next(fresh) for hit in cached]
    if (site.settings.sources or site.settings.imports) and site.targets == (site.content_root,):
        results.extend(_load_sources(site))
    current = {str(p): key for p, key in zip(paths, stamps, strict=True) if key}
    pages.save(
        current,
        [shard for shard, _ in shards if shard is not None],
        scanned_all=site.targets == (site.content_root,),
    )
    mtimes = {name: key[1] // 1_000_000_000 for name, key in current.items()}
    return _collect(site, results, mtimes)


def _met_a_bug(result: _PageResult) -> bool:
    return any(p.code == "internal-error" for p in result.problems)


def _read_pages(
    site: Site, todo: list[tuple[Path, Stamp | None]], workers: int | None, *, keep: bool
) -> list[tuple[Shard | None, list[_PageResult]]]:
    """Read ``todo`` (page, stamp before reading); the results in order, in shards for the
    cache (``keep``): one per chunk. Big sites are read by this process and forked helpers
    (parallel.shared_map); a helper pickles its chunk once, and those bytes are both what it
    sends and the cache shard."""
    if not todo:
        return []
    processes = parallel.processes(workers)
    if len(todo) < PARALLEL_MIN_PAGES:
        processes = 1
    # Small chunks: the processes finish together.
    size = max(CHUNK_MIN_PAGES, len(todo) // (processes * 16)) if processes > 1 else len(todo)
    parts = [todo[i : i + size] for i in range(0, len(todo), size)]

    def chunk(index: int, remote: bool) -> tuple[Shard | None, list[_PageResult] | None]:
        part = parts[index]
        results = [_load_one(site, path) for path, _ in part]
        keys = [(str(path), key) for path, key in part]
        if remote:  # the shard's bytes are what travels; the results come out of them here
            return Shard.of(keys, results), None
        return (Shard.of(keys, results) if keep else None), results

    read: list[tuple[Shard | None, list[_PageResult]]] = []
    for shard, results in parallel.shared_map(chunk, len(parts), processes):
        if results is None:
            assert shard is not None
            results = shard.results()
        read.append((shard, results))
    return read


def _load_one(site: Site, path: Path) -> _PageResult:
    settings = site.settings
    rel = _relative(path, site.content_root)
    display = _display(path, site.content_root)

    def read() -> RawPage:
        return read_page(
            path,
            rel,
            display,
            languages=settings.site.languages,
            max_bytes=settings.pages.max_page_bytes,
            site_root=_site_root(site),
        )

    return _result(settings, str(rel), display, read)


def _load_sources(site: Site) -> list[_PageResult]:
    """The events of the site's data files (``[sources.NAME]``), one result each; a file
    (or an event) that cannot be read is one failed result (what it had is kept)."""
    settings = site.settings
    root = settings.root or site.content_root
    out: list[_PageResult] = []
    for name, schema in data_schemas(settings).items():
        pages, failures = read_source(
            name,
            settings.sources[name],
            site_root=root,
            display=lambda p: _display(p, site.content_root),
            max_bytes=settings.pages.max_page_bytes * DATA_FILE_PAGES,
        )
        for failure in failures:
            exc = failure.error
            problem = Problem(failure.display, exc.line, Severity.ERROR, exc.code, exc.message,
                              exc.hint)  # fmt: skip
            out.append(_PageResult(failure.source, failure.display, None, (problem,)))
        out.extend(
            _result(settings, page.source, page.display, lambda p=page: p, schema)  # type: ignore[misc]
            for page in pages
        )
    for name, feed in settings.imports.items():
        path = feed_path(root, name)
        rel = Path(os.path.relpath(path, root)).as_posix()
        shown = _display(path, site.content_root)
        pages, missing = read_feed(name, path, rel, shown, feed.language)
        if missing is not None:  # never fetched, or unusable: what it had is kept
            problem = Problem(shown, 1, Severity.WARNING, missing.code, missing.message,
                              missing.hint)  # fmt: skip
            out.append(_PageResult(rel, shown, None, (problem,)))
            continue
        schema = ImportSchema(
            name, feed, settings.site.timezone, feed.link or settings.site.base_url + "/",
            list(settings.slots),
        )  # fmt: skip
        out.extend(
            _result(settings, page.source, page.display, lambda p=page: p, schema)  # type: ignore[misc]
            for page in pages
        )
    return out


def _result(
    settings: Settings,
    rel: str,
    display: str,
    read: Callable[[], RawPage],
    schema: PageSchema | None = None,
) -> _PageResult:
    """One page (or one event of a data file) read, checked and made an Event; any problem
    stays with it."""
    ctx: PageContext | None = None
    try:
        page = read()
        ctx = PageContext(page)
        event = _load_page(ctx, settings) if schema is None else _load_page(ctx, settings, schema)
    except ContentError as exc:
        error = Problem(display, exc.line, Severity.ERROR, exc.code, exc.message, exc.hint)
        return _PageResult(rel, display, None, (*(ctx.problems if ctx else ()), error))
    except Exception as exc:  # a bug in livepipe: still one problem for one page, no traceback
        error = Problem(
            display,
            1,
            Severity.ERROR,
            "internal-error",
            f"livepipe could not read this page ({type(exc).__name__}: {exc})"[:300],
            "please report this page to the livepipe developers",
        )
        return _PageResult(rel, display, None, (*(ctx.problems if ctx else ()), error))
    if page.controls_removed:
        ctx.warn(
            "control-chars",
            "control characters (such as ESC or NUL) were removed from the page's text",
            hint="delete them from the page; they can't be shown in calendars or feeds",
        )
    limits = per_settings(settings, "titles", title_limits)
    for code, message, hint in title_problems(event, limits):
        ctx.warn(code, message, line=page.line_of("title"), hint=hint)
    if event.draft:
        ctx.info(
            "draft",
            "draft page skipped",
            line=page.line_of("draft"),
            hint="remove 'draft: true' to publish it",
        )
    return _PageResult(rel, display, event, tuple(ctx.problems), page.line_of("uid"))


def _collect(site: Site, results: list[_PageResult], mtimes: Mapping[str, int]) -> LoadResult:
    events: dict[str, Event] = {}
    problems: list[Problem] = []
    drafts: list[str] = []
    failed: list[str] = []
    for r in results:
        problems.extend(r.problems)
        event = r.event
        if event is None:
            failed.append(r.rel)
        elif event.draft:
            drafts.append(event.source)
        elif event.uid in events:
            problems.append(
                Problem(
                    r.display,
                    r.uid_line,
                    Severity.ERROR,
                    "duplicate-uid",
                    f"uid {event.uid!r} is already used by {events[event.uid].source}",
                    "give each page its own uid (or remove the uid key)",
                )
            )
            failed.append(r.rel)
        else:
            events[event.uid] = event
    ordered = tuple(sorted(events.values(), key=lambda e: (e.start, e.uid)))
    shown = {r.event.source: r.display for r in results if r.event is not None}
    problems.extend(language_problems(events.values(), site.settings, shown))
    problems.sort(key=lambda p: (p.path, p.line, p.code))
    problems[:0] = settings_problems(site.settings)  # the settings' first
    return LoadResult(
        site, ordered, tuple(problems), len(results), tuple(drafts), tuple(failed), mtimes
    )


_MADE: dict[tuple[int, str], tuple[Settings, object]] = {}
T = TypeVar("T")


def per_settings(settings: Settings, name: str, make: Callable[[Settings], T]) -> T:
    """``make(settings)``, made once per Settings object (Settings holds dicts, so it cannot
    be an lru_cache key)."""
    held = _MADE.get((id(settings), name))
    if held is None or held[0] is not settings:
        if len(_MADE) > 32:
            _MADE.clear()
        held = _MADE[(id(settings), name)] = (settings, make(settings))
    return held[1]  # type: ignore[return-value]


def mapped_schemas(settings: Settings) -> tuple[MappedSchema, ...]:
    """The site's ``[schemas.NAME]`` tables, in the order livepipe.toml gives them."""
    if not settings.schemas:
        return ()
    return per_settings(
        settings,
        "schemas",
        lambda s: tuple(
            MappedSchema(name, mapping, s.site.timezone) for name, mapping in s.schemas.items()
        ),
    )


def data_schemas(settings: Settings) -> dict[str, MappedSchema]:
    """A mapping per ``[sources.NAME]``, by name (its events' page: its ``link``, else the
    site's home)."""
    return per_settings(
        settings,
        "sources",
        lambda s: {
            # the id is the table key or the uid (datafiles.read_source), in the uid's place
            name: MappedSchema(
                name,
                src.model_copy(update={"uid": ()}),
                s.site.timezone,
                src.link or s.site.base_url + "/",
            )
            for name, src in s.sources.items()
        },
    )


def _load_page(ctx: PageContext, settings: Settings, given: PageSchema | None = None) -> Event:
    if given is not None:  # a data file's event: its source's mapping
        return normalize(ctx, given.extract(ctx), given, settings)
    meta = ctx.page.meta
    name = forced_schema(meta)
    mapped = mapped_schemas(settings)
    rel = str(ctx.page.rel)
    schema: PageSchema
    if name is not None:
        known: dict[str, PageSchema] = {**SCHEMAS, **{m.name: m for m in mapped}}
        if name not in known:
            raise ctx.error(
                "unknown-schema",
                f"livepipe.schema {name!r} is not one of {', '.join(known)}",
                line=ctx.page.line_of("livepipe", "schema"),
            )
        schema = known[name]
    elif any(m.matches(rel) for m in mapped):
        schema = next(m for m in mapped if m.matches(rel))
    else:
        detected = detect_schema(meta)
        if detected is None:
            raise ctx.error(
                "not-an-event",
                "no event time: neither 'start' (native schema) nor 'section1.time' "
                "(KubeSphere live page)",
                line=1,
                hint="add 'start: 2026-12-03T19:00:00+08:00', or move non-event pages out of "
                "the event sections (pages.sections in livepipe.toml)",
            )
        schema = detected
    draft = schema.extract(ctx)
    return normalize(ctx, draft, schema, settings)


@functools.lru_cache(maxsize=16)
def _site_root_of(root: Path) -> str:
    return os.path.realpath(root)


def _site_root(site: Site) -> str:
    """Where pages (and what they link to) must be: the folder of livepipe.toml, else the
    content root; resolved."""
    return _site_root_of(site.settings.root or site.content_root)


def _relative(path: Path, root: Path) -> PurePosixPath:
    """The page id: its place in the content tree (found from the strings of the discovered
    path and the resolved root, so no resolve() per page: a syscall per path component)."""
    text, prefix = str(path), _with_sep(str(root))
    if text.startswith(prefix):
        return PurePosixPath(text[len(prefix) :].replace(os.sep, "/"))
    try:  # reached through a symlink or a relative path: resolve only now
        return PurePosixPath(path.resolve().relative_to(root).as_posix())
    except ValueError:
        return PurePosixPath(path.name)


def _display(path: Path, root: Path) -> str:
    """``path`` relative to the working folder, as problems name pages (control characters
    in a file name shown escaped: a problem line must stay one line)."""
    shown = _display_raw(path, root)
    if PATH_UNSAFE.search(shown):
        return PATH_UNSAFE.sub(lambda m: ascii(m.group())[1:-1], shown)
    return shown


def _display_raw(path: Path, root: Path) -> str:
    text, prefix = str(path), _with_sep(str(root))
    shown = _shown_root(str(root), os.getcwd())
    if shown is not None and text.startswith(prefix):  # os.path.relpath, without its work
        rest = text[len(prefix) :]
        return rest if shown == "." else shown + os.sep + rest
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _with_sep(folder: str) -> str:
    return folder if folder.endswith(os.sep) else folder + os.sep


@functools.lru_cache(maxsize=16)
def _shown_root(root: str, cwd: str) -> str | None:
    """The content root relative to ``cwd`` when that is at or below it (then a page's
    relative path is this plus its page path), else None."""
    try:
        shown = os.path.relpath(root, cwd)
    except ValueError:
        return None
    return None if shown.split(os.sep)[0] == os.pardir else shown


def load_path(path: Path, *, config: Path | None = None) -> LoadResult:
    return load(Site.locate(path, config=config))
