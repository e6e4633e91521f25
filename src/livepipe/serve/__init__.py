"""`livepipe serve`: dist/ over HTTP for calendar apps and feed readers, and a subscription
page. ``files``: the artifacts (the manifest is the allow-list; ETag, gzip, 304);
``rebuild``: following the site and rebuilding dist/; ``index``: the subscription page;
here, the routes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from .files import DistFiles, accepts_gzip, file_response, made, url_path
from .http import Reply, Request, text
from .index import INDEX_CSP, INDEX_JS, IndexPages, index_page, language_name, negotiate
from .rebuild import Rebuilder, Snapshot


class ServeApp:
    """The routes of `livepipe serve` (``/``, the script of ``/``, robots.txt, /healthz,
    and every artifact the manifest lists); as a context manager, it follows the site with
    ``rebuilder`` every ``interval`` seconds in a thread while it is open."""

    def __init__(
        self,
        out: Path,
        rebuilder: Rebuilder | None = None,
        *,
        interval: float = 1.0,
        public_url: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.files = DistFiles(out)
        self.pages = IndexPages()
        self.rebuilder = rebuilder
        self.interval = interval
        self.public_url = public_url
        self.clock = clock
        self.script_file = made(INDEX_JS.encode("utf-8"), "text/javascript; charset=utf-8", clock())
        self.robots_file = made(ROBOTS, "text/plain; charset=utf-8", clock())
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def __call__(self, request: Request) -> Reply:
        path = request.path
        if path == "/":
            return self.index(request)
        if path == "/_livepipe/index.js":
            return file_response(
                request, self.script_file, {"Cache-Control": "public, max-age=3600"}
            )
        if path == "/robots.txt":
            # crawlers may read the page, the calendars and the feeds (a built robots.txt,
            # if the site has one, wins)
            built = self.files.get("robots.txt") or self.robots_file
            return file_response(request, built, {"Cache-Control": "public, max-age=86400"})
        if path == "/healthz":
            return self.healthz()
        rel = url_path(path)
        if rel is None:
            return text(400, "bad path\n")
        found = self.files.get(rel)
        if found is None:
            return text(404, "not found\n")
        return file_response(request, found)

    def index(self, request: Request) -> Reply:
        snap = self.rebuilder.snapshot if self.rebuilder else None
        if snap is None:
            return text(503, "dist/ is not built yet\n")
        page, lang = self.pages.get(
            snap, self.files.listing(), request, self.clock(), self.public_url
        )
        return file_response(
            request,
            page,
            {
                "Content-Security-Policy": INDEX_CSP,
                "Content-Language": lang,
                "Vary": "Accept-Language, Accept-Encoding",
                "Cache-Control": "no-cache",
            },
        )

    def healthz(self) -> Reply:
        listing = self.files.listing()
        rebuilder = self.rebuilder
        snap = rebuilder.snapshot if rebuilder else None
        body = {
            "status": ("degraded" if rebuilder and rebuilder.error else "ok")
            if listing
            else "empty",
            "artifacts": len(listing),
            "events": len(snap.events) if snap else None,
            "built_at": snap.built_at.isoformat() if snap else None,
            "builds": rebuilder.builds if rebuilder else 0,
            "error": rebuilder.error if rebuilder else None,
        }
        return Reply(
            200 if listing else 503,
            {"Content-Type": "application/json"},
            json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        )

    # following the site

    def __enter__(self) -> ServeApp:
        if self.rebuilder is not None and self.interval > 0 and self._watcher is None:
            self._stop.clear()
            self._watcher = threading.Thread(
                target=self.rebuilder.follow,
                args=(self._stop, self.interval),
                name="livepipe-rebuild",
                daemon=True,
            )
            self._watcher.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=30)
            self._watcher = None


ROBOTS = b"User-agent: *\nAllow: /\nDisallow: /healthz\nDisallow: /metrics\n"

__all__ = [
    "DistFiles",
    "IndexPages",
    "Rebuilder",
    "ServeApp",
    "Snapshot",
    "accepts_gzip",
    "index_page",
    "language_name",
    "negotiate",
    "url_path",
]
