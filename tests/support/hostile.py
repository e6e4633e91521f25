"""A misbehaving HTTP server on loopback (raw asyncio sockets, so it can do what no framework
would): answers that never end, answers trickled a byte at a time (headers or body), a
declared length far over any cap, redirects to internal addresses, and any status, headers
and body a test sets per path. Every request is counted per path.

    with hostile() as h:
        h.route("/x", status=429, headers={"Retry-After": "inf"}, body=b"{}")
        url = h.url + "/x"
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Route:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"{}"
    mode: str = "plain"  # plain | endless | trickle-headers | trickle-body | huge-length
    delay: float = 0.2  # seconds between trickled bytes


@dataclass
class Hostile:
    url: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    bytes_sent: Counter[str] = field(default_factory=Counter)
    open_connections: int = 0

    def route(self, path: str, **kwargs: object) -> str:
        self.routes[path] = Route(**kwargs)  # type: ignore[arg-type]
        return self.url + path


async def _handle(h: Hostile, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    h.open_connections += 1
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        path = line.split(" ")[1].split("?")[0] if " " in line else "/"
        length = 0
        for raw in head.split(b"\r\n")[1:]:
            name, _, value = raw.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip() or 0)
        if length:
            await reader.readexactly(length)
        h.hits[path] += 1
        r = h.routes.get(path, Route(status=404, body=b"not found"))
        headers = {"Content-Type": "application/json", "Connection": "close", **r.headers}
        if r.mode in ("endless", "trickle-body"):
            headers["Transfer-Encoding"] = "chunked"
        elif r.mode == "huge-length":
            headers["Content-Length"] = str(50 << 30)
        else:
            headers["Content-Length"] = str(len(r.body))
        start = f"HTTP/1.1 {r.status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head_bytes = (start + "\r\n").encode("latin-1")
        if r.mode == "trickle-headers":
            for i in range(len(head_bytes)):
                writer.write(head_bytes[i : i + 1])
                await writer.drain()
                h.bytes_sent[path] += 1
                await asyncio.sleep(r.delay)
        else:
            writer.write(head_bytes)
        if r.mode == "endless":
            chunk = b"x" * 65536
            frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            while True:
                writer.write(frame)
                await writer.drain()
                h.bytes_sent[path] += len(chunk)
        elif r.mode == "trickle-body":
            while True:
                writer.write(b"1\r\nx\r\n")
                await writer.drain()
                h.bytes_sent[path] += 1
                await asyncio.sleep(r.delay)
        elif r.mode == "huge-length":
            while True:
                writer.write(b"y" * 65536)
                await writer.drain()
                h.bytes_sent[path] += 65536
        else:
            writer.write(r.body)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        h.open_connections -= 1
        writer.close()


@contextmanager
def hostile(host: str = "127.0.0.1") -> Iterator[Hostile]:
    h = Hostile()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, asyncio.AbstractServer] = {}

    async def start() -> None:
        server = await asyncio.start_server(lambda r, w: _handle(h, r, w), host, 0)
        holder["server"] = server
        port = server.sockets[0].getsockname()[1]
        h.url = f"http://{host}:{port}"
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    ready.wait(10)
    try:
        yield h
    finally:

        async def stop() -> None:
            holder["server"].close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
