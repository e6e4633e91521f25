"""Generic webhook: a JSON POST of the message, signed, with the send key as Idempotency-Key.

Signature: ``X-Livepipe-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``
with ``X-Livepipe-Timestamp: <unix seconds>``; receivers verify both (README has a snippet).

```toml
[channels.ops-hook]
type = "webhook"
url = "https://hooks.example.org/livepipe"
secret_env = "LIVEPIPE_WEBHOOK_SECRET"   # required, unless `unsigned = true`
timeout = 10
idempotency = true                       # false: the receiver does not deduplicate by key
```
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from ..errors import ConfigError
from ..models import Message
from . import http
from .base import Channel, Receipt


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookAnswer(BaseModel):
    """What a receiver may answer: any JSON, an ``id`` (text or number) kept if present."""

    model_config = ConfigDict(extra="ignore")
    id: StrictStr | StrictInt | None = None


class WebhookChannel(Channel):
    type: ClassVar[str] = "webhook"
    uses_http = True
    body_max: ClassVar[int | None] = 1 << 20
    required_options: ClassVar[tuple[str, ...]] = ("url",)

    def validate(self) -> None:
        """A receiver cannot tell our messages from anyone's without a signature: a webhook
        sends signed, or says so with ``unsigned = true``."""
        super().validate()
        if self.option("unsigned", False) is True:
            return
        if self.option("secret_env") is None:
            raise ConfigError(
                f"channels.{self.name}: a webhook needs secret_env (its signing secret)",
                hint='add secret_env = "…" and export that variable, or unsigned = true',
            )
        self.secret("secret_env")

    @property
    def accepts_idempotency_key(self) -> bool:  # type: ignore[override]
        """Receivers should deduplicate by Idempotency-Key; `idempotency = false` says this
        one does not, so a send interrupted mid-call becomes 'uncertain' instead of retried."""
        return bool(self.option("idempotency", True))

    def body(self, message: Message) -> bytes:
        return json.dumps(message.to_json(), ensure_ascii=False, sort_keys=True).encode("utf-8")

    def headers(self, message: Message, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.key}
        unsigned = self.option("unsigned", False) is True
        secret = None if unsigned else self.secret("secret_env", required=not unsigned)
        if secret:
            stamp = http.unix_now()
            headers["X-Livepipe-Timestamp"] = str(stamp)
            headers["X-Livepipe-Signature"] = signature(secret, stamp, body)
        return headers

    def send(self, message: Message) -> Receipt:
        url = str(self.option("url", required=True))
        body = self.body(message)
        answer = http.request(
            self.http(),
            self.name,
            "POST",
            url,
            deadline=self.deadline,
            content=body,
            headers=self.headers(message, body),
        )
        http.check_status(answer, self.name)
        # A receiver may answer {"id": …}: kept as the remote id (anything else: the key).
        try:
            receipt = WebhookAnswer.model_validate_json(answer.body)
        except ValueError:
            receipt = WebhookAnswer()
        remote_id = None if receipt.id is None else str(receipt.id)[:200]
        return Receipt(remote_id=remote_id or message.key)

    def preview(self, message: Message) -> str:
        return f"POST {self.option('url')}\nIdempotency-Key: {message.key}\n\n" + json.dumps(
            message.to_json(), ensure_ascii=False, indent=2
        )
