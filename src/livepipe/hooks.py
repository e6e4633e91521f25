"""Incoming webhooks: git-forge pushes (verify, filter, hand a Push to a callback) and
WeChat's event pushes (the MASSSENDJOBFINISH counts of a mass-send).

GitHub and Gitea sign the body (``X-Hub-Signature-256`` / ``X-Gitea-Signature``: HMAC-SHA256
with the shared secret); GitLab sends the secret as ``X-Gitlab-Token``. Anything unsigned or
wrongly signed gets 401 and starts nothing. Only pushes to the configured branch that touch the
content folder (or livepipe.toml, or templates/) start a sync.

The body is read up to ``MAX_BODY`` bytes and no further (a bigger one is refused before it is
held in memory); a delivery the forge repeats (same delivery id) starts nothing the second
time; a signed body of an unexpected shape gets 400, never 500.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from .config import Settings

MAX_BODY = 5 << 20
# Each forge names every delivery; a redelivery (or a replayed request) repeats the id.
DELIVERY_HEADERS = ("x-github-delivery", "x-gitea-delivery", "x-gitlab-event-uuid")
_REMEMBERED = 10_000


@dataclass(frozen=True)
class Push:
    forge: str
    commit: str
    ref: str
    repository: str


class HookError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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
    if not isinstance(sha, str) or not all(c in "0123456789abcdef" for c in sha.lower()):
        raise HookError(400, "the pushed commit is not a hex sha")
    repo = data.get("repository") or data.get("project") or {}
    name = (
        str(repo.get("full_name") or repo.get("path_with_namespace") or "")
        if isinstance(repo, dict)
        else ""
    )
    return Push(forge, sha, str(data["ref"]), name)


class _Deliveries:
    """The delivery ids seen lately (bounded): a repeated one is not handled again."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, delivery: str) -> bool:
        with self._lock:
            if delivery in self._seen:
                return False
            self._seen[delivery] = None
            if len(self._seen) > _REMEMBERED:
                self._seen.popitem(last=False)
            return True


async def _read_body(request: Request) -> bytes | None:
    """The body, or None when it is over MAX_BODY (stops reading at the limit)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
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


def verify_wechat(query: Mapping[str, str], token: str | None) -> None:
    if not token:
        raise HookError(401, "no WeChat callback token configured")
    expected = wechat_signature(token, query.get("timestamp", ""), query.get("nonce", ""))
    if not _equal(query.get("signature", ""), expected):
        raise HookError(401, "bad WeChat signature")


WECHAT_MAX_BODY = 64 << 10


def parse_wechat_event(body: bytes) -> MassFinished | None:
    """The MASSSENDJOBFINISH event of a plaintext push (None for other events); an
    encrypted push, a DTD or anything not XML of that shape is a HookError(400)."""
    import xml.etree.ElementTree as ET

    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise HookError(400, "a DTD in a WeChat push: refused")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise HookError(400, f"not XML: {exc}") from None
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
        if not text.isdigit():
            raise HookError(400, f"{tag} is not a count")
        return int(text)

    msg_id = (root.findtext("MsgID") or root.findtext("MsgId") or "").strip()
    if not msg_id.isdigit():
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
) -> Starlette:
    deliveries = _Deliveries()

    async def git(request: Request) -> JSONResponse:
        body = await _read_body(request)
        if body is None:
            return JSONResponse({"error": "body too large"}, status_code=413)
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
        delivery = delivery or hashlib.sha256(body).hexdigest()
        if not deliveries.first_time(f"{forge}:{delivery}"):
            return JSONResponse({"status": "duplicate delivery: ignored"}, status_code=202)
        on_push(push)
        return JSONResponse({"status": "sync requested", "commit": push.commit}, status_code=202)

    async def wechat(request: Request) -> PlainTextResponse:
        """WeChat's server configuration: GET answers the URL check (echostr), POST takes
        the event pushes; both signed with the configured token."""
        query = dict(request.query_params)
        try:
            verify_wechat(query, wechat_token())
            if request.method == "GET":
                return PlainTextResponse(query.get("echostr", ""))
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > WECHAT_MAX_BODY:
                raise HookError(413, "body too large")
            body = await request.body()
            if len(body) > WECHAT_MAX_BODY:
                raise HookError(413, "body too large")
            event = parse_wechat_event(body)
        except HookError as exc:
            return PlainTextResponse(str(exc), status_code=exc.status)
        if event is not None:
            on_mass_finished(event)
        return PlainTextResponse("success")  # what WeChat expects, or it pushes again

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/hooks/git", git, methods=["POST"]),
            Route("/hooks/wechat", wechat, methods=["GET", "POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )
