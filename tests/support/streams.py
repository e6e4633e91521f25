"""Loopback stand-ins for the live-status APIs the stream watchers ask, answering with the
real response shapes and error codes:

- bilibili ``GET /room/v1/Room/get_info?room_id=`` (bilibili-API-collect docs/live/info.md):
  ``{"code": 0, "msg": "ok", "message": "ok", "data": {"room_id", "short_id", "live_status"
  (0 offline, 1 live, 2 rotating replay), "live_time" ("YYYY-MM-DD HH:MM:SS" Beijing time,
  zeros when offline), …}}``; code 1 for a room that does not exist; the anti-crawler
  refusal is HTTP 412 with code -412 "请求被拦截".
- YouTube Data API v3 ``GET /videos?part=liveStreamingDetails,snippet&id=&key=``: a
  ``youtube#videoListResponse`` whose item has ``liveStreamingDetails.actualStartTime`` /
  ``actualEndTime``; 403 ``quotaExceeded`` (domain youtube.quota); 400 for a bad key.
- a generic status URL ``GET /status/{id}`` → ``{"data": {"live": bool}}``.

Each room's state is set by the test (``live``, ``offline``, ``replay``); ``mode`` makes a
platform fail (``down``: HTTP 500, ``limit``: its rate-limit answer, ``quota``, ``badkey``).
Every request is counted per room, with its time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

BEIJING = ZoneInfo("Asia/Shanghai")
YOUTUBE_KEY = "yt-test-key-123"


@dataclass
class Stream:
    # offline | live | replay (bilibili 轮播) | ended | video (YouTube: not a live video)
    status: str = "offline"
    started: datetime | None = None
    ended: datetime | None = None
    flipped_at: float | None = None  # epoch seconds of the last flip to live (bench)


@dataclass
class Platforms:
    rooms: dict[str, Stream] = field(default_factory=dict)  # bilibili room → stream
    videos: dict[str, Stream] = field(default_factory=dict)  # YouTube video id → stream
    generic: dict[str, Stream] = field(default_factory=dict)
    mode: dict[str, str] = field(default_factory=dict)  # platform → failure mode
    requests: Counter[str] = field(default_factory=Counter)  # "bilibili:room" → requests
    times: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def go_live(self, table: dict[str, Stream], room: str, at: datetime) -> None:
        with self.lock:
            stream = table.setdefault(room, Stream())
            stream.status, stream.started, stream.ended = "live", at, None
            stream.flipped_at = time.time()

    def go_offline(self, table: dict[str, Stream], room: str, at: datetime | None = None) -> None:
        with self.lock:
            stream = table.setdefault(room, Stream())
            stream.status = "ended" if at is not None else "offline"
            stream.ended = at

    def _seen(self, name: str) -> None:
        with self.lock:
            self.requests[name] += 1
            self.times.setdefault(name, []).append(time.time())


def make_app(p: Platforms) -> Starlette:
    async def bilibili(request: Request) -> Response:
        room = request.query_params.get("room_id", "")
        p._seen(f"bilibili:{room}")
        mode = p.mode.get("bilibili")
        if mode == "down":
            return HTMLResponse("<html><body>502 Bad Gateway</body></html>", status_code=502)
        if mode == "limit":
            return JSONResponse(
                {"code": -412, "message": "请求被拦截", "ttl": 1, "data": None}, status_code=412
            )
        if mode == "limit200":  # the same refusal inside an HTTP 200
            return JSONResponse({"code": -412, "message": "请求被拦截", "ttl": 1, "data": None})
        stream = p.rooms.get(room)
        if stream is None or not room.isdigit():
            return JSONResponse(
                {"code": 1, "msg": "未找到该房间", "message": "未找到该房间", "data": []}
            )
        status = {"offline": 0, "live": 1, "replay": 2, "ended": 0}[stream.status]
        live_time = "0000-00-00 00:00:00"
        if status == 1 and stream.started is not None:
            live_time = stream.started.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        data = {
            "uid": 1206469921,
            "room_id": int(room),
            "short_id": 0,
            "attention": 5331,
            "online": 120 if status == 1 else 0,
            "is_portrait": False,
            "description": "<p>云原生直播间</p>",
            "live_status": status,
            "area_id": 372,
            "parent_area_id": 11,
            "parent_area_name": "知识",
            "old_area_id": 1,
            "background": "",
            "title": "KubeSphere 云原生直播间",
            "user_cover": "https://i0.hdslb.com/bfs/live/new_room_cover/x.jpg",
            "keyframe": "",
            "is_strict_room": False,
            "live_time": live_time,
            "tags": "KubeSphere,Kubernetes",
            "is_anchor": 0,
            "room_silent_type": "",
            "room_silent_level": 0,
            "room_silent_second": 0,
            "area_name": "科技",
            "pendants": "",
            "area_pendants": "",
            "hot_words": [],
            "hot_words_status": 0,
            "verify": "",
            "new_pendants": {},
            "up_session": "",
            "pk_status": 0,
            "pk_id": 0,
            "battle_id": 0,
            "allow_change_area_time": 0,
            "allow_upload_cover_time": 0,
            "studio_info": {"status": 0, "master_list": []},
        }
        return JSONResponse({"code": 0, "msg": "ok", "message": "ok", "data": data})

    async def youtube(request: Request) -> Response:
        video = request.query_params.get("id", "")
        key = request.query_params.get("key", "")
        p._seen(f"youtube:{video}")
        mode = p.mode.get("youtube")
        if mode == "down":
            return JSONResponse({"error": {"code": 503, "message": "Backend Error"}}, 503)
        if mode == "quota":
            message = (
                "The request cannot be completed because you have exceeded your "
                '<a href="/youtube/v3/getting-started#quota">quota</a>.'
            )
            return JSONResponse(
                {
                    "error": {
                        "code": 403,
                        "message": message,
                        "errors": [
                            {
                                "message": message,
                                "domain": "youtube.quota",
                                "reason": "quotaExceeded",
                            }
                        ],
                    }
                },
                status_code=403,
            )
        if key != YOUTUBE_KEY:  # Google echoes nothing secret, but a proxy might: we do
            message = f"API key not valid. Please pass a valid API key. (got {key})"
            return JSONResponse(
                {
                    "error": {
                        "code": 400,
                        "message": message,
                        "errors": [
                            {"message": message, "domain": "global", "reason": "badRequest"}
                        ],
                        "status": "INVALID_ARGUMENT",
                    }
                },
                status_code=400,
            )
        stream = p.videos.get(video)
        items = []
        if stream is not None:
            details: dict[str, str] = {"scheduledStartTime": "2026-12-10T12:00:00Z"}
            if stream.started is not None and stream.status in ("live", "ended"):
                details["actualStartTime"] = stream.started.astimezone(UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                )
                details["concurrentViewers"] = "37"
            if stream.status == "ended" and stream.ended is not None:
                details["actualEndTime"] = stream.ended.astimezone(UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                )
            items.append(
                {
                    "kind": "youtube#video",
                    "etag": "x1",
                    "id": video,
                    "snippet": {
                        "title": "Community livestream",
                        "liveBroadcastContent": {"live": "live", "offline": "upcoming"}.get(
                            stream.status, "none"
                        ),
                    },
                    **({} if stream.status == "video" else {"liveStreamingDetails": details}),
                }
            )
        return JSONResponse(
            {
                "kind": "youtube#videoListResponse",
                "etag": "x0",
                "items": items,
                "pageInfo": {"totalResults": len(items), "resultsPerPage": 5},
            }
        )

    async def generic(request: Request) -> Response:
        room = request.path_params["room"]
        p._seen(f"generic:{room}")
        if p.mode.get("generic") == "down":
            return Response("down", status_code=503)
        stream = p.generic.get(room, Stream())
        return JSONResponse({"data": {"live": stream.status == "live", "viewers": 3}})

    return Starlette(
        routes=[
            Route("/bilibili/room/v1/Room/get_info", bilibili),
            Route("/youtube/v3/videos", youtube),
            Route("/status/{room}", generic),
        ]
    )


def watch_settings(base: str, interval: str = "30s") -> str:
    """The [watch] table pointing every platform at the stand-in at ``base``."""
    return (
        f'[watch]\ninterval = "{interval}"\nbilibili_api = "{base}/bilibili"\n'
        f'youtube_api = "{base}/youtube/v3"\n'
        f'[watch.generic.studio]\nmatch = "https://studio.example.org/"\n'
        f'url = "{base}/status/{{id}}"\npointer = "/data/live"\n'
        # the stand-ins are on loopback: status URLs may reach them (net.py's policy)
        '[network]\nallow = ["127.0.0.0/8"]\n'
    )


def live_site(
    root: Path, base: str, hook: str, interval: str, *, room: str, starts_in: timedelta
) -> Path:
    """A site whose only slot is `live`, to an unsigned webhook ``hook`` (non-deduplicating
    `/plain`: a second delivery would show), watched every ``interval`` at the stand-in
    ``base``, with one talk on bilibili room ``room`` starting ``starts_in`` from now."""
    (root / "content").mkdir(parents=True)
    (root / "livepipe.toml").write_text(
        '[site]\nname = "Live"\nbase_url = "https://live.test"\ntimezone = "UTC"\n'
        "[slots.digest]\nenabled = false\n[slots.announce]\nenabled = false\n"
        "[slots.reminder-1d]\nenabled = false\n[slots.starting-soon]\nenabled = false\n"
        f'[channels.hook]\ntype = "webhook"\nurl = "{hook}/plain"\nunsigned = true\n'
        '[slots.live]\nchannels = ["hook"]\n' + watch_settings(base, interval),
        encoding="utf-8",
    )
    start = datetime.now(UTC) + starts_in
    (root / "content" / "talk.md").write_text(
        f"---\ntitle: Talk\nstart: {start.isoformat()}\nend: "
        f"{(start + timedelta(hours=1)).isoformat()}\nlocation: online\n"
        f"live_url: https://live.bilibili.com/{room}\n---\n",
        encoding="utf-8",
    )
    return root
