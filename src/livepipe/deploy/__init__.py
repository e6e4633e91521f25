"""Publishing dist/ where viewers are: ``[deploy.NAME]`` targets (a folder, a git branch, an
S3-compatible bucket), and reading back what readers get (verify.py).

Every target works the same way: the local build's manifest (dist/manifest.json: path,
media type, sha256 of each file) is compared with the manifest the target kept from the
last deploy (``.livepipe-manifest.json``, hidden: a web root's own ``manifest.json`` is
left alone); the files that differ are written, then the target's manifest, then the files
no longer built are removed. So a deploy with nothing changed writes nothing, a deploy cut
short (a crash, a lost connection) is finished by the next one (its manifest was not yet
replaced), and readers never get a file that is half written (each file is replaced whole).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..config import DeployTarget, Settings
from ..errors import LivepipeError
from ..render.context import Artifact
from ..writer import MANIFEST

TARGET_MANIFEST = ".livepipe-manifest.json"  # what a target holds of the last deploy


class DeployError(LivepipeError):
    """A deploy that could not finish: why, with nothing secret in it."""


@dataclass(frozen=True, slots=True)
class Entry:
    path: str
    media_type: str
    sha256: str
    size: int


@dataclass
class DeployReport:
    target: str
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    note: str = ""

    def line(self) -> str:
        if not self.written and not self.removed:
            return f"deploy {self.target}: nothing changed ({self.unchanged} files)"
        return (
            f"deploy {self.target}: {len(self.written)} written, {len(self.removed)} removed, "
            f"{self.unchanged} unchanged" + (f" ({self.note})" if self.note else "")
        )


class Build:
    """dist/ as its manifest lists it; the bytes of a file read when asked for."""

    def __init__(self, dist: Path) -> None:
        self.dist = dist
        try:
            data = json.loads((dist / MANIFEST).read_bytes())
            self.entries = {
                str(a["path"]): Entry(
                    str(a["path"]), str(a["media_type"]), str(a["sha256"]), int(a["bytes"])
                )
                for a in data["artifacts"]
            }
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise DeployError(
                f"{dist}: no build to deploy ({MANIFEST} is missing or unreadable: "
                f"{type(exc).__name__}); run `livepipe build` or `livepipe sync` first"
            ) from None

    def data(self, path: str) -> bytes:
        return (self.dist / path).read_bytes()

    def artifacts(self) -> list[Artifact]:
        return [Artifact(e.path, e.media_type, self.data(e.path)) for e in self.entries.values()]

    def manifest(self) -> bytes:
        from ..writer import Written, manifest_json

        files = [
            Written(e.path, e.media_type, e.sha256, e.size, False)
            for e in sorted(self.entries.values(), key=lambda e: e.path)
        ]
        return manifest_json(files)


def previous(data: bytes | None) -> dict[str, str]:
    """A target's manifest → path → sha256 ({} when there is none or it does not read)."""
    if not data:
        return {}
    try:
        return {str(a["path"]): str(a["sha256"]) for a in json.loads(data)["artifacts"]}
    except (ValueError, TypeError, KeyError):
        return {}


def changes(build: Build, before: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(the files to write, the files to remove) to make a target holding ``before`` hold
    ``build``."""
    write = sorted(p for p, e in build.entries.items() if before.get(p) != e.sha256)
    remove = sorted(set(before) - set(build.entries))
    return write, remove


Deployer = Callable[[str, DeployTarget, Build, Settings], DeployReport]


def deployer(kind: str) -> Deployer:
    if kind == "directory":
        from .directory import deploy_directory

        return deploy_directory
    if kind == "git":
        from .git import deploy_git

        return deploy_git
    from .s3 import deploy_s3

    return deploy_s3


def deploy(
    settings: Settings, dist: Path, names: list[str] | None = None, *, after_sync: bool = False
) -> list[DeployReport]:
    """Deploy ``dist`` to the named targets (default: all; ``after_sync``: those that
    deploy after each sync). DeployError names the first target that failed."""
    build = Build(dist)
    out = []
    for name, target in settings.deploy.items():
        if names and name not in names:
            continue
        if after_sync and not target.after_sync:
            continue
        out.append(deployer(target.type)(name, target, build, settings))
    return out


__all__ = ["Build", "DeployError", "DeployReport", "changes", "deploy", "previous"]
