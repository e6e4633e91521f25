"""Stable identity: the one place that says how uids, feed ids and keys are derived.

Rules (DESIGN.md guarantee 1):
- An event's ``uid`` is ``<page id>@<site host>``; the page id is the page's path relative to
  the content root, without the ``.md`` extension, with POSIX separators
  (``zh/live/argocd0217-live@kubesphere.io``). A page may pin its uid with a ``uid`` key (use
  this when a page is moved). Title, time, position and run never enter it.
- ICS UID = ``uid``. Feed ids are tag URIs (RFC 4151): ``tag:<host>,<tag date>:<page id>``.
- A send (one message of one slot to one channel) has the key
  ``send_key(uid, slot, channel, occurrence)``: 24 hex digits of SHA-256 over those four.
  ``occurrence`` says which instance of the slot it is: the start instant (UTC, ISO 8601) for
  reminders, so a reschedule makes new keys and the old ones are withdrawn; the significant
  hash for "changed" notices; the ISO week for digests; ``once`` for the rest. The same key is
  the ledger's primary key, Prefect's idempotency key and the remote side's idempotency key.
- Site-wide sends (the weekly digest) use the uid ``site@<site host>``.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import PurePosixPath
from urllib.parse import quote, urlsplit

DEFAULT_TAG_DATE = "2020"


@functools.lru_cache(maxsize=64)
def site_host(base_url: str) -> str:
    host = urlsplit(base_url).hostname
    return host or "localhost"


def page_id(rel: PurePosixPath) -> str:
    """``zh/live/foo.md`` → ``zh/live/foo``; ``live/foo.en.md`` → ``live/foo.en``.

    A leaf bundle (``live/foo/index.md``) is identified by its folder: ``live/foo``.
    """
    head, _, name = str(rel).rpartition("/")  # string operations: this runs for every page
    dot = name.rfind(".")
    if 0 < dot < len(name) - 1 and name[dot:] in (".md", ".markdown"):  # PurePath.suffix
        name = name[:dot]
    if name == "index" and head:
        return head
    return f"{head}/{name}" if head else name


DATA_SUFFIXES = (".toml", ".yaml", ".yml", ".json", ".ics")  # data files, imported feeds


def source_file(source: str) -> str:
    """The file an Event.source comes from: ``data/events.toml`` for a data file's event
    (``data/events.toml#rustconf``), the page itself otherwise."""
    head, hash_, _ = source.partition("#")
    return head if hash_ and head.endswith(DATA_SUFFIXES) else source


def source_marker(name: str) -> str:
    """What stands for every event of the data source ``name`` among the failed sources,
    when its file cannot be read (its includes, unknown then, are kept too)."""
    return f"[sources.{name}]"


def kept_by_failure(source: str, uid: str, failed: frozenset[str] | set[str]) -> bool:
    """Does a failed page or data file keep the event (``source``, ``uid``) it had?"""
    if source in failed:
        return True
    file = source_file(source)
    return file != source and (file in failed or source_marker(uid.split("/", 1)[0]) in failed)


def event_uid(pid: str, base_url: str) -> str:
    """The uid of the page with id ``pid`` (``page_id``) on the site at ``base_url``."""
    return f"{pid}@{site_host(base_url)}"


# What an IRI may hold unencoded (RFC 3987 ipchar and "/"); a space, "#", "%", quotes… are
# percent-encoded so that a page named "a b#1.md" still has a valid id.
# (Compiled at first use: 5 ms, for a class this wide.)
_IRI_UNSAFE = "[^A-Za-z0-9\\-._~!$&'()*+,;=:@/\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef]"


@functools.cache
def _iri_unsafe() -> re.Pattern[str]:
    return re.compile(_IRI_UNSAFE)


def _iri_encode(text: str) -> str:
    return _iri_unsafe().sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


_PATH_SAFE = "/-._~!$&'()*+,;=:@"  # RFC 3986 pchar and "/"
_URL_SAFE = _PATH_SAFE + "?#[]%"


def url_path(path: str) -> str:
    """A path (a page id, an artifact's file name) as it goes into a URL: percent-encoded."""
    return quote(path, safe=_PATH_SAFE)


def uri(url: str) -> str:
    """A URL as written on a page, made a valid URI: spaces, quotes, non-ASCII and the like
    percent-encoded; what is already valid (and existing %XX escapes) left as it is."""
    return quote(url, safe=_URL_SAFE)


def tag_uri(uid: str, tag_date: str = DEFAULT_TAG_DATE) -> str:
    """RFC 4151 tag URI for a uid: ``tag:host,date:page-id`` (characters an IRI may not hold
    percent-encoded)."""
    local, _, host = uid.rpartition("@")
    if not local:
        local, host = uid, "localhost"
    return f"tag:{_iri_encode(host)},{tag_date}:{_iri_encode(local)}"


def digest(*parts: str, length: int = 16) -> str:
    """Short, stable hex digest of the given strings (unit separator between parts)."""
    h = hashlib.sha256("\x1f".join(parts).encode("utf-8"))
    return h.hexdigest()[:length]


def send_key(uid: str, slot: str, channel: str, occurrence: str) -> str:
    return digest(uid, slot, channel, occurrence, length=24)


def site_uid(base_url: str) -> str:
    return f"site@{site_host(base_url)}"
