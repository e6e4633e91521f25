"""A folder target: a web root, or the Hugo site's ``static/`` (its own deploy then serves
calendar.ics). The files are staged inside the folder and renamed into place (each whole),
the target's manifest last; files other than what livepipe deployed are never touched."""

from __future__ import annotations

from pathlib import Path

from ..config import DeployTarget, Settings
from ..errors import RenderError
from ..writer import OutputDir
from . import TARGET_MANIFEST, Build, DeployError, DeployReport


def deploy_directory(
    name: str, target: DeployTarget, build: Build, settings: Settings
) -> DeployReport:
    assert target.path is not None
    folder = Path(target.path).expanduser()
    if not folder.is_absolute():
        folder = (settings.root or Path.cwd()) / folder
    if folder.resolve() == build.dist.resolve() or build.dist.resolve() in folder.resolve().parents:
        raise DeployError(f"deploy {name}: the folder {folder} is inside the build itself")
    return write_tree(name, folder, build)


def write_tree(name: str, folder: Path, build: Build) -> DeployReport:
    """``build`` written into ``folder`` (the git target's work tree too): only what
    differs from the folder's manifest of the last deploy."""
    try:
        out = OutputDir(folder, TARGET_MANIFEST)
        report = out.finish([out.put(a) for a in build.artifacts()])
    except (OSError, RenderError) as exc:
        raise DeployError(f"deploy {name}: cannot write {folder}: {exc}") from None
    return DeployReport(
        name,
        written=sorted(report.written),
        removed=sorted(report.removed),
        unchanged=len(report.unchanged),
    )
