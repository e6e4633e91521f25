"""`livepipe build`: phase two after loading. Render every artifact, then write dist/."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import RenderError
from .models import Event
from .render import RENDERERS, Artifact, BuildContext, EventOutput, Templates
from .site import LoadResult
from .sources.revisions import revision_times
from .timeutil import usable_cpus
from .writer import WriteReport, write_all

Progress = Callable[[str, int], None]  # (renderer name, artifacts so far)


@dataclass(frozen=True)
class BuildResult:
    load: LoadResult
    out: Path
    artifacts: tuple[Artifact, ...]
    report: WriteReport
    stems: Mapping[str, str]  # uid → file stem, as this build named the files

    def count(self, renderer_prefix: str) -> int:
        return sum(a.path.startswith(renderer_prefix) for a in self.artifacts)


def context(
    result: LoadResult,
    *,
    sequence: Mapping[str, int] | None = None,
    tombstones: Sequence[Event] = (),
) -> BuildContext:
    """The BuildContext for a loaded site: revision times from git/mtime, site templates."""
    site = result.site
    paths = {e.uid: site.content_root / e.source for e in result.events}
    times = revision_times(site.content_root, paths.values())
    revised = {uid: times[p] for uid, p in paths.items() if p in times}
    root = site.settings.root
    return BuildContext(
        settings=site.settings,
        events=result.events,
        revised=revised,
        sequence=sequence or {},
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
    """Stage 1: every event through every renderer (in ``workers`` processes for big sites);
    stage 2: each renderer's aggregate files from the fragments of stage 1."""
    unknown = set(only) - RENDERERS.keys()
    if unknown:
        raise RenderError(f"unknown renderer {sorted(unknown)[0]!r}; use {', '.join(RENDERERS)}")
    names = tuple(n for n in RENDERERS if not only or n in only)
    artifacts: list[Artifact] = []
    fragments: dict[str, dict[str, bytes]] = {n: {} for n in names}
    for uid, outputs in _render_events(ctx, names, workers):
        for name, output in zip(names, outputs, strict=True):
            artifacts.extend(output.artifacts)
            if output.fragment is not None:
                fragments[name][uid] = output.fragment
        if progress is not None:
            progress("events", len(artifacts))
    for name in names:
        artifacts.extend(RENDERERS[name].render_site(ctx, fragments[name]))
        if progress is not None:
            progress(name, len(artifacts))
    return artifacts


# Below this many events a worker pool costs more than it saves (fork + pickling).
PARALLEL_MIN_EVENTS = 400
_WORKER_CTX: tuple[BuildContext, tuple[str, ...]] | None = None


def _render_events(
    ctx: BuildContext, names: tuple[str, ...], workers: int | None
) -> Iterator[tuple[str, list[EventOutput]]]:
    workers = workers if workers is not None else min(usable_cpus(), 8)
    if workers <= 1 or len(ctx.events) < PARALLEL_MIN_EVENTS or "fork" not in _start_methods():
        for e in ctx.events:
            yield e.uid, [RENDERERS[n].render_event(e, ctx) for n in names]
        return
    global _WORKER_CTX
    _WORKER_CTX = (ctx, names)  # inherited by the forked workers, never pickled
    try:
        chunk = max(16, len(ctx.events) // (workers * 8))
        bounds = [(i, min(i + chunk, len(ctx.events))) for i in range(0, len(ctx.events), chunk)]
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for batch in pool.imap(_render_slice, bounds):
                yield from batch
    finally:
        _WORKER_CTX = None


def _render_slice(bounds: tuple[int, int]) -> list[tuple[str, list[EventOutput]]]:
    assert _WORKER_CTX is not None
    ctx, names = _WORKER_CTX
    return [
        (e.uid, [RENDERERS[n].render_event(e, ctx) for n in names])
        for e in ctx.events[bounds[0] : bounds[1]]
    ]


def _start_methods() -> list[str]:
    return multiprocessing.get_all_start_methods()


def build(
    result: LoadResult,
    out: Path,
    *,
    sequence: Mapping[str, int] | None = None,
    tombstones: Sequence[Event] = (),
    progress: Progress | None = None,
    only: tuple[str, ...] = (),
) -> BuildResult:
    ctx = context(result, sequence=sequence, tombstones=tombstones)
    artifacts = render_all(ctx, progress, only)
    report = write_all(out, artifacts)
    return BuildResult(result, out, tuple(artifacts), report, ctx.stems)
