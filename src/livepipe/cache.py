"""Pages read by an earlier run, reused: ``.livepipe/cache/pages.pickle`` under the site root.

Reading pages (YAML, normalising, checks) is most of what every command does, and between two
runs (a sync after a merge, a rebuild in `livepipe serve`, a preview) most pages have not
changed. An entry is reused only when the page's size and mtime (ns) are the same and so is
everything the result depends on: the livepipe version, the settings, the content root and
the working folder (problems name pages relative to it). A damaged or foreign cache file is
ignored and rewritten. ``LIVEPIPE_CACHE=0`` turns the cache off.

The file is pickled: only livepipe writes it, inside the site's own ``.livepipe/`` folder.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

from .config import Settings

Stamp = tuple[int, int]  # (size, mtime_ns)
FORMAT = 1


def stamp(path: Path) -> Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class PageCache:
    def __init__(self, settings: Settings, content_root: Path, *, enabled: bool = True) -> None:
        from . import __version__  # the package imports this module while it initialises

        root = settings.root
        enabled = enabled and os.environ.get("LIVEPIPE_CACHE", "1") not in ("0", "false", "no")
        self.path = root / ".livepipe" / "cache" / "pages.pickle" if root and enabled else None
        scope = f"{FORMAT}\0{__version__}\0{settings.model_dump_json()}\0{content_root}\0"
        self.scope = hashlib.sha256((scope + os.getcwd()).encode()).hexdigest()
        self.entries: dict[str, tuple[Stamp, Any]] = self._read()

    def _read(self) -> dict[str, tuple[Stamp, Any]]:
        if self.path is None:
            return {}
        try:
            with self.path.open("rb") as fh:
                scope, entries = pickle.load(fh)
        except FileNotFoundError:
            return {}
        except Exception:  # damaged, truncated, or written by another version
            return {}
        return entries if scope == self.scope and isinstance(entries, dict) else {}

    def get(self, path: Path, key: Stamp | None) -> Any:
        hit = self.entries.get(str(path))
        return hit[1] if key is not None and hit is not None and hit[0] == key else None

    def save(self, entries: dict[str, tuple[Stamp, Any]], *, read: int) -> None:
        """Replace the cache with ``entries`` (atomically), unless nothing was ``read`` anew
        and no page went away."""
        if self.path is None or (not read and entries.keys() == self.entries.keys()):
            return
        self.entries = entries
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with tmp.open("wb") as fh:
                pickle.dump((self.scope, entries), fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only site still works, only slower
