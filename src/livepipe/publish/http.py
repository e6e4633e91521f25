"""The one place HTTP clients are made: timeouts, user agent, no HTTP/2, no redirects; and
the mapping of HTTP outcomes onto Transient/PermanentPublishError."""

from __future__ import annotations

import email.utils
import functools
import ssl
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from .. import __version__
from ..errors import PermanentPublishError, TransientPublishError

USER_AGENT = f"livepipe/{__version__} (+https://github.com/livepipe)"


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for the process: building one loads the CA bundle (~45 ms of CPU,
    holding the GIL), which per send was most of a burst's cost. Contexts are thread-safe."""
    return httpx.create_ssl_context()


def client(timeout: float = 10.0, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return httpx.Client(
        verify=_tls(),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        headers={"User-Agent": USER_AGENT},
        http2=False,
        follow_redirects=False,
        transport=transport,
    )


def request(
    http: httpx.Client, channel: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """Send a request; network failures become TransientPublishError (never leaking URLs
    with secrets in them: only the host is named)."""
    try:
        return http.request(method, url, **kwargs)
    # `from None`: the chained httpx error's text may hold the full URL, with tokens in it.
    except httpx.TimeoutException:
        raise TransientPublishError(
            f"timed out talking to {httpx.URL(url).host}", channel=channel, code="timeout"
        ) from None
    except httpx.TransportError as exc:
        raise TransientPublishError(
            f"connection to {httpx.URL(url).host} failed: {type(exc).__name__}",
            channel=channel,
            code="connection",
        ) from None


def check_status(response: httpx.Response, channel: str) -> None:
    """429 and 5xx are transient (with Retry-After); other non-2xx answers are permanent."""
    status = response.status_code
    if 200 <= status < 300:
        return
    snippet = response.text[:200].strip()
    if status == 429 or status >= 500:
        raise TransientPublishError(
            f"HTTP {status} from {response.url.host}: {snippet}",
            channel=channel,
            code=str(status),
            retry_after=retry_after(response),
        )
    raise PermanentPublishError(
        f"HTTP {status} from {response.url.host}: {snippet}",
        channel=channel,
        code=str(status),
        hint="check the channel's URL and credentials" if status in (401, 403, 404) else "",
    )


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds()) if when.tzinfo else None


def unix_now() -> int:
    return int(time.time())
