"""The one door to the outside: every HTTP request livepipe makes goes through ``Client``.

Each request has a **total deadline** (not a per-read timeout: an answer trickled one byte a
second is cut off when the deadline passes, headers included), a **byte cap** on the answer
(read while streaming, so an endless answer never fills memory), **no redirects** unless the
caller asks for some (each hop checked again), **http(s) only**, and an **address policy**
checked when the connection is made, after DNS, on the very address connected to (a name
that resolves to an internal address is caught, and cannot change between check and use):

- ``Policy.public(allow)`` for URLs that come from pages or templates (covers, images, stream
  status URLs): loopback, private, link-local, shared, multicast, reserved and unspecified
  addresses are refused unless ``[network] allow`` names their network; no proxy from the
  environment (a proxy would hide the address finally reached);
- ``Policy.operator()`` for the addresses the site's own configuration names (a channel's
  webhook on the intranet, the WeChat API base): any address, proxies from the environment.

Failures are the ``FetchError`` family of errors.py (blocked, too large, deadline, network,
bad answer); callers map them onto their own errors (channels: Transient/Permanent).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

import httpcore
import httpx
from httpcore._backends.sync import SyncStream
from pydantic import BaseModel, ValidationError

from .addresses import IPNetwork, Policy, _literal, _refused
from .errors import (
    BadAnswerError,
    BlockedError,
    DeadlineError,
    FetchError,
    NetworkError,
    TooLargeError,
)
from .version import __version__

USER_AGENT = f"livepipe/{__version__} (+https://github.com/livepipe)"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
M = TypeVar("M", bound=BaseModel)

# -- the deadline of the request this thread is making -------------------------------------------
_local = threading.local()


def _budget(timeout: float | None) -> float:
    """What is left of this thread's deadline (capped by ``timeout``); DeadlineError when
    nothing is."""
    deadline: float | None = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout if timeout is not None else 30.0
    left = deadline - time.monotonic()
    if left <= 0:
        raise _DeadlinePassed()
    return min(left, timeout) if timeout is not None else left


class _DeadlinePassed(Exception):
    """Raised inside the transport; Client.request turns it into DeadlineError."""


class _Refused(Exception):
    """Raised inside the transport when every address of a host is refused."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.host = host


class _GuardedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _budget(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _budget(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _GuardedStream(self._inner.start_tls(ssl_context, server_hostname, _budget(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


_RESOLVER = ThreadPoolExecutor(4, thread_name_prefix="livepipe-dns")


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves the host within the deadline, keeps the addresses the policy permits, and
    connects to one of those (the address checked is the address used)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        budget = _budget(timeout)
        literal = _literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            found = _RESOLVER.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
            try:
                infos = found.result(timeout=budget)
            except FutureTimeout:
                raise _DeadlinePassed() from None
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
            addresses = list(dict.fromkeys(ipaddress.ip_address(i[4][0]) for i in infos))
        permitted = [ip for ip in addresses if self.policy.permits(ip)]
        if not permitted:
            raise _Refused(host)
        last: OSError | None = None
        for ip in permitted:
            try:
                sock = socket.create_connection((str(ip), port), _budget(timeout))
            except TimeoutError:
                raise httpcore.ConnectTimeout(f"connecting to {host} timed out") from None
            except OSError as exc:
                last = exc
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in socket_options or ():
                sock.setsockopt(*option)
            return _GuardedStream(SyncStream(sock))
        raise httpcore.ConnectError(f"cannot connect to {host}: {last}")


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, policy: Policy) -> None:
        super().__init__(verify=_tls(), http2=False, trust_env=not policy.public_only)
        self._pool = httpcore.ConnectionPool(
            ssl_context=_tls(),
            max_connections=20,
            max_keepalive_connections=10,
            keepalive_expiry=30.0,
            network_backend=_GuardedBackend(policy),
        )


_TLS: list[ssl.SSLContext] = []
_TLS_LOCK = threading.Lock()


def _tls() -> ssl.SSLContext:
    """One TLS context for the process: building one loads the CA bundle (~45 ms of CPU,
    holding the GIL). Contexts are thread-safe; the lock keeps the sixteen threads of a
    burst, each making its first client at once, from each building one."""
    if not _TLS:
        with _TLS_LOCK:
            if not _TLS:
                _TLS.append(httpx.create_ssl_context())
    return _TLS[0]


@dataclass(frozen=True)
class Answer:
    """A whole answer (within the cap): status, headers, the bytes."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: httpx.URL

    @property
    def host(self) -> str:
        return self.url.host

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self, limit: int | None = None) -> str:
        data = self.body if limit is None else self.body[:limit]
        return data.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; BadAnswerError when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            raise BadAnswerError(
                f"{self.host} answered HTTP {self.status} with something that is not JSON",
                host=self.host,
            ) from None

    def parse(self, model: type[M], what: str = "") -> M:
        """The body as ``model`` (the API's documented shape); BadAnswerError names the first
        field that does not fit."""
        try:
            return model.model_validate_json(self.body)
        except ValidationError as exc:
            if exc.errors(include_url=False)[0]["type"] == "json_invalid":
                self.json()  # the same words as for any answer that is not JSON
            raise BadAnswerError(
                f"{what or self.host} answered in an unexpected shape: {describe(exc)}",
                host=self.host,
            ) from None


def describe(exc: ValidationError) -> str:
    """The first problem of a pydantic error, short: ``errcode: Input should be a valid
    integer (got 'busy')``."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "the answer"
    got = repr(first.get("input"))
    got = got if len(got) <= 40 else got[:37] + "..."
    return f"{where}: {first['msg']} (got {got})"


class _NoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class Client:
    """HTTP with the limits above. One per thread is the usual use (connections are kept
    open between requests); ``transport`` replaces the network (tests: MockTransport, where
    only what the URL itself says is checked)."""

    def __init__(
        self,
        policy: Policy,
        *,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.policy = policy
        self._http = httpx.Client(
            transport=transport or _GuardedTransport(policy),
            headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
            follow_redirects=False,
            trust_env=not policy.public_only,
            timeout=httpx.Timeout(30.0),
        )
        # No cookie jar: every call is an API call that carries its own credentials, a
        # remote cannot leave state in the client, and reading Set-Cookie into a jar cost
        # a tenth of a send's CPU.
        self._http._cookies = _NoCookies()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def auth(self) -> Any:
        return self._http.auth

    @auth.setter
    def auth(self, value: Any) -> None:
        self._http.auth = value

    def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        deadline: float,
        max_bytes: int,
        redirects: int = 0,
        **kwargs: Any,
    ) -> Answer:
        """One request, whole, within ``deadline`` seconds and ``max_bytes`` bytes of
        answer; up to ``redirects`` redirects followed (each checked like the first)."""
        target = httpx.URL(url)
        if kwargs.get("params"):
            target = target.copy_merge_params(kwargs.pop("params"))
        else:
            kwargs.pop("params", None)
        ends = time.monotonic() + deadline
        previous = getattr(_local, "deadline", None)
        _local.deadline = ends
        try:
            for _ in range(redirects + 1):
                self.policy.check_url(target.scheme, target.host)
                answer = self._once(method, target, max_bytes, **kwargs)
                location = answer.headers.get("location")
                if answer.status not in REDIRECTS or not location or redirects == 0:
                    return answer
                target = target.join(location)
                if answer.status == 303:
                    method, kwargs = "GET", {}
            return answer
        finally:
            _local.deadline = previous

    def get(self, url: str | httpx.URL, **kwargs: Any) -> Answer:
        return self.request("GET", url, **kwargs)

    def _once(self, method: str, url: httpx.URL, max_bytes: int, **kwargs: Any) -> Answer:
        host = url.host
        try:
            with self._http.stream(method, url, timeout=_budget(None), **kwargs) as response:
                declared = response.headers.get("content-length", "")
                if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
                    raise TooLargeError(_too_large(host, max_bytes), host=host)
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLargeError(_too_large(host, max_bytes), host=host)
                    chunks.append(chunk)
                return Answer(response.status_code, response.headers, b"".join(chunks), url)
        except FetchError:
            raise
        except _DeadlinePassed:
            raise DeadlineError(f"no whole answer from {host} in time", host=host) from None
        except _Refused:
            raise BlockedError(_refused(host), host=host) from None
        except httpx.TimeoutException:
            if getattr(_local, "deadline", 0) and time.monotonic() >= _local.deadline - 0.01:
                raise DeadlineError(f"no whole answer from {host} in time", host=host) from None
            raise DeadlineError(f"timed out talking to {host}", host=host) from None
        except (httpx.TransportError, httpx.DecodingError, httpx.TooManyRedirects) as exc:
            # the chained httpx error's text may hold the full URL, with tokens in it
            raise NetworkError(
                f"connection to {host} failed: {type(exc).__name__}", host=host
            ) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError, ValueError) as exc:
            raise BlockedError(f"not a usable URL: {type(exc).__name__}", host=host) from None


def _too_large(host: str, cap: int) -> str:
    return f"the answer from {host} is longer than {cap:,} bytes: stopped reading"


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header in seconds: ASCII digits, or an HTTP date; anything else
    (``inf``, ``²``, garbage, a date in the past) is None; a huge value is capped at a day
    (the caller's window bounds it further)."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit() and len(text) <= 20:
        return float(min(int(text), MAX_RETRY_AFTER))
    if len(text) > 64:
        return None
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:
        return None
    seconds = when.timestamp() - (now if now is not None else time.time())
    return float(min(max(0.0, seconds), MAX_RETRY_AFTER))


MAX_RETRY_AFTER = 86_400


__all__ = ["Answer", "Client", "IPNetwork", "Policy", "describe", "retry_after"]
