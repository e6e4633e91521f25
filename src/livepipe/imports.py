"""Imported calendars: ``[imports.NAME] url = "https://…ics"`` fetched into the site.

The network is touched here only, on each sync (at most every ``refresh``): a conditional GET
(``If-None-Match`` / ``If-Modified-Since``) through the outbound layer (a total deadline, a
byte cap, public addresses only: a feed URL cannot reach inside the network). A good answer
(a VCALENDAR) replaces ``.livepipe/imports/NAME.ics`` atomically, with what the server said
about it in ``NAME.json``; everything else (a 304, a failure, an answer that is no calendar)
keeps the last copy, so ``check``, ``build`` and the plan always read a whole calendar from
disk (sources/calendars.py) and an outage upstream never withdraws anything.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .activity import What, tell
from .config import ImportSettings, Settings
from .errors import FetchError
from .net import Client, Policy
from .sources.calendars import feed_path


@dataclass(frozen=True, slots=True)
class Fetched:
    name: str
    outcome: str  # "updated", "not modified", "not due", "kept" (a failure), "no copy"
    detail: str = ""


def refresh_imports(
    settings: Settings,
    now: datetime,
    *,
    client: Callable[[Policy], Client] = Client,
    force: bool = False,
) -> list[Fetched]:
    """Fetch each import that is due (``force``: all); what happened to each."""
    root = settings.root
    if root is None or not settings.imports:
        return []
    allow = settings.network.networks() if settings.network.allow else ()
    out = []
    with client(Policy.public(allow)) as http:
        for name, feed in settings.imports.items():
            done = _refresh(http, root, name, feed, now, force)
            out.append(done)
            if done.outcome == "kept" or done.outcome == "no copy":
                tell(What.IMPORT_FAILED, f"import {name}: {done.detail}", name=name)
            elif done.outcome != "not due":
                tell(What.IMPORT, f"import {name}: {done.outcome}", name=name)
    return out


def _refresh(
    http: Client, root: Path, name: str, feed: ImportSettings, now: datetime, force: bool
) -> Fetched:
    path = feed_path(root, name)
    meta_path = path.with_suffix(".json")
    meta = _read_meta(meta_path)
    have = path.is_file()
    checked = meta.get("checked")
    if have and not force and isinstance(checked, (int, float)):
        if now.timestamp() - checked < feed.refresh.total_seconds():
            return Fetched(name, "not due")
    headers = {"Accept": "text/calendar, */*;q=0.5"}
    if have and meta.get("url") == feed.url:  # a changed URL is fetched whole
        for key, header in (("etag", "If-None-Match"), ("last_modified", "If-Modified-Since")):
            value = meta.get(key)
            if isinstance(value, str) and value.isprintable() and len(value) < 200:
                headers[header] = value
    try:
        answer = http.get(
            feed.url, deadline=feed.deadline, max_bytes=feed.max_bytes, redirects=3,
            headers=headers,
        )  # fmt: skip
    except FetchError as exc:
        return _failed(name, have, str(exc))
    if answer.status == 304 and have:
        _write_meta(meta_path, {**meta, "checked": now.timestamp()})
        return Fetched(name, "not modified")
    if not answer.ok:
        return _failed(name, have, f"{answer.host} answered HTTP {answer.status}")
    why = _not_a_calendar(answer.body)
    if why is not None:
        return _failed(name, have, f"{answer.host} answered with {why}")
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, answer.body)
    _write_meta(
        meta_path,
        {
            "url": feed.url,
            "etag": answer.headers.get("etag"),
            "last_modified": answer.headers.get("last-modified"),
            "checked": now.timestamp(),
            "fetched": now.isoformat(),
        },
    )
    return Fetched(name, "updated", f"{len(answer.body):,} bytes")


def _failed(name: str, have: bool, why: str) -> Fetched:
    return Fetched(
        name, "kept" if have else "no copy", why + ("; the last copy is kept" if have else "")
    )


def _not_a_calendar(body: bytes) -> str | None:
    """Why ``body`` is not an iCalendar file to keep, or None (it parses: a VCALENDAR)."""
    import icalendar

    head = body.lstrip()[:15].upper()
    if not head.startswith(b"BEGIN:VCALENDAR"):
        return "something that is not an iCalendar file"
    try:
        icalendar.Calendar.from_ical(body)
    except (ValueError, KeyError, IndexError, TypeError, RecursionError) as exc:
        return f"an iCalendar file that does not parse ({type(exc).__name__})"
    return None


def _read_meta(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_meta(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, json.dumps(data, indent=1).encode("utf-8"))


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
