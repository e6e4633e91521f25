"""A real HTTP server on 127.0.0.1 standing in for webhook receivers (uvicorn + starlette).

``/dedup`` behaves like a receiver that honours Idempotency-Key (a repeated key is
acknowledged, not processed again); ``/plain`` processes every request. Both count raw
requests and processed messages per key, and check the HMAC signature when a secret is set.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class Stats:
    raw: Counter[str] = field(default_factory=Counter)
    processed: Counter[str] = field(default_factory=Counter)
    bad_signatures: int = 0
    bodies: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    arrived: dict[str, float] = field(default_factory=dict)  # key → first arrival (epoch s)
    lock: threading.Lock = field(default_factory=threading.Lock)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_app(stats: Stats, secret: str | None = None, delay: float = 0.0) -> Starlette:
    async def hook(request: Request) -> JSONResponse:
        body = await request.body()
        key = request.headers.get("idempotency-key", "")
        if secret is not None:
            stamp = request.headers.get("x-livepipe-timestamp", "")
            mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
            if not hmac.compare_digest(
                "sha256=" + mac.hexdigest(), request.headers.get("x-livepipe-signature", "")
            ):
                with stats.lock:
                    stats.bad_signatures += 1
                return JSONResponse({"error": "bad signature"}, status_code=401)
        if delay:
            await asyncio.sleep(delay)
        dedup = request.url.path == "/dedup"
        with stats.lock:
            stats.arrived.setdefault(key, time.time())
            stats.raw[key] += 1
            if not (dedup and stats.processed[key]):
                stats.processed[key] += 1
                stats.bodies[key] = body
                stats.headers[key] = dict(request.headers)
        return JSONResponse({"id": f"msg-{key[:8]}"})

    return Starlette(
        routes=[Route("/dedup", hook, methods=["POST"]), Route("/plain", hook, methods=["POST"])]
    )


@contextmanager
def serve(stats: Stats, secret: str | None = None, delay: float = 0.0) -> Iterator[str]:
    """Run the receiver in a thread; yields its base URL."""
    with serve_app(make_app(stats, secret, delay)) as url:
        yield url


@contextmanager
def serve_app(app: Starlette, lifespan: str = "off") -> Iterator[str]:
    """Run any ASGI app with uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan=lifespan,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("receiver did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for(predicate: Callable[[], object], timeout: float, step: float = 0.25) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def starting_soon_site(root: Path, url: str, secret_env: str | None = None) -> Path:
    """A site at ``root`` whose only slot is starting-soon, to one webhook channel ``hook``
    at ``url`` (signed with ``$secret_env``, else unsigned); returns its content folder."""
    (root / "content").mkdir(parents=True)
    signing = f'secret_env = "{secret_env}"' if secret_env else "unsigned = true"
    (root / "livepipe.toml").write_text(
        '[site]\nname = "Burst"\nbase_url = "https://burst.example"\ntimezone = "UTC"\n'
        f'[channels.hook]\ntype = "webhook"\nurl = "{url}"\n{signing}\n'
        "[slots.announce]\nenabled = false\n[slots.digest]\nenabled = false\n"
        '[slots.reminder-1d]\nenabled = false\n[slots.starting-soon]\nchannels = ["hook"]\n'
    )
    return root / "content"
