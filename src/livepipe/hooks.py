"""Incoming git-forge push webhooks: verify, filter, and hand a Push to a callback.

GitHub and Gitea sign the body (``X-Hub-Signature-256`` / ``X-Gitea-Signature``: HMAC-SHA256
with the shared secret); GitLab sends the secret as ``X-Gitlab-Token``. Anything unsigned or
wrongly signed gets 401 and starts nothing. Only pushes to the configured branch that touch the
content folder (or livepipe.toml, or templates/) start a sync.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .config import Settings

MAX_BODY = 5 << 20


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
    """The push to sync, or None when it is not for us (other event, branch or paths)."""
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
    prefixes = settings.hooks.paths or (
        settings.site.content_dir.rstrip("/") + "/",
        "livepipe.toml",
        "templates/",
    )
    touched = {
        path
        for commit in data.get("commits") or []
        if isinstance(commit, dict)
        for key in ("added", "modified", "removed")
        for path in commit.get(key) or []
    }
    if touched and not any(p.startswith(prefixes) for p in touched):
        return None
    sha = str(data.get("after") or data.get("checkout_sha") or "")
    repo = data.get("repository") or data.get("project") or {}
    name = (
        str(repo.get("full_name") or repo.get("path_with_namespace") or "")
        if isinstance(repo, dict)
        else ""
    )
    return Push(forge, sha, str(data["ref"]), name)


def make_app(
    settings: Settings, secret: Callable[[], str | None], on_push: Callable[[Push], None]
) -> Starlette:
    async def git(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, status_code=413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            forge = verify(headers, body, secret())
            push = parse_push(forge, headers, body, settings)
        except HookError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        if push is None:
            return JSONResponse({"status": "ignored"}, status_code=202)
        on_push(push)
        return JSONResponse({"status": "sync requested", "commit": push.commit}, status_code=202)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/hooks/git", git, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )
