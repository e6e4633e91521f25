"""Each event's rendered files, reused by the next build: ``renders-<site>-<out>.pickle``.

A warm build (a sync after a merge, a rebuild in `livepipe serve`, CI) used to render every
event again to find that almost none of the files changed: nine tenths of a 10k-page build.
Now an event is rendered again only when something its files are made of changed. What was
made last time is known by two things:

- the **scope**, shared by the whole build: this cache's format, livepipe's own files (every
  module, template and catalogue, by size and mtime), Python's and the rendering libraries'
  versions, the time-zone database, the site's templates and catalogues, the settings, and the
  renderers asked for. Any change there and nothing is reused;
- each event's **key**: its whole value (``repr``: every field), its file stem, its revision,
  publication and change times, its SEQUENCE, and for a recurring event the build's "now"
  (its next dates follow the clock).

An entry is reused only when its key is equal *and* each of its files is in the output folder
as the folder's last manifest lists it, untouched since (the writer's own test, ``reuse``): a
file deleted or edited by hand, or another build into the same folder, means the event is
rendered again. The cache keeps what the files are (path, media type, SHA-256, size) and the
event's fragment for the aggregate files, never the files themselves.

Like the page cache it lives outside the site (``fast.pagecache.cache_dir``), one file per site
and output folder, is read by the same restricted unpickler (plain tuples, bytes and strings
only), and ``LIVEPIPE_CACHE=0`` turns it off. A damaged file is ignored and rewritten.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys
import zoneinfo
from collections.abc import Iterable, Mapping
from pathlib import Path

from .pagecache import cache_dir, safe_loads

FORMAT = 2  # bump when what is pickled changes shape (2: in shards)

# What one event left: per renderer, its files (path, media type, sha256, size) and fragment.
FileFacts = tuple[str, str, str, int]
Entry = tuple[bytes, tuple[tuple[tuple[FileFacts, ...], bytes | None], ...]]


def _tree(folder: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime ns) of every file under ``folder`` (no byte-code caches)."""
    found: list[tuple[str, int, int]] = []
    stack = [str(folder)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__":
                    stack.append(entry.path)
            else:
                try:
                    st = entry.stat()
                except OSError:
                    continue
                found.append((os.path.relpath(entry.path, folder), st.st_size, st.st_mtime_ns))
    return sorted(found)


def _tz_database() -> list[object]:
    """What the VTIMEZONEs are made from: the system's zone files or the tzdata package."""
    facts: list[object] = []
    for folder in zoneinfo.TZPATH:
        try:
            st = os.stat(os.path.join(folder, "tzdata.zi"))
            facts.append((folder, st.st_size, st.st_mtime_ns))
        except OSError:
            facts.append((folder, None))
    tzdata = sys.modules.get("tzdata")
    facts.append(getattr(tzdata, "IANA_VERSION", None))
    return facts


# The packages renderings are made with: (distribution, module).
RENDERING_PACKAGES = (
    ("jinja2", "jinja2"),
    ("markdown-it-py", "markdown_it"),
    ("icalendar", "icalendar"),
    ("markupsafe", "markupsafe"),
)


@functools.cache
def _version(package: tuple[str, str]) -> str:
    """The installed version, read from its distribution's metadata: importing the packages
    to ask them cost a warm build with nothing to render 70 ms. Read once per process: a
    long-running `up` or `serve` renders with the code it loaded, so a package upgraded on
    disk meanwhile must not relabel its renderings (the next process reads the new one)."""
    import importlib.metadata

    distribution, module = package
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:  # not installed as a distribution
        return str(getattr(importlib.import_module(module), "__version__", None))


def code_folder() -> Path:
    """livepipe's own files (modules, and in a wheel its templates and catalogues)."""
    return Path(__file__).resolve().parents[1]


def scope(settings_json: str, names: Iterable[str], folders: Iterable[Path | None]) -> str:
    """The fingerprint of everything a whole build's renderings share (see the docstring).
    ``folders``: the built-in templates and the site's templates and catalogues."""
    from ..version import __version__

    facts: list[object] = [
        FORMAT,
        __version__,
        sys.version,
        *map(_version, RENDERING_PACKAGES),
        _tz_database(),
        settings_json,
        tuple(names),
        _tree(code_folder()),
    ]
    for folder in folders:
        facts.append((str(folder), _tree(folder) if folder is not None else None))
    return hashlib.sha256(repr(facts).encode("utf-8")).hexdigest()


def cache_file(site_root: Path, out: Path) -> Path:
    """Where the renderings of a site's builds into ``out`` are kept."""
    where = f"{os.path.realpath(site_root)}\0{os.path.realpath(out)}"
    name = hashlib.sha256(where.encode("utf-8")).hexdigest()[:24]
    return cache_dir() / f"renders-{name}.pickle"


class RenderCache:
    """The renderings one output folder got from the last build of a site. Kept in shards
    of ``SHARD`` entries, each pickled on its own: a build that made a few events again
    pickles the shards that hold them, and the others are written as the bytes they were
    read as (pickling all 10k entries again took a warm build 0.1 s)."""

    SHARD = 256

    def __init__(self, site_root: Path, out: Path, scope: str) -> None:
        self.path = cache_file(site_root, out)
        self.scope = scope
        # each shard: its ids, and the pickle of their entries in that order
        self.shards: list[tuple[tuple[str, ...], bytes]] = []
        self.entries: dict[str, Entry] = self._read()

    def _read(self) -> dict[str, Entry]:
        entries: dict[str, Entry] = {}
        try:
            stored_scope, shards = safe_loads(self.path.read_bytes())
            if stored_scope != self.scope:
                return {}
            for ids, blob in shards:
                entries.update(zip(ids, safe_loads(blob), strict=True))
        except Exception:  # none yet, or damaged, truncated, written by another version
            return {}
        self.shards = list(shards)
        return entries

    def get(self, uid: str, key: bytes) -> Entry | None:
        entry = self.entries.get(uid)
        return entry if entry is not None and entry[0] == key else None

    def save(self, entries: Mapping[str, Entry]) -> None:
        """Keep ``entries`` (every event and keyed part of the build that just finished),
        atomically. A shard whose every entry is still there, the very one read, is kept
        as its bytes; the rest are pickled anew."""
        old = self.entries
        kept: list[tuple[tuple[str, ...], bytes]] = []
        placed: set[str] = set()
        for ids, blob in self.shards:
            if all(entries.get(i) is old[i] for i in ids):
                kept.append((ids, blob))
                placed.update(ids)
        loose = [i for i in entries if i not in placed]
        for start in range(0, len(loose), self.SHARD):
            ids = tuple(loose[start : start + self.SHARD])
            blob = pickle.dumps([entries[i] for i in ids], protocol=pickle.HIGHEST_PROTOCOL)
            kept.append((ids, blob))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with tmp.open("wb") as fh:
                pickle.dump((self.scope, kept), fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only cache folder: the next build renders everything, that is all
        self.shards = kept
        self.entries = dict(entries)
