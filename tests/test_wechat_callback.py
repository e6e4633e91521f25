"""WeChat's event pushes to `livepipe up` (`/hooks/wechat`, on a real server on loopback):
the URL check, the MASSSENDJOBFINISH counts recorded in the log of the send that made the
mass-send, and everything unsigned, encrypted, with a DTD or too large refused."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from livepipe.config import Settings
from livepipe.hooks import MassFinished, make_app, wechat_signature
from livepipe.ledger import open_ledger
from livepipe.plan import Plan, Send

from .receiver import serve_app

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


def signed(nonce: str = "n1", timestamp: str = "1481013459", **extra: str) -> dict[str, str]:
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
    send = Send("m" * 24, "ev@x", "announce", "announce", "oa", "once", NOW, NOW.replace(day=2))
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


@pytest.mark.parametrize("count", ["-1", "lots"])
def test_counts_must_be_numbers(count: str) -> None:
    from livepipe.hooks import HookError, parse_wechat_event

    with pytest.raises(HookError):
        parse_wechat_event(EVENT.replace(b"<SentCount>1288", f"<SentCount>{count}".encode()))
