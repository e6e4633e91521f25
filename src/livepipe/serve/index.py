"""The subscription page, ``/``: the upcoming events in the viewer's language (``?lang=``,
else Accept-Language, else the site's), subscribe buttons for every calendar, the feeds, the
recent replays. Made once per build, language and minute (``IndexPages``) and served like
the files: ETag, gzip, 304."""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .. import recurrence
from ..i18n import FALLBACK, phrases
from ..models import Event
from ..render import links, timefmt
from ..render.context import in_language, place, tag_file
from ..render.templating import Templates
from .files import File, made
from .http import Request
from .rebuild import Snapshot

INDEX_CSP = (
    "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'"
)
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
    asked = request.query.get("lang")
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
        server = request.server
        host = f"[{server[0]}]:{server[1]}" if ":" in server[0] else f"{server[0]}:{server[1]}"
    return f"{request.scheme}://{host}"


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
            "google": links.google(series[e.uid]),  # a recurring one: the whole series
            "repeats": timefmt.repeats(series[e.uid], phrases(own(e), root)),
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


class IndexPages:
    """The index page of each (build, language, address, minute), kept for the build: a
    reload or a poll gets the same bytes (and a 304) instead of a render."""

    def __init__(self, keep: int = 64) -> None:
        self._pages: dict[tuple[object, ...], tuple[File, str]] = {}
        self._keep = keep
        self._lock = threading.Lock()

    def get(
        self,
        snap: Snapshot,
        files: dict[str, str],
        request: Request,
        now: datetime,
        public_url: str | None,
    ) -> tuple[File, str]:
        key = (
            id(snap),
            snap.built_at,
            request.query.get("lang"),
            request.headers.get("accept-language", ""),
            _origin(request, public_url),
            now.replace(second=0, microsecond=0),
            len(files),
        )
        with self._lock:
            hit = self._pages.get(key)
        if hit is not None:
            return hit
        html, lang = index_page(snap, files, request, now, public_url)
        page = made(html.encode("utf-8"), "text/html; charset=utf-8", snap.built_at), lang
        with self._lock:
            if len(self._pages) >= self._keep:
                self._pages.clear()
            self._pages[key] = page
        return page
