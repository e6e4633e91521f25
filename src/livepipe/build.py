"""`livepipe build`: phase two after loading. Render every artifact, then write dist/."""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from . import i18n, writer
from .config import Settings
from .errors import RenderError
from .fast import parallel, rendercache
from .fast.gc import paused_gc
from .fast.pagecache import caches_on
from .fast.rendercache import RenderCache
from .i18n import SITE_FOLDER
from .identity import source_file
from .models import Event
from .render import RENDERERS, Artifact, BuildContext, Templates
from .render.context import KeyedPart, SitePart
from .render.templating import builtin_dir
from .site import LoadResult
from .sources.revisions import page_times
from .writer import OutputDir, WriteReport, Written

Progress = Callable[[str, int], None]  # (renderer name, artifacts so far)
T = TypeVar("T")


@dataclass(frozen=True)
class BuildResult:
    load: LoadResult
    out: Path
    files: tuple[Written, ...]  # every artifact, as the manifest lists it
    report: WriteReport
    stems: Mapping[str, str]  # uid → file stem, as this build named the files

    def count(self, renderer_prefix: str) -> int:
        """How many files' paths start with ``renderer_prefix`` (a top-level name's start,
        or a folder ending in "/")."""
        return sum(n for head, n in self._heads.items() if head.startswith(renderer_prefix))

    @functools.cached_property
    def _heads(self) -> Counter[str]:
        """Files by their top-level name ("events/" for every file in events/)."""
        return Counter(
            f.path.partition("/")[0] + ("/" if "/" in f.path else "") for f in self.files
        )


def context(
    result: LoadResult,
    *,
    sequence: Mapping[str, int] | None = None,
    tombstones: Sequence[Event] = (),
    changed: Mapping[str, datetime | None] | None = None,
    now: datetime | None = None,
) -> BuildContext:
    """The BuildContext for a loaded site: revision times from git/mtime, site templates."""
    site = result.site
    content = str(site.content_root)
    data = str(site.settings.root or site.content_root)  # data files: from the site folder
    paths = {
        e.uid: os.path.join(content, e.source)
        if (file := source_file(e.source)) == e.source
        else os.path.join(data, file)
        for e in result.events
    }
    times = page_times(site.content_root, paths.values(), mtimes=result.mtimes)
    known = {uid: times[p] for uid, p in paths.items() if p in times}
    root = site.settings.root
    return BuildContext(
        settings=site.settings,
        events=result.events,
        revised={uid: t.last for uid, t in known.items()},
        published={uid: t.first for uid, t in known.items()},
        sequence=sequence or {},
        changed=changed,
        now=now,
        templates=Templates(root / "templates" if root else None),
        tombstones=tuple(t for t in tombstones if t.uid not in paths),
    )


def render_all(
    ctx: BuildContext,
    progress: Progress | None = None,
    only: tuple[str, ...] = (),
    *,
    workers: int | None = None,
) -> list[Artifact]:
    """Every artifact of the site, in memory (preview, tests); ``build`` writes them instead."""
    with i18n.held():
        return list(_render(ctx, _names(only), _keep, progress, workers, None))


def _names(only: tuple[str, ...]) -> tuple[str, ...]:
    unknown = set(only) - RENDERERS.keys()
    if unknown:
        raise RenderError(f"unknown renderer {sorted(unknown)[0]!r}; use {', '.join(RENDERERS)}")
    return tuple(n for n in RENDERERS if not only or n in only)


def _keep(art: Artifact) -> Artifact:
    return art


def _render(
    ctx: BuildContext,
    names: tuple[str, ...],
    sink: Callable[[Artifact], T],
    progress: Progress | None,
    workers: int | None,
    memo: Memo | None,
) -> Iterator[T]:
    """Stage 1: every event through every renderer (in ``workers`` processes for big sites),
    each of its files handed to ``sink`` where it was made; stage 2: each renderer's
    aggregate files from the fragments of stage 1. With a ``memo``, an event or a keyed
    part of stage 2 whose files the build before made from the same inputs is not made
    again, and the memo learns what this build made."""
    fragments: dict[str, dict[str, bytes]] = {n: {} for n in names}
    done = 0
    prepare = functools.cache(functools.partial(_prepare, ctx, names))
    for uid, key, outputs, reused in _render_events(ctx, names, sink, workers, memo, prepare):
        if memo is not None:
            memo.keep(uid, key, outputs, reused)
            ctx.keys[uid] = key
        for name, (files, fragment) in zip(names, outputs, strict=True):
            yield from files
            done += len(files)
            if fragment is not None:
                fragments[name][uid] = fragment
        if progress is not None:
            progress("events", done)
    parts: list[tuple[str, SitePart]] = []
    for name in names:
        renderer = RENDERERS[name]
        split = getattr(renderer, "site_parts", None)  # optional: the site stage in pieces
        if split is not None:
            parts += [(name, part) for part in split(ctx, fragments[name])]
        else:
            parts.append((name, functools.partial(renderer.render_site, ctx, fragments[name])))
    # A keyed part's id and key (made only where there is a cache to look it up in), and
    # what the build before left for it.
    keyed: list[tuple[str, bytes] | None] = [
        (part.id, ctx.part_key(part)) if memo is not None and isinstance(part, KeyedPart) else None
        for _, part in parts
    ]
    kept = [None if memo is None or k is None else memo.reuse(*k, 1) for k in keyed]
    todo = [p for p, k in zip(parts, kept, strict=True) if k is None]
    big = len(todo) > 1 and len(ctx.events) >= PARALLEL_MIN_EVENTS
    if todo:
        prepare()
    staged = _site_stage(todo, sink, workers if big else 1)
    for (name, _), k, before in zip(parts, keyed, kept, strict=True):
        files = next(staged) if before is None else before[0][0]
        if memo is not None and k is not None:
            memo.keep(*k, before or [(files, None)], before is not None)
        yield from files
        done += len(files)
        if progress is not None:
            progress(name, done)


# Below this many events helper processes cost more than they save (fork + pickling).
PARALLEL_MIN_EVENTS = 400
# What a helper sends back per event and renderer: its files (as the sink made them) and
# the fragment for the aggregates.
_Outputs = list[tuple[list[Any], bytes | None]]


def _prepare(ctx: BuildContext, names: tuple[str, ...]) -> None:
    """Each renderer's optional ``prepare``: what every helper would otherwise make again
    (ICS: the VTIMEZONEs). Only when something is to be rendered (a warm build that reuses
    everything made them for nothing)."""
    for name in names:
        prepare = getattr(RENDERERS[name], "prepare", None)
        if prepare is not None:
            prepare(ctx)


def _render_events(
    ctx: BuildContext,
    names: tuple[str, ...],
    sink: Callable[[Artifact], T],
    workers: int | None,
    memo: Memo | None,
    prepare: Callable[[], None],
) -> Iterator[tuple[str, bytes, _Outputs, bool]]:
    """Every event through the renderers, in order. What the render cache still holds is
    taken here first; the rest is rendered in slices shared by this process and forked
    helpers (they inherit the context: nothing is pickled on the way out) when there is
    enough of it. (A warm build reuses nearly everything: forking helpers to look up the
    cache, and pickling 60k file records back, cost more than the lookups.)"""
    events = ctx.events
    kept: dict[int, tuple[str, bytes, _Outputs, bool]] = {}
    if memo is not None and memo.cache.entries:  # (an empty cache: a cold build)
        for i, e in enumerate(events):
            key = ctx.event_key(e)
            outputs = memo.reuse(e.uid, key, len(names))
            if outputs is not None:
                kept[i] = (e.uid, key, outputs, True)
    todo = [i for i in range(len(events)) if i not in kept]
    if todo:
        prepare()
    processes = parallel.processes(workers) if len(todo) >= PARALLEL_MIN_EVENTS else 1
    if processes > 1:  # compiled here once, for the helpers to inherit (each compiled them)
        ctx.templates.compile_ahead(names, sorted({events[i].lang for i in todo}))
    bounds = _slices(len(todo), processes)

    def render_slice(index: int, remote: bool) -> list[tuple[str, bytes, _Outputs, bool]]:
        return [
            _render_event(events[i], ctx, names, sink, memo) for i in todo[slice(*bounds[index])]
        ]

    made = (
        out for batch in parallel.shared_map(render_slice, len(bounds), processes) for out in batch
    )
    for i in range(len(events)):
        yield kept[i] if i in kept else next(made)


def _slices(count: int, processes: int) -> list[tuple[int, int]]:
    """``range(count)`` in slices for ``processes`` to share: each an eighth of a process's
    share of what is left, down to 16, so that they finish together (slices of one size
    left one process idle for up to a slice, 0.2-0.5 s at 10k events); 64 for one process
    (steady progress)."""
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < count:
        size = max(16, (count - start) // (processes * 8)) if processes > 1 else 64
        bounds.append((start, min(start + size, count)))
        start += size
    return bounds


def _render_event(
    e: Event,
    ctx: BuildContext,
    names: tuple[str, ...],
    sink: Callable[[Artifact], Any],
    memo: Memo | None,
) -> tuple[str, bytes, _Outputs, bool]:
    """(uid, key, outputs, False): the event's files made anew"""
    key = ctx.event_key(e) if memo is not None else b""
    outputs = (RENDERERS[n].render_event(e, ctx) for n in names)
    return e.uid, key, [([sink(a) for a in out.artifacts], out.fragment) for out in outputs], False


def _site_stage(
    parts: list[tuple[str, SitePart]], sink: Callable[[Artifact], T], workers: int | None
) -> Iterator[list[T]]:
    """Each part's files through ``sink``, in order; shared with forked helpers for big sites
    (they inherit the fragments of stage 1)."""
    processes = parallel.processes(workers)

    def run(index: int, remote: bool) -> list[T]:
        return [sink(art) for art in parts[index][1]()]

    yield from parallel.shared_map(run, len(parts), processes)


def build(
    result: LoadResult,
    out: Path,
    *,
    sequence: Mapping[str, int] | None = None,
    tombstones: Sequence[Event] = (),
    changed: Mapping[str, datetime | None] | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    only: tuple[str, ...] = (),
) -> BuildResult:
    """Render and write every artifact into ``out``: the files of each event are written by
    the process that renders them, the aggregates by this one, then the manifest."""
    names = _names(only)
    with paused_gc():
        ctx = context(result, sequence=sequence, tombstones=tombstones, changed=changed, now=now)
        dist = OutputDir(out)
        cache = _render_cache(ctx, out, names)
        memo = None if cache is None else Memo(cache, dist)
        try:
            with i18n.held():
                files = tuple(_render(ctx, names, dist.put, progress, None, memo))
        except BaseException:
            dist.abort()  # nothing of this build reaches what clients see
            raise
        report = dist.finish(files)
        if memo is not None:
            memo.save()
    return BuildResult(result, out, files, report, ctx.stems)


def check_ahead(settings: Settings, out: Path) -> bool:
    """Before the pages load: when the last build of this site into ``out`` left renderings
    to reuse, check the files it wrote beside the loading (``writer.check_ahead``; a cold
    build would only take a CPU from the page readers). Whether the check started."""
    root = settings.root
    if root is None or not caches_on() or not rendercache.cache_file(root, out).is_file():
        return False
    return writer.check_ahead(out)


def _render_cache(ctx: BuildContext, out: Path, names: tuple[str, ...]) -> RenderCache | None:
    root = ctx.settings.root
    if root is None or not caches_on():
        return None
    folders = (builtin_dir(), root / "templates", root / SITE_FOLDER)
    scope = rendercache.scope(ctx.settings.model_dump_json(), names, folders)
    return RenderCache(root, out, scope)


class Memo:
    """What a build takes from the render cache and gives back to it."""

    def __init__(self, cache: RenderCache, dist: OutputDir) -> None:
        self.cache = cache
        self.dist = dist
        self.entries: dict[str, rendercache.Entry] = {}  # what this build made or reused
        self.fresh = 0  # how many of them were made anew

    def reuse(self, id: str, key: bytes, count: int) -> _Outputs | None:
        """The ``count`` outputs the build before made for an event's uid or a keyed part's
        id from the same key, when its files are still as that build left them; else None."""
        entry = self.cache.get(id, key)
        if entry is None or len(entry[1]) != count:
            return None
        outputs: _Outputs = []
        for facts, fragment in entry[1]:
            files = self.dist.reuse_all(facts)
            if files is None:
                return None
            outputs.append((files, fragment))
        return outputs

    def keep(self, id: str, key: bytes, outputs: _Outputs, reused: bool) -> None:
        if reused:
            self.entries[id] = self.cache.entries[id]
        else:
            self.entries[id] = _entry(key, outputs)
            self.fresh += 1

    def save(self) -> None:
        """After the build's files are in place: what it made, for the next build."""
        if self.fresh or self.entries.keys() != self.cache.entries.keys():
            self.cache.save(self.entries)


def _entry(key: bytes, outputs: _Outputs) -> rendercache.Entry:
    return key, tuple(
        (tuple((w.path, w.media_type, w.sha256, w.size) for w in files), fragment)
        for files, fragment in outputs
    )
