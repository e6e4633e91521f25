"""`livepipe serve`: dist/ over HTTP for calendar apps and feed readers, and an index page.

Safe by construction: only the files that ``dist/manifest.json`` lists are served (the manifest
is the allow-list, so there is no directory listing and no path that reaches outside dist/),
with the media type the renderer gave them. Every response carries a strong ETag (the sha256 of
its bytes) and Last-Modified, so calendar apps that poll every few minutes mostly get a 304;
text is gzipped once per file version and kept in a bounded cache keyed by the file's stat.

``Rebuilder`` watches the site (page, template and settings fingerprint) and rebuilds dist/
when it changes; the server keeps serving the previous files until the new ones are written.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path, PurePosixPath

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import recurrence
from .build import BuildResult
from .config import Settings
from .errors import ConfigError, RenderError
from .gitsource import fingerprint
from .i18n import FALLBACK, phrases
from .models import Event
from .pipeline import build_site, existing_ledger
from .render import links, timefmt
from .render.context import in_language, place, tag_file
from .render.templating import Templates
from .site import Site, load
from .writer import MANIFEST

COMPRESSIBLE = ("text/", "application/rss+xml", "application/atom+xml", "application/feed+json")
COMPRESS_MIN = 1024
CACHE_BYTES = 256 << 20
# HTML artifacts (WeChat articles, newsletters) are content, never code: no script runs.
ARTIFACT_CSP = "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'"
INDEX_CSP = (
    "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
    "script-src 'self'; base-uri 'none'; form-action 'none'"
)


@dataclass
class _File:
    stat: tuple[int, int]  # (mtime_ns, size): the cache key
    data: bytes
    etag: str
    last_modified: datetime
    media_type: str
    gz: bytes | None = None

    @property
    def size(self) -> int:
        """Bytes held in memory (both variants)."""
        return len(self.data) + len(self.gz or b"")


class DistFiles:
    """The artifacts of one dist/ folder, looked up by URL path."""

    def __init__(self, root: Path, cache_bytes: int = CACHE_BYTES) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._manifest_stat: tuple[int, int] | None = None
        self._types: dict[str, str] = {}
        self._cache: OrderedDict[str, _File] = OrderedDict()
        self._cached = 0
        self._limit = cache_bytes

    def listing(self) -> dict[str, str]:
        """Path → media type of every artifact, re-read whenever manifest.json changes."""
        try:
            st = (self.root / MANIFEST).stat()
        except FileNotFoundError:
            return {}
        key = (st.st_mtime_ns, st.st_size)
        if key != self._manifest_stat:
            try:
                data = json.loads((self.root / MANIFEST).read_bytes())
                types = {str(a["path"]): str(a["media_type"]) for a in data["artifacts"]}
            except (OSError, ValueError, KeyError, TypeError):
                return self._types  # half-written or damaged: keep the last good one
            with self._lock:
                self._types, self._manifest_stat = types, key
        return self._types

    def get(self, path: str) -> _File | None:
        media_type = self.listing().get(path)
        if media_type is None:
            return None
        target = self.root / path
        try:
            st = target.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._cache.get(path)
            if hit is not None and hit.stat == key:
                self._cache.move_to_end(path)
                return hit
        try:
            data = target.read_bytes()
        except OSError:
            return None
        entry = _File(
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

    def _store(self, path: str, entry: _File) -> None:
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


def url_path(raw: str) -> str | None:
    """The artifact path a request path names, or None when it cannot be one (``..``,
    backslashes, control characters, empty segments: refused before any lookup)."""
    rel = raw.removeprefix("/")
    if not rel or any(ord(c) < 32 or c in "\\\x7f" for c in rel):
        return None
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    return str(PurePosixPath(*parts))


def _accepts_gzip(header: str) -> bool:
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


def _not_modified(request: Request, f: _File) -> bool:
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


def _file_response(request: Request, f: _File) -> Response:
    use_gz = f.gz is not None and _accepts_gzip(request.headers.get("accept-encoding", ""))
    headers = {
        "ETag": f.etag[:-1] + '-gz"' if use_gz else f.etag,
        "Last-Modified": format_datetime(f.last_modified, usegmt=True),
        "Cache-Control": "public, no-cache",  # always revalidate: a 304 costs nothing
        "X-Content-Type-Options": "nosniff",
        "Accept-Ranges": "none",
    }
    if f.gz is not None:
        headers["Vary"] = "Accept-Encoding"
    if f.media_type.startswith("text/html"):
        headers["Content-Security-Policy"] = ARTIFACT_CSP
    if _not_modified(request, f):
        return Response(status_code=304, headers=headers)
    body = f.gz if use_gz and f.gz is not None else f.data
    if use_gz:
        headers["Content-Encoding"] = "gzip"
    headers["Content-Length"] = str(len(body))
    if request.method == "HEAD":
        return Response(status_code=200, headers=headers, media_type=f.media_type)
    return Response(body, headers=headers, media_type=f.media_type)


# ----------------------------------------------------------------------------------------------
# The site side: what the index page shows, and rebuilding dist/ when the content changes.


@dataclass(frozen=True)
class Snapshot:
    """What the last good build knew: the events, their file stems, and when it was made."""

    settings: Settings
    events: tuple[Event, ...]
    stems: Mapping[str, str]
    built_at: datetime


@dataclass
class Rebuilder:
    """Builds dist/ from a site and rebuilds it when the site's fingerprint changes."""

    path: Path
    out: Path
    config: Path | None = None
    ledger: str | None = None  # None: the configured ledger, when one exists
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    log: Callable[[str], None] = field(default=lambda _message: None)
    snapshot: Snapshot | None = field(default=None, init=False)
    error: str | None = field(default=None, init=False)  # the last failed rebuild, if any
    builds: int = field(default=0, init=False)
    _fingerprint: str | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def check(self) -> bool:
        """Rebuild when anything changed since the last build; True when it rebuilt."""
        with self._lock:
            try:
                site = Site.locate(self.path, config=self.config)
                now = fingerprint(site) + self._found_replays(site.settings)
                if now == self._fingerprint:
                    return False
                built = self._build(site)
            except Exception as exc:  # whatever it was, keep serving and keep watching
                known = isinstance(exc, ConfigError | RenderError | OSError)
                what = str(exc) if known else f"{type(exc).__name__}: {exc}"
                message = f"rebuild failed, still serving the previous files: {what}"
                if message != self.error:
                    self.log(message)
                self.error = message
                return False
            self._fingerprint, self.error = now, None
            self.builds += 1
            self.snapshot = Snapshot(site.settings, built.load.events, built.stems, self.clock())
            self.log(
                f"built {len(built.files)} files from {len(built.load.events)} events "
                f"({len(built.report.written)} written, {built.load.errors} pages with errors)"
            )
            return True

    def _found_replays(self, settings: Settings) -> str:
        """The replay URLs the stream watcher found (a ledger change no page shows): one
        found means a rebuild, so the subscription page and calendars show it."""
        store = existing_ledger(settings, self.ledger)
        if store is None:
            return ""
        try:
            return json.dumps(sorted(store.replays().items()))
        finally:
            store.close()

    def _build(self, site: Site) -> BuildResult:
        return build_site(load(site), self.out, self.clock(), ledger=self.ledger)

    def watch(self, stop: threading.Event, interval: float) -> None:
        """Check every ``interval`` seconds until ``stop``; no error ends the watching (each
        is reported in /healthz until a later rebuild succeeds)."""
        while not stop.wait(interval):
            try:
                self.check()
            except Exception as exc:  # e.g. the log callback itself failed
                self.error = f"watcher: {type(exc).__name__}: {exc}"


# ----------------------------------------------------------------------------------------------
# The index page.

REPLAYS_FOR = timedelta(days=60)  # past events with a replay link stay on the index this long
MAX_REPLAYS = 10
MAX_UPCOMING = 50  # the page stays small at 10k events; the calendars have them all
MAX_TAGS = 40  # the most used tags of the viewer's language
FEEDS = (("RSS", "feed.xml"), ("Atom", "atom.xml"), ("JSON Feed", "feed.json"))
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")

INDEX_JS = """\
// Adds the viewer's own local time next to each event when their zone differs.
(function () {
  var viewer = Intl.DateTimeFormat().resolvedOptions().timeZone;
  document.querySelectorAll("[data-start]").forEach(function (el) {
    if (el.dataset.zone === viewer) return;
    var start = new Date(el.dataset.start), end = new Date(el.dataset.end);
    var lang = document.documentElement.lang;
    // formatRange writes the range as the language does, with the end's date when it falls
    // on another day ("21:30 – 01:30" across midnight would lose it).
    var fmt = new Intl.DateTimeFormat(lang, {weekday: "long", year: "numeric", month: "long",
                                             day: "numeric", hour: "numeric", minute: "2-digit",
                                             timeZoneName: "short"});
    var range = fmt.formatRange ? fmt.formatRange(start, end)
                                : fmt.format(start) + " – " + fmt.format(end);
    var out = el.closest("article").querySelector(".yours");
    out.textContent = el.dataset.label + range;
    out.hidden = false;
  });
})();
"""


def language_name(code: str, root: Path | None) -> str:
    """The language in itself (``中文``), from its catalogue; the code when there is none."""
    words = phrases(code, root)
    return words("meta.name") if words.known else code


def negotiate(request: Request, languages: tuple[str, ...], default: str) -> str:
    """``?lang=`` first, then the best Accept-Language match, then the site default."""
    asked = request.query_params.get("lang")
    if asked in languages:
        return asked
    best: tuple[float, str] | None = None
    for item in request.headers.get("accept-language", "").split(","):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        try:
            q = float(params.strip().removeprefix("q=")) if params else 1.0
        except ValueError:
            continue
        if primary in languages and q > 0 and (best is None or q > best[0]):
            best = (q, primary)
    return best[1] if best else default


def _origin(request: Request, public_url: str | None) -> str:
    """``http(s)://host[:port]`` for links back to this server."""
    if public_url:
        return public_url.rstrip("/")
    host = request.headers.get("host", "")
    if not _HOST.match(host):
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{request.url.scheme}://{host}"


def index_page(
    snap: Snapshot, files: dict[str, str], request: Request, now: datetime, public_url: str | None
) -> tuple[str, str]:
    settings = snap.settings
    langs = tuple(dict.fromkeys((*settings.site.languages, *(e.lang for e in snap.events))))
    default = settings.site.default_language or (langs[0] if langs else "en")
    lang = negotiate(request, langs, default)
    root = settings.root

    def knows(code: str) -> bool:
        return phrases(code, root).known

    ui_lang = lang if knows(lang) else FALLBACK
    ui = phrases(ui_lang, root).table("serve")
    # a recurring event is listed at its occurrence happening now or next
    series = {e.uid: e for e in snap.events}
    upcoming = sorted(
        (
            e
            for e in (recurrence.current(e, now) if e.rrule else e for e in snap.events)
            if e.end > now
        ),
        key=lambda e: (e.start, e.uid),
    )
    mine = in_language(upcoming, lang)
    base = _origin(request, public_url)
    webcal = f"webcal://{base.split('://', 1)[1]}"
    calendars = [(ui["all_events"], "calendar.ics")]
    calendars += [
        (language_name(code, root), f"calendar-{code}.ics")
        for code in langs
        if f"calendar-{code}.ics" in files
    ]
    counts = Counter(
        f"tags/{tag_file(t)}.ics" for e in snap.events if e.lang == lang for t in e.tags
    )
    popular = [p for p, _ in counts.most_common() if p in files][:MAX_TAGS]
    tags = sorted(popular)
    feeds = [(name, p) for name, p in FEEDS if p in files]
    past = [e for e in snap.events if e.end <= now and e.replay_url and e.end > now - REPLAYS_FOR]

    def own(e: Event) -> str:
        """The language an event is shown in: its own (a page without a translation is
        listed in its language), where livepipe has its words."""
        return e.lang if knows(e.lang) else ui_lang

    replays = [
        {
            "title": e.title,
            "lang": e.lang,
            "when": timefmt.when(e, own(e), site_root=root),
            "url": e.url,
            "replay": e.replay_url,
        }
        for e in sorted(in_language(past, lang), key=lambda e: e.start, reverse=True)
    ]
    rows = [
        {
            "title": e.title,
            "lang": e.lang,  # an event without a translation is shown in its own language
            "when": timefmt.when(e, own(e), site_root=root),
            "place": place(e, phrases(own(e), root)),
            "cancelled": e.cancelled,
            "all_day": e.all_day,
            "start": e.start.astimezone(UTC).isoformat(),
            "end": e.end.astimezone(UTC).isoformat(),
            "zone": e.timezone,
            "url": e.url,
            "live_url": e.live_url,
            "ics": f"events/{snap.stems[e.uid]}.ics"
            if f"events/{snap.stems[e.uid]}.ics" in files
            else None,
            "google": links.google(e),
            "outlook": links.outlook(e),
            "tags": e.tags,
            "then": [
                timefmt.when(recurrence.at(e, s), own(e), site_root=root)
                for s in recurrence.upcoming(series[e.uid], e.end, 3)
                if s < now + timedelta(days=366)
            ]
            if e.rrule
            else [],
        }
        for e in mine[:MAX_UPCOMING]
        if e.uid in snap.stems
    ]
    html = TEMPLATES.render(
        "serve",
        "index.html",
        ui_lang,
        page_lang=lang,
        ui=ui,
        site=settings.site,
        events=rows,
        more=max(0, len(mine) - MAX_UPCOMING),
        replays=replays[:MAX_REPLAYS],
        calendars=calendars,
        tags=[(p.removeprefix("tags/").removesuffix(".ics"), p) for p in tags],
        feeds=feeds,
        base=base,
        webcal=webcal,
        languages=[(code, language_name(code, root)) for code in langs],
    )
    return html, lang


TEMPLATES = Templates()


def create_app(
    out: Path,
    rebuilder: Rebuilder | None = None,
    *,
    interval: float = 1.0,
    public_url: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Starlette:
    files = DistFiles(out)

    async def index(request: Request) -> Response:
        snap = rebuilder.snapshot if rebuilder else None
        if snap is None:
            return Response("dist/ is not built yet\n", 503, media_type="text/plain")
        html, lang = index_page(snap, files.listing(), request, clock(), public_url)
        body = html.encode("utf-8")
        headers = {
            "Content-Length": str(len(body)),
            "Content-Security-Policy": INDEX_CSP,
            "X-Content-Type-Options": "nosniff",
            "Content-Language": lang,
            "Vary": "Accept-Language",
            "Cache-Control": "no-cache",
        }
        return Response(
            b"" if request.method == "HEAD" else body,
            headers=headers,
            media_type="text/html; charset=utf-8",
        )

    async def script(request: Request) -> Response:
        return Response(INDEX_JS, media_type="text/javascript; charset=utf-8")

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
        return _file_response(request, found)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = threading.Event()
        watcher = None
        if rebuilder is not None and interval > 0:
            watcher = threading.Thread(
                target=rebuilder.watch, args=(stop, interval), name="livepipe-watch", daemon=True
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
            Route("/healthz", healthz, methods=methods),
            Route("/{path:path}", artifact, methods=methods),
        ],
        lifespan=lifespan,
    )
