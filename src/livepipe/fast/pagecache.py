"""Pages read by an earlier run, reused: ``pages-<site>.pickle`` in the user's cache folder.

Reading pages (YAML, normalising, checks) is most of what every command does, and between two
runs (a sync after a merge, a rebuild in `livepipe serve`, a preview) most pages have not
changed. An entry is reused only when the page's size and mtime (ns) are the same and so is
everything the result depends on: the livepipe version, the settings, the content root and
the working folder (problems name pages relative to it). A damaged or foreign cache file is
ignored and rewritten. ``LIVEPIPE_CACHE=0`` turns the cache off.

Nothing from the site tree is ever unpickled. The cache lives outside it, where a pull
request cannot write (``LIVEPIPE_CACHE_DIR``, else ``$XDG_CACHE_HOME/livepipe``, else
``~/.cache/livepipe``; one file per site, named by a hash of the site's resolved path), and
it is read by an unpickler that builds only livepipe's own value types (``_SafeUnpickler``):
a file that names any other class or function is refused as damaged, so even a planted
file runs no code. (Older versions kept ``.livepipe/cache/pages.pickle`` inside the site;
that file is never read.)
"""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import pickle
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Settings

Stamp = tuple[int, int]  # (size, mtime_ns)
Key = tuple[str, Stamp | None]  # (page path, its stamp before it was read; None: unknown)
FORMAT = 8  # bump when what is pickled changes shape (8: Event.fingerprint)


def _zone_getattr(owner: object, name: str) -> object:
    """The one ``getattr`` a pickle of ours needs: ZoneInfo pickles as its ``_unpickle``."""
    if owner is zoneinfo.ZoneInfo and name == "_unpickle":
        return zoneinfo.ZoneInfo._unpickle  # type: ignore[attr-defined]
    raise pickle.UnpicklingError(f"refusing getattr {name!r} in a cache file")


# What a cache file may build besides livepipe's value types: the loader registers its
# page result type (``allow``) so this module imports nothing above models.
_EXTRA: dict[tuple[str, str], object] = {}


def allow(kind: type) -> type:
    """Let cache files hold ``kind`` (a class decorator for the loader's result types)."""
    _EXTRA[kind.__module__, kind.__qualname__] = kind
    _SafeUnpickler._names = None
    return kind


def _allowed() -> dict[tuple[str, str], object]:
    from .. import models

    names: dict[tuple[str, str], object] = {
        ("builtins", "getattr"): _zone_getattr,
        ("zoneinfo", "ZoneInfo"): zoneinfo.ZoneInfo,
        ("livepipe.fast.pagecache", "Shard"): Shard,
        **_EXTRA,
    }
    for name in ("datetime", "date", "time", "timedelta", "timezone"):
        names["datetime", name] = getattr(datetime, name)
    for name in ("Event", "Problem", "Severity", "Status", "Speaker", "QA", "Section"):
        names["livepipe.models", name] = getattr(models, name)
    return names


class _SafeUnpickler(pickle.Unpickler):
    """Builds only the value types a page cache holds; any other global is an error."""

    _names: dict[tuple[str, str], object] | None = None

    def find_class(self, module: str, name: str) -> object:
        if _SafeUnpickler._names is None:
            _SafeUnpickler._names = _allowed()
        found = _SafeUnpickler._names.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"refusing {module}.{name} in a cache file")
        return found


def safe_loads(data: bytes) -> Any:
    return _SafeUnpickler(io.BytesIO(data)).load()


def caches_on() -> bool:
    """``LIVEPIPE_CACHE=0`` (or false, no) turns livepipe's caches off: pages and renderings."""
    return os.environ.get("LIVEPIPE_CACHE", "1") not in ("0", "false", "no")


def cache_dir() -> Path:
    """Where livepipe keeps caches: never inside a site (see the module docstring)."""
    explicit = os.environ.get("LIVEPIPE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "livepipe"


@dataclass(frozen=True, slots=True)
class Shard:
    """Pages read together (by one worker process), pickled once: the worker's bytes are
    what reaches the parent and what the cache file keeps, so saving re-pickles nothing."""

    keys: tuple[Key, ...]
    blob: bytes  # pickle of the list of results, in the order of keys

    @classmethod
    def of(cls, keys: Sequence[Key], results: Sequence[Any]) -> Shard:
        return cls(tuple(keys), pickle.dumps(list(results), protocol=pickle.HIGHEST_PROTOCOL))

    def results(self) -> list[Any]:
        results: list[Any] = safe_loads(self.blob)
        return results


def stamp(path: Path) -> Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class PageCache:
    def __init__(self, settings: Settings, content_root: Path, *, enabled: bool = True) -> None:
        from ..version import __version__

        root = settings.root
        enabled = enabled and caches_on()
        self.path = None
        if root and enabled:
            site = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:24]
            self.path = cache_dir() / f"pages-{site}.pickle"
        scope = f"{FORMAT}\0{__version__}\0{settings.model_dump_json()}\0{content_root}\0"
        self.scope = hashlib.sha256((scope + os.getcwd()).encode()).hexdigest()
        self.shards, self.entries = self._read()

    def _read(self) -> tuple[list[Shard], dict[str, tuple[Stamp | None, Any]]]:
        if self.path is None:
            return [], {}
        entries: dict[str, tuple[Stamp | None, Any]] = {}
        try:
            scope, shards = safe_loads(self.path.read_bytes())
            if scope != self.scope:
                return [], {}
            for shard in shards:
                for (path, key), result in zip(shard.keys, shard.results(), strict=True):
                    entries[path] = (key, result)
        except FileNotFoundError:
            return [], {}
        except Exception:  # damaged, truncated, or written by another version
            return [], {}
        return list(shards), entries

    def get(self, path: Path, key: Stamp | None) -> Any:
        hit = self.entries.get(str(path))
        return hit[1] if key is not None and hit is not None and hit[0] == key else None

    def save(
        self, current: Mapping[str, Stamp], fresh: Sequence[Shard], *, scanned_all: bool
    ) -> None:
        """Keep the pages of ``current`` (path → stamp, every page looked at) in the cache:
        the ``fresh`` shards just read, old shards whose pages are all unchanged (as they
        are, not re-pickled), and the unchanged pages of other old shards re-pickled into
        one. ``scanned_all``: a page missing from ``current`` was deleted (else: not looked
        at this time, and kept). Atomic; skipped when nothing changed."""
        if self.path is None:
            return
        fresh_paths = {path for shard in fresh for path, _ in shard.keys}

        def unchanged(path: str, key: Stamp | None) -> bool:
            if key is None or path in fresh_paths:
                return False
            now = current.get(path)
            return now == key if now is not None or scanned_all else True

        kept: list[Shard] = []
        loose: list[tuple[Key, Any]] = []
        for shard in self.shards:
            keep = [unchanged(path, key) for path, key in shard.keys]
            if all(keep):
                kept.append(shard)
            elif any(keep):
                results = shard.results()
                loose.extend(
                    (k, r) for k, r, ok in zip(shard.keys, results, keep, strict=True) if ok
                )
        if not fresh and len(kept) == len(self.shards):
            return  # nothing read anew, nothing gone
        shards = [*kept, *fresh]
        if loose:
            shards.append(Shard.of([k for k, _ in loose], [r for _, r in loose]))
        self.shards = shards
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with tmp.open("wb") as fh:
                pickle.dump((self.scope, shards), fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only site still works, only slower
