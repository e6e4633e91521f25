"""The bounds of livepipe's HTTP servers, and the hardened uvicorn setup of the hooks server
of ``up``: whatever a client does, it holds a connection for a bounded time and memory.
(``serve`` has its own server, ``serve/http.py``, with the same header bounds; it reads no
bodies at all.)

- The request line and headers must arrive within ``HEADER_SECONDS`` of the connection (or of
  the previous response): a client trickling one header byte a second is closed then, not
  kept alive by each byte (uvicorn alone only times out connections idle *between*
  requests). Headers are at most 64 KiB.
- The body must arrive within ``BODY_SECONDS`` and is counted while it streams, chunked or
  not: over the route's cap the request gets 413 at the first byte too many (a declared
  Content-Length over the cap gets it before anything is read), too slow gets 408.
- At most ``connections`` connections at once; idle keep-alive connections closed after
  ``IDLE_SECONDS``; no Server header.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

HEADER_SECONDS = 5.0
BODY_SECONDS = 10.0
IDLE_SECONDS = 5.0
MAX_HEADERS = 64 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def http_protocol() -> type:
    """uvicorn's HTTP/1.1 protocol with a total deadline for each request's headers."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderDeadlineProtocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _await_headers(self) -> None:
            self._stop_header_timer()
            self._header_timer = self.loop.call_later(HEADER_SECONDS, self._headers_too_slow)

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            # TCP_NODELAY on every connection, whatever socket it came from (asyncio sets it
            # only for a listening socket made with IPPROTO_TCP, which ``bind`` does not):
            # without it each answer's body waited for the client's delayed ACK of its
            # headers (Nagle): 44 ms per response, 360 answers a second on 16 connections.
            conn = transport.get_extra_info("socket")
            if conn is not None and conn.family in (socket.AF_INET, socket.AF_INET6):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._await_headers()

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not None and self.cycle is not before:
                self._stop_header_timer()  # a whole request line and headers arrived

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.our_state is not h11.CLOSED:
                self._await_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            super().connection_lost(exc)

    return HeaderDeadlineProtocol


class _BodyTooLarge(Exception):
    pass


class _BodyTooSlow(Exception):
    pass


class BoundedBody:
    """ASGI middleware: the request body within ``max_body`` bytes and ``seconds``, counted
    as it streams; 413 or 408 otherwise (when the app has not answered yet)."""

    def __init__(self, app: ASGIApp, max_body: int, seconds: float = BODY_SECONDS) -> None:
        self.app = app
        self.max_body = max_body
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                text = value.decode("latin-1").strip()
                if not (text.isascii() and text.isdigit()) or int(text) > self.max_body:
                    await _answer(send, 413, b"body too large\n")
                    return
        loop = asyncio.get_running_loop()
        ends = loop.time() + self.seconds
        received = 0
        started = False

        async def bounded() -> Message:
            nonlocal received
            left = ends - loop.time()
            if left <= 0:
                raise _BodyTooSlow()
            try:
                message = await asyncio.wait_for(receive(), left)
            except TimeoutError:
                raise _BodyTooSlow() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge()
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded, watched)
        except _BodyTooLarge:
            if not started:
                await _answer(send, 413, b"body too large\n")
        except _BodyTooSlow:
            if not started:
                await _answer(send, 408, b"the body took too long\n")


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def bind(host: str, port: int, option: str) -> socket.socket:
    """The listening socket, bound now: a port in use is a clear error naming the port and
    the option that changes it (not a line printed while the rest runs without it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        from .errors import PortInUseError

        why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used: {exc.strerror}"
        raise PortInUseError(
            f"port {port} on {host} {why}",
            hint=f"stop what listens there, or choose another port with {option}",
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def body_limit(max_body: int, seconds: float = BODY_SECONDS) -> Any:
    """``BoundedBody`` as a Starlette middleware entry: inside Starlette's error handling, so
    a body over the cap is answered 413 (not 500)."""
    from starlette.middleware import Middleware

    return Middleware(BoundedBody, max_body=max_body, seconds=seconds)


def config(app: Any, *, connections: int = 512, log_level: str = "warning") -> Any:
    """A uvicorn Config for ``app`` with the bounds above (serve it on a socket from
    ``bind``; bodies are bounded by the app's ``body_limit`` middleware)."""
    import uvicorn

    return uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="auto",
        server_header=False,
        http=http_protocol(),
        timeout_keep_alive=int(IDLE_SECONDS),
        h11_max_incomplete_event_size=MAX_HEADERS,
        limit_concurrency=connections,
    )
