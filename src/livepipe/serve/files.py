"""The files of one dist/ folder over HTTP: only what ``dist/manifest.json`` lists (the
manifest is the allow-list: no directory listing, no path that reaches outside dist/), with
the media type the renderer gave them, a strong ETag (the sha256 of the bytes) and
Last-Modified, so calendar apps that poll every few minutes mostly get a 304; text is gzipped
once per file version and kept in a bounded cache keyed by the file's stat."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from ..writer import MANIFEST
from .http import Reply, Request

COMPRESSIBLE = ("text/", "application/rss+xml", "application/atom+xml", "application/feed+json")
COMPRESS_MIN = 1024
CACHE_BYTES = 256 << 20
# HTML artifacts (WeChat articles, newsletters) are content, never code: no script runs.
ARTIFACT_CSP = "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'"


@dataclass
class File:
    stat: tuple[int, int]  # (mtime_ns, size): the cache key
    data: bytes
    etag: str
    last_modified: datetime
    media_type: str
    gz: bytes | None = None
    http_date: str = field(init=False, default="")  # last_modified as a header gives it
    # the answers made of it, by (gzip, not modified): written again at each poll
    replies: dict[tuple[bool, bool], Reply] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.http_date = format_datetime(self.last_modified, usegmt=True)

    @property
    def size(self) -> int:
        """Bytes held in memory (both variants)."""
        return len(self.data) + len(self.gz or b"")


class DistFiles:
    """The artifacts of one dist/ folder, looked up by URL path."""

    def __init__(self, root: Path, cache_bytes: int = CACHE_BYTES) -> None:
        self.root = root
        self._root = str(root)
        self._manifest = os.path.join(self._root, MANIFEST)
        self._lock = threading.Lock()
        self._manifest_stat: tuple[int, int] | None = None
        self._types: dict[str, str] = {}
        self._cache: OrderedDict[str, File] = OrderedDict()
        self._cached = 0
        self._limit = cache_bytes

    def listing(self) -> dict[str, str]:
        """Path → media type of every artifact, re-read whenever manifest.json changes."""
        try:
            st = os.stat(self._manifest)
        except FileNotFoundError:
            return {}
        key = (st.st_mtime_ns, st.st_size)
        if key != self._manifest_stat:
            try:
                data = json.loads(Path(self._manifest).read_bytes())
                types = {str(a["path"]): str(a["media_type"]) for a in data["artifacts"]}
            except (OSError, ValueError, KeyError, TypeError):
                return self._types  # half-written or damaged: keep the last good one
            with self._lock:
                self._types, self._manifest_stat = types, key
        return self._types

    def get(self, path: str) -> File | None:
        media_type = self.listing().get(path)
        if media_type is None:
            return None
        target = os.path.join(self._root, path)
        try:
            st = os.stat(target)
        except (FileNotFoundError, NotADirectoryError):
            return None
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._cache.get(path)
            if hit is not None and hit.stat == key:
                self._cache.move_to_end(path)
                return hit
        try:
            data = Path(target).read_bytes()
        except OSError:
            return None
        entry = File(
            key,
            data,
            f'"{hashlib.sha256(data).hexdigest()[:32]}"',
            datetime.fromtimestamp(st.st_mtime, UTC).replace(microsecond=0),
            media_type,
        )
        if media_type.startswith(COMPRESSIBLE) and len(data) >= COMPRESS_MIN:
            entry.gz = gzip.compress(data, compresslevel=6, mtime=0)
        self._store(path, entry)
        return entry

    def _store(self, path: str, entry: File) -> None:
        if entry.size > self._limit:
            return
        with self._lock:
            old = self._cache.pop(path, None)
            if old is not None:
                self._cached -= old.size
            self._cache[path] = entry
            self._cached += entry.size
            while self._cached > self._limit:
                _, gone = self._cache.popitem(last=False)
                self._cached -= gone.size


_REFUSED = re.compile(r"[\x00-\x1f\\\x7f]|(?:^|/)\.{0,2}(?:/|$)")


def url_path(raw: str) -> str | None:
    """The artifact path a request path names, or None when it cannot be one (``..``,
    backslashes, control characters, empty segments: refused before any lookup)."""
    rel = raw.removeprefix("/")
    if _REFUSED.search(rel):
        return None
    return rel


def accepts_gzip(header: str) -> bool:
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip().removeprefix("q=")
            try:
                return not params or float(q) > 0
            except ValueError:
                return False
    return False


def _plain_tag(tag: str) -> str:
    """``W/"abc-gz"`` → ``"abc"``: the ETag of the uncompressed representation."""
    tag = tag.strip().removeprefix("W/")
    return tag.removesuffix('-gz"') + '"' if tag.endswith('-gz"') else tag


def _not_modified(request: Request, f: File) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:  # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
        if inm.strip() == "*":
            return True
        # Weak comparison; either representation (plain or gzip) names the same bytes.
        return f.etag in {_plain_tag(t) for t in inm.split(",")}
    ims = request.headers.get("if-modified-since")
    if ims is None:
        return False
    try:
        since = parsedate_to_datetime(ims)
    except (TypeError, ValueError, IndexError):
        return False  # an unparseable date is ignored, as the RFC says
    if since.tzinfo is None:
        return False
    return f.last_modified <= since


def file_response(request: Request, f: File, extra: dict[str, str] | None = None) -> Reply:
    """``f`` as the answer to ``request``: 304 when the client has it, gzip when it takes it.
    A file's answers are kept with it when ``extra`` is None (an artifact)."""
    use_gz = f.gz is not None and accepts_gzip(request.headers.get("accept-encoding", ""))
    unchanged = _not_modified(request, f)
    if extra is None:
        reply = f.replies.get((use_gz, unchanged))
        if reply is None:
            reply = f.replies[use_gz, unchanged] = _file_reply(f, use_gz, unchanged, {})
        return reply
    return _file_reply(f, use_gz, unchanged, extra)


def _file_reply(f: File, use_gz: bool, unchanged: bool, extra: dict[str, str]) -> Reply:
    headers = {
        "ETag": f.etag[:-1] + '-gz"' if use_gz else f.etag,
        "Last-Modified": f.http_date,
        "Cache-Control": "public, no-cache",  # always revalidate: a 304 costs nothing
        "X-Content-Type-Options": "nosniff",
        "Accept-Ranges": "none",
    }
    if f.gz is not None:
        headers["Vary"] = "Accept-Encoding"
    if f.media_type.startswith("text/html"):
        headers["Content-Security-Policy"] = ARTIFACT_CSP
    headers.update(extra)
    if unchanged:
        return Reply(304, headers)
    body = f.gz if use_gz and f.gz is not None else f.data
    headers["Content-Type"] = f.media_type
    if use_gz:
        headers["Content-Encoding"] = "gzip"
    return Reply(200, headers, body)


def made(data: bytes, media_type: str, last_modified: datetime) -> File:
    """A file made in memory (the index page), with its ETag and gzip like the others."""
    entry = File(
        (0, len(data)),
        data,
        f'"{hashlib.sha256(data).hexdigest()[:32]}"',
        last_modified.astimezone(UTC).replace(microsecond=0),
        media_type,
    )
    if len(data) >= COMPRESS_MIN:
        entry.gz = gzip.compress(data, compresslevel=6, mtime=0)
    return entry
