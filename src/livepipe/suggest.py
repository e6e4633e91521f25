"""`livepipe schema suggest PATH`: what a folder of pages holds, and a proposed mapping.

Reads every page below PATH (Jekyll's ``_`` folders and ``.markdown`` included), lists each
front-matter key (dotted for nested mappings) with the shapes of its values and how many
pages have it, then proposes a ``[schemas.NAME]`` table: the key that looks like the start
(named like one, holding times on most pages), the zone, the online flag, the URLs. The
proposal is a starting point that ``livepipe check`` then validates.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath

from .errors import ContentError
from .sitefiles import within
from .sources.files import read_page
from .timeutil import get_zone, human_duration, parse_offset, parse_time_range, parse_time_value

_URL = re.compile(r"^https?://", re.IGNORECASE)
_ONLINE_WORDS = {"online", "virtual", "in person", "in-person", "offline", "hybrid", "remote"}
_SKIP_DIRS = {".git", "node_modules", "_site", "public", "resources", ".github"}
# Name hints per field, best first (a key's last part is compared, lower-cased).
_NAMES: dict[str, tuple[str, ...]] = {  # in the order fields are chosen (specific first)
    "title": ("title", "name", "event_name"),
    "start": (
        "start",
        "starts_at",
        "start_time",
        "start_date",
        "startdate",
        "begin",
        "eventdate",
        "event_date",
        "sortable_date",
        "datetime",
        "when",
        "time",
        "date",
    ),
    "end": ("end", "ends_at", "end_time", "end_date", "enddate", "finish", "until"),
    "time": ("time", "hours", "time_range", "times"),
    "duration": ("duration", "length"),
    "timezone": ("timezone", "tz", "time_zone", "zone"),
    "register_url": ("register_url", "registration", "register", "signup", "rsvp", "tickets"),
    "replay_url": ("replay_url", "replay", "recording", "youtube_url", "video", "youtube"),
    "live_url": ("live_url", "livestream", "stream", "live", "join_url", "join", "meeting"),
    "online": ("online", "virtual", "is_online", "remote", "format", "type"),
    "location": ("location", "venue", "place", "city", "address", "where"),
    "tags": ("tags", "topics", "categories", "keywords"),
    "status": ("status", "state"),
    "uid": ("uid", "id", "event_id"),
    "description": ("description", "summary", "excerpt", "meta_desc", "abstract"),
    "cover": ("cover", "image", "banner", "thumbnail"),
    "repeat": ("repeat", "rrule", "recurrence", "recurrence_rules", "recurring"),
}
_POST_DATES = {"date", "lastmod", "publishdate", "expirydate", "published", "updated"}


@dataclass
class KeyStats:
    path: str
    pages: int = 0
    shapes: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    where: set[int] = field(default_factory=set)  # the pages (by survey order) that have it

    def share(self, shape: str) -> float:
        return self.shapes[shape] / self.pages if self.pages else 0.0


@dataclass
class Survey:
    root: Path
    pages: int
    unreadable: list[str]
    keys: dict[str, KeyStats]
    folders: Counter[str]
    extensions: Counter[str]


def survey(root: Path, *, max_bytes: int = 1 << 20) -> Survey:
    keys: dict[str, KeyStats] = {}
    folders: Counter[str] = Counter()
    extensions: Counter[str] = Counter()
    unreadable: list[str] = []
    pages = 0
    for path in _pages(root):
        rel = PurePosixPath(path.relative_to(root).as_posix())
        try:
            page = read_page(path, rel, str(path), languages=(), max_bytes=max_bytes)
        except ContentError as exc:
            unreadable.append(f"{path}: {exc.message}")
            continue
        if not page.meta:
            continue
        pages += 1
        index = pages
        folders[str(rel.parent) if str(rel.parent) != "." else ""] += 1
        extensions[path.suffix] += 1
        for key, value in _flatten(page.meta):
            stats = keys.setdefault(key, KeyStats(key))
            stats.pages += 1
            stats.where.add(index)
            stats.shapes[shape_of(value)] += 1
            if len(stats.examples) < 2 and value not in (None, "") and shape_of(value) != "map":
                stats.examples.append(str(value)[:40])
    return Survey(root, pages, unreadable, keys, folders, extensions)


def _pages(root: Path) -> Iterator[Path]:
    """The page files below ``root``: regular files that resolve inside it (a symlink out
    of the folder, a FIFO or a device named ``*.md`` is not read and not printed)."""
    if root.is_file():
        yield root
        return
    for folder, dirs, files in os.walk(root):  # does not follow symlinked folders
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith((".md", ".markdown")) and not name.startswith(("_index.", ".")):
                path = Path(folder) / name
                real = within(root, path)
                if real is not None and real.is_file():
                    yield path


def _flatten(meta: Mapping[str, object], prefix: str = "") -> Iterator[tuple[str, object]]:
    for key, value in meta.items():
        path = f"{prefix}{key}"
        yield path, value
        if isinstance(value, Mapping) and prefix.count(".") < 2:
            yield from _flatten(value, path + ".")


def shape_of(value: object) -> str:
    """A value's shape, as the report names it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, datetime):
        return "date-time"
    if isinstance(value, date):
        return "date"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "map"
    if value is None:
        return "empty"
    text = str(value).strip()
    if _URL.match(text):
        return "url"
    if text.lower() in _ONLINE_WORDS:
        return "online-word"
    try:
        parsed = parse_time_value(text)
    except ValueError:
        pass
    else:
        return "date-time text" if isinstance(parsed, datetime) else "date text"
    if parse_offset(text) is not None or ("/" in text and _is_zone(text)):
        return "zone"
    try:
        human_duration(text)
    except ValueError:
        pass
    else:
        return "duration"
    try:
        parse_time_range(text)
    except ValueError:
        return "text"
    return "time-range"


def _is_zone(text: str) -> bool:
    try:
        get_zone(text)
    except ValueError:
        return False
    return True


_SHAPES: dict[str, tuple[str, ...]] = {
    "title": ("text",),
    "start": ("date-time", "date-time text", "date", "date text"),
    "end": ("date-time", "date-time text", "date", "date text"),
    "time": ("time-range",),
    "duration": ("duration", "number", "map"),
    "timezone": ("zone",),
    "online": ("bool", "online-word"),
    "location": ("text", "online-word"),
    "live_url": ("url",),
    "register_url": ("url",),
    "replay_url": ("url",),
    "tags": ("list", "text"),
    "status": ("text",),
    "uid": ("text", "number"),
    "description": ("text",),
    "cover": ("url", "text"),
    "repeat": ("map", "text"),
}


def propose(s: Survey) -> dict[str, list[str]]:
    """Field → keys to try in order: for each field, the best-named key whose values mostly
    have its shape, then, while some pages have none of the keys chosen so far, the best
    key those pages do have (``main.sortable_date`` after ``sortable_date``: a folder whose
    pages changed shape over the years)."""
    chosen: dict[str, list[str]] = {}
    taken: set[str] = set()
    for fieldname in _NAMES:  # start before end, URLs by their own names first
        covered: set[int] = set()
        while (key := _best_key(s, fieldname, taken, covered)) is not None:
            chosen.setdefault(fieldname, []).append(key)
            taken.add(key)
            covered |= s.keys[key].where
    return chosen


def _best_key(s: Survey, fieldname: str, taken: set[str], covered: set[int]) -> str | None:
    """The best key for ``fieldname`` among those that some page not yet ``covered`` has."""
    best: tuple[float, str] | None = None
    for key, stats in s.keys.items():
        if key in taken or stats.where <= covered:
            continue
        rank = _name_rank(fieldname, key)
        if rank is None:
            continue
        fit = sum(stats.share(shape) for shape in _SHAPES[fieldname])
        if fit < 0.5:
            continue
        if fieldname == "start" and key.lower() in _POST_DATES and _has_better_start(s, key):
            continue
        score = rank - fit - len(stats.where - covered) / max(1, s.pages)
        if best is None or score < best[0]:
            best = (score, key)
    return None if best is None else best[1]


def _name_rank(fieldname: str, key: str) -> float | None:
    """How well ``key`` is named for ``fieldname``: 0 for the best name, None for none."""
    last = key.rsplit(".", 1)[-1].lower()
    whole = key.lower().replace(".", "_")
    names = _NAMES[fieldname]
    for i, name in enumerate(names):
        if last == name or whole == name:
            return i
    words = whole.split("_")
    for i, name in enumerate(names):  # signup.url for register_url, stream.url for live_url
        if name in words:
            return len(names) + i
    return None


def _has_better_start(s: Survey, key: str) -> bool:
    return any(
        k != key and _name_rank("start", k) is not None and k.lower() not in _POST_DATES
        for k in s.keys
    )


def mapping_toml(s: Survey, chosen: Mapping[str, list[str]], name: str, content_root: Path) -> str:
    """The proposed livepipe.toml tables for the surveyed folder."""
    try:
        rel = s.root.resolve().relative_to(content_root.resolve()).as_posix()
    except ValueError:
        rel = s.root.name
    rel = "" if rel == "." else rel
    match = f"{rel}/**" if rel else "**"
    lines = []
    top = rel.split("/", 1)[0] if rel else ""
    if top:
        lines += ["[pages]", f'sections = ["{top}"]']
    exts = sorted(s.extensions)
    if exts and exts != [".md"]:
        lines.append(f"extensions = [{', '.join(json.dumps(e) for e in exts)}]")
    if lines:
        lines.append("")
    lines += [f"[schemas.{name}]", f'match = ["{match}"]']
    for fieldname in _NAMES:
        keys = chosen.get(fieldname)
        if keys:
            value = json.dumps(keys[0] if len(keys) == 1 else keys, ensure_ascii=False)
            lines.append(f"{fieldname} = {value}")
    return "\n".join(lines) + "\n"
