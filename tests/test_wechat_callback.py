"""WeChat's event pushes to `livepipe up` (`/hooks/wechat`, on a real server on loopback):
the URL check, the MASSSENDJOBFINISH counts recorded in the log of the send that made the
mass-send, and everything unsigned, encrypted, with a DTD or too large refused."""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from livepipe.config import Settings
from livepipe.hooks import MassFinished, make_app, wechat_signature
from livepipe.ledger import open_ledger
from livepipe.plan import Plan

from .support import make_send
from .support.receiver import serve_app

TOKEN = "wx-callback-token"
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
EVENT = b"""<xml>
<ToUserName><![CDATA[gh_4d00ed8d6399]]></ToUserName>
<FromUserName><![CDATA[oV5CrjpxgaGXNHIQigzNlgLTnwic]]></FromUserName>
<CreateTime>1481013459</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[MASSSENDJOBFINISH]]></Event>
<MsgID>1000</MsgID>
<Status><![CDATA[send success]]></Status>
<TotalCount>1300</TotalCount>
<FilterCount>1290</FilterCount>
<SentCount>1288</SentCount>
<ErrorCount>2</ErrorCount>
</xml>"""


_NONCES = itertools.count()


def signed(nonce: str | None = None, timestamp: str | None = None, **extra: str) -> dict[str, str]:
    """A query string as WeChat signs it: now, with a nonce of its own (unless given)."""
    nonce = nonce or f"n{next(_NONCES)}"
    timestamp = timestamp or str(int(time.time()))
    return {
        "signature": wechat_signature(TOKEN, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        **extra,
    }


def test_signature_is_wechats_sha1_of_the_sorted_parts() -> None:
    # computed by hand: the three strings sorted, joined, SHA-1
    joined = "".join(sorted([TOKEN, "1481013459", "n1"]))
    assert wechat_signature(TOKEN, "1481013459", "n1") == hashlib.sha1(joined.encode()).hexdigest()


def test_wechat_pushes(tmp_path: Path) -> None:
    ledger = open_ledger(Settings(), str(tmp_path / "l.sqlite"))
    send = make_send(
        key="m" * 24, uid="ev@x", channel="oa", due=NOW, valid_until=NOW.replace(day=2)
    )
    ledger.apply(Plan(NOW, add=[send]))
    claimed = ledger.claim(send.key, NOW, "w")
    assert claimed is not None
    ledger.start_call(send.key, "w", NOW)
    ledger.mark_sent(send.key, "w", NOW, remote_id="1000")
    seen: list[MassFinished] = []

    def record(event: MassFinished) -> None:
        seen.append(event)
        ledger.note_remote(event.msg_id, NOW, event.note())

    app = make_app(
        Settings(),
        lambda: "git-secret",
        lambda push: None,
        wechat_token=lambda: TOKEN,
        on_mass_finished=record,
    )
    try:
        with serve_app(app) as url:
            hook = url + "/hooks/wechat"
            check = httpx.get(hook, params=signed(echostr="5837397520665436492"))
            assert (check.status_code, check.text) == (200, "5837397520665436492")
            ok = httpx.post(hook, params=signed(), content=EVENT)
            assert (ok.status_code, ok.text) == (200, "success")
            assert seen == [MassFinished("1000", "send success", 1300, 1290, 1288, 2)]
            notes = [note for _, _, note in ledger.log(send.key)]
            assert notes[-1] == (
                "MASSSENDJOBFINISH send success: 1288 of 1290 sent (1300 followers, 2 errors)"
            )
            # Refused: unsigned, a wrong token, an encrypted push, a DTD, too large, not XML.
            bad = {**signed(), "signature": wechat_signature("other", "1481013459", "n1")}
            assert httpx.post(hook, params=bad, content=EVENT).status_code == 401
            assert httpx.post(hook, content=EVENT).status_code == 401
            assert httpx.get(hook, params={"echostr": "x"}).status_code == 401
            encrypted = b"<xml><ToUserName>gh</ToUserName><Encrypt>AAAA</Encrypt></xml>"
            answer = httpx.post(hook, params=signed(), content=encrypted)
            assert answer.status_code == 400 and "plaintext" in answer.text
            bomb = (
                b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
                b'<!ENTITY b "&a;&a;&a;&a;&a;&a;">]><xml><Event>&b;</Event></xml>'
            )
            assert httpx.post(hook, params=signed(), content=bomb).status_code == 400
            big = b"<xml>" + b" " * (70 << 10) + b"</xml>"
            assert httpx.post(hook, params=signed(), content=big).status_code == 413
            assert httpx.post(hook, params=signed(), content=b"{not xml").status_code == 400
            other = b"<xml><MsgType>event</MsgType><Event>subscribe</Event></xml>"
            assert httpx.post(hook, params=signed(), content=other).text == "success"
            assert len(seen) == 1
    finally:
        ledger.close()


def test_no_token_configured_refuses_everything() -> None:
    app = make_app(Settings(), lambda: None, lambda push: None)
    with serve_app(app) as url:
        answer = httpx.post(url + "/hooks/wechat", params=signed(), content=EVENT)
    assert answer.status_code == 401


@pytest.mark.parametrize("count", ["-1", "lots", "²", "١٢", "9" * 5000, "1e3", " "])
def test_counts_must_be_numbers(count: str) -> None:
    from livepipe.hooks import HookError, parse_wechat_event

    with pytest.raises(HookError):
        parse_wechat_event(EVENT.replace(b"<SentCount>1288", f"<SentCount>{count}".encode()))


@pytest.fixture
def wechat_hook() -> Iterator[tuple[str, list[MassFinished]]]:
    seen: list[MassFinished] = []
    app = make_app(
        Settings(),
        lambda: None,
        lambda push: None,
        wechat_token=lambda: TOKEN,
        on_mass_finished=seen.append,
    )
    with serve_app(app) as url:
        yield url + "/hooks/wechat", seen


@pytest.mark.parametrize("stamp", ["1481013459", "-400", "+400", "²", "x"])
def test_an_old_or_odd_signature_time_is_refused(wechat_hook, stamp: str) -> None:
    hook, seen = wechat_hook
    if stamp[0] in "+-":  # that many seconds from now
        stamp = str(int(time.time()) + int(stamp))
    answer = httpx.post(hook, params=signed(timestamp=stamp), content=EVENT)
    assert answer.status_code == 401 and seen == []


def test_a_signed_query_string_cannot_be_replayed(wechat_hook) -> None:
    """WeChat signs the timestamp and nonce, not the body: the same query string again
    (with this or another body) is a replay."""
    hook, seen = wechat_hook
    query = signed()
    assert httpx.post(hook, params=query, content=EVENT).text == "success"
    forged = EVENT.replace(b"<SentCount>1288", b"<SentCount>1")
    again = httpx.post(hook, params=query, content=forged)
    assert again.status_code == 401 and "replay" in again.text
    assert len(seen) == 1 and seen[0].sent == 1288


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8"])
def test_a_dtd_is_refused_in_any_encoding(wechat_hook, encoding: str) -> None:
    hook, seen = wechat_hook
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>'
        '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        "<xml><Event>MASSSENDJOBFINISH</Event><MsgID>1</MsgID><Status>&b;</Status></xml>"
    )
    body = text.encode(encoding)
    if encoding.startswith("utf-16") and encoding != "utf-16":
        body = "\ufeff".encode(encoding) + body
    answer = httpx.post(hook, params=signed(), content=body)
    assert answer.status_code == 400 and seen == []


def test_a_chunked_body_is_cut_at_the_cap_while_it_streams(wechat_hook) -> None:
    """No Content-Length: the body is counted as it arrives and refused at 64 KiB, not read
    whole first."""
    hook, seen = wechat_hook
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(1600):  # 100 MiB, if it were all read
            sent += 65536
            yield b"<" * 65536

    try:
        answer = httpx.post(hook, params=signed(), content=chunks(), timeout=30)
        assert answer.status_code == 413
    except httpx.HTTPError:
        pass  # the server may close the connection while the client is still sending
    assert sent < 64 << 20 and seen == []
