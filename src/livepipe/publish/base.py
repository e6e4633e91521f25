"""What every channel shares: the Channel class shape, Receipt, option and secret handling.

A channel is a small class with declared limits and one method, ``send(message) -> Receipt``;
failures raise TransientPublishError (retried inside the send's window) or
PermanentPublishError (reported, not retried). Secrets come only from environment variables
named in livepipe.toml and never appear in logs, errors or previews.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Protocol

from ..config import ChannelSettings
from ..errors import ConfigError
from ..models import Message


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


class Channel(ABC):
    type: ClassVar[str]
    # Does the remote side deduplicate by our send key? Then a send whose process died
    # during the call can safely be retried; otherwise it becomes "uncertain".
    accepts_idempotency_key: ClassVar[bool] = False
    title_max: ClassVar[int | None] = None
    body_max: ClassVar[int | None] = None
    rate_per_second: ClassVar[float | None] = None

    def __init__(
        self,
        name: str,
        options: ChannelSettings,
        *,
        root: Path,
        env: Mapping[str, str],
        kv: KeyValue | None = None,
    ) -> None:
        self.name = name
        self.options = options.model_extra or {}
        self.root = root
        self.env = env
        self.kv = kv  # state shared by all workers (the ledger), e.g. API tokens

    @abstractmethod
    def send(self, message: Message) -> Receipt:
        """Deliver one message; raise Transient/PermanentPublishError on failure."""

    def preview(self, message: Message) -> str:
        """Exactly what the channel would receive (secrets left out), for --dry-run."""
        return json.dumps(message.to_json(), ensure_ascii=False, indent=2)

    # -- helpers for subclasses ---------------------------------------------------------
    def option(self, key: str, default: Any = None, *, required: bool = False) -> Any:
        """A channel option from livepipe.toml (TOML values: str, int, float, list…)."""
        if key not in self.options:
            if required:
                raise ConfigError(f"channels.{self.name}: '{key}' is required")
            return default
        return self.options[key]

    def secret(self, key: str, *, required: bool = True) -> str | None:
        """The secret whose environment variable is named by option ``key`` (e.g. secret_env)."""
        var = self.option(key, required=required)
        if var is None:
            return None
        value = self.env.get(str(var)) or None
        if value is None and required:
            raise ConfigError(
                f"channels.{self.name}: environment variable {var} is not set",
                hint=f"export {var}=… (secrets never go in livepipe.toml)",
            )
        return value


def environ() -> Mapping[str, str]:
    return os.environ
