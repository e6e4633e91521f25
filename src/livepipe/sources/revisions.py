"""When each page was first published and last revised: its first and last git commit
times, else the file's mtime.

This is what DTSTAMP, LAST-MODIFIED and feed dates use, so output never depends on the clock.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, TypeVar

P = TypeVar("P", str, Path)


class PageTimes(NamedTuple):
    first: datetime  # first published: the commit that added the page (UTC)
    last: datetime  # last revised: its newest commit, or the mtime of an uncommitted edit


def revision_times(
    root: Path, paths: Iterable[P], *, mtimes: Mapping[str, int] | None = None
) -> dict[P, datetime]:
    """Path → last revision (UTC, whole seconds)."""
    return {path: times.last for path, times in page_times(root, paths, mtimes=mtimes).items()}


def page_times(
    root: Path, paths: Iterable[P], *, mtimes: Mapping[str, int] | None = None
) -> dict[P, PageTimes]:
    """Path → first and last revision (UTC, whole seconds), from one ``git log``. Files
    changed since the last commit, or not in git at all, use their mtime (from ``mtimes``,
    file name → seconds, when known) as the last revision, and as the first if never
    committed."""
    top = _toplevel(root)
    committed = _git_times(root, top) if top is not None else {}
    dirty = _git_dirty(root, top) if committed and top is not None else set()
    known = mtimes or {}
    out: dict[P, PageTimes] = {}
    for path in paths:
        first = last = None
        name = text = str(path)
        if committed:
            # Pages are found under the resolved content root: their names are real paths
            # already (resolving 10k of them took a second); resolve only what is not found.
            if name not in committed and name not in dirty:
                name = os.path.realpath(name)
            first, last = committed.get(name, (None, None))
            if name in dirty:
                last = None
        if last is None:
            last = known.get(text)
        if last is None:
            try:
                last = int(os.stat(path).st_mtime)
            except OSError:
                continue
        stamp = datetime.fromtimestamp(last, UTC)
        out[path] = PageTimes(stamp if first is None else datetime.fromtimestamp(first, UTC), stamp)
    return out


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            # core.quotePath=false: names with CJK characters as they are, not octal-quoted
            ["git", "-C", str(root), "-c", "core.quotePath=false", *args],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    return proc.stdout if proc.returncode == 0 else None


def _toplevel(root: Path) -> Path | None:
    out = _git(root, "rev-parse", "--show-toplevel")
    return Path(out.strip()).resolve() if out else None


def _git_times(root: Path, top: Path) -> dict[str, tuple[int, int]]:
    """Real path of every file in the history under ``root`` → its oldest and newest commit
    times (commit times, not author times: the time the change reached the branch)."""
    out = _git(root, "log", "--format=%x00%ct", "--name-only", "--no-renames", "--", ".")
    times: dict[str, tuple[int, int]] = {}
    stamp = 0
    for line in (out or "").splitlines():
        if line.startswith("\x00"):
            stamp = int(line[1:])
        elif line:
            name = os.path.join(top, line)
            oldest, newest = times.get(name, (stamp, stamp))
            times[name] = (min(oldest, stamp), max(newest, stamp))
    return times


def _git_dirty(root: Path, top: Path) -> set[str]:
    out = _git(root, "status", "--porcelain", "--untracked-files=all", "--", ".")
    if out is None:
        return set()
    return {os.path.join(top, line[3:].strip().strip('"')) for line in out.splitlines() if line}
