"""Incoming webhooks: git-forge pushes (verify, filter, hand a Push to a callback) and
WeChat's event pushes (the MASSSENDJOBFINISH counts of a mass-send).

GitHub and Gitea sign the body (``X-Hub-Signature-256`` / ``X-Gitea-Signature``: HMAC-SHA256
with the shared secret); GitLab sends the secret as ``X-Gitlab-Token``. Anything unsigned or
wrongly signed gets 401 and starts nothing. Only pushes to the configured branch that touch the
content folder (or livepipe.toml, or templates/) start a sync, and only for a full commit id.

The server itself is bounded (inbound.py: header and body deadlines, a connection limit); the
body is read while it streams up to ``MAX_BODY`` bytes (``WECHAT_MAX_BODY`` for WeChat) and no
further; a delivery seen before (the forge's delivery id, else the signed body) starts
nothing again, across restarts when the ledger remembers it; a signed body of an unexpected
shape gets 400, never 500. WeChat pushes are parsed with a parser that refuses DTDs and
entities in any encoding, their numbers must be numbers, and their signature must be fresh
(±5 minutes) with a nonce never seen before.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from .config import Settings
from .errors import HookError
from .inbound import body_limit

MAX_BODY = 5 << 20
WECHAT_MAX_BODY = 64 << 10
# Each forge names every delivery; a redelivery (or a replayed request) repeats the id.
DELIVERY_HEADERS = ("x-github-delivery", "x-gitea-delivery", "x-gitlab-event-uuid")
_REMEMBERED = 10_000
FRESH_SECONDS = 300  # a WeChat signature's timestamp may be this far from now
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256 object ids
_COUNT = re.compile(r"[0-9]{1,12}")
CLOSE = {"Connection": "close"}

# "Have I seen this before?" (a delivery id, a WeChat nonce): True the first time. The
# ledger backs it in `up` (remembered across restarts); tests and a bare app keep it in memory.
FirstTime = Callable[[str, float], bool]


@dataclass(frozen=True)
class Push:
    forge: str
    commit: str
    ref: str
    repository: str


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def verify(headers: Mapping[str, str], body: bytes, secret: str | None) -> str:
    """The forge whose signature checks out; raises HookError(401) otherwise."""
    if not secret:
        raise HookError(401, "no webhook secret configured: refusing unsigned pushes")
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if "x-hub-signature-256" in headers:
        if _equal(headers["x-hub-signature-256"], "sha256=" + digest):
            return "github"
    elif "x-gitea-signature" in headers:
        if _equal(headers["x-gitea-signature"], digest):
            return "gitea"
    elif "x-gitlab-token" in headers:
        if _equal(headers["x-gitlab-token"], secret):
            return "gitlab"
    raise HookError(401, "bad or missing signature")


def parse_push(
    forge: str, headers: Mapping[str, str], body: bytes, settings: Settings
) -> Push | None:
    """The push to sync, or None when it is not for us (other event, branch or paths);
    HookError(400) for a body of another shape than a push event's."""
    try:
        return _parse_push(forge, headers, body, settings)
    except HookError:
        raise
    except (TypeError, AttributeError, KeyError, ValueError, RecursionError) as exc:
        raise HookError(400, f"not a push event body: {type(exc).__name__}") from exc


def _strings(value: object, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HookError(400, f"{what} must be a list of paths")
    return value


def _parse_push(
    forge: str, headers: Mapping[str, str], body: bytes, settings: Settings
) -> Push | None:
    event = (
        headers.get("x-github-event")
        or headers.get("x-gitea-event")
        or headers.get("x-gitlab-event", "")
    )
    if event.lower() not in {"push", "push hook"}:
        return None
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise HookError(400, f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise HookError(400, "body is not a JSON object")
    branch = settings.hooks.branch or settings.site.branch
    if data.get("ref") != f"refs/heads/{branch}":
        return None
    commits = data.get("commits") or []
    if not isinstance(commits, list):
        raise HookError(400, "commits must be a list")
    prefixes = settings.hooks.paths or (
        settings.site.content_dir.rstrip("/") + "/",
        "livepipe.toml",
        "templates/",
    )
    touched = {
        path
        for commit in commits
        if isinstance(commit, dict)
        for key in ("added", "modified", "removed")
        for path in _strings(commit.get(key), f"commits[].{key}")
    }
    if touched and not any(p.startswith(prefixes) for p in touched):
        return None
    sha = data.get("after") or data.get("checkout_sha") or ""
    if not isinstance(sha, str) or not _COMMIT.fullmatch(sha.lower()):
        raise HookError(400, "the pushed commit is not a full commit id (40 or 64 hex digits)")
    if not sha.strip("0"):
        return None  # the branch was deleted: nothing to sync
    repo = data.get("repository") or data.get("project") or {}
    name = (
        str(repo.get("full_name") or repo.get("path_with_namespace") or "")[:200]
        if isinstance(repo, dict)
        else ""
    )
    return Push(forge, sha.lower(), str(data["ref"])[:200], name)


class Remembered:
    """A bounded in-memory "seen before" (the default when no ledger backs it)."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, name: str, ttl: float) -> bool:
        now = time.monotonic()
        with self._lock:
            until = self._seen.get(name)
            if until is not None and until > now:
                return False
            self._seen[name] = now + ttl
            self._seen.move_to_end(name)
            while len(self._seen) > _REMEMBERED:
                self._seen.popitem(last=False)
            return True


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body, read while it streams, or None once it is over ``limit`` (a declared
    Content-Length over it is refused before anything is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class MassFinished:
    """WeChat's MASSSENDJOBFINISH event: how a mass-send went."""

    msg_id: str
    status: str  # "send success", "send fail", or err(<audit reason>)
    total: int
    filtered: int
    sent: int
    errors: int

    def note(self) -> str:
        return (
            f"MASSSENDJOBFINISH {self.status}: {self.sent} of {self.filtered} sent "
            f"({self.total} followers, {self.errors} errors)"
        )


def wechat_signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's signature of a server push: SHA-1 of the sorted token, timestamp, nonce."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def verify_wechat(
    query: Mapping[str, str],
    token: str | None,
    *,
    now: float | None = None,
    first_time: FirstTime | None = None,
) -> None:
    """A push signed with the token, made within ±5 minutes, with a nonce not seen before:
    WeChat's signature covers neither the body nor anything but these, so an old or
    repeated query string is refused (it could carry another body)."""
    if not token:
        raise HookError(401, "no WeChat callback token configured")
    stamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    expected = wechat_signature(token, stamp, nonce)
    if not _equal(query.get("signature", ""), expected):
        raise HookError(401, "bad WeChat signature")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise HookError(401, "the WeChat timestamp is not a number")
    if abs((now if now is not None else time.time()) - int(stamp)) > FRESH_SECONDS:
        raise HookError(401, "the WeChat signature is not fresh (more than 5 minutes off)")
    if not nonce or len(nonce) > 64:
        raise HookError(401, "a WeChat push needs a nonce")
    if first_time is not None and not first_time(f"wechat-nonce:{nonce}", 2 * FRESH_SECONDS):
        raise HookError(401, "this WeChat signature was used before: a replay")


def parse_wechat_event(body: bytes) -> MassFinished | None:
    """The MASSSENDJOBFINISH event of a plaintext push (None for other events); an
    encrypted push, a DTD or an entity (in any encoding), or anything not XML of that shape
    is a HookError(400)."""
    import xml.etree.ElementTree as ET

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise HookError(400, "a DTD or an entity in a WeChat push: refused") from None
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise HookError(400, f"not XML: {str(exc)[:100]}") from None
    if root.find("Encrypt") is not None and root.find("Event") is None:
        raise HookError(
            400,
            "an encrypted push: set the account's message encryption to plaintext or "
            "compatible (兼容模式)",
        )
    if (root.findtext("Event") or "").upper() != "MASSSENDJOBFINISH":
        return None

    def number(tag: str) -> int:
        text = (root.findtext(tag) or "0").strip()
        if not _COUNT.fullmatch(text):
            raise HookError(400, f"{tag} is not a count")
        return int(text)

    msg_id = (root.findtext("MsgID") or root.findtext("MsgId") or "").strip()
    if not re.fullmatch(r"[0-9]{1,20}", msg_id):
        raise HookError(400, "MASSSENDJOBFINISH without a MsgID")
    return MassFinished(
        msg_id,
        (root.findtext("Status") or "").strip()[:64],
        number("TotalCount"),
        number("FilterCount"),
        number("SentCount"),
        number("ErrorCount"),
    )


def make_app(
    settings: Settings,
    secret: Callable[[], str | None],
    on_push: Callable[[Push], None],
    *,
    wechat_token: Callable[[], str | None] = lambda: None,
    on_mass_finished: Callable[[MassFinished], None] = lambda _event: None,
    first_time: FirstTime | None = None,
    health: Callable[[], tuple[int, dict[str, object]]] | None = None,
    extra_routes: list[Route] | None = None,
) -> Starlette:
    """The hooks app of ``up`` (served with inbound.py's bounds). ``first_time`` remembers
    deliveries and nonces (the ledger in ``up``); ``health`` answers /healthz."""
    seen = first_time or Remembered()

    async def git(request: Request) -> JSONResponse:
        body = await read_body(request, MAX_BODY)
        if body is None:  # and close: the rest of the body is not read at all
            return JSONResponse({"error": "body too large"}, 413, headers=CLOSE)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            forge = verify(headers, body, secret())
            push = parse_push(forge, headers, body, settings)
        except HookError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        if push is None:
            return JSONResponse({"status": "ignored"}, status_code=202)
        delivery = next((headers[h] for h in DELIVERY_HEADERS if headers.get(h)), None)
        # Without a delivery id, the signed body itself names the delivery.
        delivery = (delivery or "")[:100] or hashlib.sha256(body).hexdigest()
        if not seen(f"hook-delivery:{forge}:{delivery}", 7 * 86400):
            return JSONResponse({"status": "duplicate delivery: ignored"}, status_code=202)
        on_push(push)
        return JSONResponse({"status": "sync requested", "commit": push.commit}, status_code=202)

    async def wechat(request: Request) -> PlainTextResponse:
        """WeChat's server configuration: GET answers the URL check (echostr), POST takes
        the event pushes; both signed with the configured token."""
        query = dict(request.query_params)
        try:
            verify_wechat(query, wechat_token(), first_time=seen)
            if request.method == "GET":
                return PlainTextResponse(query.get("echostr", "")[:128])
            body = await read_body(request, WECHAT_MAX_BODY)
            if body is None:
                raise HookError(413, "body too large")
            event = parse_wechat_event(body)
        except HookError as exc:
            closing = CLOSE if exc.status == 413 else None
            return PlainTextResponse(str(exc), status_code=exc.status, headers=closing)
        if event is not None:
            on_mass_finished(event)
        return PlainTextResponse("success")  # what WeChat expects, or it pushes again

    async def healthz(request: Request) -> JSONResponse:
        status, body = health() if health is not None else (200, {"status": "ok"})
        return JSONResponse(body, status_code=status)

    return Starlette(
        routes=[
            Route("/hooks/git", git, methods=["POST"]),
            Route("/hooks/wechat", wechat, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            *(extra_routes or []),
        ],
        middleware=[body_limit(MAX_BODY)],
    )
