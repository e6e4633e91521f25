"""Apprise: the long tail of chat services (Telegram, Discord, Mastodon, Matrix, Bluesky,
ntfy, … 100+), each named by an apprise URL, with no code of ours per service.

```toml
[channels.chat]
type = "apprise"
url_env = "APPRISE_URLS"     # one or more apprise URLs, separated by spaces or commas,
                             # e.g. "tgram://bottoken/ChatID ntfys://ntfy.sh/community-live"
```

The URLs hold the services' credentials, so they come from the environment only, and are
redacted from everything stored or printed. Apprise cannot deduplicate by key: a process that
dies mid-call leaves the send ``uncertain``, as for the group robots. Its failures are read
from apprise's own per-attempt log: HTTP 429, 5xx, timeouts and connection errors are
transient (retried with backoff inside the window); other 4xx answers are permanent.
"""

from __future__ import annotations

import functools
import json
import re
import warnings
from types import ModuleType
from typing import ClassVar

from ..errors import ConfigError, PermanentPublishError, TransientPublishError
from ..models import Message
from .base import Channel, Receipt

# "error=429", or ntfy's own five-digit codes that start with the HTTP status ("error=42901")
_CODE = re.compile(r"error=([45]\d\d)\d*|\b([45]\d\d)\b")
_TRANSIENT_WORDS = ("connection error", "timed out", "timeout", "temporarily", "too many")


@functools.cache
def _library() -> ModuleType:
    """apprise, with its plugins loaded once, here: loading them imports the stdlib's
    deprecated imghdr, whose warning says nothing about us (and fails runs with -W error)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        import apprise

        apprise.Apprise().add("json://localhost/")  # loads every plugin module
    return apprise


class AppriseChannel(Channel):
    type: ClassVar[str] = "apprise"
    required_secrets: ClassVar[tuple[str, ...]] = ("url_env",)

    def urls(self) -> list[str]:
        raw = self.secret("url_env") or ""
        urls = [u for u in re.split(r"[\s,]+", raw) if u]
        for url in urls:
            self.keep_secret(url)
            userinfo = url.split("://", 1)[-1].split("@", 1)
            if len(userinfo) == 2:  # user:password@host
                for part in userinfo[0].split(":"):
                    self.keep_secret(part)
        return urls

    def _apprise(self) -> object:
        apprise = _library()
        apobj = apprise.Apprise()
        for url in self.urls():
            if not apobj.add(url):
                scheme = url.split("://", 1)[0]
                raise ConfigError(
                    f"channels.{self.name}: apprise does not understand a URL in "
                    f"${self.option('url_env')} (scheme {scheme}://)",
                    hint="see https://github.com/caronc/apprise/wiki for each service's URL",
                )
        return apobj

    def validate(self) -> None:
        super().validate()
        if not self.urls():
            raise ConfigError(
                f"channels.{self.name}: ${self.option('url_env')} holds no apprise URL",
                hint='e.g. export APPRISE_URLS="ntfys://ntfy.sh/my-topic"',
            )
        self._apprise()

    def budget(self, message: Message) -> float:
        """apprise's own timeouts (connect 4 s, read 4 s by default) per service and retry."""
        return 60.0 + 30.0 * len(self.urls())

    def body(self, message: Message) -> str:
        return f"{message.text.strip()}\n\n{message.url}"

    def send(self, message: Message) -> Receipt:
        apprise = _library()
        apobj = self._apprise()
        assert isinstance(apobj, apprise.Apprise)
        result = apobj.notify(
            title=message.title, body=self.body(message), body_format=apprise.NotifyFormat.TEXT
        )
        report = json.loads("".join(result.iter_json()))
        services = report.get("results", [])
        if result:
            return Receipt(note=f"{len(services)} service(s)")
        failed = [s for s in services if s.get("status") != "SUCCESS"]
        lines = [
            str(entry.get("message", ""))
            for s in failed
            for attempt in s.get("attempts", [])
            for entry in attempt.get("logs", [])
            if entry.get("level") in ("WARNING", "ERROR")
        ]
        names = ", ".join(sorted({str(s.get("name", "?")) for s in failed})) or "apprise"
        text = f"{names}: " + ("; ".join(lines) or "the notification failed")
        codes = {int(a or b) for line in lines for a, b in _CODE.findall(line)}
        transient = any(c == 429 or c >= 500 for c in codes) or any(
            w in line.lower() for line in lines for w in _TRANSIENT_WORDS
        )
        if codes and not transient:
            raise PermanentPublishError(
                text,
                channel=self.name,
                code=str(min(codes)),
                hint="check the service's apprise URL (token, chat id, topic)",
            )
        raise TransientPublishError(
            text, channel=self.name, code=str(min(codes)) if codes else "apprise", retry_after=30.0
        )

    def preview(self, message: Message) -> str:
        return f"{message.title}\n\n{self.body(message)}"
