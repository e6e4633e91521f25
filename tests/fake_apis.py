"""Loopback stand-ins for the remote APIs (WeCom, Feishu, DingTalk, Slack robots, listmonk),
answering as their public documentation says, including their error codes, 429 with
Retry-After, 5xx and answers slower than the client's timeout. Every request is recorded."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
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
    tokens: list[str] = field(default_factory=list)  # issued WeChat tokens, newest last
    expire_next: bool = False  # the next WeChat call with a token says 42001
    drafts: dict[str, dict] = field(default_factory=dict)
    publishes: dict[str, int] = field(default_factory=dict)  # publish_id → polls so far
    masses: dict[str, int] = field(default_factory=dict)  # clientmsgid → its one msg_id
    mass_polls: dict[int, int] = field(default_factory=dict)  # msg_id → mass/get polls
    previews: list[dict] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)  # hosted URL / media_id → bytes
    draft_articles: dict[str, list[dict]] = field(default_factory=dict)  # media_id → all

    def calls(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]


WECHAT_APPS = {
    "wx-ok": "wx-secret",
    "wx-personal": "wx-secret",
    "wx-quota": "wx-secret",
    "wx-nomass": "wx-secret",  # has used its mass-send quota
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


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
        data = seen.json()
        if isinstance(data, dict) and data.get("msgtype") == "template_card":
            card = data.get("template_card") or {}
            jumps = card.get("jump_list") or []
            if (
                card.get("card_type") != "text_notice"
                or not (card.get("main_title") or {}).get("title")
                or not (card.get("card_action") or {}).get("url")
                or len(jumps) > 3
                or any(not (j.get("url") and j.get("title") and j.get("type") == 1) for j in jumps)
            ):
                return JSONResponse({"errcode": 40058, "errmsg": "invalid template_card"})
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
        if data.get("msg_type") == "interactive":
            card = data.get("card")
            if not isinstance(card, dict) or not isinstance(card.get("elements"), list):
                return JSONResponse({"code": 9499, "msg": "Bad Request"})
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

    def token_ok(seen: Seen) -> JSONResponse | None:
        token = seen.query.get("access_token")
        if not rec.tokens or token != rec.tokens[-1]:
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        if rec.expire_next:
            rec.expire_next = False
            rec.tokens.append("expired-" + token)  # the old one is no longer valid
            return JSONResponse({"errcode": 42001, "errmsg": "access_token expired"})
        return None

    async def stable_token(request: Request) -> Response:
        seen = await record(request)
        data = seen.json()
        assert isinstance(data, dict)
        if WECHAT_APPS.get(str(data.get("appid"))) != data.get("secret"):
            return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
        if data.get("force_refresh") or not rec.tokens or rec.tokens[-1].startswith("expired-"):
            rec.tokens.append(f"TOKEN-{len(rec.tokens) + 1}")
        return JSONResponse({"access_token": rec.tokens[-1], "expires_in": 7200})

    async def add_material(request: Request) -> Response:
        seen = await record(request)
        if (bad := token_ok(seen)) is not None:
            return bad
        async with request.form() as form:  # closes the uploaded file's temp storage
            media = form.get("media")
            data = await media.read() if media is not None and hasattr(media, "read") else None
        if seen.query.get("type") != "image" or data is None:
            return JSONResponse({"errcode": 40004, "errmsg": "invalid media type"})
        media_id = f"THUMB-{len(rec.requests)}"
        rec.uploads[media_id] = data
        return JSONResponse({"media_id": media_id, "url": "http://mmbiz/x"})

    async def uploadimg(request: Request) -> Response:
        seen = await record(request)
        if (bad := token_ok(seen)) is not None:
            return bad
        async with request.form() as form:
            media = form.get("media")
            data = await media.read() if media is not None and hasattr(media, "read") else None
        if data is None:
            return JSONResponse({"errcode": 41005, "errmsg": "media data missing"})
        url = f"http://mmbiz.qpic.cn/fake/{len(rec.requests)}"
        rec.uploads[url] = data
        return JSONResponse({"url": url})

    async def draft_add(request: Request) -> Response:
        seen = await record(request)
        if (bad := token_ok(seen)) is not None:
            return bad
        if "wx-quota" in str(rec.calls("/cgi-bin/stable_token")[-1].body):
            return JSONResponse({"errcode": 45009, "errmsg": "reach max api daily quota limit"})
        articles = seen.json()["articles"]  # type: ignore[index]
        if not 1 <= len(articles) <= 8:
            return JSONResponse({"errcode": 45008, "errmsg": "article size out of limit"})
        for article in articles:
            if len(article["title"]) > 32:
                return JSONResponse({"errcode": 45003, "errmsg": "title size out of limit"})
            if not str(article.get("thumb_media_id", "")).startswith("THUMB-"):
                return JSONResponse({"errcode": 40007, "errmsg": "invalid media_id"})
        media_id = f"DRAFT-{len(rec.drafts) + 1}"
        rec.drafts[media_id] = articles[0]
        rec.draft_articles[media_id] = articles
        return JSONResponse({"media_id": media_id})

    async def submit(request: Request) -> Response:
        seen = await record(request)
        if (bad := token_ok(seen)) is not None:
            return bad
        if "wx-personal" in str(rec.calls("/cgi-bin/stable_token")[-1].body):
            return JSONResponse({"errcode": 48001, "errmsg": "api unauthorized"})
        publish_id = f"PUB-{len(rec.publishes) + 1}"
        rec.publishes[publish_id] = 0
        return JSONResponse({"errcode": 0, "errmsg": "ok", "publish_id": publish_id})

    async def publish_get(request: Request) -> Response:
        seen = await record(request)
        if (bad := token_ok(seen)) is not None:
            return bad
        pid = seen.json()["publish_id"]  # type: ignore[index]
        rec.publishes[pid] += 1
        if rec.publishes[pid] < 2:
            return JSONResponse({"publish_id": pid, "publish_status": 1})
        item = {"idx": 1, "article_url": f"https://mp.weixin.qq.com/s/{pid}"}
        return JSONResponse(
            {
                "publish_id": pid,
                "publish_status": 0,
                "article_id": f"ART-{pid}",
                "article_detail": {"count": 1, "item": [item]},
            }
        )

    def app_of() -> str:
        return str(rec.calls("/cgi-bin/stable_token")[-1].json()["appid"])  # type: ignore[index]

    async def mass_sendall(request: Request) -> Response:
        """message/mass/sendall: one job per clientmsgid, ever (45065 + its msg_id after)."""
        seen = await record(request)
        if (bad := token_ok(seen)) is not None:
            return bad
        data = seen.json()
        assert isinstance(data, dict)
        if app_of() == "wx-nomass":
            return JSONResponse({"errcode": 45028, "errmsg": "has no masssend quota"})
        client_id = str(data.get("clientmsgid", ""))
        if len(client_id.encode()) > 64:
            return JSONResponse({"errcode": 45067, "errmsg": "clientmsgid size out of limit"})
        media = (data.get("mpnews") or {}).get("media_id")
        if data.get("msgtype") != "mpnews" or media not in rec.drafts:
            return JSONResponse({"errcode": 40007, "errmsg": "invalid media_id"})
        if client_id and client_id in rec.masses:
            return JSONResponse(
                {"errcode": 45065, "errmsg": "clientmsgid exist", "msg_id": rec.masses[client_id]}
            )
        msg_id = 1000 + len(rec.mass_polls)
        rec.mass_polls[msg_id] = 0
        if client_id:
            rec.masses[client_id] = msg_id
        return JSONResponse(
            {
                "errcode": 0,
                "errmsg": "send job submission success",
                "msg_id": msg_id,
                "msg_data_id": 2247483000 + msg_id,
            }
        )

    async def mass_get(request: Request) -> Response:
        seen = await record(request)
        if (bad := token_ok(seen)) is not None:
            return bad
        msg_id = int(seen.json()["msg_id"])  # type: ignore[index]
        rec.mass_polls[msg_id] += 1
        status = "SENDING" if rec.mass_polls[msg_id] < 2 else "SEND_SUCCESS"
        return JSONResponse({"msg_id": msg_id, "msg_status": status})

    async def mass_preview(request: Request) -> Response:
        seen = await record(request)
        if (bad := token_ok(seen)) is not None:
            return bad
        data = seen.json()
        assert isinstance(data, dict)
        who = data.get("touser") or data.get("towxname")
        if "touser" in data and not str(who).startswith("o"):
            return JSONResponse({"errcode": 40003, "errmsg": "invalid openid"})
        if (data.get("mpnews") or {}).get("media_id") not in rec.drafts:
            return JSONResponse({"errcode": 40007, "errmsg": "invalid media_id"})
        rec.previews.append(data)
        return JSONResponse({"errcode": 0, "errmsg": "preview success", "msg_id": 34564})

    async def image(request: Request) -> Response:
        await record(request)
        return Response(PNG, media_type="image/png")

    return Starlette(
        routes=[
            Route("/cgi-bin/stable_token", stable_token, methods=["POST"]),
            Route("/cgi-bin/material/add_material", add_material, methods=["POST"]),
            Route("/cgi-bin/media/uploadimg", uploadimg, methods=["POST"]),
            Route("/cgi-bin/draft/add", draft_add, methods=["POST"]),
            Route("/cgi-bin/freepublish/submit", submit, methods=["POST"]),
            Route("/cgi-bin/freepublish/get", publish_get, methods=["POST"]),
            Route("/cgi-bin/message/mass/sendall", mass_sendall, methods=["POST"]),
            Route("/cgi-bin/message/mass/get", mass_get, methods=["POST"]),
            Route("/cgi-bin/message/mass/preview", mass_preview, methods=["POST"]),
            Route("/img/{name}", image, methods=["GET"]),
            Route("/cgi-bin/webhook/send", wecom, methods=["POST"]),
            Route("/open-apis/bot/v2/hook/{token}", feishu, methods=["POST"]),
            Route("/robot/send", dingtalk, methods=["POST"]),
            Route("/services/{rest:path}", slack, methods=["POST"]),
            Route("/api/campaigns", campaigns, methods=["GET", "POST"]),
            Route("/api/campaigns/{cid:int}/status", status, methods=["PUT"]),
        ]
    )
