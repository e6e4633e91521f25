"""An S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, Backblaze B2…): path-style
requests signed with AWS Signature Version 4, made through the outbound layer (a deadline
and a byte cap on every answer). Each file goes up with its Content-Type and a
Cache-Control from ``[calendar] refresh_interval``; only changed files are uploaded, the
target's manifest after them, removals last. Keys come from the environment only; nothing
the service echoes back is shown unredacted."""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import UTC, datetime
from urllib.parse import quote

from ..config import DeployTarget, Settings
from ..errors import FetchError
from ..net import Answer, Client, Policy
from . import TARGET_MANIFEST, Build, DeployError, DeployReport, changes, previous

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_ANSWER = 1 << 20  # an error document, the target's manifest


def sign(
    method: str,
    host: str,
    path: str,
    query: str,
    headers: dict[str, str],
    payload_sha256: str,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    now: datetime,
    service: str = "s3",
) -> dict[str, str]:
    """The headers of a request signed with AWS Signature Version 4 (``path`` already
    URI-encoded, as S3 wants it: once)."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    signed = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    signed.update({"host": host, "x-amz-content-sha256": payload_sha256, "x-amz-date": stamp})
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            path,
            query,
            "".join(f"{k}:{signed[k]}\n" for k in names),
            ";".join(names),
            payload_sha256,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        **headers,
        "x-amz-content-sha256": payload_sha256,
        "x-amz-date": stamp,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}",
    }


class Bucket:
    def __init__(self, name: str, target: DeployTarget, client: Client | None = None) -> None:
        assert target.endpoint is not None and target.bucket is not None
        self.name = name
        self.target = target
        self.access = os.environ.get(target.access_key_env, "")
        self.secret = os.environ.get(target.secret_key_env, "")
        if not self.access or not self.secret:
            raise DeployError(
                f"deploy {name}: set {target.access_key_env} and {target.secret_key_env} in "
                "the environment (the bucket's keys are never read from livepipe.toml)"
            )
        self.base = target.endpoint.rstrip("/")
        self.http = client or Client(Policy.operator())

    def key(self, path: str) -> str:
        prefix = self.target.prefix.strip("/")
        return f"{prefix}/{path}" if prefix else path

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Answer:
        assert self.target.bucket is not None
        encoded = (
            "/" + quote(self.target.bucket, safe="") + "/" + quote(self.key(path), safe="/-_.~")
        )
        url = self.base + encoded
        host = url.split("://", 1)[1].split("/", 1)[0]
        signed = sign(
            method, host, encoded, "", dict(headers or {}), hashlib.sha256(body).hexdigest(),
            access_key=self.access, secret_key=self.secret, region=self.target.region,
            now=datetime.now(UTC),
        )  # fmt: skip
        try:
            return self.http.request(
                method, url, content=body or None, headers=signed,
                deadline=self.target.deadline, max_bytes=MAX_ANSWER,
            )  # fmt: skip
        except FetchError as exc:
            raise DeployError(f"deploy {self.name}: {method} {path}: {exc}") from None

    def check(self, answer: Answer, what: str) -> None:
        if answer.ok:
            return
        text = answer.text(400)
        code = text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else ""
        said = f" ({code})" if code and code.isalnum() else ""
        raise DeployError(f"deploy {self.name}: {what}: HTTP {answer.status}{said}")


def deploy_s3(name: str, target: DeployTarget, build: Build, settings: Settings) -> DeployReport:
    bucket = Bucket(name, target)
    try:
        got = bucket.request("GET", TARGET_MANIFEST)
        if got.status not in (200, 404):
            bucket.check(got, f"reading {TARGET_MANIFEST}")
        before = previous(got.body if got.status == 200 else None)
        write, remove = changes(build, before)
        if not write and not remove:
            return DeployReport(name, unchanged=len(build.entries))
        cache = f"public, max-age={int(settings.calendar.refresh_interval.total_seconds())}"
        for path in write:
            entry = build.entries[path]
            answer = bucket.request(
                "PUT", path, build.data(path),
                {"Content-Type": _content_type(entry.media_type), "Cache-Control": cache},
            )  # fmt: skip
            bucket.check(answer, f"uploading {path}")
        answer = bucket.request(
            "PUT", TARGET_MANIFEST, build.manifest(),
            {"Content-Type": "application/json", "Cache-Control": "no-cache"},
        )  # fmt: skip
        bucket.check(answer, f"uploading {TARGET_MANIFEST}")
        for path in remove:  # after the uploads: readers never meet a hole
            answer = bucket.request("DELETE", path)
            if answer.status != 404:
                bucket.check(answer, f"removing {path}")
    finally:
        bucket.http.close()
    return DeployReport(
        name, written=write, removed=remove, unchanged=len(build.entries) - len(write)
    )


def _content_type(media_type: str) -> str:
    textual = media_type.startswith("text/") or media_type.endswith(("+xml", "/json", "/xml"))
    return f"{media_type}; charset=utf-8" if textual and "charset" not in media_type else media_type
