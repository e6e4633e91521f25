"""The one exception tree of livepipe.

    LivepipeError
     ├── ConfigError                 livepipe.toml or the environment is wrong
     ├── ContentError(path, line)    one page cannot be turned into an Event
     ├── RenderError(template)       a template or renderer failed
     └── PublishError(channel)       a channel call failed
          ├── TransientPublishError  timeouts, connection errors, 429, 5xx: retried
          └── PermanentPublishError  4xx, bad credentials, rejected content: not retried

Library errors are mapped at the boundary with ``raise ... from exc``; nothing returns a bool
for failure.
"""

from __future__ import annotations

from pathlib import Path


class LivepipeError(Exception):
    """Base class of every error livepipe raises on purpose."""


class ConfigError(LivepipeError):
    """The site settings (livepipe.toml or environment variables) are invalid."""

    def __init__(self, message: str, *, path: Path | None = None, hint: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.hint = hint

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}{self.args[0]}{hint}"


class ContentError(LivepipeError):
    """A page cannot be turned into an Event; carries the problem code, file and line."""

    def __init__(
        self, code: str, message: str, *, line: int = 1, hint: str = "", path: str = ""
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.hint = hint
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.code}: {self.message}"


class RenderError(LivepipeError):
    """A renderer or one of its templates failed."""

    def __init__(self, message: str, *, template: str = "") -> None:
        super().__init__(message)
        self.template = template


class PublishError(LivepipeError):
    """A channel call failed."""

    def __init__(self, message: str, *, channel: str, code: str = "", hint: str = "") -> None:
        super().__init__(message)
        self.channel = channel
        self.code = code
        self.hint = hint


class TransientPublishError(PublishError):
    """A failure worth retrying later: timeouts, connection errors, 429 and 5xx answers."""

    def __init__(
        self,
        message: str,
        *,
        channel: str,
        code: str = "",
        hint: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, channel=channel, code=code, hint=hint)
        self.retry_after = retry_after


class PermanentPublishError(PublishError):
    """A failure that retrying cannot fix: 4xx, bad credentials, rejected content."""
