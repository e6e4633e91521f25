"""listmonk: create a campaign from the message and start it, over listmonk's HTTP API.

Idempotent by campaign name = send key: a retry finds the campaign it already created.

```toml
[channels.listmonk]
type = "listmonk"
url = "https://lists.example.org"
username_env = "LISTMONK_USER"       # API user
token_env = "LISTMONK_TOKEN"         # its token (basic auth)
lists = [3]
from = "Community Live <live@example.org>"
```
"""

from __future__ import annotations

from html import escape
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from ..models import Message
from ..net import Client
from . import http
from .base import Channel, Receipt


class Campaign(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: StrictInt
    name: StrictStr = ""
    status: StrictStr = ""


class _Results(BaseModel):
    model_config = ConfigDict(extra="ignore")
    results: list[Campaign] = []


class CampaignList(BaseModel):
    """``GET /api/campaigns``: ``{"data": {"results": [campaign, …]}}``."""

    model_config = ConfigDict(extra="ignore")
    data: _Results


class CampaignMade(BaseModel):
    """``POST /api/campaigns``: ``{"data": campaign}``."""

    model_config = ConfigDict(extra="ignore")
    data: Campaign


class ListmonkChannel(Channel):
    type: ClassVar[str] = "listmonk"
    uses_http = True
    reads: ClassVar[frozenset[str]] = frozenset({"html"})
    required_options: ClassVar[tuple[str, ...]] = ("url", "lists")
    required_secrets: ClassVar[tuple[str, ...]] = ("username_env", "token_env")
    accepts_idempotency_key: ClassVar[bool] = True  # the campaign name is the send key

    def _client(self) -> Client:
        client = self.http()
        user, token = self.secret("username_env") or "", self.secret("token_env") or ""
        self.keep_basic_auth(user, token)
        client.auth = (user, token)
        return client

    def body(self, message: Message) -> str:
        return message.html or "".join(
            f"<p>{escape(p)}</p>" for p in message.text.split("\n\n") if p.strip()
        )

    def campaign(self, message: Message) -> dict[str, Any]:
        return {
            "name": message.key,
            "subject": message.title,
            "lists": list(self.option("lists", required=True)),
            "from_email": self.option("from"),
            "content_type": "html",
            "body": self.body(message),
            "type": "regular",
            "tags": ["livepipe", message.slot],
        }

    def send(self, message: Message) -> Receipt:
        base = str(self.option("url", required=True)).rstrip("/")
        client = self._client()
        found = http.request(
            client,
            self.name,
            "GET",
            f"{base}/api/campaigns",
            deadline=self.deadline,
            params={"query": message.key, "per_page": 5},
        )
        http.check_status(found, self.name)
        listed = found.parse(CampaignList, "listmonk's campaign list").data.results
        existing = [c for c in listed if c.name == message.key]
        if existing:
            campaign = existing[0]
        else:
            made = http.request(
                client,
                self.name,
                "POST",
                f"{base}/api/campaigns",
                deadline=self.deadline,
                json=self.campaign(message),
            )
            http.check_status(made, self.name)
            campaign = made.parse(CampaignMade, "listmonk's new campaign").data
        cid = campaign.id
        if campaign.status not in ("running", "finished", "scheduled"):
            started = http.request(
                client,
                self.name,
                "PUT",
                f"{base}/api/campaigns/{cid}/status",
                deadline=self.deadline,
                json={"status": "running"},
            )
            http.check_status(started, self.name)
        return Receipt(remote_id=str(cid), remote_url=f"{base}/admin/campaigns/{cid}")
