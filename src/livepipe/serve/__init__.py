"""`livepipe serve`: dist/ over HTTP for calendar apps and feed readers, and a subscription
page. ``files``: the artifacts (the manifest is the allow-list; ETag, gzip, 304);
``rebuild``: following the site and rebuilding dist/; ``index``: the subscription page;
here, the routes."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .files import DistFiles, accepts_gzip, file_response, made, url_path
from .index import INDEX_CSP, INDEX_JS, IndexPages, index_page, language_name, negotiate
from .rebuild import Rebuilder, Snapshot


def create_app(
    out: Path,
    rebuilder: Rebuilder | None = None,
    *,
    interval: float = 1.0,
    public_url: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Starlette:
    files = DistFiles(out)
    pages = IndexPages()

    async def index(request: Request) -> Response:
        snap = rebuilder.snapshot if rebuilder else None
        if snap is None:
            return Response("dist/ is not built yet\n", 503, media_type="text/plain")
        page, lang = pages.get(snap, files.listing(), request, clock(), public_url)
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

    script_file = made(INDEX_JS.encode("utf-8"), "text/javascript; charset=utf-8", clock())

    async def script(request: Request) -> Response:
        return file_response(request, script_file, {"Cache-Control": "public, max-age=3600"})

    robots_file = made(ROBOTS, "text/plain; charset=utf-8", clock())

    async def robots(request: Request) -> Response:
        """Crawlers may read the page, the calendars and the feeds (a built robots.txt, if
        the site has one, wins)."""
        found = files.get("robots.txt")
        return file_response(
            request, found or robots_file, {"Cache-Control": "public, max-age=86400"}
        )

    async def healthz(request: Request) -> Response:
        listing = files.listing()
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
        return JSONResponse(body, status_code=200 if listing else 503)

    async def artifact(request: Request) -> Response:
        path = url_path(request.url.path)
        if path is None:
            return Response("bad path\n", 400, media_type="text/plain")
        found = files.get(path)
        if found is None:
            return Response("not found\n", 404, media_type="text/plain")
        return file_response(request, found)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = threading.Event()
        watcher = None
        if rebuilder is not None and interval > 0:
            watcher = threading.Thread(
                target=rebuilder.follow, args=(stop, interval), name="livepipe-rebuild", daemon=True
            )
            watcher.start()
        try:
            yield
        finally:
            stop.set()
            if watcher is not None:
                watcher.join(timeout=30)

    methods = ["GET", "HEAD"]
    return Starlette(
        routes=[
            Route("/", index, methods=methods),
            Route("/_livepipe/index.js", script, methods=methods),
            Route("/robots.txt", robots, methods=methods),
            Route("/healthz", healthz, methods=methods),
            Route("/{path:path}", artifact, methods=methods),
        ],
        lifespan=lifespan,
    )


ROBOTS = b"User-agent: *\nAllow: /\nDisallow: /healthz\nDisallow: /metrics\n"

__all__ = [
    "DistFiles",
    "IndexPages",
    "Rebuilder",
    "Snapshot",
    "accepts_gzip",
    "create_app",
    "index_page",
    "language_name",
    "negotiate",
    "url_path",
]
