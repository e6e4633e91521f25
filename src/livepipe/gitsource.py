"""Where the sync flow reads the site from: the local folder, or a git working copy at a
commit; and a cheap fingerprint that tells an unchanged site from a changed one."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from .errors import ConfigError
from .site import Site


def git(cwd: Path, *args: str) -> bytes:
    """``git ARGS`` in ``cwd``: its output as bytes, or a ConfigError with git's message."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip()[:300]
        raise ConfigError(f"git {' '.join(args[:2])} failed: {detail}")
    return proc.stdout


def _git(cwd: Path, *args: str) -> str:
    return git(cwd, *args).decode("utf-8", "replace").strip()


def checkout(site: Site, commit: str | None) -> Path:
    """The site root to read. With ``site.repo`` set: a working copy under
    ``.livepipe/checkout``, fetched and checked out at ``commit`` (default: the branch head)."""
    settings = site.settings
    root = settings.root or site.content_root
    if not settings.site.repo:
        return root
    work = root / ".livepipe" / "checkout"
    if not (work / ".git").is_dir():
        work.parent.mkdir(parents=True, exist_ok=True)
        _git(work.parent, "clone", "--quiet", settings.site.repo, work.name)
    _git(work, "fetch", "--quiet", "origin", settings.site.branch)
    _git(work, "checkout", "--quiet", "--force", commit or f"origin/{settings.site.branch}")
    return work


def fingerprint(site: Site) -> str:
    """Changes whenever a page, the settings or a template changes (sizes and mtimes of the
    files, plus the git HEAD when there is one): about 30 ms for 10k pages."""
    h = hashlib.sha256()
    root = site.settings.root
    folders = [site.content_root]
    if root is not None:
        folders.append(root / "templates")
        config = root / "livepipe.toml"
        if config.is_file():
            st = config.stat()
            h.update(f"toml {st.st_size} {st.st_mtime_ns}\n".encode())
    for folder in folders:
        for dirpath, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                st = os.stat(os.path.join(dirpath, name))
                h.update(f"{dirpath}/{name} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]
