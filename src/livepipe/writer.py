"""Write artifacts into dist/: atomically, never outside it, only when the bytes change.

``manifest.json`` lists every artifact (path, media type, sha256, size); files a previous
manifest listed that are no longer produced are removed, nothing else is touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import RenderError
from .render.context import Artifact

MANIFEST = "manifest.json"


@dataclass
class WriteReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def safe_join(root: Path, rel: str) -> Path:
    """``root/rel``, refusing absolute paths, ``..`` and anything that resolves outside root."""
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\\" in rel:
        raise RenderError(f"refusing to write outside the output folder: {rel!r}")
    target = (root / pure).resolve()
    if not target.is_relative_to(root.resolve()):
        raise RenderError(f"refusing to write outside the output folder: {rel!r}")
    return target


def write_file(path: Path, data: bytes) -> bool:
    """Atomically replace ``path`` with ``data``; False (and no write) when already equal."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def write_all(root: Path, artifacts: Iterable[Artifact]) -> WriteReport:
    root.mkdir(parents=True, exist_ok=True)
    report = WriteReport()
    entries: dict[str, dict[str, object]] = {}
    for art in artifacts:
        if art.path in entries or art.path == MANIFEST:
            raise RenderError(f"two artifacts would be written to {art.path}")
        target = safe_join(root, art.path)
        (report.written if write_file(target, art.data) else report.unchanged).append(art.path)
        entries[art.path] = {
            "path": art.path,
            "media_type": art.media_type,
            "sha256": hashlib.sha256(art.data).hexdigest(),
            "bytes": len(art.data),
        }
    for old in sorted(_previous(root) - entries.keys()):
        try:
            safe_join(root, old).unlink()
            report.removed.append(old)
        except (FileNotFoundError, RenderError):
            pass
    manifest = {"generator": "livepipe", "artifacts": [entries[k] for k in sorted(entries)]}
    data = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    write_file(root / MANIFEST, data)
    return report


def _previous(root: Path) -> set[str]:
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        return {str(a["path"]) for a in data.get("artifacts", [])}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return set()
