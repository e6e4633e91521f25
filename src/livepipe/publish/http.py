"""Channels' HTTP: requests through the outbound door (net.py) with the channel's limits, and
the mapping of what comes back (or fails) onto Transient/PermanentPublishError."""

from __future__ import annotations

import time
from typing import Any

from ..errors import (
    BlockedError,
    FetchError,
    PermanentPublishError,
    PublishError,
    TooLargeError,
    TransientPublishError,
)
from ..net import Answer, Client
from ..net import retry_after as parse_retry_after

MAX_ANSWER = 1 << 20  # an API answer; anything longer is not what the API documents
MAX_IMAGE = 10 << 20  # WeChat's limit for a permanent image; covers and body images


def publish_error(exc: FetchError, channel: str) -> PublishError:
    """A failed request as the channel's error: a refused address or an answer over the cap
    cannot succeed by retrying; a deadline, a broken connection or an odd answer may."""
    hint = ""
    if isinstance(exc, BlockedError):
        hint = "the URL must reach a public address (see [network] allow in the README)"
    if isinstance(exc, BlockedError | TooLargeError):
        return PermanentPublishError(str(exc), channel=channel, code=exc.code, hint=hint)
    return TransientPublishError(str(exc), channel=channel, code=exc.code)


def request(
    client: Client,
    channel: str,
    method: str,
    url: str,
    *,
    deadline: float,
    max_bytes: int = MAX_ANSWER,
    **kwargs: Any,
) -> Answer:
    """One request within ``deadline`` seconds and ``max_bytes`` of answer; any failure is
    the channel's Transient/PermanentPublishError (naming the host only: a URL may hold a
    secret)."""
    try:
        return client.request(method, url, deadline=deadline, max_bytes=max_bytes, **kwargs)
    except FetchError as exc:
        raise publish_error(exc, channel) from None


def check_status(answer: Answer, channel: str) -> None:
    """429 and 5xx are transient (with Retry-After); other non-2xx answers are permanent."""
    status = answer.status
    if answer.ok:
        return
    snippet = " ".join(answer.text(200).split())
    if status == 429 or status >= 500:
        raise TransientPublishError(
            f"HTTP {status} from {answer.host}: {snippet}",
            channel=channel,
            code=str(status),
            retry_after=parse_retry_after(answer.headers.get("Retry-After")),
        )
    raise PermanentPublishError(
        f"HTTP {status} from {answer.host}: {snippet}",
        channel=channel,
        code=str(status),
        hint="check the channel's URL and credentials" if status in (401, 403, 404) else "",
    )


def unix_now() -> int:
    return int(time.time())
