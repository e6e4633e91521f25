"""When each page was last revised: its last git commit time, else the file's mtime.

This is what DTSTAMP, LAST-MODIFIED and feed dates use, so output never depends on the clock.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path


def revision_times(root: Path, paths: Iterable[Path]) -> dict[Path, datetime]:
    """Path → last revision (UTC, whole seconds). Files changed since the last commit, or not
    in git at all, use their mtime."""
    committed = _git_times(root)
    dirty = _git_dirty(root) if committed else set()
    out: dict[Path, datetime] = {}
    for path in paths:
        stamp = None
        if committed:
            real = path.resolve()
            stamp = None if real in dirty else committed.get(real)
        if stamp is None:
            try:
                stamp = int(os.stat(path).st_mtime)
            except OSError:
                continue
        out[path] = datetime.fromtimestamp(stamp, UTC)
    return out


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return proc.stdout if proc.returncode == 0 else None


def _toplevel(root: Path) -> Path | None:
    out = _git(root, "rev-parse", "--show-toplevel")
    return Path(out.strip()).resolve() if out else None


def _git_times(root: Path) -> dict[Path, int]:
    top = _toplevel(root)
    if top is None:
        return {}
    out = _git(root, "log", "--format=%x00%ct", "--name-only", "--no-renames", "--", ".")
    times: dict[Path, int] = {}
    stamp = 0
    for line in (out or "").splitlines():
        if line.startswith("\x00"):
            stamp = int(line[1:])
        elif line:
            times.setdefault((top / line).resolve(), stamp)  # newest commit comes first
    return times


def _git_dirty(root: Path) -> set[Path]:
    top = _toplevel(root)
    out = _git(root, "status", "--porcelain", "--untracked-files=all", "--", ".")
    if top is None or out is None:
        return set()
    return {(top / line[3:].strip().strip('"')).resolve() for line in out.splitlines() if line}
