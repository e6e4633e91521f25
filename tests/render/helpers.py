"""Build a site in memory with a fixed revision time, so artifacts are checkable byte by byte."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from livepipe.build import context, render_all
from livepipe.render import Artifact, BuildContext
from livepipe.site import LoadResult, Site, load

REVISED = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
PUBLISHED = datetime(2026, 11, 2, 9, 15, tzinfo=UTC)  # every page's first commit


def build_memory(path: Path, *, config: Path | None = None) -> tuple[LoadResult, dict[str, bytes]]:
    result = load(Site.locate(path, config=config))
    ctx = fixed_context(result)
    return result, {a.path: a.data for a in render_all(ctx)}


def fixed_context(result: LoadResult) -> BuildContext:
    ctx = context(result)
    ctx.revised = {e.uid: REVISED for e in result.events}
    ctx.published = {e.uid: PUBLISHED for e in result.events}
    return ctx


def artifacts(result: LoadResult) -> list[Artifact]:
    return render_all(fixed_context(result))
