"""Phase one of every command: find the pages of a site, read, validate and normalise them all.

A bad page becomes one Problem and is left out; every other page still loads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .config import Settings, find_config, load_settings
from .errors import ContentError
from .models import Event, Problem, Severity
from .normalize import normalize
from .render.wechat import lint as wechat_lint
from .sources import SCHEMAS, PageContext, detect_schema, discover, forced_schema, read_page
from .sources.files import is_section_page


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

    @property
    def errors(self) -> int:
        return sum(p.severity is Severity.ERROR for p in self.problems)

    @property
    def warnings(self) -> int:
        return sum(p.severity is Severity.WARNING for p in self.problems)


def load(site: Site) -> LoadResult:
    settings = site.settings
    events: dict[str, Event] = {}
    problems: list[Problem] = []
    drafts: list[str] = []
    failed: list[str] = []
    pages = 0
    for target in site.targets:
        sections = settings.pages.sections if target == site.content_root else ()
        for path in discover(target, sections):
            if is_section_page(path):
                continue
            pages += 1
            rel = _relative(path, site.content_root)
            ctx: PageContext | None = None
            display = _display(path)
            try:
                page = read_page(
                    path,
                    rel,
                    display,
                    languages=settings.site.languages,
                    max_bytes=settings.pages.max_page_bytes,
                )
                ctx = PageContext(page)
                event = _load_page(ctx, settings)
            except ContentError as exc:
                problems.extend(ctx.problems if ctx else ())
                problems.append(
                    Problem(display, exc.line, Severity.ERROR, exc.code, exc.message, exc.hint)
                )
                failed.append(str(rel))
                continue
            for code, key, message, hint in wechat_lint(event):
                ctx.warn(code, message, line=page.line_of(key), hint=hint)
            problems.extend(ctx.problems)
            if event.draft:
                drafts.append(event.source)
                problems.append(
                    Problem(
                        display,
                        page.line_of("draft"),
                        Severity.INFO,
                        "draft",
                        "draft page skipped",
                        "remove 'draft: true' to publish it",
                    )
                )
                continue
            if event.uid in events:
                other = events[event.uid].source
                problems.append(
                    Problem(
                        display,
                        page.line_of("uid"),
                        Severity.ERROR,
                        "duplicate-uid",
                        f"uid {event.uid!r} is already used by {other}",
                        "give each page its own uid (or remove the uid key)",
                    )
                )
                failed.append(str(rel))
                continue
            events[event.uid] = event
    ordered = tuple(sorted(events.values(), key=lambda e: (e.start, e.uid)))
    problems.sort(key=lambda p: (p.path, p.line, p.code))
    return LoadResult(site, ordered, tuple(problems), pages, tuple(drafts), tuple(failed))


def _load_page(ctx: PageContext, settings: Settings) -> Event:
    meta = ctx.page.meta
    name = forced_schema(meta)
    if name is not None:
        if name not in SCHEMAS:
            raise ctx.error(
                "unknown-schema",
                f"livepipe.schema {name!r} is not one of {', '.join(SCHEMAS)}",
                line=ctx.page.line_of("livepipe", "schema"),
            )
        schema = SCHEMAS[name]
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


def _relative(path: Path, root: Path) -> PurePosixPath:
    try:
        return PurePosixPath(path.resolve().relative_to(root).as_posix())
    except ValueError:
        return PurePosixPath(path.name)


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def load_path(path: Path, *, config: Path | None = None) -> LoadResult:
    return load(Site.locate(path, config=config))
