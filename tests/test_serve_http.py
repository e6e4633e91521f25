"""livepipe's own HTTP/1.1 server (serve/http.py) on a real socket: what clients send in
practice and what a hostile one might, byte for byte."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livepipe.inbound import bind
from livepipe.serve import ServeApp
from livepipe.serve.http import Reply, Request, _BadRequest, parse, running

from .support.receiver import free_port

BIG = 200_000  # bytes of big.ics
HUGE = 16_000_000  # bytes of huge.ics: more than the sockets' buffers hold


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dist/ folder as the writer leaves it: two files and their manifest."""
    import json

    root = tmp_path_factory.mktemp("dist")
    (root / "calendar.ics").write_bytes(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    (root / "big.ics").write_bytes(b"X" * BIG)
    (root / "huge.ics").write_bytes(b"X" * HUGE)
    (root / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": [
                    {"path": "calendar.ics", "media_type": "text/calendar; charset=utf-8"},
                    {"path": "big.ics", "media_type": "text/calendar; charset=utf-8"},
                    {"path": "huge.ics", "media_type": "text/calendar; charset=utf-8"},
                ]
            }
        )
    )
    return root


@pytest.fixture
def port(dist: Path) -> Iterator[int]:
    number = free_port()
    with running(ServeApp(dist), bind("127.0.0.1", number, "--port"), connections=20):
        yield number


def exchange(port: int, data: bytes, wait: float = 5) -> bytes:
    """Send ``data``, then read until the server closes the connection (or ``wait``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as conn:
        conn.sendall(data)
        got = b""
        try:
            while chunk := conn.recv(65536):
                got += chunk
        except TimeoutError:
            pass
        return got


def statuses(answer: bytes) -> list[int]:
    """The status of each answer (no body here holds a status line)."""
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) [A-Z]", answer)]


GET = b"GET /calendar.ics HTTP/1.1\r\nHost: x\r\n"


def test_pipelined_requests_are_answered_in_order_on_one_connection(port: int) -> None:
    requests = GET + b"\r\n" + b"HEAD /nope.ics HTTP/1.1\r\nHost: x\r\n\r\n"
    requests += b"GET /calendar.ics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = exchange(port, requests)
    assert statuses(answer) == [200, 404, 200]
    assert answer.count(b"BEGIN:VCALENDAR") == 2  # the HEAD answer carries no body
    assert answer.endswith(b"END:VCALENDAR\r\n")  # and then the server closed
    assert b"Connection: close" in answer.split(b"HTTP/1.1 200")[-1]


def test_a_request_sent_a_byte_at_a_time_is_answered(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in GET + b"\r\n":
            conn.sendall(bytes([byte]))
        assert conn.recv(100).startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_client_that_does_not_read_gets_every_answer_once_it_does(dist: Path) -> None:
    """300 pipelined GETs of a 200 kB file from a client that reads nothing for a while:
    the server stops answering while the client's socket is full (flow control: it holds
    about one answer, not 60 MB) and resumes when it reads; every answer arrives, whole and
    in order."""
    n = 300
    number = free_port()
    with (
        running(ServeApp(dist), bind("127.0.0.1", number, "--port")) as server,
        socket.create_connection(("127.0.0.1", number), timeout=10) as conn,
    ):
        one = b"GET /big.ics HTTP/1.1\r\nHost: x\r\n"
        conn.sendall((one + b"\r\n") * (n - 1) + one + b"Connection: close\r\n\r\n")
        time.sleep(1)
        held = sum(c.transport.get_write_buffer_size() for c in list(server.live) if c.transport)
        assert held < 2 * BIG, held
        got = bytearray()
        while chunk := conn.recv(1 << 20):  # until the server closes after the last
            got += chunk
    answers = got.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert len(answers) == n
    assert all(a.split(b"\r\n\r\n", 1)[1] == b"X" * BIG for a in answers)


def test_a_request_with_a_body_is_answered_and_the_connection_closed(port: int) -> None:
    """No body is read, so none can be taken for a request of its own (smuggling)."""
    smuggled = b"GET /calendar.ics HTTP/1.1\r\nHost: x\r\n\r\n"
    for declared in (
        b"Content-Length: %d\r\n" % len(smuggled),
        b"Transfer-Encoding: chunked\r\n",
        b"Content-Length: " + b"9" * 5000 + b"\r\n",  # more digits than int() takes
        b"Content-Length: 0001\r\n",
    ):
        answer = exchange(port, GET + declared + b"\r\n" + smuggled)
        assert statuses(answer) == [200]
        assert b"Connection: close" in answer


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /calendar.ics HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET /calendar.ics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET /calendar.ics HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400),
        (b"GET /calendar.ics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),  # obs-fold
        (b"GET /calendar.ics HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400),  # a lone CR
        (b"GET /calendar.ics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        (GET + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\n", 400),
        (GET + b"Content-Length: \xc2\xb2\r\n\r\n", 400),  # a superscript two, in UTF-8
        (b"GET /caf\xc3\xa9.ics HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # a raw non-ASCII target
        (b"GET http://x/calendar.ics HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /calendar.ics HTTP/2.0\r\nHost: x\r\n\r\n", 400),
        (b"GET  /calendar.ics HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (b"DELETE /calendar.ics HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (b"GET /calendar.ics HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    ],
)
def test_a_malformed_request_gets_its_status_and_the_connection_is_closed(
    port: int, request_bytes: bytes, status: int
) -> None:
    answer = exchange(port, request_bytes + GET + b"Connection: close\r\n\r\n")
    if status == 405:  # well-formed: the connection goes on to the next request
        assert statuses(answer) == [405, 200] and b"Allow: GET, HEAD\r\n" in answer
        return
    assert statuses(answer) == [status], answer[:200]  # and then closed: nothing more read
    assert b"Connection: close" in answer and b"BEGIN:VCALENDAR" not in answer


def test_http_1_0_closes_unless_asked_to_keep_alive(port: int) -> None:
    once = exchange(port, b"GET /calendar.ics HTTP/1.0\r\n\r\n" + GET + b"\r\n")
    assert statuses(once) == [200]
    kept = exchange(
        port,
        b"GET /calendar.ics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        + GET
        + b"Connection: close\r\n\r\n",
    )
    assert statuses(kept) == [200, 200]


def test_percent_encoding_and_a_query_are_taken_apart(port: int) -> None:
    answer = exchange(
        port, b"GET /calendar%2Eics?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert statuses(answer) == [200]
    escaped = exchange(
        port, b"GET /%2e%2e/manifest.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert statuses(escaped) == [400]


def test_connections_beyond_the_limit_get_503(port: int) -> None:
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)]
    try:
        time.sleep(0.2)  # the server has taken them all
        assert statuses(exchange(port, GET + b"\r\n")) == [503]
    finally:
        for conn in held:
            conn.close()
    time.sleep(0.2)
    assert statuses(exchange(port, GET + b"Connection: close\r\n\r\n")) == [200]


def test_an_error_in_a_route_is_one_500_and_the_server_lives_on(dist: Path) -> None:
    seen: list[str] = []

    def app(request: Request) -> Reply:
        if request.path == "/boom":
            raise ValueError("broken")
        return Reply(200, {"Content-Type": "text/plain"}, b"fine")

    number = free_port()
    with running(app, bind("127.0.0.1", number, "--port"), log=seen.append):
        assert statuses(
            exchange(
                number,
                b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n" + GET + b"Connection: close\r\n\r\n",
            )
        ) == [
            500,
            200,
        ]
    assert seen == ["error: GET /boom: ValueError: broken"]


def test_parse_reads_headers_as_sent() -> None:
    request, keep, body = parse(
        b'GET /a%20b?lang=zh&lang=en&x= HTTP/1.1\r\nHost: h:1\r\nIf-None-Match: "a"\r\n'
        b'if-none-match:  "b" \t\r\nCONNECTION: Close',
        ("127.0.0.1", 8080),
    )
    assert request.path == "/a b" and dict(request.query) == {"lang": "en", "x": ""}
    assert request.headers["if-none-match"] == '"a", "b"'
    assert request.headers["host"] == "h:1" and request.server == ("127.0.0.1", 8080)
    assert keep is False and body is False


_PIECES = st.sampled_from(
    [b"GET ", b"HEAD ", b"/calendar.ics", b"/%2e%2e/", b"?lang=zh", b" HTTP/1.1", b" HTTP/1.0",
     b"\r\n", b"Host: x", b"Content-Length: ", b"9" * 50, b"Transfer-Encoding: chunked",
     b"Connection: close", b": ", b" ", b"\t", b"\x00", b"\xff", b"\r", b"\n", b"*"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.binary(max_size=8)), max_size=24).map(b"".join))
def test_parse_answers_any_bytes_with_a_request_or_a_bad_request(head: bytes) -> None:
    """Whatever arrives as a request's head, parse gives a request or a 400/405-class
    refusal: never another exception (the connection would end in a traceback)."""
    try:
        request, keep, body = parse(head, ("127.0.0.1", 80))
    except _BadRequest as bad:
        assert bad.status == 400
        return
    assert isinstance(request.path, str) and isinstance(keep, bool) and isinstance(body, bool)


def test_a_client_that_never_reads_is_cut_off(dist: Path) -> None:
    """A client that asks for answers and takes none of them (a slow-read attack) holds
    its connection and a full send buffer only while the answers make no progress for
    ``stall_seconds``; a slow reader that keeps taking bytes is not cut off (below)."""
    number = free_port()
    with (
        running(ServeApp(dist), bind("127.0.0.1", number, "--port"), stall_seconds=1.0) as server,
        socket.create_connection(("127.0.0.1", number), timeout=10) as conn,
    ):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.sendall(b"GET /huge.ics HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        started = time.monotonic()
        while not server.live and time.monotonic() - started < 5:
            time.sleep(0.01)
        assert server.live
        while server.live and time.monotonic() - started < 8:
            time.sleep(0.1)
        assert not server.live  # cut off after a second without progress, not kept
        assert time.monotonic() - started > 0.9


def test_a_slow_reader_is_not_cut_off(dist: Path) -> None:
    number = free_port()
    with (
        running(ServeApp(dist), bind("127.0.0.1", number, "--port"), stall_seconds=1.0),
        socket.create_connection(("127.0.0.1", number), timeout=10) as conn,
    ):
        conn.sendall(b"GET /huge.ics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got = bytearray()
        started = time.monotonic()
        while chunk := conn.recv(65536):  # 16 MB a little at a time, for about 3 s
            got += chunk
            time.sleep(0.01)
        assert time.monotonic() - started > 1.5  # slower than the stall limit, and whole
    assert got.startswith(b"HTTP/1.1 200 OK") and got.split(b"\r\n\r\n", 1)[1] == b"X" * HUGE


def test_pipelined_requests_waiting_on_a_slow_reader_are_not_cut_off(
    dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header deadline is for requests that have not arrived: requests already in the
    server, waiting while the client reads slowly, are answered, however long that takes
    (the stall limit is what bounds a client that reads nothing)."""
    monkeypatch.setattr("livepipe.serve.http.HEADER_SECONDS", 0.5)
    n = 300
    number = free_port()
    with (
        running(ServeApp(dist), bind("127.0.0.1", number, "--port")),
        socket.create_connection(("127.0.0.1", number), timeout=10) as conn,
    ):
        one = b"GET /big.ics HTTP/1.1\r\nHost: x\r\n"
        conn.sendall((one + b"\r\n") * (n - 1) + one + b"Connection: close\r\n\r\n")
        time.sleep(1.5)  # three header deadlines while the answers wait for this reader
        got = bytearray()
        while chunk := conn.recv(1 << 20):
            got += chunk
    assert got.count(b"HTTP/1.1 200 OK\r\n") == n
