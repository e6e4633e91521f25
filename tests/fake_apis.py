"""Loopback stand-ins for the remote APIs (WeCom, Feishu, DingTalk, Slack robots, listmonk),
answering as their public documentation says, including their error codes, 429 with
Retry-After, 5xx and answers slower than the client's timeout. Every request is recorded."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import urllib.parse
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

FEISHU_SECRET = "fs-secret"
DINGTALK_SECRET = "dt-secret"
LISTMONK_AUTH = ("api", "lm-token")


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


async def _common(behaviour: str) -> Response | None:
    if behaviour == "e500":
        return PlainTextResponse("internal error", status_code=500)
    if behaviour == "e429":
        return PlainTextResponse("rate limited", status_code=429, headers={"Retry-After": "7"})
    if behaviour == "slow":
        await asyncio.sleep(3)
    return None


def make_app(rec: Recorder) -> Starlette:
    async def record(request: Request) -> Seen:
        seen = Seen(
            request.method,
            request.url.path,
            dict(request.query_params),
            {k.lower(): v for k, v in request.headers.items()},
            await request.body(),
        )
        rec.requests.append(seen)
        return seen

    async def wecom(request: Request) -> Response:
        seen = await record(request)
        key = seen.query.get("key", "")
        if (r := await _common(key)) is not None:
            return r
        if key == "limit":
            return JSONResponse({"errcode": 45009, "errmsg": "api freq out of limit"})
        if key != "ok":
            return JSONResponse({"errcode": 93000, "errmsg": "invalid webhook url"})
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def feishu(request: Request) -> Response:
        seen = await record(request)
        token = request.path_params["token"]
        if (r := await _common(token)) is not None:
            return r
        data = seen.json()
        assert isinstance(data, dict)
        if token == "limit":
            return JSONResponse({"code": 11232, "msg": "frequency limited"})
        if token == "signed":
            key = f"{data.get('timestamp')}\n{FEISHU_SECRET}".encode()
            good = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            if data.get("sign") != good:
                return JSONResponse({"code": 19021, "msg": "sign match fail"})
        return JSONResponse({"code": 0, "msg": "success"})

    async def dingtalk(request: Request) -> Response:
        seen = await record(request)
        token = seen.query.get("access_token", "")
        if (r := await _common(token)) is not None:
            return r
        if token == "limit":
            return JSONResponse({"errcode": 130101, "errmsg": "send too fast"})
        if token == "signed":
            stamp = seen.query.get("timestamp", "")
            digest = hmac.new(
                DINGTALK_SECRET.encode(), f"{stamp}\n{DINGTALK_SECRET}".encode(), hashlib.sha256
            ).digest()
            if seen.query.get("sign") != base64.b64encode(digest).decode():
                return JSONResponse({"errcode": 310000, "errmsg": "sign not match"})
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def slack(request: Request) -> Response:
        await record(request)
        name = request.path_params["rest"].split("/")[-1]
        if (r := await _common(name)) is not None:
            return r
        if name == "archived":
            return PlainTextResponse("channel_is_archived", status_code=410)
        if name == "invalid":
            return PlainTextResponse("invalid_payload", status_code=400)
        return PlainTextResponse("ok")

    def authorised(request: Request) -> bool:
        expected = base64.b64encode(":".join(LISTMONK_AUTH).encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    async def campaigns(request: Request) -> Response:
        seen = await record(request)
        if not authorised(request):
            return JSONResponse({"message": "invalid credentials"}, status_code=401)
        if request.method == "GET":
            q = seen.query.get("query", "")
            hits = [c for c in rec.campaigns.values() if q and q in c["name"]]
            return JSONResponse({"data": {"results": hits, "total": len(hits)}})
        data = seen.json()
        assert isinstance(data, dict)
        if not data.get("lists") or not data.get("name") or not data.get("subject"):
            return JSONResponse({"message": "invalid campaign"}, status_code=400)
        cid = len(rec.campaigns) + 1
        rec.campaigns[cid] = {**data, "id": cid, "status": "draft"}
        return JSONResponse({"data": rec.campaigns[cid]})

    async def status(request: Request) -> Response:
        seen = await record(request)
        if not authorised(request):
            return JSONResponse({"message": "invalid credentials"}, status_code=401)
        cid = int(request.path_params["cid"])
        rec.campaigns[cid]["status"] = json.loads(seen.body)["status"]
        return JSONResponse({"data": rec.campaigns[cid]})

    return Starlette(
        routes=[
            Route("/cgi-bin/webhook/send", wecom, methods=["POST"]),
            Route("/open-apis/bot/v2/hook/{token}", feishu, methods=["POST"]),
            Route("/robot/send", dingtalk, methods=["POST"]),
            Route("/services/{rest:path}", slack, methods=["POST"]),
            Route("/api/campaigns", campaigns, methods=["GET", "POST"]),
            Route("/api/campaigns/{cid:int}/status", status, methods=["PUT"]),
        ]
    )


__all__ = ["DINGTALK_SECRET", "FEISHU_SECRET", "LISTMONK_AUTH", "Recorder", "make_app", "urllib"]
