"""listmonk's campaign API: basic auth, create a campaign, start it."""

from __future__ import annotations

import base64
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .recorder import Recorder

LISTMONK_AUTH = ("api", "lm-token")


def routes(rec: Recorder) -> list[Route]:
    def authorised(request: Request) -> bool:
        expected = base64.b64encode(":".join(LISTMONK_AUTH).encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    async def campaigns(request: Request) -> Response:
        seen = await rec.record(request)
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
        seen = await rec.record(request)
        if not authorised(request):
            return JSONResponse({"message": "invalid credentials"}, status_code=401)
        cid = int(request.path_params["cid"])
        rec.campaigns[cid]["status"] = json.loads(seen.body)["status"]
        return JSONResponse({"data": rec.campaigns[cid]})

    return [
        Route("/api/campaigns", campaigns, methods=["GET", "POST"]),
        Route("/api/campaigns/{cid:int}/status", status, methods=["PUT"]),
    ]
