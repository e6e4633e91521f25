"""Git forge push webhooks: signatures (GitHub, Gitea, GitLab), branch and path filters."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from livepipe.config import Settings
from livepipe.gitsource import fingerprint
from livepipe.hooks import HookError, parse_push, verify
from livepipe.site import Site

SECRET = "hook-secret"
SETTINGS = Settings()


def body(ref: str = "refs/heads/main", files: list[str] | None = None) -> bytes:
    commits = [{"modified": files}] if files is not None else []
    return json.dumps(
        {
            "ref": ref,
            "after": "0123456789abcdef0123456789abcdef01234567",
            "commits": commits,
            "repository": {"full_name": "org/site"},
        }
    ).encode()


def sign(data: bytes) -> str:
    return hmac.new(SECRET.encode(), data, hashlib.sha256).hexdigest()


def test_signatures_of_each_forge() -> None:
    data = body()
    assert verify({"x-hub-signature-256": "sha256=" + sign(data)}, data, SECRET) == "github"
    assert verify({"x-gitea-signature": sign(data)}, data, SECRET) == "gitea"
    assert verify({"x-gitlab-token": SECRET}, data, SECRET) == "gitlab"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-hub-signature-256": "sha256=" + "0" * 64},
        {"x-gitea-signature": "nope"},
        {"x-gitlab-token": "wrong"},
    ],
)
def test_bad_or_missing_signatures_are_401(headers: dict[str, str]) -> None:
    with pytest.raises(HookError) as info:
        verify(headers, body(), SECRET)
    assert info.value.status == 401


def test_no_secret_configured_refuses_everything() -> None:
    with pytest.raises(HookError, match="no webhook secret"):
        verify({"x-gitlab-token": ""}, body(), None)


def test_only_pushes_to_the_branch_touching_content() -> None:
    gh = {"x-github-event": "push"}
    push = parse_push("github", gh, body(files=["content/zh/live/a.md"]), SETTINGS)
    assert (
        push is not None
        and push.commit == "0123456789abcdef0123456789abcdef01234567"
        and push.repository == "org/site"
    )
    assert parse_push("github", gh, body(ref="refs/heads/dev"), SETTINGS) is None
    assert parse_push("github", gh, body(files=["README.md"]), SETTINGS) is None
    assert parse_push("github", gh, body(files=["templates/x.html"]), SETTINGS) is not None
    assert parse_push("github", {"x-github-event": "issues"}, body(), SETTINGS) is None
    assert parse_push("gitlab", {"x-gitlab-event": "Push Hook"}, body(), SETTINGS) is not None
    with pytest.raises(HookError) as info:
        parse_push("github", gh, b"not json", SETTINGS)
    assert info.value.status == 400


def test_fingerprint_changes_with_content(tmp_path) -> None:
    (tmp_path / "livepipe.toml").write_text('[site]\nname = "F"\n')
    (tmp_path / "content").mkdir()
    page = tmp_path / "content" / "a.md"
    page.write_text("---\ntitle: A\nstart: 2026-12-01 10:00\n---\n")
    first = fingerprint(Site.locate(tmp_path))
    assert fingerprint(Site.locate(tmp_path)) == first  # unchanged: the no-op sync
    page.write_text("---\ntitle: B\nstart: 2026-12-01 10:00\n---\n")
    assert fingerprint(Site.locate(tmp_path)) != first
