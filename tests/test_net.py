"""The outbound door (net.py) against a misbehaving server on loopback: total deadlines, byte
caps while streaming, no surprise redirects, http(s) only, and the address policy checked on
the address actually connected to."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pydantic import BaseModel, StrictInt

from livepipe.addresses import parse_networks, private_reason
from livepipe.errors import BadAnswerError, BlockedError, DeadlineError, TooLargeError
from livepipe.net import Client, Policy, retry_after

from .support.hostile import hostile

LOOPBACK = parse_networks(["127.0.0.0/8"])


@pytest.fixture
def h():
    with hostile() as server:
        yield server


def test_an_answer_that_never_ends_stops_at_the_cap(h) -> None:
    url = h.route("/endless", mode="endless")
    started = time.monotonic()
    with Client(Policy.operator()) as client, pytest.raises(TooLargeError) as caught:
        client.get(url, deadline=30, max_bytes=1 << 20)
    assert time.monotonic() - started < 5
    assert "longer than 1,048,576 bytes" in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


def test_a_declared_length_over_the_cap_is_refused_before_reading(h) -> None:
    url = h.route("/huge", mode="huge-length")
    with Client(Policy.operator()) as client, pytest.raises(TooLargeError):
        client.get(url, deadline=30, max_bytes=1 << 20)


@pytest.mark.parametrize("mode", ["trickle-body", "trickle-headers"])
def test_a_trickle_is_cut_off_at_the_total_deadline(h, mode: str) -> None:
    # one byte every 0.2 s: each read is quick, so a per-read timeout never fires
    url = h.route("/slow", mode=mode, delay=0.2)
    started = time.monotonic()
    with Client(Policy.operator()) as client, pytest.raises(DeadlineError):
        client.get(url, deadline=1.5, max_bytes=1 << 20)
    took = time.monotonic() - started
    assert 1.4 < took < 2.5, took


def test_loopback_is_refused_for_page_urls_unless_allowed(h) -> None:
    url = h.route("/meta", body=b'{"secret": "instance credentials"}')
    with Client(Policy.public()) as client, pytest.raises(BlockedError) as caught:
        client.get(url, deadline=5, max_bytes=1000)
    assert "public addresses" in str(caught.value) and "[network] allow" in str(caught.value)
    assert h.hits["/meta"] == 0  # never even connected
    with Client(Policy.public(LOOPBACK)) as client:
        assert client.get(url, deadline=5, max_bytes=1000).json() == {
            "secret": "instance credentials"
        }
    with Client(Policy.operator()) as client:  # a channel's own configured address
        assert client.get(url, deadline=5, max_bytes=1000).status == 200


def test_a_name_that_resolves_inside_is_refused_at_connect(h, monkeypatch) -> None:
    url = h.route("/cover.png", body=b"not for you")
    port = int(h.url.rsplit(":", 1)[1])
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "covers.example.org":  # a public-looking name whose DNS says loopback
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with Client(Policy.public()) as client, pytest.raises(BlockedError):
        client.get(f"http://covers.example.org:{port}/cover.png", deadline=5, max_bytes=1000)
    assert h.hits["/cover.png"] == 0
    with Client(Policy.public(LOOPBACK)) as client:  # allowed: the same name connects
        got = client.get(f"http://covers.example.org:{port}/cover.png", deadline=5, max_bytes=99)
        assert got.body == b"not for you"
    assert url.endswith("/cover.png")


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "mailto:../../../../etc/hostname",
        "ftp://example.org/x",
        "gopher://example.org/",
        "http://[::1]:9/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:9/",
        "http://0.0.0.0:9/",
        "http://10.1.2.3/",
        "http://localhost:9/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://intranet/",
    ],
)
def test_schemes_and_internal_hosts_are_refused_for_page_urls(url: str) -> None:
    with Client(Policy.public()) as client, pytest.raises(BlockedError):
        client.get(url, deadline=2, max_bytes=100)


def test_redirects_are_not_followed_unless_asked(h) -> None:
    h.route("/ok", body=b'{"ok": true}')
    url = h.route("/moved", status=302, headers={"Location": "/ok"}, body=b"")
    with Client(Policy.public(LOOPBACK)) as client:
        first = client.get(url, deadline=5, max_bytes=100)
        assert first.status == 302 and h.hits["/ok"] == 0
        assert client.get(url, deadline=5, max_bytes=100, redirects=1).json() == {"ok": True}


def test_a_redirect_into_the_network_is_refused(h) -> None:
    url = h.route(
        "/bounce", status=301, headers={"Location": "http://169.254.169.254/latest/"}, body=b""
    )
    with Client(Policy.public(LOOPBACK)) as client, pytest.raises(BlockedError):
        client.get(url, deadline=5, max_bytes=100, redirects=3)


NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("99999999999999", 86400.0),  # capped: the send's window bounds it further
        ("9" * 5000, None),
        ("inf", None),
        ("-5", None),
        ("²", None),  # a digit to str.isdigit, not a number
        ("١٢", None),  # Arabic-Indic digits
        ("1e9", None),
        ("soon", None),
        ("", None),
        (None, None),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(days=1), usegmt=True), 0.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 86400.0),
        ("Mon, 99 Foo 2026 99:99:99 GMT", None),
    ],
)
def test_retry_after_of_any_shape(value: str | None, seconds: float | None) -> None:
    assert retry_after(value, now=NOW.timestamp()) == seconds


class _Code(BaseModel):
    errcode: StrictInt


def test_an_answer_of_another_shape_is_a_bad_answer(h) -> None:
    url = h.route("/busy", body=b'{"errcode": "busy"}')
    with Client(Policy.operator()) as client:
        answer = client.get(url, deadline=5, max_bytes=100)
    with pytest.raises(BadAnswerError) as caught:
        answer.parse(_Code, "WeChat")
    assert str(caught.value) == (
        "WeChat answered in an unexpected shape: errcode: Input should be a valid integer "
        "(got 'busy')"
    )
    with pytest.raises(BadAnswerError):
        client_answer = answer.__class__(200, answer.headers, b"<html>", answer.url)
        client_answer.json()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/cover.png", "127.0.0.1 is a private"),
        ("https://10.0.0.5/live", "10.0.0.5 is a private"),
        ("http://[fe80::1]/x", "fe80::1 is a private"),
        ("http://localhost/x", "localhost is a name for a host inside"),
        ("http://grafana.internal/x", "grafana.internal is a name"),
        ("https://live.bilibili.com/22580654", None),
        ("https://93.184.216.34/x", None),
        ("mailto:someone@example.org", None),
        ("not a url", None),
    ],
)
def test_private_urls_on_pages_are_named(url: str, reason: str | None) -> None:
    got = private_reason(url)
    assert (got is None) if reason is None else (got is not None and got.startswith(reason))


def test_an_allowed_network_is_not_private() -> None:
    assert private_reason("http://10.0.0.5/x", parse_networks(["10.0.0.0/8"])) is None
    assert private_reason("http://10.0.0.5/x", parse_networks(["192.168.0.0/16"])) is not None
