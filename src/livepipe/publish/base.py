"""What every channel shares: the Channel class shape, Receipt, option and secret handling.

A channel is a small class with declared limits and one method, ``send(message) -> Receipt``;
failures raise TransientPublishError (retried inside the send's window) or
PermanentPublishError (reported, not retried). Secrets come only from environment variables
named in livepipe.toml and never appear in logs, errors or previews.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qsl, quote

import httpx

from ..addresses import split_url
from ..config import ChannelSettings
from ..errors import ConfigError, FetchError, PublishError
from ..i18n import Phrases, phrases
from ..models import Message
from ..net import Client, IPNetwork, Policy
from .http import publish_error

REDACTED = "***"
_MIN_SECRET = 6  # shorter strings would redact ordinary words


class KeyValue(Protocol):
    """The ledger's small key/value store with expiry and locks."""

    def kv_get(self, name: str, now: datetime) -> str | None: ...

    def kv_put(self, name: str, value: str, expires_at: datetime | None) -> None: ...

    def kv_lock(self, name: str, owner: str, now: datetime, ttl: timedelta) -> bool: ...


@dataclass(frozen=True)
class Receipt:
    """What the remote side said: its id and URL for the message, if it gave any."""

    remote_id: str | None = None
    remote_url: str | None = None
    note: str | None = None


def _close_all(clients: list[Client]) -> None:
    for made in clients:
        made.close()
    clients.clear()


class Channel(ABC):
    type: ClassVar[str]
    # Does the remote side deduplicate by our send key? Then a send whose process died
    # during the call can safely be retried; otherwise it becomes "uncertain".
    accepts_idempotency_key: ClassVar[bool] = False
    body_max: ClassVar[int | None] = None
    # What ``validate`` checks before anything is claimed: options that must be set, options
    # naming environment variables that must be set, and ones that, when given, must be set.
    required_options: ClassVar[tuple[str, ...]] = ()
    required_secrets: ClassVar[tuple[str, ...]] = ()
    optional_secrets: ClassVar[tuple[str, ...]] = ()
    # The parts of a Message this channel reads besides its text: "html" (the newsletter
    # email), "article" (the WeChat article). Only those are rendered for its sends.
    reads: ClassVar[frozenset[str]] = frozenset()
    transport: httpx.BaseTransport | None = None  # tests may inject httpx.MockTransport
    # Does it send over HTTP (``http()``)? Then a dispatcher thread makes its client before
    # a burst (``warm``), not during one.
    uses_http: ClassVar[bool] = False

    def __init__(
        self,
        name: str,
        options: ChannelSettings,
        *,
        root: Path,
        env: Mapping[str, str],
        kv: KeyValue | None = None,
        network: tuple[IPNetwork, ...] = (),
        site_name: str = "",
        site_url: str = "",
    ) -> None:
        self.name = name
        self.network = network  # [network] allow: what page URLs may reach besides the public
        self.site_name = site_name
        self.site_url = site_url
        # The type's options model (options.py): validated when the settings loaded, and
        # the one place an option's default is written (docs/settings.md shows the same).
        self.typed = options.options
        self._fields = {f.alias or n: n for n, f in type(self.typed).model_fields.items()}
        self.root = root
        self.env = env
        self.kv = kv  # state shared by all workers (the ledger), e.g. API tokens
        self._secrets: set[str] = set()
        self._kept: set[str] = set()  # the values keep_secret was given
        self._pattern: re.Pattern[str] | None = None
        self._clients = threading.local()
        self._made: list[Client] = []
        # A channel dropped without close() still closes its connections (no socket left to
        # the garbage collector's ResourceWarning).
        weakref.finalize(self, _close_all, self._made)

    @abstractmethod
    def send(self, message: Message) -> Receipt:
        """Deliver one message; raise Transient/PermanentPublishError on failure."""

    def validate(self) -> None:
        """Raise ConfigError (naming the channel and the variable) when this channel could not
        send: called when the channels are made, so a misconfigured channel's sends are never
        claimed (they stay pending until it is fixed) instead of failing after the claim."""
        for key in self.required_options:
            self.option(key, required=True)
        for key in self.required_secrets:
            self.secret(key)
        for key in self.optional_secrets:
            if self.option(key) is not None:
                self.secret(key)

    def deliver(self, message: Message) -> Receipt:
        """``send``, with every secret this channel knows taken out of what comes back (a
        remote may echo its URL, token or key in an error body): this is what callers use,
        so nothing stored in the ledger or printed holds a secret."""
        try:
            try:
                receipt = self.send(message)
            except FetchError as exc:  # an answer read later (a model, JSON) did not fit
                raise publish_error(exc, self.name) from None
        except PublishError as exc:
            exc.args = (self.redact(str(exc.args[0]) if exc.args else ""), *exc.args[1:])
            exc.hint = self.redact(exc.hint)
            exc.code = self.redact(exc.code)
            raise
        return replace(
            receipt,
            remote_id=self.redact(receipt.remote_id),
            remote_url=self.redact(receipt.remote_url),
            note=self.redact(receipt.note),
        )

    def keep_secret(self, value: str) -> None:
        """Remember a value to redact: a secret from the environment, a token the remote
        handed out. For a secret URL also its path, its path segments and query values
        (the part that is the secret), each also percent-encoded."""
        if value in self._kept:  # each send reads its secrets: the forms are known
            return
        self._kept.add(value)
        forms = {value}
        parts = split_url(value) if "://" in value else None
        if parts is not None and parts.netloc:
            forms.add(parts.path + (f"?{parts.query}" if parts.query else ""))
            forms.update(seg for seg in parts.path.split("/") if _secretish(seg))
            forms.update(v for _, v in parse_qsl(parts.query) if len(v) >= _MIN_SECRET)
            if len(parts.path) <= 1:
                forms.discard(parts.path)
        forms |= {quote(f, safe="") for f in forms}
        self._secrets.update(f for f in forms if len(f) >= _MIN_SECRET)
        self._pattern = None  # made again, with these, on the next redact

    def keep_basic_auth(self, user: str, password: str) -> None:
        self.keep_secret(password)
        self.keep_secret(base64.b64encode(f"{user}:{password}".encode()).decode())

    def redact(self, text: str | None) -> Any:
        """``text`` with every remembered secret replaced by ``***``."""
        if not text or not self._secrets:
            return text
        pattern = self._pattern
        if pattern is None:
            pattern = re.compile(
                "|".join(re.escape(s) for s in sorted(self._secrets, key=len, reverse=True))
            )
            self._pattern = pattern
        return pattern.sub(REDACTED, text)

    def preview(self, message: Message) -> str:
        """Exactly what the channel would receive (secrets left out), for --dry-run."""
        return json.dumps(message.to_json(), ensure_ascii=False, indent=2)

    def close(self) -> None:
        """Close the HTTP clients this channel opened (one per thread that sent)."""
        _close_all(self._made)
        self._clients = threading.local()

    def warm(self) -> None:
        """Make this thread's HTTP client now (a sender's thread, before anything is due):
        sixteen threads each making theirs in the first moment of a burst was CPU taken
        from the sends."""
        if self.uses_http:
            self.http()

    # -- helpers for subclasses ---------------------------------------------------------
    def http(self, *, content: bool = False) -> Client:
        """This thread's HTTP client for the channel, kept between sends (its connections
        stay open: no TCP and TLS handshake per send). For the addresses the channel's own
        settings name (any address), or with ``content`` for URLs that come from pages
        (public addresses only, unless ``[network] allow`` names the network)."""
        clients: dict[tuple[bool, int], Client] = self._clients.__dict__.setdefault("made", {})
        key = (content, id(self.transport))
        made = clients.get(key)
        if made is None:
            policy = Policy.public(self.network) if content else Policy.operator()
            made = clients[key] = Client(policy, transport=self.transport)
            self._made.append(made)
        return made

    def budget(self, message: Message) -> float:
        """How long one delivery may take in all (its requests, waits and retries inside
        the call): its claim's lease is renewed that long and no longer."""
        return 3 * self.deadline + 10

    @property
    def deadline(self) -> float:
        """The total time one request of this channel may take (option ``timeout``)."""
        value = self.option("timeout")
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"channels.{self.name}: timeout must be seconds") from None
        if not 0 < seconds <= 600:
            raise ConfigError(f"channels.{self.name}: timeout must be 0-600 seconds")
        return seconds

    def words(self, message: Message) -> Phrases:
        """The phrases of the message's language (the site's catalogue over livepipe's)."""
        return phrases(message.lang, self.root)

    def option(self, key: str, default: Any = None, *, required: bool = False) -> Any:
        """A channel option (``key`` as livepipe.toml spells it), from the typed options:
        what the site set, else the model's default; ``default`` only where the model has
        none (None or empty)."""
        name = self._fields.get(key)
        value = getattr(self.typed, name) if name is not None else None
        if value is None or value == [] or value == ():
            if required:
                raise ConfigError(f"channels.{self.name}: '{key}' is required")
            return default
        return value

    def secret(self, key: str, *, required: bool = True) -> str | None:
        """The secret whose environment variable is named by option ``key`` (e.g. secret_env)."""
        var = self.option(key, required=required)
        if var is None:
            return None
        value = self.env.get(str(var)) or None
        if value is not None:
            self.keep_secret(value)
        if value is None and required:
            raise ConfigError(
                f"channels.{self.name}: environment variable {var} is not set",
                hint=f"export {var}=… (secrets never go in livepipe.toml)",
            )
        return value


def _secretish(segment: str) -> bool:
    """Is a path segment of a secret URL itself secret (a token), or an ordinary word of
    the API's path (``webhook``, ``services``, ``open-apis``) that errors quote too?"""
    if len(segment) < _MIN_SECRET:
        return False
    word = segment.replace("-", "").replace("_", "")
    if word.isalpha() and (word.islower() or word.isupper()) and len(segment) < 24:
        return False
    return True


def environ() -> Mapping[str, str]:
    return os.environ
