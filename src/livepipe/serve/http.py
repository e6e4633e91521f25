"""The HTTP/1.1 server of `livepipe serve`: GET and HEAD of files held in memory, nothing
else, so it is small enough to be strict and fast.

A calendar app revalidates its subscriptions every few minutes and mostly gets a 304; that
answer is a dictionary lookup, two ``stat`` calls and one write here, where uvicorn's h11
protocol and a Starlette app cost twenty times as much (``bench/bench_serve.py``).

The bounds are those of ``inbound`` (the hooks server keeps uvicorn, for its bodies):

- A request's line and headers must arrive within ``HEADER_SECONDS`` of the connection or
  of the previous answer; a connection idle or trickling that long is closed. At most
  ``MAX_HEADERS`` bytes of them (431 beyond).
- No request body is read: a request that announces one (Content-Length above 0, any
  Transfer-Encoding) is answered and the connection closed, so no body is ever mistaken for
  the next request.
- Anything malformed (the request line, a header line, a second Host, a non-ASCII target)
  gets 400 and the connection is closed; other methods than GET and HEAD get 405.
- At most ``connections`` connections at once (503 beyond); answers wait while a client is
  not reading (the transport's flow control), so a slow reader holds one buffer, not many,
  and one that reads nothing of it for ``STALL_SECONDS`` is cut off.
- No Server header.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Protocol
from urllib.parse import parse_qsl, unquote

from ..inbound import HEADER_SECONDS, MAX_HEADERS

REASONS = {
    200: "OK",
    304: "Not Modified",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
METHODS = ("GET", "HEAD")
STALL_SECONDS = 30.0  # a client that takes none of its answers for this long is cut off
# RFC 9110 5.6.2: a header name is a token; a value has no CR, LF or NUL. Every line of
# the block at once (each line ended with CRLF).
_FIELDS = re.compile(rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n\x00]*\r\n)*")
_TARGET = re.compile(r"/[\x21-\x7e]*")


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the routes see it: the path percent-decoded, header names in lower
    case (a repeated header's values joined with ", ")."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)  # the last value of each name
    headers: Mapping[str, str] = field(default_factory=dict)
    server: tuple[str, int] = ("127.0.0.1", 80)  # the address the connection came to
    scheme: str = "http"


class Reply:
    """An answer: status, headers (their names as they are written) and body. A HEAD
    request's answer is written without its body, its Content-Length kept. Its status line
    and headers are encoded once (a file's replies are kept and written again and again)."""

    __slots__ = ("_wire", "body", "headers", "status")

    def __init__(
        self, status: int, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> None:
        self.status = status
        self.headers = dict(headers or {})
        self.body = body
        self._wire: bytes | None = None

    def wire(self) -> bytes:
        """The status line and headers, each line ended, without Date and Connection."""
        if self._wire is None:
            lines = [f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Unknown')}\r\n"]
            lines += [f"{name}: {value}\r\n" for name, value in self.headers.items()]
            if self.status != 304 and "Content-Length" not in self.headers:
                lines.append(f"Content-Length: {len(self.body)}\r\n")
            self._wire = "".join(lines).encode("latin-1")
        return self._wire


def text(status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(
        status,
        {"Content-Type": "text/plain; charset=utf-8", **(headers or {})},
        message.encode("utf-8"),
    )


class App(Protocol):
    def __call__(self, request: Request) -> Reply: ...


class _Clock:
    """The Date header line, formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def date(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = b"Date: " + formatdate(now, usegmt=True).encode("ascii") + b"\r\n"
        return self._line


def encode(reply: Reply, date: bytes, *, head: bool, close: bool) -> bytes:
    """The bytes of ``reply`` on the wire (``date``: the Date header line)."""
    end = b"Connection: close\r\n\r\n" if close else b"\r\n"
    if head or reply.status == 304 or not reply.body:
        return reply.wire() + date + end
    return b"".join((reply.wire(), date, end, reply.body))


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse(head: bytes, server: tuple[str, int]) -> tuple[Request, bool, bool]:
    """(the request, whether the client keeps the connection, whether it sends a body) from
    a request line and headers (without the blank line), or _BadRequest."""
    first, _, rest = head.partition(b"\r\n")
    parts = first.split(b" ")
    if len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise _BadRequest(400, "bad request line\n")
    try:
        method, target = parts[0].decode("ascii"), parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise _BadRequest(400, "bad request line\n") from None
    headers: dict[str, str] = {}
    if rest:
        if _FIELDS.fullmatch(rest + b"\r\n") is None:
            raise _BadRequest(400, "bad header line\n")
        for line in rest.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            name, value = name.lower(), value.strip(" \t")
            if name in headers:
                if name in ("host", "content-length"):
                    raise _BadRequest(400, f"more than one {name} header\n")
                value = f"{headers[name]}, {value}"
            headers[name] = value
    http11 = parts[2] == b"HTTP/1.1"
    if http11 and "host" not in headers:
        raise _BadRequest(400, "no host header\n")
    length = headers.get("content-length", "0").strip()
    if not (length.isascii() and length.isdigit()):
        raise _BadRequest(400, "bad content-length\n")
    body = bool(length.lstrip("0")) or "transfer-encoding" in headers  # (no int(): 5,000 digits)
    connection = headers.get("connection", "").lower()
    keep = ("close" not in connection) if http11 else ("keep-alive" in connection)
    if target == "*" or not _TARGET.fullmatch(target):
        if method not in METHODS:  # OPTIONS * and the like: not this server's business
            return Request(method, target), keep, body
        raise _BadRequest(400, "bad request target\n")
    raw_path, _, query = target.partition("?")
    return (
        Request(
            method,
            unquote(raw_path),
            dict(parse_qsl(query, keep_blank_values=True)) if query else {},
            headers,
            server,
        ),
        keep,
        body,
    )


class _Connection(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.scanned = 0  # the buffer's first bytes that hold no end of a request's head
        self.timer: asyncio.TimerHandle | None = None
        self.stall: asyncio.TimerHandle | None = None
        self.paused = False
        self.closing = False
        self.refused = False
        self.address = ("127.0.0.1", 80)

    # the life of a connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        conn = transport.get_extra_info("socket")
        if conn is not None and conn.family in (socket.AF_INET, socket.AF_INET6):
            # each answer is one write, but a client's delayed ACK must never hold one
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            host, port = transport.get_extra_info("sockname")[:2]
            self.address = (str(host), int(port))
        live = self.server.live
        # Beyond the limit, the request is read and answered 503 (closing at once, with it
        # unread, would reset the connection and lose the answer).
        self.refused = len(live) >= self.server.connections
        if not self.refused:
            live.add(self)
        self._await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self._stop_stall()
        self.server.live.discard(self)

    def pause_writing(self) -> None:
        """The client is not reading: no more answers until it does. Requests already here
        wait for it, so the header deadline (for requests still to come) is off meanwhile;
        the stall limit bounds a client that reads nothing."""
        self.paused = True
        self._stop_timer()
        if self.transport is not None:
            self.transport.pause_reading()
            self._watch_stall(self.transport.get_write_buffer_size())

    def resume_writing(self) -> None:
        self.paused = False
        self._stop_stall()
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()
            self._await_request()
            self._answer_waiting()

    def _watch_stall(self, left: int) -> None:
        """While answers wait for the client to read them, it must take some of them every
        ``stall_seconds``: one that takes nothing (a slow-read attack) would otherwise keep
        its connection and a full buffer for ever (a close waits for the buffer to drain)."""
        loop = asyncio.get_running_loop()
        self.stall = loop.call_later(self.server.stall_seconds, self._stalled, left)

    def _stalled(self, left: int) -> None:
        self.stall = None
        if not self.paused or self.transport is None:
            return
        now = self.transport.get_write_buffer_size()
        if now >= left:
            self.closing = True
            self.transport.abort()
        else:
            self._watch_stall(now)

    def _stop_stall(self) -> None:
        if self.stall is not None:
            self.stall.cancel()
            self.stall = None

    def _await_request(self) -> None:
        """The next request's line and headers are due within HEADER_SECONDS (from when the
        client reads again, while it is not reading)."""
        self._stop_timer()
        if self.paused:
            return
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(HEADER_SECONDS, self._too_slow)

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _too_slow(self) -> None:
        self.timer = None
        if self.transport is not None:
            self.closing = True
            self.transport.close()

    # requests

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.buffer += data
        self._answer_waiting()

    def _answer_waiting(self) -> None:
        """Answer every whole request in the buffer, in order, until the client stops
        reading (flow control) or the connection is closing. The buffer is searched once
        (``scanned``) and cut once, however many requests it holds or bytes it came in."""
        buf, pos = self.buffer, 0
        try:
            while not self.paused and not self.closing:
                end = buf.find(b"\r\n\r\n", max(pos, self.scanned - 3), pos + MAX_HEADERS + 4)
                if end < 0:
                    self.scanned = len(buf)
                    if len(buf) - pos > MAX_HEADERS:
                        self._finish(text(431, "request headers too large\n"), head=False)
                    return
                head, pos = bytes(buf[pos:end]).lstrip(b"\r\n"), end + 4
                self.scanned = pos
                self._stop_timer()
                try:
                    request, keep, body = parse(head, self.address)
                except _BadRequest as bad:
                    self._finish(text(bad.status, str(bad)), head=False)
                    return
                except Exception as exc:  # what the parser did not foresee: still an answer
                    self.server.log(f"error: an unreadable request: {type(exc).__name__}")
                    self._finish(text(400, "bad request\n"), head=False)
                    return
                if self.refused:
                    self._finish(text(503, "too many connections\n"), head=False)
                    return
                reply = self.server.answer(request)
                is_head = request.method == "HEAD"
                if not keep or body:  # the client closes, or sends a body not read here
                    self._finish(reply, head=is_head)
                    return
                assert self.transport is not None
                self.transport.write(
                    encode(reply, self.server.clock.date(), head=is_head, close=False)
                )
                self._await_request()
        finally:
            if pos:
                del buf[:pos]
                self.scanned = max(0, self.scanned - pos)

    def _finish(self, reply: Reply, *, head: bool) -> None:
        """Write ``reply`` and close once it is sent."""
        self.closing = True
        self._stop_timer()
        assert self.transport is not None
        self.transport.write(encode(reply, self.server.clock.date(), head=head, close=True))
        self.transport.close()


class Server:
    """Serves ``app`` on listening sockets until stopped."""

    def __init__(
        self,
        app: App,
        *,
        connections: int = 512,
        stall_seconds: float = STALL_SECONDS,
        log: Callable[[str], None] = lambda _message: None,
    ) -> None:
        self.app = app
        self.connections = connections
        self.stall_seconds = stall_seconds
        self.log = log
        self.live: set[_Connection] = set()
        self.clock = _Clock()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = threading.Event()

    def answer(self, request: Request) -> Reply:
        if request.method not in METHODS:
            return text(405, "method not allowed\n", {"Allow": ", ".join(METHODS)})
        try:
            return self.app(request)
        except Exception as exc:  # one request's failure is that request's 500
            self.log(f"error: {request.method} {request.path}: {type(exc).__name__}: {exc}")
            return text(500, "internal error\n")

    async def serve(self, sock: socket.socket) -> None:
        """Serve on ``sock`` until ``stop()``."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        listener = await self._loop.create_server(
            lambda: _Connection(self), sock=sock, backlog=2048
        )
        self.started.set()
        try:
            await self._stop.wait()
        finally:
            listener.close()
            for conn in list(self.live):
                if conn.transport is not None:
                    conn.transport.close()
            await listener.wait_closed()

    def stop(self) -> None:
        """Stop serving (from any thread)."""
        if self._loop is not None and self._stop is not None:
            with suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)

    def run(self, sock: socket.socket) -> None:
        """Serve until SIGINT or SIGTERM."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self.stop)
            await self.serve(sock)

        asyncio.run(main())


@contextmanager
def running(app: App, sock: socket.socket, **options: object) -> Iterator[Server]:
    """``app`` served on ``sock`` in a thread of this process, for as long as the block."""
    server = Server(app, **options)  # type: ignore[arg-type]
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sock)), daemon=True, name="livepipe-serve"
    )
    thread.start()
    if not server.started.wait(10):
        raise RuntimeError("the server did not start")
    try:
        yield server
    finally:
        server.stop()
        thread.join(10)
