"""What every stand-in shares: each request it saw (``Seen``), the state a test looks at
(``Recorder``), and the failures any of them can be told to answer with."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class Recorder:
    requests: list[Seen] = field(default_factory=list)
    campaigns: dict[int, dict] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)  # issued WeChat tokens, newest last
    expire_next: bool = False  # the next WeChat call with a token says 42001
    drafts: dict[str, dict] = field(default_factory=dict)
    publishes: dict[str, int] = field(default_factory=dict)  # publish_id → polls so far
    masses: dict[str, int] = field(default_factory=dict)  # clientmsgid → its one msg_id
    mass_polls: dict[int, int] = field(default_factory=dict)  # msg_id → mass/get polls
    previews: list[dict] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)  # hosted URL / media_id → bytes
    draft_articles: dict[str, list[dict]] = field(default_factory=dict)  # media_id → all
    edited: dict[str, dict] = field(default_factory=dict)  # article_id → an editor's change
    mass_status: dict[int, str] = field(default_factory=dict)  # msg_id → a status to report

    def calls(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    async def record(self, request: Request) -> Seen:
        seen = Seen(
            request.method,
            request.url.path,
            dict(request.query_params),
            {k.lower(): v for k, v in request.headers.items()},
            await request.body(),
        )
        self.requests.append(seen)
        return seen


async def common(behaviour: str) -> Response | None:
    """A key, token or name of ``e500``, ``e429`` or ``slow`` answers so."""
    if behaviour == "e500":
        return PlainTextResponse("internal error", status_code=500)
    if behaviour == "e429":
        return PlainTextResponse("rate limited", status_code=429, headers={"Retry-After": "7"})
    if behaviour == "slow":
        await asyncio.sleep(3)
    return None
