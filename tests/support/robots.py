"""Group robots as their documentation describes them: WeCom (企业微信), Feishu (飞书),
DingTalk (钉钉) and Slack incoming webhooks, with their error codes and signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .recorder import Recorder, common

FEISHU_SECRET = "fs-secret"
DINGTALK_SECRET = "dt-secret"


def routes(rec: Recorder) -> list[Route]:
    async def wecom(request: Request) -> Response:
        seen = await rec.record(request)
        key = seen.query.get("key", "")
        if (r := await common(key)) is not None:
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
        seen = await rec.record(request)
        token = request.path_params["token"]
        if (r := await common(token)) is not None:
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
        seen = await rec.record(request)
        token = seen.query.get("access_token", "")
        if (r := await common(token)) is not None:
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
        await rec.record(request)
        name = request.path_params["rest"].split("/")[-1]
        if (r := await common(name)) is not None:
            return r
        if name == "archived":
            return PlainTextResponse("channel_is_archived", status_code=410)
        if name == "invalid":
            return PlainTextResponse("invalid_payload", status_code=400)
        return PlainTextResponse("ok")

    return [
        Route("/cgi-bin/webhook/send", wecom, methods=["POST"]),
        Route("/open-apis/bot/v2/hook/{token}", feishu, methods=["POST"]),
        Route("/robot/send", dingtalk, methods=["POST"]),
        Route("/services/{rest:path}", slack, methods=["POST"]),
    ]
