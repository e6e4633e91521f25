"""Following the site: ``Rebuilder`` rebuilds dist/ when the site's fingerprint (pages,
templates, settings, the replays the stream watcher found) changes; the server keeps serving
the previous files until the new ones are written."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..build import BuildResult
from ..config import Settings
from ..errors import ConfigError, RenderError
from ..gitsource import fingerprint
from ..models import Event
from ..pipeline import build_site, existing_ledger
from ..site import Site, load


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

    def follow(self, stop: threading.Event, interval: float) -> None:
        """Check every ``interval`` seconds until ``stop``; no error ends the following (each
        is reported in /healthz until a later rebuild succeeds)."""
        while not stop.wait(interval):
            try:
                self.check()
            except Exception as exc:  # e.g. the log callback itself failed
                self.error = f"watcher: {type(exc).__name__}: {exc}"
