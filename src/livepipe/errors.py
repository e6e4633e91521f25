"""The one exception tree of livepipe.

    LivepipeError
     ├── ConfigError                 livepipe.toml or the environment is wrong
     │    └── PortInUseError         a server's port is taken
     ├── ContentError(path, line)    one page cannot be turned into an Event
     ├── RenderError(template)       a template or renderer failed
     ├── FetchError(host)            a request to the outside failed (net.py)
     │    ├── BlockedError           the URL or its address is not allowed: never retried
     │    ├── TooLargeError          the answer is over the byte cap: never retried
     │    ├── DeadlineError          no whole answer within the total deadline
     │    ├── NetworkError           the connection failed or broke
     │    └── BadAnswerError         the answer is not the shape the API documents
     ├── PublishError(channel)       a channel call failed
     │    ├── TransientPublishError  timeouts, connection errors, 429, 5xx: retried
     │    └── PermanentPublishError  4xx, bad credentials, rejected content: not retried
     ├── LostClaimError(key)         a send's claim was taken back (its lease expired)
     └── HookError(status)           an incoming webhook is refused (its HTTP status)

Library errors are mapped at the boundary with ``raise ... from exc``; nothing returns a bool
for failure.
"""

from __future__ import annotations

from pathlib import Path


class LivepipeError(Exception):
    """Base class of every error livepipe raises on purpose."""


class ConfigError(LivepipeError):
    """The site settings (livepipe.toml or environment variables) are invalid."""

    def __init__(
        self, message: str, *, path: Path | None = None, hint: str = "", line: int = 0
    ) -> None:
        super().__init__(message)
        self.path = path
        self.hint = hint
        self.line = line

    def __str__(self) -> str:
        where = f"{self.path}{f':{self.line}' if self.line else ''}: " if self.path else ""
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


class FetchError(LivepipeError):
    """A request to the outside failed; names the host only (a URL may hold a secret)."""

    code = "fetch"

    def __init__(self, message: str, *, host: str = "") -> None:
        super().__init__(message)
        self.host = host


class BlockedError(FetchError):
    """The URL's scheme or the address it resolves to is not allowed by the address policy."""

    code = "blocked"


class TooLargeError(FetchError):
    """The answer is longer than the byte cap of the request (reading stopped there)."""

    code = "too-large"


class DeadlineError(FetchError):
    """No whole answer within the request's total deadline (however slowly it trickled)."""

    code = "deadline"


class NetworkError(FetchError):
    """The connection could not be made, or broke."""

    code = "connection"


class BadAnswerError(FetchError):
    """The answer is not the shape the remote API documents (not JSON, a field of another
    type, a code that is not a number)."""

    code = "bad-answer"


class LostClaimError(LivepipeError):
    """The claim on a send was lost (recovered by another worker after its lease expired)."""


class HookError(LivepipeError):
    """An incoming webhook is refused; ``status`` is the HTTP status it is answered with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class PortInUseError(ConfigError):
    """A server's port is taken (exit 1: another livepipe may run there)."""
