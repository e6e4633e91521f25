"""What every renderer gets: the events, settings, revision times, and per-event values
(file names, SEQUENCE, the view templates see), computed once per build."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from ..config import Settings
from ..identity import digest
from ..models import Event
from . import timefmt
from .html import markdown_text
from .templating import Templates

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Artifact:
    """One output file: path relative to dist/, media type, bytes, and the events it shows."""

    path: str
    media_type: str
    data: bytes
    uids: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventOutput:
    """What a renderer makes from one event: its own files, and an optional fragment (bytes)
    that the site stage reuses in aggregate files (e.g. the VEVENT of each calendar)."""

    artifacts: tuple[Artifact, ...] = ()
    fragment: bytes | None = None


@dataclass(frozen=True)
class EventView:
    """Everything a template may show about an event, already decided and formatted."""

    uid: str
    lang: str
    title: str
    description: str
    url: str
    when: str  # in the event's zone
    when_site: str  # in the site's zone (empty when the same)
    place: str
    location: str | None
    online: bool
    live_url: str | None
    replay_url: str | None
    cover_image: str | None
    outline_image: str | None
    summary_text: str
    slides_text: str
    speakers: tuple[tuple[str, str], ...]  # (name, bio)
    speaker_lines: tuple[str, ...]  # "name，bio" / "name: bio", once each
    outline: tuple[str, ...]
    tags: tuple[str, ...]
    cancelled: bool
    all_day: bool


@dataclass
class BuildContext:
    settings: Settings
    events: tuple[Event, ...]
    revised: Mapping[str, datetime] = field(default_factory=dict)  # uid → last revision (UTC)
    sequence: Mapping[str, int] = field(default_factory=dict)  # uid → SEQUENCE (ledger)
    templates: Templates = field(default_factory=Templates)
    memo: dict[str, bytes] = field(default_factory=dict)  # values shared by a whole build
    # Deleted events kept (as cancelled) in the calendars for a while, from the ledger.
    tombstones: tuple[Event, ...] = ()

    def revision_time(self, event: Event) -> datetime:
        return self.revised.get(event.uid, EPOCH)

    @cached_property
    def site_revision(self) -> datetime:
        """The newest revision of any page: the `updated` time of aggregate files."""
        return max((self.revision_time(e) for e in self.events), default=EPOCH)

    @cached_property
    def calendar_events(self) -> tuple[Event, ...]:
        """Events plus tombstones, in calendar order."""
        both = (*self.events, *self.tombstones)
        return tuple(sorted(both, key=lambda e: (e.start, e.uid))) if self.tombstones else both

    @cached_property
    def stems(self) -> dict[str, str]:
        """uid → file stem: the slug, ``slug.<lang>`` outside the default language, and a
        short uid hash when two pages would still collide."""
        default = self.settings.site.default_language
        wanted: dict[str, str] = {}
        for e in self.calendar_events:
            stem = _safe_name(e.slug) if e.lang == default or default is None else None
            wanted[e.uid] = stem or f"{_safe_name(e.slug)}.{e.lang}"
        counts: dict[str, int] = {}
        for stem in wanted.values():
            counts[stem] = counts.get(stem, 0) + 1
        return {
            uid: stem if counts[stem] == 1 else f"{stem}-{digest(uid, length=6)}"
            for uid, stem in wanted.items()
        }

    def view(self, event: Event) -> EventView:
        site_zone = self.settings.site.timezone
        lang = event.lang
        other_zone = site_zone is not None and site_zone != event.timezone and not event.all_day
        return EventView(
            uid=event.uid,
            lang=lang,
            title=event.title,
            description=event.description,
            url=event.url,
            when=timefmt.when(event),
            when_site=timefmt.when(event, zone=site_zone) if other_zone else "",
            place=place(event, lang),
            location=event.location,
            online=event.online,
            live_url=event.live_url,
            replay_url=event.replay_url,
            cover_image=event.cover_image,
            outline_image=event.outline_image,
            summary_text=markdown_text(event.summary),
            slides_text=markdown_text(event.slides),
            speakers=tuple((s.name, s.bio) for s in event.speakers),
            speaker_lines=tuple(_speaker_line(s.name, s.bio, lang) for s in event.speakers),
            outline=tuple(markdown_text(item) for item in event.outline),
            tags=event.tags,
            cancelled=event.cancelled,
            all_day=event.all_day,
        )


def _speaker_line(name: str, bio: str, lang: str) -> str:
    if not bio or bio.startswith(name):
        return bio or name
    if not name:
        return bio
    return f"{name}，{bio}" if lang == "zh" else f"{name}: {bio}"


def place(event: Event, lang: str) -> str:
    """Where, in words: ``成都 + 线上直播`` / ``Berlin + online`` / ``线上直播``."""
    zh = lang == "zh"
    parts = []
    if event.in_person:
        parts.append(event.location or ("线下（地点待定）" if zh else "in person (venue TBA)"))
    if event.online:
        parts.append("线上直播" if zh else "online")
    return " + ".join(parts) or ("待定" if zh else "to be announced")


_UNSAFE = re.compile(r"[\\/:*?\"<>|\s#%&{}$!'@`=+]+")


def _safe_name(text: str) -> str:
    """A file-name-safe form of a slug or tag (CJK kept, separators collapsed)."""
    name = _UNSAFE.sub("-", text.strip()).strip("-.").lower()
    return name or "untitled"


def tag_file(tag: str) -> str:
    return _safe_name(tag)
