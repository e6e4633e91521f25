"""WeChat Official Account (微信公众号): publish the event article.

Steps: an access token from ``cgi-bin/stable_token`` (cached in the ledger and shared by every
worker, refreshed under a ledger lock; ``40001``/``42001`` refresh once and retry); the cover
uploaded as permanent material (``material/add_material``); every body image re-hosted with
``media/uploadimg`` (WeChat filters external image URLs); ``draft/add``; then, unless
``draft_only``, ``freepublish/submit`` and ``freepublish/get`` polled until it succeeds or
fails for good. Progress is kept in the ledger, so a retry never submits twice. ``45009``
(quota) and ``48001`` (unauthorized: personal and unverified accounts cannot publish through
the API) are permanent errors with a hint.

```toml
[channels.wechat-oa]
type = "wechat"
appid_env = "WECHAT_APPID"
secret_env = "WECHAT_SECRET"
draft_only = false                   # true: stop at the draft; publish in the WeChat editor
default_cover = "static/cover.png"   # used when a page has no cover image
languages = ["zh"]
mass_send = true                     # push to followers (message/mass/sendall), not only
                                     # publish on the account's page (freepublish)
tag_id = 2                           # optional: only followers with this tag (else everyone)
preview_to = ["oAbC…", "wxname:alice"]   # reviewers (openids, or WeChat ids)…
preview_lead = "2h"                  # … who get it this long before everyone
```

Articles: links outside mp.weixin.qq.com are numbered references (render/wechat.py), the
live URL is also a QR code uploaded with ``media/uploadimg``, and a page without a cover gets
a generated one (render/cover.py; ``cover_font``, ``cover_colors``, ``cover_label``).

**Mass-send** (``mass_send = true``) is what followers receive: after ``draft/add``,
``message/mass/sendall`` (msgtype ``mpnews``, the draft's media_id, ``is_to_all`` or the tag)
with ``clientmsgid`` = the send key: WeChat refuses a second mass-send with the same
clientmsgid (``45065``, answered with the existing job's msg_id), so a retry after a crash
never pushes twice, on WeChat's side too. Then ``message/mass/get`` until ``SEND_SUCCESS``.
``45028`` (no mass-send quota left: a subscription account may mass-send once a day, a
service account four times a month) fails with that hint; ``45066`` (the same clientmsgid
retried within a minute) and the 60-calls-a-minute limit are retried. With ``preview_to``,
the planner adds a preview send ``preview_lead`` before each mass-send (plan.py), which goes
to the reviewers with ``message/mass/preview``; an announcement then goes to everyone
``preview_lead`` after the page was merged, so someone can read it on a phone first.
"""

from __future__ import annotations

import builtins
import json
import re
import time
from datetime import UTC, datetime, timedelta
from html import escape, unescape
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr

from ..errors import ConfigError, PermanentPublishError, TransientPublishError
from ..models import Event, Message
from ..net import Client
from ..sitefiles import read_capped, site_file
from . import http
from .base import Channel, Receipt

API = "https://api.weixin.qq.com"
_IMG = re.compile(r'(<img\b[^>]*\bsrc=")([^"]+)(")')
_REFRESH = {40001, 42001, 40014}  # invalid / expired token: refresh once
# system busy, frequency limits, the same clientmsgid retried within a minute
_TRANSIENT = {-1, 45011, 45047, 45066}
MASS_EXISTS = 45065  # a mass-send with this clientmsgid exists: its msg_id comes back
_HINTS = {
    45009: "the account's daily API quota is used up; it resets at midnight (Beijing time)",
    48001: "this account may not call the publish API (personal and unverified accounts "
    "cannot): set draft_only = true and publish in the WeChat editor",
    40164: "the server's IP is not on the account's IP allow-list",
    40013: "invalid appid",
    40125: "invalid app secret",
    45028: "no mass-send quota left: a subscription account may mass-send once a day, a "
    "service account four times a month; the plan's next send waits for the quota",
    45067: "the clientmsgid is longer than WeChat's 64 bytes",
    40003: "a preview_to openid is not a follower of this account",
}
MASS_FAILURES = {"SEND_FAIL": "the mass-send failed", "DELETE": "the mass-send was deleted"}
FINAL_FAILURES = {
    2: "original-content check failed",
    3: "publishing failed",
    4: "rejected by the platform audit",
    5: "deleted after publishing",
    6: "banned",
}


class WxAnswer(BaseModel):
    """Every WeChat API answer may carry ``errcode`` (an integer; 0 or absent: success) and
    ``errmsg``; each endpoint adds its own fields below."""

    model_config = ConfigDict(extra="ignore")
    errcode: StrictInt | None = None
    errmsg: StrictStr | None = None


class Token(WxAnswer):
    access_token: StrictStr
    expires_in: StrictInt = 7200


class Media(WxAnswer):
    media_id: StrictStr


class Uploaded(WxAnswer):
    url: StrictStr


class Submitted(WxAnswer):
    publish_id: StrictStr | StrictInt


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore")
    article_url: StrictStr | None = None


class _Detail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    item: list[_Item] = []


class PublishState(WxAnswer):
    publish_status: StrictInt
    article_id: StrictStr | None = None
    article_detail: _Detail | None = None


class _NewsItem(BaseModel):
    title: StrictStr = ""
    url: StrictStr = ""
    is_deleted: StrictBool = False


class Published(WxAnswer):
    """``freepublish/getarticle``: the published article as readers get it now."""

    news_item: list[_NewsItem] = []


class MassSent(WxAnswer):
    msg_id: StrictInt | StrictStr


class MassState(WxAnswer):
    msg_status: StrictStr = "SENDING"


A = TypeVar("A", bound=WxAnswer)
# A scheme before the first "/": "mailto:", "file:", "data:" … (not a path in the site)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


class _TokenExpired(Exception):
    pass


class WeChatChannel(Channel):
    type: ClassVar[str] = "wechat"
    uses_http = True
    reads: ClassVar[frozenset[str]] = frozenset({"article"})
    required_secrets: ClassVar[tuple[str, ...]] = ("appid_env", "secret_env")
    poll_interval: float = 2.0
    poll_timeout: float = 300.0

    def budget(self, message: Message) -> float:
        """Token, covers, images, QR code, draft, submit: up to ~30 requests, then polling."""
        return self.poll_timeout + 30 * self.deadline

    @property
    def base(self) -> str:
        return str(self.option("api", API)).rstrip("/")

    @property
    def appid(self) -> str:
        return self.secret("appid_env") or ""

    # -- token, shared across processes through the ledger ----------------------------------
    def token(self, client: Client, *, force: bool = False) -> str:
        name = f"wechat-token:{self.appid}"
        if self.kv is not None and not force:
            cached = self.kv.kv_get(name, datetime.now(UTC))
            if cached:
                return cached
        lock = f"wechat-token-lock:{self.appid}"
        owner = f"{id(self)}:{time.monotonic_ns()}"
        if self.kv is not None:
            deadline = time.monotonic() + 30
            while not self.kv.kv_lock(lock, owner, datetime.now(UTC), timedelta(seconds=30)):
                if time.monotonic() > deadline:
                    raise TransientPublishError(
                        "waited 30 s for the token lock", channel=self.name, code="token-lock"
                    )
                time.sleep(0.2)
                cached = self.kv.kv_get(name, datetime.now(UTC))
                if cached and not force:
                    return cached  # another worker refreshed it meanwhile
        try:
            data = self._call(
                client,
                "POST",
                "/cgi-bin/stable_token",
                None,
                Token,
                json={
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self.secret("secret_env"),
                    "force_refresh": force,
                },
            )
            self.keep_secret(data.access_token)
            if self.kv is not None:
                ttl = min(7200, max(60, data.expires_in - 300))
                self.kv.kv_put(name, data.access_token, datetime.now(UTC) + timedelta(seconds=ttl))
            return data.access_token
        finally:
            if self.kv is not None:
                self.kv.kv_put(lock, "", datetime.now(UTC))  # release

    # -- one API call, errors mapped --------------------------------------------------------
    def _call(
        self,
        client: Client,
        method: str,
        path: str,
        token: str | None,
        model: builtins.type[A],
        *,
        accept: frozenset[int] = frozenset(),
        **kwargs: Any,
    ) -> A:
        """One call; its answer as ``model``. WeChat's error codes become the channel's
        errors; an answer of another shape (a code that is not a number, a missing field)
        is a BadAnswerError (transient: reported, retried inside the window)."""
        params = {**(kwargs.pop("params", None) or {})}
        if token:
            self.keep_secret(token)  # a remote error may echo the token
            params["access_token"] = token
        answer = http.request(
            client,
            self.name,
            method,
            self.base + path,
            deadline=self.deadline,
            params=params or None,
            **kwargs,
        )
        http.check_status(answer, self.name)
        what = f"WeChat {path}"
        head = answer.parse(WxAnswer, what)
        code = head.errcode or 0
        if code == 0 or code in accept:
            return answer.parse(model, what)
        text = f"{path.rsplit('/', 1)[-1]} error {code}: {(head.errmsg or '')[:200]}"
        if code in _REFRESH:
            raise _TokenExpired(text)
        if code in _TRANSIENT:
            raise TransientPublishError(text, channel=self.name, code=str(code), retry_after=30.0)
        raise PermanentPublishError(
            text, channel=self.name, code=str(code), hint=_HINTS.get(code, "")
        )

    def call(
        self, client: Client, method: str, path: str, model: builtins.type[A], **kwargs: Any
    ) -> A:
        """An authenticated call; an expired token is refreshed once, then the call retried."""
        try:
            return self._call(client, method, path, self.token(client), model, **dict(kwargs))
        except _TokenExpired:
            return self._call(client, method, path, self.token(client, force=True), model, **kwargs)

    # -- images -----------------------------------------------------------------------------
    def _image(self, src: str, *, from_page: bool) -> tuple[str, bytes, str]:
        """An image's (file name, bytes, media type): an http(s) URL (a page's through the
        public address policy; the channel's own ``default_cover`` through any), or a file
        strictly inside the site (a site-absolute ``/images/x.png`` is looked up under
        ``static/`` too, as Hugo serves it). Nothing else is read: a ``mailto:`` or
        ``file:`` source, a path that leaves the site, a FIFO."""
        if src.startswith(("http://", "https://")):
            answer = http.request(
                self.http(content=from_page),
                self.name,
                "GET",
                src,
                deadline=self.deadline,
                max_bytes=http.MAX_IMAGE,
            )
            http.check_status(answer, self.name)
            kind = answer.headers.get("content-type", "").split(";")[0].strip().lower()
            if not kind.startswith("image/"):
                kind = "image/png" if answer.body.startswith(b"\x89PNG") else "image/jpeg"
            name = src.rsplit("/", 1)[-1].split("?")[0] or "image.jpg"
            return name[:64], answer.body, kind
        if _SCHEME.match(src) or src.startswith("//"):
            raise PermanentPublishError(
                f"image {src[:80]!r}: only http(s) URLs and files inside the site are used",
                channel=self.name,
                code="bad-image",
            )
        path = site_file(self.root, src)
        if path is None:
            raise PermanentPublishError(
                f"image {src[:80]!r} is not a file inside the site",
                channel=self.name,
                code="bad-image",
                hint="give an https URL, or a path below the site folder",
            )
        try:
            data = read_capped(path, http.MAX_IMAGE)
        except (OSError, ValueError) as exc:
            raise PermanentPublishError(
                f"cannot read image {path.name}: {exc}", channel=self.name, code="bad-image"
            ) from None
        if data is None:
            raise PermanentPublishError(
                f"image {path.name} is larger than {http.MAX_IMAGE:,} bytes",
                channel=self.name,
                code="too-large",
            )
        return path.name, data, "image/png" if path.suffix.lower() == ".png" else "image/jpeg"

    def rehost(self, client: Client, html: str) -> str:
        """Every <img> of the article re-hosted on WeChat (it filters external URLs)."""
        done: dict[str, str] = {}

        def upload(m: re.Match[str]) -> str:
            src = unescape(m.group(2))
            if src not in done:
                name, data, kind = self._image(src, from_page=True)
                answer = self.call(
                    client,
                    "POST",
                    "/cgi-bin/media/uploadimg",
                    Uploaded,
                    files={"media": (name, data, kind)},
                )
                done[src] = escape(answer.url, quote=True)
            return m.group(1) + done[src] + m.group(3)

        return _IMG.sub(upload, html)

    # -- the send ---------------------------------------------------------------------------
    def send(self, message: Message) -> Receipt:
        if message.article is None or message.article_meta is None:
            raise PermanentPublishError(
                f"{message.kind} messages have no article",
                channel=self.name,
                code="no-article",
                hint="route only event slots (announce, replay, changed…) to this channel",
            )
        progress = self._progress(message.key)
        client = self.http()
        if message.audience == "reviewers":
            return self.preview_send(client, message, progress)
        if self.option("mass_send", False) and not self.option("draft_only", False):
            return self.mass_send(client, message, progress)
        if "publish_id" in progress:  # a retry: never submit twice
            return self.wait(client, progress["publish_id"])
        media_id = progress.get("media_id") or self._draft(client, message)
        self._save(message.key, media_id=media_id)
        if self.option("draft_only", False):
            return Receipt(remote_id=media_id, note="draft saved; publish it in the editor")
        submitted = self.call(
            client,
            "POST",
            "/cgi-bin/freepublish/submit",
            Submitted,
            json={"media_id": media_id},
        )
        publish_id = str(submitted.publish_id)
        self._save(message.key, media_id=media_id, publish_id=publish_id)
        return self.wait(client, publish_id)

    # -- reading back what was published ------------------------------------------------------
    def read_back(self, remote_id: str, title: str) -> list[str]:
        """What differs between a published send and what livepipe sent (empty: nothing):
        a mass-send that did not reach followers (``message/mass/get``), an article deleted
        or retitled in the editor (``freepublish/getarticle``). A draft left as a draft is
        not checked."""
        client = self.http()
        if remote_id.isdigit():  # a mass-send job
            state = self.call(
                client, "POST", "/cgi-bin/message/mass/get", MassState, json={"msg_id": remote_id}
            )
            status = state.msg_status[:40]
            return [] if status == "SEND_SUCCESS" else [f"mass-send {remote_id} is {status}"]
        if remote_id.startswith(("DRAFT", "PUB")) or not remote_id:
            return []
        got = self.call(
            client, "POST", "/cgi-bin/freepublish/getarticle", Published,
            json={"article_id": remote_id},
        )  # fmt: skip
        if not got.news_item:
            return [f"article {remote_id} is gone"]
        first = got.news_item[0]
        if first.is_deleted:
            return [f"article {remote_id} was deleted"]
        if first.title != title:
            return [f"article {remote_id} is titled {first.title[:60]!r}, sent {title!r}"]
        return []

    # -- mass-send: what reaches followers ---------------------------------------------------
    def mass_send(self, client: Client, message: Message, progress: dict[str, str]) -> Receipt:
        if "msg_id" not in progress:
            media_id = progress.get("media_id") or self._draft(client, message)
            self._save(message.key, media_id=media_id)
            tag = self.option("tag_id")
            audience = {"is_to_all": True} if tag is None else {"is_to_all": False, "tag_id": tag}
            answer = self.call(
                client,
                "POST",
                "/cgi-bin/message/mass/sendall",
                MassSent,
                json={
                    "filter": audience,
                    "mpnews": {"media_id": media_id},
                    "msgtype": "mpnews",
                    "send_ignore_reprint": 0,
                    "clientmsgid": message.key,  # WeChat's own exactly-once
                },
                accept=frozenset({MASS_EXISTS}),
            )
            progress = {"media_id": media_id, "msg_id": str(answer.msg_id)}
            self._save(message.key, **progress)
        return self.wait_mass(client, progress["msg_id"])

    def wait_mass(self, client: Client, msg_id: str) -> Receipt:
        deadline = time.monotonic() + self.poll_timeout
        while True:
            state = self.call(
                client, "POST", "/cgi-bin/message/mass/get", MassState, json={"msg_id": msg_id}
            )
            status = state.msg_status[:40]
            if status == "SEND_SUCCESS":
                return Receipt(remote_id=msg_id, note="mass-send: SEND_SUCCESS")
            if status in MASS_FAILURES:
                raise PermanentPublishError(
                    f"mass-send {msg_id}: {MASS_FAILURES[status]}",
                    channel=self.name,
                    code=status,
                    hint="see the account's mass-send records (群发记录)",
                )
            if time.monotonic() > deadline:
                raise TransientPublishError(
                    f"mass-send {msg_id} is still sending", channel=self.name, code="sending"
                )
            time.sleep(self.poll_interval)

    def preview_send(self, client: Client, message: Message, progress: dict[str, str]) -> Receipt:
        """The mass-send's article to each reviewer (``message/mass/preview``)."""
        reviewers = [str(r) for r in self.option("preview_to", None) or []]
        if not reviewers:
            raise PermanentPublishError(
                "no reviewers", channel=self.name, code="no-preview-to", hint="set preview_to"
            )
        media_id = progress.get("media_id") or self._draft(client, message)
        done = set(progress.get("previewed", "").split()) - {""}
        for who in reviewers:
            if who in done:
                continue  # a retry: each reviewer once
            person = (
                {"towxname": who.removeprefix("wxname:")}
                if who.startswith("wxname:")
                else {"touser": who}
            )
            self.call(
                client,
                "POST",
                "/cgi-bin/message/mass/preview",
                WxAnswer,
                json={**person, "mpnews": {"media_id": media_id}, "msgtype": "mpnews"},
            )
            done.add(who)
            self._save(message.key, media_id=media_id, previewed=" ".join(sorted(done)))
        return Receipt(remote_id=media_id, note=f"previewed to {len(reviewers)} reviewer(s)")

    def _draft(self, client: Client, message: Message) -> str:
        """``draft/add`` with the message's article, or the articles of a gathered send (a
        daily mass-send: up to 8, the first one's cover is the big one)."""
        assert message.article is not None and message.article_meta is not None
        items = message.articles or ((message.article, message.article_meta, message.event),)
        articles = [self._article(client, message, a, m, e) for a, m, e in items[:8]]
        body = json.dumps({"articles": articles}, ensure_ascii=False).encode("utf-8")
        draft = self.call(
            client,
            "POST",
            "/cgi-bin/draft/add",
            Media,
            content=body,
            headers={"Content-Type": "application/json"},
        )
        return draft.media_id

    def _article(
        self,
        client: Client,
        message: Message,
        html: str,
        meta: dict[str, str | None],
        event: Event | None,
    ) -> dict[str, Any]:
        page_cover = meta.get("cover_image")
        own_cover = self.option("default_cover")
        if page_cover:
            name, data, kind = self._image(str(page_cover), from_page=True)
        elif own_cover:
            name, data, kind = self._image(str(own_cover), from_page=False)
        else:
            name, data, kind = "cover.png", self.generated_cover(event), "image/png"
        thumb = self.call(
            client,
            "POST",
            "/cgi-bin/material/add_material",
            Media,
            params={"type": "image"},
            files={"media": (name, data, kind)},
        )
        return {
            "title": meta["title"],
            "author": meta["author"],
            "digest": meta["digest"],
            "content": self.with_qr(client, message, event, self.rehost(client, html)),
            "content_source_url": meta["content_source_url"],
            "thumb_media_id": thumb.media_id,
            "need_open_comment": 0,
            "only_fans_can_comment": 0,
        }

    def generated_cover(self, event: Event | None) -> bytes:
        """A cover for a page without one (render/cover.py): its title and date on the
        channel's ``cover_colors``, with the CJK font ``cover_font`` or one of the system's."""
        from ..render.cover import DEFAULT_COLORS, cover_png, find_font

        assert event is not None
        try:
            font = find_font(self.option("cover_font"), self.root)
        except ConfigError as exc:
            raise PermanentPublishError(
                f"the page has no cover image, and {exc}",
                channel=self.name,
                code="no-cover",
                hint=exc.hint or "set default_cover",
            ) from None
        return cover_png(
            event,
            font,
            site_name=str(self.option("cover_label", "")),
            colors=tuple(self.option("cover_colors", DEFAULT_COLORS)),
        )

    def with_qr(self, client: Client, message: Message, e: Event | None, article: str) -> str:
        """The live URL (the replay's, for a replay notice) as a QR code re-hosted on WeChat,
        before the references: the link itself WeChat would remove."""
        from ..models import SlotKind
        from ..render.wechat import qr_png
        from ..render.wechat import with_qr as place_qr

        if e is None or e.cancelled or not self.option("qr", True):
            return article
        target = e.replay_url if message.kind == SlotKind.REPLAY else e.live_url
        if not target or not target.startswith(("https://", "http://")):
            return article
        answer = self.call(
            client,
            "POST",
            "/cgi-bin/media/uploadimg",
            Uploaded,
            files={"media": ("qr.png", qr_png(target), "image/png")},
        )
        return place_qr(article, escape(answer.url, quote=True), self.words(message))

    def wait(self, client: Client, publish_id: str) -> Receipt:
        deadline = time.monotonic() + self.poll_timeout
        while True:
            state = self.call(
                client,
                "POST",
                "/cgi-bin/freepublish/get",
                PublishState,
                json={"publish_id": publish_id},
            )
            status = state.publish_status
            if status == 0:
                items = state.article_detail.item if state.article_detail else []
                return Receipt(
                    remote_id=(state.article_id or publish_id)[:200],
                    remote_url=items[0].article_url if items else None,
                )
            if status in FINAL_FAILURES:
                raise PermanentPublishError(
                    f"publish {publish_id}: {FINAL_FAILURES[status]}",
                    channel=self.name,
                    code=f"publish-status-{status}",
                    hint="see the account's publishing records",
                )
            if time.monotonic() > deadline:
                raise TransientPublishError(
                    f"publish {publish_id} is still running", channel=self.name, code="publishing"
                )
            time.sleep(self.poll_interval)

    def _progress(self, key: str) -> dict[str, str]:
        if self.kv is None:
            return {}
        raw = self.kv.kv_get(f"wechat-progress:{key}", datetime.now(UTC))
        try:
            saved = json.loads(raw) if raw else {}
        except ValueError:
            return {}  # a damaged entry: start over (WeChat's clientmsgid still dedups)
        return {str(k): str(v) for k, v in saved.items()} if isinstance(saved, dict) else {}

    def _save(self, key: str, **values: str) -> None:
        if self.kv is not None:
            self.kv.kv_put(
                f"wechat-progress:{key}", json.dumps(values), datetime.now(UTC) + timedelta(days=30)
            )
