"""One site's livepipe, assembled once per process: its settings and pages, its ledger, its
channels (built and checked once, shared by every thread) and senders. Every command, flow
and server starts from a ``Livepipe``; none assembles these parts itself.

    app = Livepipe.at(Path("."))
    with app.ledger() as ledger: ...
    with app.sender() as sender: sender.send_due()
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings
from .errors import ConfigError
from .site import LoadResult, Site, load

if TYPE_CHECKING:
    from .ledger import Ledger
    from .publish import Channel
    from .render.templating import Templates
    from .send import Outcome, Sender, SharedRenders


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Livepipe:
    """A site and what publishing it needs. ``ledger_url``: the operator's override
    (``--ledger``); ``clock``: what "now" is (a fixed one for ``--now`` and the tests)."""

    site: Site
    ledger_url: str | None = None
    clock: Callable[[], datetime] = field(default=utcnow)
    # Every send's outcome, from every sender this app makes (up: the deliver run's queue).
    on_outcome: Callable[[Outcome], None] | None = None

    @classmethod
    def at(
        cls,
        path: Path | str,
        *,
        config: Path | None = None,
        ledger: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> Livepipe:
        """The site at ``path`` (a page, a folder of pages or a site root); ConfigError for
        broken settings, FileNotFoundError for a path that is not there."""
        return cls(Site.locate(Path(path), config=config), ledger, clock)

    @property
    def settings(self) -> Settings:
        return self.site.settings

    @property
    def root(self) -> Path:
        return self.settings.root or Path.cwd()

    def load(self, *, cache: bool = True) -> LoadResult:
        """Read, check and normalise every page (phase one of every command)."""
        return load(self.site, cache=cache)

    @property
    def ledger_location(self) -> str:
        from .ledger import ledger_url

        return ledger_url(self.settings, self.ledger_url)

    def has_ledger(self) -> bool:
        """Does the ledger exist yet (a SQLite file; PostgreSQL always)?"""
        from .ledger import sqlite_path

        path = sqlite_path(self.settings, self.ledger_location)
        return path is None or path.exists()

    def open_ledger(self) -> Ledger:
        """A new connection to the ledger (migrated); the caller closes it."""
        from .ledger import open_ledger

        return open_ledger(self.settings, self.ledger_url)

    @contextmanager
    def ledger(self) -> Iterator[Ledger]:
        store = self.open_ledger()
        try:
            yield store
        finally:
            store.close()

    @functools.cached_property
    def channels(self) -> Mapping[str, Channel]:
        """Every enabled channel, made once and shared by every thread (each keeps its HTTP
        connections per thread; their shared state, such as WeChat's token, is in the
        ledger's kv through one locked connection)."""
        from .publish import make_channels

        return make_channels(self.settings, kv=SharedKV(self.open_ledger))

    @functools.cached_property
    def broken(self) -> Mapping[str, ConfigError]:
        """The channels that cannot send from this environment, with why."""
        from .publish import broken_channels

        return broken_channels(self.channels)

    @functools.cached_property
    def templates(self) -> Templates:
        """The templates, compiled once and shared by every sender (a Jinja environment
        renders from many threads; sixteen compiling the same template cost a burst 1 s)."""
        from .render.templating import Templates

        return Templates(self.settings.root / "templates" if self.settings.root else None)

    @functools.cached_property
    def renders(self) -> SharedRenders:
        """The messages being rendered now, shared by this process's senders."""
        from .send import SharedRenders

        return SharedRenders()

    def sender(self) -> Sender:
        """A sender with its own ledger connection and the shared channels (one per
        thread); close it, or use it in a ``with``."""
        from .send import Sender

        store = self.open_ledger()
        try:
            sender = Sender(
                store,
                self.settings,
                self.channels,
                clock=self.clock,
                broken=self.broken,
                templates=self.templates,
            )
        except BaseException:
            store.close()
            raise
        sender.owns_ledger = True
        sender.on_outcome = self.on_outcome
        sender.renders = self.renders
        return sender


class SharedKV:
    """The ledger's small key/value store for the channels of every thread: one connection,
    opened when first used, one call at a time."""

    def __init__(self, opener: Callable[[], Ledger]) -> None:
        self._opener = opener
        self._ledger: Ledger | None = None
        self._lock = threading.Lock()

    def _store(self) -> Ledger:
        if self._ledger is None:
            self._ledger = self._opener()
        return self._ledger

    def kv_get(self, name: str, now: datetime) -> str | None:
        with self._lock:
            return self._store().kv_get(name, now)

    def kv_put(self, name: str, value: str, expires_at: datetime | None) -> None:
        with self._lock:
            self._store().kv_put(name, value, expires_at)

    def kv_lock(self, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
        with self._lock:
            return self._store().kv_lock(name, owner, now, ttl)
