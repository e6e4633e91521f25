"""Files a site names (images in articles, a cover font, a recipients list, paths in
livepipe.toml): resolved strictly inside the site folder, regular files only, read with a
size cap. A name that leaves the folder (``..``, a symlink out, an absolute path elsewhere)
is not a site file, whatever the folders are called."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def within(root: Path, candidate: Path) -> Path | None:
    """``candidate`` resolved (symlinks followed), if it exists and is ``root`` or below it."""
    try:
        real_root = root.resolve(strict=True)
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if real != real_root and real_root not in real.parents:
        return None
    return real


def inside(root: Path, name: str) -> bool:
    """Does ``name`` (relative to ``root``, or absolute) stay inside ``root`` once resolved?
    It need not exist yet (a ledger file to be made): its nearest existing folder is checked,
    and the rest may not climb with ``..``."""
    path = Path(name) if Path(name).is_absolute() else root / name
    missing: list[str] = []
    while not path.exists():
        missing.append(path.name)
        if path.parent == path:
            return False
        path = path.parent
    if ".." in missing:
        return False
    return within(root, path) is not None


def site_file(root: Path, ref: str) -> Path | None:
    """The regular file ``ref`` names inside the site, or None. ``ref`` is relative to the
    site root; a site-absolute ``/images/x.png`` is also looked up under ``static/`` (where
    Hugo keeps what it serves at ``/``)."""
    text = ref.strip()
    if not text or "\x00" in text:
        return None
    rel = text.lstrip("/")
    candidates = [root / rel]
    if text.startswith("/"):
        candidates.append(root / "static" / rel)
    for candidate in candidates:
        real = within(root, candidate)
        if real is not None and real.is_file():
            return real
    return None


def read_capped(path: Path, cap: int) -> bytes | None:
    """The file's bytes, or None when it holds more than ``cap``; OSError when it cannot be
    read, ValueError when it is not a regular file (never blocks on a FIFO or a device)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{path.name} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(cap + 1)
    finally:
        os.close(fd)
    return None if len(data) > cap else data
