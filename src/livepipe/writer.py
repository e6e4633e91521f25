"""Write artifacts into dist/: atomically, never outside it, only when the bytes change.

``manifest.json`` lists every artifact (path, media type, sha256, size); files a previous
manifest listed that are no longer produced are removed, nothing else is touched.
"""

from __future__ import annotations

import hashlib
import json
import os
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


def safe_join(root: Path, rel: str, *, _seen: dict[Path, bool] | None = None) -> Path:
    """``root/rel``, refusing absolute paths, ``..`` and anything that resolves outside root
    (a symlinked folder inside it included). ``_seen`` caches checked folders for a build."""
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\\" in rel or rel == ".":
        raise RenderError(f"refusing to write outside the output folder: {rel!r}")
    target = root / pure
    parent = target.parent
    inside = None if _seen is None else _seen.get(parent)
    if inside is None:
        real_root = root.resolve()
        real = parent.resolve()
        inside = real == real_root or real.is_relative_to(real_root)
        if inside and target.is_symlink():
            inside = target.resolve().is_relative_to(real_root)
        if _seen is not None:
            _seen[parent] = inside
    if not inside:
        raise RenderError(f"refusing to write outside the output folder: {rel!r}")
    return target


def write_file(path: Path, data: bytes, *, made: set[Path] | None = None) -> bool:
    """Atomically replace ``path`` with ``data``; False (and no write) when already equal."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    parent = path.parent
    if made is None or parent not in made:
        parent.mkdir(parents=True, exist_ok=True)
        if made is not None:
            made.add(parent)
    tmp = parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def write_all(root: Path, artifacts: Iterable[Artifact]) -> WriteReport:
    root.mkdir(parents=True, exist_ok=True)
    report = WriteReport()
    entries: dict[str, dict[str, object]] = {}
    seen: dict[Path, bool] = {}
    made: set[Path] = set()
    for art in artifacts:
        if art.path in entries or art.path == MANIFEST:
            raise RenderError(f"two artifacts would be written to {art.path}")
        target = safe_join(root, art.path, _seen=seen)
        written = write_file(target, art.data, made=made)
        (report.written if written else report.unchanged).append(art.path)
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
