"""The WeChat Official Account API (stable_token, material, draft, freepublish, mass send and
preview) with its error codes: expired tokens (42001), quotas, an account that may not publish."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .recorder import Recorder, Seen

WECHAT_APPS = {
    "wx-ok": "wx-secret",
    "wx-personal": "wx-secret",
    "wx-quota": "wx-secret",
    "wx-nomass": "wx-secret",  # has used its mass-send quota
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def routes(rec: Recorder) -> list[Route]:
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
        seen = await rec.record(request)
        data = seen.json()
        assert isinstance(data, dict)
        if WECHAT_APPS.get(str(data.get("appid"))) != data.get("secret"):
            return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
        if data.get("force_refresh") or not rec.tokens or rec.tokens[-1].startswith("expired-"):
            rec.tokens.append(f"TOKEN-{len(rec.tokens) + 1}")
        return JSONResponse({"access_token": rec.tokens[-1], "expires_in": 7200})

    async def add_material(request: Request) -> Response:
        seen = await rec.record(request)
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
        seen = await rec.record(request)
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
        seen = await rec.record(request)
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
        seen = await rec.record(request)
        if (bad := token_ok(seen)) is not None:
            return bad
        if "wx-personal" in str(rec.calls("/cgi-bin/stable_token")[-1].body):
            return JSONResponse({"errcode": 48001, "errmsg": "api unauthorized"})
        publish_id = f"PUB-{len(rec.publishes) + 1}"
        rec.publishes[publish_id] = 0
        return JSONResponse({"errcode": 0, "errmsg": "ok", "publish_id": publish_id})

    async def publish_get(request: Request) -> Response:
        seen = await rec.record(request)
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

    async def getarticle(request: Request) -> Response:
        """freepublish/getarticle: the published article; ``rec.edited`` holds what an
        editor changed since (``{"ART-PUB-1": {"title": …}}`` or ``{"is_deleted": True}``)."""
        seen = await rec.record(request)
        if (bad := token_ok(seen)) is not None:
            return bad
        article_id = str(seen.json()["article_id"])  # type: ignore[index]
        pid = article_id.removeprefix("ART-")
        if pid not in rec.publishes:
            return JSONResponse({"errcode": 53600, "errmsg": "Article ID 无效"})
        media = f"DRAFT-{pid.removeprefix('PUB-')}"
        first = rec.drafts.get(media, {})
        item = {"title": first.get("title", ""), "url": f"https://mp.weixin.qq.com/s/{pid}",
                "is_deleted": False, **rec.edited.get(article_id, {})}  # fmt: skip
        return JSONResponse({"news_item": [item]})

    def app_of() -> str:
        return str(rec.calls("/cgi-bin/stable_token")[-1].json()["appid"])  # type: ignore[index]

    async def mass_sendall(request: Request) -> Response:
        """message/mass/sendall: one job per clientmsgid, ever (45065 + its msg_id after)."""
        seen = await rec.record(request)
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
        seen = await rec.record(request)
        if (bad := token_ok(seen)) is not None:
            return bad
        msg_id = int(seen.json()["msg_id"])  # type: ignore[index]
        rec.mass_polls[msg_id] += 1
        status = "SENDING" if rec.mass_polls[msg_id] < 2 else "SEND_SUCCESS"
        status = rec.mass_status.get(msg_id, status)
        return JSONResponse({"msg_id": msg_id, "msg_status": status})

    async def mass_preview(request: Request) -> Response:
        seen = await rec.record(request)
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
        await rec.record(request)
        return Response(PNG, media_type="image/png")

    return [
        Route("/cgi-bin/stable_token", stable_token, methods=["POST"]),
        Route("/cgi-bin/material/add_material", add_material, methods=["POST"]),
        Route("/cgi-bin/media/uploadimg", uploadimg, methods=["POST"]),
        Route("/cgi-bin/draft/add", draft_add, methods=["POST"]),
        Route("/cgi-bin/freepublish/submit", submit, methods=["POST"]),
        Route("/cgi-bin/freepublish/get", publish_get, methods=["POST"]),
        Route("/cgi-bin/freepublish/getarticle", getarticle, methods=["POST"]),
        Route("/cgi-bin/message/mass/sendall", mass_sendall, methods=["POST"]),
        Route("/cgi-bin/message/mass/get", mass_get, methods=["POST"]),
        Route("/cgi-bin/message/mass/preview", mass_preview, methods=["POST"]),
        Route("/img/{name}", image, methods=["GET"]),
    ]
