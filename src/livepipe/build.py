"""`livepipe build`: phase two after loading. Render every artifact, then write dist/."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .render import RENDERERS, Artifact, BuildContext, Templates
from .site import LoadResult
from .sources.revisions import revision_times
from .writer import WriteReport, write_all

Progress = Callable[[str, int], None]  # (renderer name, artifacts so far)


@dataclass(frozen=True)
class BuildResult:
    load: LoadResult
    out: Path
    artifacts: tuple[Artifact, ...]
    report: WriteReport

    def count(self, renderer_prefix: str) -> int:
        return sum(a.path.startswith(renderer_prefix) for a in self.artifacts)


def context(result: LoadResult, *, sequence: Mapping[str, int] | None = None) -> BuildContext:
    """The BuildContext for a loaded site: revision times from git/mtime, site templates."""
    site = result.site
    paths = {e.uid: site.content_root / e.source for e in result.events}
    times = revision_times(site.content_root, paths.values())
    revised = {uid: times[p.resolve()] for uid, p in paths.items() if p.resolve() in times}
    root = site.settings.root
    return BuildContext(
        settings=site.settings,
        events=result.events,
        revised=revised,
        sequence=sequence or {},
        templates=Templates(root / "templates" if root else None),
    )


def render_all(ctx: BuildContext, progress: Progress | None = None) -> list[Artifact]:
    artifacts: list[Artifact] = []
    for name, renderer in RENDERERS.items():
        for art in renderer.render(ctx):
            artifacts.append(art)
            if progress is not None:
                progress(name, len(artifacts))
    return artifacts


def build(
    result: LoadResult,
    out: Path,
    *,
    sequence: Mapping[str, int] | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    ctx = context(result, sequence=sequence)
    artifacts = render_all(ctx, progress)
    report = write_all(out, artifacts)
    return BuildResult(result, out, tuple(artifacts), report)
