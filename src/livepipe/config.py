"""Site settings: ``livepipe.toml`` (+ environment for secrets) → typed, validated Settings."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .addresses import http_url_problem
from .errors import ConfigError
from .models import SlotKind
from .timeutil import get_zone, parse_duration

CONFIG_NAME = "livepipe.toml"


def _duration(value: object) -> object:
    return parse_duration(value) if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


def _http_url(value: str, what: str = "") -> str:
    problem = http_url_problem(value)
    if problem is not None:
        raise ValueError(f"{what} {problem}" if what else problem)
    return value


class _Model(BaseModel):
    # A docstring under a field says what it does (reference.py makes docs/settings.md from
    # them); models are built when first used (a command that reads no settings pays nothing).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class SiteSettings(_Model):
    """``[site]``: the site itself."""

    name: str = "livepipe site"
    """The site's name: calendar and feed titles, email senders, digests."""
    base_url: str = "http://localhost"
    """Where the site is published; event pages, calendars and feeds link under it."""
    description: str = ""
    """One line about the site (calendar and feed descriptions)."""
    timezone: str | None = None
    """The zone of wall-clock times without one (default: the page schema's own, Asia/Shanghai
    for KubeSphere pages, else UTC); messages also show times in it."""
    default_language: str | None = None
    """The site's own language: digests, alerts, calendar.ics' choice between translations."""
    languages: tuple[str, ...] = ("zh", "en")
    """Languages of pages: ``slug.<lang>.md`` or ``<lang>/…`` (each needs a catalogue, i18n/)."""
    content_dir: str = "content"
    """The folder of the pages, inside the site."""
    tag_date: str = "2020"
    """The date in the tag: URIs of feed entries (never change it once published)."""
    repo: str | None = None
    """A git repository to read the site from (checked out under .livepipe/checkout) instead
    of the local folder."""
    branch: str = "main"
    """The branch of ``repo`` (and the branch pushes to which start a sync)."""

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return _http_url(v, "base_url").rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None:
            get_zone(v)
        return v

    @property
    def language(self) -> str:
        """The site's own language (digests, alerts): ``default_language``, else English."""
        return self.default_language or "en"


class PageSettings(_Model):
    """``[pages]``: how pages are found and read."""

    default_duration: Duration = timedelta(hours=1)
    """How long an event lasts when its page gives only a start."""
    max_page_bytes: int = Field(default=1 << 20, gt=0)
    """A page larger than this is ``too-large`` (not read)."""
    sections: tuple[str, ...] = ()
    """Sub-folders of the content folder that hold event pages (empty: all); a folder named
    here is read even if its name starts with "_" (Jekyll's _events)."""
    extensions: tuple[str, ...] = (".md", ".markdown")
    """File name endings of pages."""
    repeat_horizon: Duration = timedelta(weeks=8)
    """How far ahead the occurrences of a recurring event get their reminders planned."""
    min_repeat_interval: Duration = timedelta(hours=1)
    """A recurring event may repeat at most this often (``check`` refuses a rule whose dates
    come closer: FREQ=DAILY;BYHOUR=1,2,3 is three an hour apart)."""
    all_day_reminder_at: str = "09:00"
    """A reminder a day (or more) before an all-day event goes out at this local time."""

    @field_validator("all_day_reminder_at")
    @classmethod
    def _clock(cls, v: str) -> str:
        hour, _, minute = v.partition(":")
        if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
            raise ValueError('a time of day such as "09:00"')
        return f"{int(hour):02d}:{int(minute):02d}"

    @field_validator("extensions")
    @classmethod
    def _dotted(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or any(not e.startswith(".") or len(e) < 2 for e in v):
            raise ValueError('extensions must be endings such as ".md", ".markdown"')
        return v


def _paths(value: object) -> object:
    return (value,) if isinstance(value, str) else value


Paths = Annotated[tuple[str, ...], BeforeValidator(_paths)]
"""One dotted front-matter path, or several tried in order (the first a page has wins)."""


class FieldMapping(_Model):
    """Where each event field is, in a page's front matter or a data file's event table.

    Each field names a dotted key (``location.city``), or a list of them tried in order
    (``start = ["sortable_date", "main.sortable_date", "event.start_date"]``): one mapping
    reads pages that changed shape over the years. Only ``title`` and ``start`` are
    required; an optional field filled with something unreadable is an ``ignored-field``
    warning and the event builds without it."""

    title: Paths = ("title",)
    """The key of the title (each value below names a key, or a list of keys)."""
    start: Paths
    """The key of the start: a date-time, a date for all-day events, or a
    ``{date, timezone}`` table (required)."""
    end: Paths = ()
    """The key of the end: a date-time, or the last day (inclusive) of an all-day event."""
    time: Paths = ()
    """The key of a free-text time range for a date-only start (``5:00PM - 8:00PM (PT)``,
    ``17:00–20:00 CET``, ``9am–5pm ET``); a zone abbreviation is read for the event's date."""
    duration: Paths = ()
    """The key of a duration (``90 minutes``, ``1h30m``) when events give one instead of an
    end."""
    timezone: Paths = ()
    """The key of the event's zone."""
    online: Paths = ()
    """The key of a yes/no: streamed online."""
    location: Paths = ()
    """The key of the venue."""
    live_url: Paths = ()
    """The key of the livestream's address."""
    register_url: Paths = ()
    """The key of the sign-up page."""
    replay_url: Paths = ()
    """The key of the recording's address."""
    tags: Paths = ("tags",)
    """The key of the tags (a list, a comma-separated text, or a mapping: its texts)."""
    status: Paths = ()
    """The key of the status (``cancelled`` cancels the event)."""
    uid: Paths = ()
    """The key of a stable id (default: the page's path; a data file's table key)."""
    description: Paths = ("description",)
    """The key of the one-line description."""
    cover: Paths = ()
    """The key of the cover image."""
    repeat: Paths = ()
    """The key of a recurrence: an RRULE text, a {rrule, until, count, except} mapping, or
    rules as tables ({frequency, interval, by_day, by_hour, until, count})."""
    exceptions: Paths = ()
    """The key of cancelled occurrences: instants, or a {timezone, dates} table."""

    @field_validator("title", "start")
    @classmethod
    def _needed(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("needs at least one key")
        return v


class SchemaMapping(FieldMapping):
    """``[schemas.NAME]``: pages whose path matches ``match`` are read by this mapping."""

    match: tuple[str, ...]
    """Globs relative to the content folder, e.g. ``["_events/**"]`` (required)."""

    @field_validator("match")
    @classmethod
    def _some(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError('match needs at least one glob, e.g. ["_events/**"]')
        return v


class DataSource(FieldMapping):
    """``[sources.NAME]``: events kept in a data file (TOML 1.0 or 1.1, YAML, JSON), each
    read through the same field mapping as pages. An event's identity is its table key or
    its mapped ``uid``, never its position."""

    file: str
    """The data file, relative to the site folder (required)."""
    events: str = "events"
    """The dotted path to the events in the file: a list of tables, or a table of tables
    (their keys are the events' ids); ``""`` for the top of the file."""
    includes: str | None = "meta.includes"
    """The dotted path to a list of other files (relative to the file) whose events join."""
    url: Paths = ("url",)
    """The key of the event's own page."""
    link: str | None = None
    """The page of events without one (default: the site's base URL)."""
    language: str | None = None
    """The events' language (default: the site's)."""

    @field_validator("file")
    @classmethod
    def _relative(cls, v: str) -> str:
        if not v.strip() or v.startswith(("/", "~")) or ".." in v.replace("\\", "/").split("/"):
            raise ValueError("file must be a path inside the site folder, e.g. data/events.toml")
        return v


class ImportSettings(_Model):
    """``[imports.NAME]``: a public calendar feed (Luma, Meetup, Eventbrite, Google…) whose
    events join the site's calendars and feeds. Fetched on each sync (at most every
    ``refresh``, with ETag/If-Modified-Since) through the bounded, public-only outbound layer;
    ``check`` and ``build`` read the last copy (``.livepipe/imports/NAME.ics``). An event gone
    from the feed, or CANCELLED in it, is withdrawn like a deleted page; a feed that cannot be
    fetched keeps what it had."""

    url: str
    """The feed's address (``https://…ics``; ``webcal://`` is read as https) (required)."""
    slots: tuple[str, ...] = ()
    """The slots whose sends imported events get, e.g. ``["reminder_1d"]`` (default: none:
    the events are in the calendars and feeds, and nothing is sent about them)."""
    refresh: Duration = timedelta(minutes=15)
    """Fetch the feed at most this often."""
    link: str | None = None
    """The page of events without a URL of their own (default: the site's base URL)."""
    language: str | None = None
    """The events' language (default: the site's)."""
    max_bytes: int = Field(default=4 << 20, gt=0)
    """The longest feed read, in bytes."""
    deadline: float = Field(default=30.0, gt=0)
    """Seconds a fetch may take, all included."""

    @field_validator("url")
    @classmethod
    def _feed_url(cls, v: str) -> str:
        if v.startswith("webcal://"):
            v = "https://" + v[len("webcal://") :]
        return _http_url(v, "url")


class DeployTarget(_Model):
    """``[deploy.NAME]``: where dist/ is published after each sync's build (and by ``livepipe
    deploy``), so subscriptions have a public URL. Only what changed is written; the files
    first, the target's manifest last, removals after; a deploy cut short is finished by the
    next one. ``public_url`` is where readers fetch it: ``livepipe verify`` (and each deploy)
    reads the calendars and feeds back from there and reports any drift."""

    type: Literal["directory", "git", "s3"]
    """``directory`` (a web root, or a Hugo site's ``static/``), ``git`` (a Pages branch) or
    ``s3`` (any S3-compatible bucket) (required)."""
    path: str | None = None
    """directory: the folder (relative to the site folder, or absolute)."""
    url: str | None = None
    """git: the repository (``https://…``, ``git@…``, or a path)."""
    branch: str = "gh-pages"
    """git: the branch published (made when it does not exist)."""
    token_env: str | None = None
    """git: the environment variable holding an HTTPS token (never written anywhere)."""
    endpoint: str | None = None
    """s3: the service's address (``https://s3.eu-central-1.amazonaws.com``, a MinIO's…)."""
    bucket: str | None = None
    """s3: the bucket."""
    region: str = "us-east-1"
    """s3: the region the requests are signed for."""
    access_key_env: str = "AWS_ACCESS_KEY_ID"
    """s3: the environment variable holding the access key id."""
    secret_key_env: str = "AWS_SECRET_ACCESS_KEY"
    """s3: the environment variable holding the secret key."""
    prefix: str = ""
    """git, s3: a folder inside the branch or bucket (``static/``, ``calendar/``)."""
    public_url: str | None = None
    """Where readers fetch what was deployed (``https://example.org/``): read back after
    each deploy and by ``livepipe verify``."""
    after_sync: bool = True
    """Deploy after each sync's build (``livepipe up`` included)."""
    deadline: float = Field(default=60.0, gt=0)
    """Seconds each remote request (or git command) may take."""

    @model_validator(mode="after")
    def _complete(self) -> DeployTarget:
        needed = {"directory": ("path",), "git": ("url",), "s3": ("endpoint", "bucket")}
        missing = [k for k in needed[self.type] if not getattr(self, k)]
        if missing:
            raise ValueError(f"a {self.type} target needs {', '.join(missing)}")
        if self.prefix.startswith("/") or ".." in self.prefix.split("/"):
            raise ValueError("prefix must be a folder inside the target, e.g. static/")
        if self.endpoint is not None:
            _http_url(self.endpoint, "endpoint")
        if self.public_url is not None:
            _http_url(self.public_url, "public_url")
        return self


class CalendarSettings(_Model):
    """``[calendar]``: the ICS files."""

    refresh_interval: Duration = timedelta(hours=1)
    """How often calendar apps should fetch a subscription again (REFRESH-INTERVAL,
    X-PUBLISHED-TTL)."""
    alarm: Duration | None = None
    """A reminder in the per-event files (never in subscriptions), e.g. ``"-10m"``."""


class FeedSettings(_Model):
    """``[feeds]``: RSS, Atom and JSON Feed."""

    max_items: int = Field(default=50, gt=0)
    """The newest this many events are in each feed."""


class WeChatSettings(_Model):
    """``[wechat]``: the WeChat articles in dist/."""

    author: str | None = None
    """Article author (at most 16 characters; default: the first speaker, else the site)."""


class GenericWatch(_Model):
    """``[watch.generic.NAME]``: live URLs starting with ``match`` are watched by fetching
    ``url`` (``{url}``: the live URL, percent-encoded; ``{id}``: its last path segment) and
    comparing the JSON value at ``pointer`` (RFC 6901) with ``live``."""

    match: str
    """Live URLs starting with this are watched by this table (required)."""
    url: str
    """The status URL to fetch (required)."""
    pointer: str
    """The JSON pointer of the status in the answer, e.g. ``/data/live`` (required)."""
    live: bool | int | str = True
    """The value at ``pointer`` that means live."""

    @field_validator("pointer")
    @classmethod
    def _pointer(cls, v: str) -> str:
        if v and not v.startswith("/"):
            raise ValueError('a JSON pointer starts with "/", e.g. "/data/live"')
        return v

    @field_validator("url", "match")
    @classmethod
    def _http(cls, v: str) -> str:
        return _http_url(v)


class WatchSettings(_Model):
    """Stream watching (watch.py): which live URLs are watched, how often, and where the
    platform APIs are (settings, so tests point them at loopback stand-ins)."""

    enabled: bool = True
    """false: no stream is watched (no live, late or found-replay notices)."""
    interval: Duration = timedelta(seconds=30)
    """One request per room per interval (at least 1 s)."""
    before: Duration = timedelta(minutes=30)
    """Watching starts this long before the start …"""
    after: Duration = timedelta(minutes=30)
    """… and ends this long after the end."""
    bilibili_api: str = "https://api.live.bilibili.com"
    """bilibili's API base."""
    youtube_api: str = "https://www.googleapis.com/youtube/v3"
    """YouTube Data API base."""
    youtube_key_env: str = "YOUTUBE_API_KEY"
    """The environment variable holding the YouTube Data API key."""
    timeout: Duration = timedelta(seconds=10)
    """One status request may take this long in all."""
    generic: dict[str, GenericWatch] = Field(default_factory=dict)
    """``[watch.generic.NAME]``: any JSON status URL (see below)."""

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: timedelta) -> timedelta:
        if v < timedelta(seconds=1):
            raise ValueError('the interval is at least "1s"')
        return v

    @field_validator("bilibili_api", "youtube_api")
    @classmethod
    def _base(cls, v: str) -> str:
        return _http_url(v).rstrip("/")


class SlotSettings(_Model):
    """A kind of message, when it is due relative to the event, and until when it is worth
    sending (see plan.py for how each kind is planned)."""

    kind: SlotKind
    """announce, reminder, changed, cancelled, replay, digest, live or late (built-in slots
    have theirs; a slot of your own needs one)."""
    channels: tuple[str, ...] = ("outbox",)
    """Where its messages go (names of ``[channels.*]``)."""
    offset: Duration | None = None
    """reminder: due at start + offset (e.g. ``"-1d"``); late: checked at start + offset."""
    window: Duration | None = None
    """Valid for this long after it is due …"""
    until: Duration | None = None
    """… or until start + until (e.g. ``"15m"``, ``"-2h"``)."""
    min_lead: Duration = timedelta(0)
    """announce: a page merged less than this before its start is announced at once anyway."""
    fold: Duration = timedelta(minutes=30)
    """announce: a reminder due less than this after the announcement is folded into it."""
    max_age: Duration = timedelta(days=30)
    """replay: never for events that ended longer ago than this."""
    weekly: str | None = None
    """digest: when, e.g. ``"mon 09:00"`` in the site's zone."""
    enabled: bool = True
    """false: the slot sends nothing."""

    @model_validator(mode="after")
    def _shape(self) -> SlotSettings:
        if self.kind == SlotKind.ALERT:
            raise ValueError("alert is not a slot kind: [alerts] channel = … sends alerts")
        if self.kind == SlotKind.REMINDER and self.offset is None:
            raise ValueError('a reminder slot needs an offset, e.g. offset = "-1d"')
        if self.kind == SlotKind.LATE and (self.offset is None or self.offset <= timedelta(0)):
            raise ValueError('a late slot needs an offset after the start, e.g. offset = "5m"')
        if self.kind == SlotKind.DIGEST:
            parse_weekly(self.weekly or "")
        if self.kind in (SlotKind.REPLAY, SlotKind.LIVE) and self.until is not None:
            # due after the start (the replay: after the end): a window counted from the
            # start would end before some are due, and those would silently never go out
            raise ValueError(
                f"a {self.kind} slot is valid for a window after it is due: "
                f'use window = "{"7d" if self.kind == SlotKind.REPLAY else "30m"}", not until'
            )
        return self


DEFAULT_SLOTS: dict[str, dict[str, object]] = {
    "announce": {"kind": "announce", "until": "-30m", "min_lead": "1h"},
    "reminder-1d": {"kind": "reminder", "offset": "-1d", "window": "12h"},
    "starting-soon": {"kind": "reminder", "offset": "-10m", "until": "15m"},
    "replay": {"kind": "replay", "window": "7d"},
    "changed": {"kind": "changed", "until": "0s"},
    "cancelled": {"kind": "cancelled", "until": "0s"},
    "digest": {"kind": "digest", "weekly": "mon 09:00", "window": "12h"},
    # Driven by what the stream watcher sees (streams.py): when the stream goes live inside
    # its watching window, and (off by default) when it is not live at start + offset.
    "live": {"kind": "live", "window": "30m"},
    "late": {"kind": "late", "offset": "5m", "until": "30m", "enabled": False},
}

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_weekly(text: str) -> tuple[int, int, int]:
    """``"mon 09:00"`` → (weekday 0-6, hour, minute)."""
    parts = text.strip().lower().split()
    try:
        day = _WEEKDAYS.index(parts[0][:3])
        hour, minute = (int(x) for x in parts[1].split(":"))
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise ValueError
    except (IndexError, ValueError) as exc:
        raise ValueError(f"weekly {text!r}: write a weekday and a time, e.g. 'mon 09:00'") from exc
    return day, hour, minute


class ChannelSettings(BaseModel):
    """A configured channel: ``type`` picks its options model (options.py), which checks
    every other key when the settings load."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str
    enabled: bool = True
    # Only events in these languages go to this channel (empty: all), e.g. ["zh"] for a
    # WeChat group, so translated pages are not announced twice.
    languages: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _typed(self) -> ChannelSettings:
        from .options import OPTIONS

        model = OPTIONS.get(self.type)
        if model is None:
            raise ValueError(
                f"unknown channel type {self.type!r}{did_you_mean(self.type, OPTIONS)}; "
                f"the types are {', '.join(sorted(OPTIONS))}"
            )
        self.options  # noqa: B018 (validates: an unknown key or a wrong type is an error here)
        return self

    @functools.cached_property
    def options(self) -> Any:
        """The channel's typed options (options.py), e.g. ``WeChatOptions``."""
        from .options import OPTIONS

        model = OPTIONS[self.type]
        data = {"type": self.type, "enabled": self.enabled, "languages": self.languages}
        try:
            return model.model_validate({**data, **(self.model_extra or {})})
        except ValidationError as exc:  # one readable line, as for any other setting
            first = exc.errors(include_url=False)[0]
            key = str(first["loc"][0]) if first["loc"] else "options"
            known = {f.alias or n: f for n, f in model.model_fields.items()}
            if first["type"] == "extra_forbidden":
                why = f"unknown option for a {self.type} channel{did_you_mean(key, known)}"
            elif len(first["loc"]) > 1 and key in known:  # one of several types: say which
                field = known[key]
                why = f"{first.get('input')!r} is not allowed here: {field.description}"
            else:
                why = first["msg"].removeprefix("Value error, ")
            raise ValueError(f"{key}: {why}") from None

    def takes(self, lang: str) -> bool:
        return not self.languages or lang in self.languages


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class NetworkSettings(_Model):
    """``[network]``: what livepipe may reach when a URL comes from a page or a template
    (net.py). Public addresses only, unless a network is named here (the tests name the
    loopback network of their stand-ins; an intranet site may name its own)."""

    allow: tuple[str, ...] = ()
    """Networks (CIDR) page and template URLs may reach besides public addresses."""

    @field_validator("allow")
    @classmethod
    def _networks(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from .addresses import parse_networks

        parse_networks(v)
        return v

    def networks(self) -> tuple[Any, ...]:
        from .addresses import parse_networks

        return parse_networks(self.allow)


class AlertSettings(_Model):
    """``[alerts]``: what operators are told, and where (any channel): a failed, uncertain
    or missed send, a stream watcher failing ``watch_failures`` polls in a row, a sync that
    found page errors, a channel paused longer than ``paused_for``. Each once."""

    channel: str | None = None
    """The channel operators read (any ``[channels.*]``); none: no alerts."""
    watch_failures: int = Field(default=5, ge=1)
    """A stream watcher failing this many polls in a row is alerted."""
    paused_for: Duration = timedelta(hours=1)
    """A channel paused longer than this is alerted."""


class LedgerSettings(_Model):
    """``[ledger]``: where plans and sends are kept."""

    url: str = ".livepipe/ledger.sqlite"
    """A SQLite path (inside the site) or a postgresql:// URL; ``LIVEPIPE_LEDGER_URL`` wins."""
    tombstone_days: int = Field(default=30, ge=0)
    """Cancelled and deleted events stay in the calendars this many days."""
    lease: Duration = timedelta(minutes=1)
    """A claim is leased this long and renewed while its call runs; one not renewed is taken
    back, even from a live process (a thread wedged in a call)."""
    upgrade_sends: Literal["hold", "send"] = "hold"
    """After an upgrade, sends only the new rules want are held (listed; ``sync --yes``
    sends them); "send" sends them without asking."""


class HookSettings(_Model):
    """`POST /hooks/git` of `livepipe up`: which pushes start a sync."""

    secret_env: str = "LIVEPIPE_HOOK_SECRET"
    """The environment variable of the GitHub/Gitea HMAC secret or the GitLab token."""
    branch: str | None = None
    """Pushes to this branch start a sync (default: ``[site] branch``)."""
    paths: tuple[str, ...] = ()
    """…that touch these paths (default: the content folder, livepipe.toml, templates/)."""
    wechat_token_env: str = "WECHAT_CALLBACK_TOKEN"
    """The environment variable of the token set as the Official Account's server
    configuration (服务器配置), which signs WeChat's pushes to ``/hooks/wechat``."""


class Settings(_Model):
    site: SiteSettings = SiteSettings()
    pages: PageSettings = PageSettings()
    calendar: CalendarSettings = CalendarSettings()
    feeds: FeedSettings = FeedSettings()
    wechat: WeChatSettings = WeChatSettings()
    slots: dict[str, SlotSettings] = Field(default_factory=dict)
    channels: dict[str, ChannelSettings] = Field(default_factory=dict)
    ledger: LedgerSettings = LedgerSettings()
    hooks: HookSettings = HookSettings()
    watch: WatchSettings = WatchSettings()
    network: NetworkSettings = NetworkSettings()
    alerts: AlertSettings = AlertSettings()
    schemas: dict[str, SchemaMapping] = Field(default_factory=dict)
    sources: dict[str, DataSource] = Field(default_factory=dict)
    imports: dict[str, ImportSettings] = Field(default_factory=dict)
    deploy: dict[str, DeployTarget] = Field(default_factory=dict)

    @field_validator("schemas")
    @classmethod
    def _own_names(cls, v: dict[str, SchemaMapping]) -> dict[str, SchemaMapping]:
        taken = {"kubesphere", "native"} & set(v)
        if taken:
            raise ValueError(f"schemas.{min(taken)} is a built-in schema's name: choose another")
        return v

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: object) -> object:
        """Site slots are merged over the default ones, key by key; ``outbox`` always exists."""
        if not isinstance(data, dict):
            return data
        slots: dict[str, object] = {k: dict(v) for k, v in DEFAULT_SLOTS.items()}
        for name, value in (data.get("slots") or {}).items():
            base = DEFAULT_SLOTS.get(name, {})
            if not base and isinstance(value, dict) and "kind" not in value:
                raise ValueError(
                    f"slots.{name}: not a built-in slot{did_you_mean(name, DEFAULT_SLOTS)}; "
                    'a slot of your own needs a kind, e.g. kind = "reminder"'
                )
            slots[name] = {**base, **value} if isinstance(value, dict) else value
        channels = {"outbox": {"type": "outbox"}, **(data.get("channels") or {})}
        return {**data, "slots": slots, "channels": channels}

    @model_validator(mode="after")
    def _channels_exist(self) -> Settings:
        alerts = self.alerts.channel
        if alerts is not None and alerts not in self.channels:
            raise ValueError(
                f"alerts.channel: unknown channel {alerts!r}{did_you_mean(alerts, self.channels)}"
            )
        for name, slot in self.slots.items():
            for channel in slot.channels:
                if channel not in self.channels:
                    raise ValueError(
                        f"slots.{name}.channels: unknown channel {channel!r}"
                        f"{did_you_mean(channel, self.channels)}; the channels are "
                        f"{', '.join(self.channels)}"
                    )
        for name, feed in self.imports.items():
            for wanted in feed.slots:
                if wanted not in self.slots:
                    raise ValueError(
                        f"imports.{name}.slots: unknown slot {wanted!r}"
                        f"{did_you_mean(wanted, self.slots)}; the slots are "
                        f"{', '.join(self.slots)}"
                    )
        return self

    root: Path | None = Field(default=None, exclude=True)
    source: Path | None = Field(default=None, exclude=True)  # the livepipe.toml it came from

    @property
    def content_root(self) -> Path | None:
        return (self.root / self.site.content_dir) if self.root else None


def find_config(start: Path) -> Path | None:
    """The nearest livepipe.toml at or above ``start`` (a file or a folder)."""
    here = start.resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def load_settings(path: Path | None) -> Settings:
    """Read ``path`` (a livepipe.toml) or return the defaults when ``path`` is None."""
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read settings: {exc}", path=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=path) from exc
    try:
        settings = Settings.model_validate({**data, "root": path.parent, "source": path})
    except ValidationError as exc:
        raise _settings_error(exc, path, data) from None
    _inside(settings, path)
    return settings


def _settings_error(exc: ValidationError, path: Path, data: dict[str, Any]) -> ConfigError:
    """The first problem of the settings as ``livepipe.toml:LINE: key: what`` with a
    did-you-mean for an unknown key."""
    first = exc.errors(include_url=False)[0]
    loc = tuple(str(p) for p in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = f"unknown key{did_you_mean(loc[-1], _known_keys(loc[:-1]))}"
    where = ".".join(loc)
    line_loc = loc
    head = message.split(":", 1)[0]
    if head.startswith("slots."):  # the message names its slot (and key)
        where, line_loc = "", tuple(head.split("."))
    elif loc[:1] == ("channels",) and len(loc) == 2:
        key = "type" if message.startswith("unknown channel type") else head
        line_loc = (*loc, key)
    text = path.read_text(encoding="utf-8", errors="replace")
    return ConfigError(
        f"{where}: {message}" if where else message,
        path=path,
        line=toml_line(text, line_loc),
        hint="see docs/settings.md for every key",
    )


def _known_keys(loc: tuple[str, ...]) -> list[str]:
    """The keys a table at ``loc`` may hold (for a did-you-mean)."""
    model: Any = Settings
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        model = args[-1] if args and hasattr(args[-1], "model_fields") else annotation
        if not hasattr(model, "model_fields") and args:
            model = next((a for a in args if hasattr(a, "model_fields")), model)
    return list(getattr(model, "model_fields", {}))


def toml_line(text: str, loc: tuple[str, ...]) -> int:
    """The line of ``livepipe.toml`` that sets the key at ``loc`` (its table's header when
    the key is not written); 1 when it cannot be found."""
    best, best_len = 1, 0
    table: tuple[str, ...] = ()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("[") and not line.startswith("[["):
            table = tuple(p.strip().strip('"') for p in line.strip("[]").split("."))
            candidate = table
        elif "=" in line and not line.startswith("#"):
            key = line.split("=", 1)[0].strip().strip('"')
            candidate = (*table, *key.split("."))
        else:
            continue
        matched = 0
        for a, b in zip(candidate, loc, strict=False):
            if a != b:
                break
            matched += 1
        if matched == len(candidate) and matched > best_len:
            best, best_len = number, matched
    return best


def _inside(settings: Settings, path: Path) -> None:
    """Every path livepipe.toml names stays in the site's folder (a pull request can change
    the file: ``content_dir = "../x"`` must not read pages from elsewhere, nor a ledger path
    write a database elsewhere). Settings from the environment or the command line (the
    operator's) may point anywhere."""
    from .sitefiles import inside

    root = path.parent
    named = [("site.content_dir", settings.site.content_dir)]
    url = settings.ledger.url
    if not url.startswith(("postgresql://", "postgres://")):
        named.append(("ledger.url", url.removeprefix("sqlite:///")))
    for key, value in named:
        if not inside(root, value):
            raise ConfigError(
                f"{key} = {value!r} leaves the site's folder",
                path=path,
                hint="give a path inside the folder of livepipe.toml (the operator can point "
                "the ledger elsewhere with LIVEPIPE_LEDGER_URL)",
            )
