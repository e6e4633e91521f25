"""What every renderer gets: the events, settings, revision times, and per-event values
(file names, SEQUENCE, the view templates see), computed once per build."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from .. import recurrence
from ..config import Settings
from ..i18n import HtmlPhrases, Phrases, phrases
from ..identity import digest, url_path
from ..models import Event, fingerprint
from ..timeutil import get_zone
from . import timefmt
from .html import markdown_text
from .templating import Templates

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NEXT_DATES = 4  # how many of a recurring event's next dates a message or an item lists


@dataclass(frozen=True)
class Artifact:
    """One output file: path relative to dist/, media type, bytes, and the events it shows."""

    path: str
    media_type: str
    data: bytes
    uids: tuple[str, ...] = ()


# A piece of a renderer's site stage that can be made on its own (in a worker process).
SitePart = Callable[[], Iterator[Artifact]]


@dataclass(frozen=True)
class KeyedPart:
    """A site part whose files follow from ``groups`` alone (each a label and its events;
    within the build's scope, see ``fast.rendercache``): a build with a render cache may
    take the files the same groups made the time before (``BuildContext.part_key``)
    instead of making them. ``id``: unique in the build (no event's uid)."""

    id: str
    groups: tuple[tuple[object, Sequence[Event]], ...]
    make: SitePart

    def __call__(self) -> Iterator[Artifact]:
        return self.make()


@dataclass(frozen=True)
class EventOutput:
    """What a renderer makes from one event: its own files, and an optional fragment (bytes)
    that the site stage reuses in aggregate files (e.g. the VEVENT of each calendar)."""

    artifacts: tuple[Artifact, ...] = ()
    fragment: bytes | None = None


class EventView:
    """Everything a template may show about an event, already decided and formatted. The
    formatted values are made on first use: an ICS description shows a third of them."""

    def __init__(
        self,
        event: Event,
        site_zone: str | None,
        ics_url: str = "",
        site_root: Path | None = None,
        *,
        now: datetime | None = None,
        series: Event | None = None,
    ) -> None:
        self._event = event
        self._series = series or event  # a recurring event whose occurrence this is
        self._now = now
        self.ics_url = ics_url  # the event's own .ics on the site ("add to calendar")
        self._site_zone = site_zone
        self._root = site_root
        self.words = phrases(event.lang, site_root)  # the event's language's catalogue
        self.uid = event.uid
        self.lang = event.lang
        self.title = event.title
        self.description = event.description
        self.url = event.url
        self.location = event.location
        self.online = event.online
        self.live_url = event.live_url
        self.replay_url = event.replay_url
        self.register_url = event.register_url
        self.cover_image = event.cover_image
        self.outline_image = event.outline_image
        self.tags = event.tags
        self.cancelled = event.cancelled
        self.all_day = event.all_day

    @cached_property
    def when(self) -> str:
        """In the event's zone."""
        return timefmt.when(self._event, site_root=self._root)

    @cached_property
    def when_site(self) -> str:
        """In the site's zone; empty when that is the event's own (or it is all-day)."""
        e, zone = self._event, self._site_zone
        other_zone = zone is not None and zone != e.timezone and not e.all_day
        return timefmt.when(e, zone=zone, site_root=self._root) if other_zone else ""

    def when_in(self, words: Phrases | HtmlPhrases) -> str:
        """The time a message in ``words``' language shows first: the site's (a Chinese
        message to a Beijing audience: ``meta.site_time_first``) or the event's own."""
        return (self.when_site or self.when) if words.flag("meta.site_time_first") else self.when

    @cached_property
    def when_shown(self) -> str:
        """The time the event's own messages show first."""
        return self.when_in(self.words)

    @cached_property
    def when_other(self) -> str:
        """The other zone's time, shown below it (empty when there is only one)."""
        if not self.when_site:
            return ""
        return self.when if self.words.flag("meta.site_time_first") else self.when_site

    @cached_property
    def repeats(self) -> str:
        """A recurring event's rule in words (``every Tuesday at 19:00 until 13 April``);
        "" for a one-off event."""
        return timefmt.repeats(self._series, self.words)

    @cached_property
    def next_dates(self) -> tuple[str, ...]:
        """A recurring event's next occurrences after this one (and after now), each as
        ``when`` shows it; () for a one-off event or when nothing follows."""
        series = self._series
        if not series.rrule:
            return ()
        after = max(self._event.end, self._now) if self._now else self._event.end
        return tuple(
            timefmt.when(recurrence.at(series, start), site_root=self._root)
            for start in recurrence.upcoming(series, after, NEXT_DATES)
        )

    @cached_property
    def site_zone_name(self) -> str:
        """The site's zone as the catalogue names it (``北京时间``)."""
        zone = self._site_zone or self._event.timezone
        at = self._event.start.astimezone(get_zone(zone))
        return timefmt.zone_label(at, zone, self.words)

    @cached_property
    def google_calendar(self) -> str:
        """'Add to Google Calendar' (the event in the link's query)."""
        from . import links

        return links.google(self._event)

    @cached_property
    def outlook_calendar(self) -> str:
        from . import links

        return links.outlook(self._event)

    @cached_property
    def place(self) -> str:
        return place(self._event, self.words)

    @cached_property
    def summary_text(self) -> str:
        return markdown_text(self._event.summary)

    @cached_property
    def slides_text(self) -> str:
        return markdown_text(self._event.slides)

    @cached_property
    def speakers(self) -> tuple[tuple[str, str], ...]:
        """(name, bio)"""
        return tuple((s.name, s.bio) for s in self._event.speakers)

    @cached_property
    def speaker_names(self) -> tuple[str, ...]:
        """The names given (a template's ``map('first') | select`` costs more than the rest)."""
        return tuple(s.name for s in self._event.speakers if s.name)

    @cached_property
    def speaker_lines(self) -> tuple[str, ...]:
        """Each speaker as "name，bio" / "name: bio", the name once."""
        return tuple(_speaker_line(s.name, s.bio, self.words) for s in self._event.speakers)

    @cached_property
    def outline(self) -> tuple[str, ...]:
        return tuple(markdown_text(item) for item in self._event.outline)


@dataclass
class BuildContext:
    settings: Settings
    events: tuple[Event, ...]
    revised: Mapping[str, datetime] = field(default_factory=dict)  # uid → last revision (UTC)
    published: Mapping[str, datetime] = field(default_factory=dict)  # uid → first commit (UTC)
    sequence: Mapping[str, int] = field(default_factory=dict)  # uid → SEQUENCE (ledger)
    # uid → when its last significant change was seen (None: never changed), from the
    # ledger; None without a ledger (then "updated" is the last commit).
    changed: Mapping[str, datetime | None] | None = None
    # "Now" for what depends on it (the next occurrences of recurring events): the sync's or
    # the server's clock; None (a plain build) means the newest page revision, so the same
    # content still gives the same bytes.
    now: datetime | None = None
    templates: Templates = field(default_factory=Templates)
    memo: dict[str, bytes] = field(default_factory=dict)  # values shared by a whole build
    # Deleted events kept (as cancelled) in the calendars for a while, from the ledger.
    tombstones: tuple[Event, ...] = ()
    views: dict[str, EventView] = field(default_factory=dict, repr=False)
    # Recurring events by uid, where views show one of their occurrences (a message).
    series: dict[str, Event] = field(default_factory=dict, repr=False)
    keys: dict[str, bytes] = field(default_factory=dict, repr=False)  # event_key, by uid

    def event_key(self, event: Event) -> bytes:
        """Everything of one event its files are made of beyond the build's scope (see
        ``fast.rendercache``): its whole value, file stem, times, SEQUENCE, and the clock
        for a recurring event's next dates."""
        key = self.keys.get(event.uid)
        if key is None:
            now = (self.now or self.site_revision) if event.rrule else None
            facts = (
                self.stems.get(event.uid),
                self.revision_time(event),
                self.published_time(event),
                self.updated_time(event),
                self.sequence.get(event.uid, 0),
                now,
                repr(self.series.get(event.uid)),
            )
            h = hashlib.sha256(event.fingerprint or fingerprint(event))
            h.update(repr(facts).encode("utf-8"))
            key = self.keys[event.uid] = h.digest()
        return key

    def part_key(self, part: KeyedPart) -> bytes:
        """What a keyed part's files are made of beyond the build's scope: each group's
        label and its events' keys."""
        h = hashlib.sha256()
        for label, events in part.groups:
            h.update(repr((label, len(events))).encode("utf-8"))
            for e in events:
                h.update(self.event_key(e))
        return h.digest()

    def revision_time(self, event: Event) -> datetime:
        return self.revised.get(event.uid, EPOCH)

    def published_time(self, event: Event) -> datetime:
        """When the page was first published (its first commit); its revision if unknown."""
        return self.published.get(event.uid) or self.revision_time(event)

    def updated_time(self, event: Event) -> datetime:
        """The last significant change (time, place, status, title…): with a ledger, its
        first publication if the event never changed, else the commit that changed it (no
        later than the sync that saw it); without one, the page's last commit. A typo fix
        does not make an event "updated" in feed readers."""
        last = self.revision_time(event)
        if self.changed is None or event.uid not in self.changed:
            return last
        seen = self.changed[event.uid]
        return self.published_time(event) if seen is None else min(seen, last)

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
            wanted[e.uid] = _stem(e, default)
        counts: dict[str, int] = {}
        for stem in wanted.values():
            counts[stem] = counts.get(stem, 0) + 1
        return {
            uid: stem if counts[stem] == 1 else f"{stem}-{digest(uid, length=6)}"
            for uid, stem in wanted.items()
        }

    def view(self, event: Event) -> EventView:
        """The template view of an event (one per event and build, shared by renderers)."""
        view = self.views.get(event.uid)
        if view is None or view._event is not event:
            site = self.settings.site
            stem = self.stems.get(event.uid) or _stem(event, site.default_language)
            ics = f"{site.base_url}/events/{url_path(stem)}.ics"
            view = self.views[event.uid] = EventView(
                event,
                site.timezone,
                ics,
                self.settings.root,
                now=self.now or self.site_revision,
                series=self.series.get(event.uid),
            )
        return view


def _stem(e: Event, default: str | None) -> str:
    """The file stem of an event's own files (before the collision suffix ``stems`` adds)."""
    own = _safe_name(e.slug) if e.lang == default or default is None else ""
    return own or f"{_safe_name(e.slug)}.{e.lang}"


def _speaker_line(name: str, bio: str, words: Phrases) -> str:
    if not bio or bio.startswith(name):
        return bio or name
    if not name:
        return bio
    return words("place.speaker", name=name, bio=bio)


def in_language(events: Sequence[Event], lang: str | None) -> list[Event]:
    """One event per translation group, in ``lang`` where that translation exists, else the
    group's first (an English-only event is on the Chinese page too, in English); in order."""
    chosen: dict[str, Event] = {}
    for e in events:
        current = chosen.get(e.translation_key)
        if current is None or (e.lang == lang and current.lang != lang):
            chosen[e.translation_key] = e
    keep = {id(e) for e in chosen.values()}
    return [e for e in events if id(e) in keep]


def place(event: Event, words: Phrases | str) -> str:
    """Where, in words: ``成都 + 线上直播`` / ``Berlin + online`` / ``线上直播`` (``words``:
    the catalogue, or a language)."""
    if isinstance(words, str):
        words = phrases(words)
    parts = []
    if event.in_person:
        parts.append(event.location or words("place.in_person_tba"))
    if event.online:
        parts.append(words("place.online"))
    return " + ".join(parts) or words("place.tba")


_UNSAFE = re.compile(r"[\\/:*?\"<>|\s#%&{}$!'@`=+\x00-\x1f\x7f-\x9f]+")


def _safe_name(text: str) -> str:
    """A file-name-safe form of a slug or tag (CJK kept, separators collapsed)."""
    name = _UNSAFE.sub("-", text.strip()).strip("-.").lower()
    return name or "untitled"


def tag_file(tag: str) -> str:
    return _safe_name(tag)
