"""RFC 9110/9112 MUSTs, on the wire: Host, request-target forms, HEAD, 204
and 304, Expect: 100-continue, 414, the grammar of chunk sizes and of the
head (bare LF), and a close the client can read. Each case is one a strict
client or an attacker tries; each failed on the server before these rules."""
import socket
import time

import pytest

from conftest import MODULES, HttpConn, is_closed, wait_until

ECHO = str(MODULES / "echo.so")


@pytest.fixture
def echo(smooth):
    return smooth.start(groups={"web": {"count": 1, "module": ECHO, "max_request_bytes": "64k",
                                        "keepalive_timeout": "10s", "request_timeout": "10s"}})


def exchange(port, raw, head_request=False, timeout=5):
    """Sends raw bytes, reads one response; returns (status, headers, body, closed_after)."""
    with HttpConn(port, timeout) as c:
        c.send(raw)
        status, headers, body = c.read_response(head_request)
        return status, headers, body, c.closed_by_peer(3)


# ---- Host (RFC 9112 §3.2) ----

@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\n\r\n",                                   # no Host
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",             # two Host lines
    b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",                      # not a host
    b"GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n",                    # not a port
], ids=["missing", "twice", "space", "bad-port"])
def test_bad_host_is_400_and_close(echo, head):
    status, headers, _, closed = exchange(echo.port(), head)
    assert status == 400 and headers.get("connection") == "close" and closed


def test_http10_may_omit_host(echo):
    status, _, body, _ = exchange(echo.port(), b"GET /?show HTTP/1.0\r\n\r\n")
    assert status == 200 and body == b"GET / show \n"


def test_absolute_form_target_wins_over_host(echo):
    status, _, body, _ = exchange(echo.port(), b"GET http://example.com:8080/x/y?show HTTP/1.1\r\n"
                                               b"Host: other.example\r\nConnection: close\r\n\r\n")
    assert status == 200 and body == b"GET /x/y show example.com:8080\n", body


@pytest.mark.parametrize("line", [b"GET foo/bar HTTP/1.1", b"GET * HTTP/1.1", b"CONNECT /x HTTP/1.1",
                                  b"GET ftp://h/x HTTP/1.1"])
def test_target_of_no_form_is_400(echo, line):
    assert exchange(echo.port(), line + b"\r\nHost: x\r\n\r\n")[0] == 400


# ---- responses without a body: HEAD, 204, 304 (RFC 9110 §9.3.2, §15.3.5, §15.4.5) ----

def test_head_has_the_length_of_a_get_and_no_body(smooth):
    srv = smooth.start(groups={"web": {"count": 1}})
    with HttpConn(srv.port()) as c:
        # HEAD then GET, pipelined: bytes of a body after the HEAD would be read
        # as the GET's status line.
        c.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = c.read_response(head_request=True)
        assert status == 200 and body == b""
        length = int(headers["content-length"])
        status, headers, body = c.read_response()
        assert status == 200 and body.startswith(b"hello from module hello")
        assert len(body) == length, "HEAD says the length a GET gets"


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_on_204_and_304_whatever_the_module_sends(echo, code):
    with HttpConn(echo.port()) as c:
        c.send(f"POST /?status={code} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".encode()
               + b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nnext")
        status, headers, body = c.read_response()
        assert status == code and body == b""
        assert "content-length" not in headers, headers
        status, _, body = c.read_response()
        assert status == 200 and body == b"next", "the module's body leaked into the stream"


def test_module_cannot_answer_with_1xx(echo):
    # A 1xx is never a final answer: the server answers 500 in its place and
    # smooth_http_respond tells the module -1 (echo logs it).
    status, _, body, _ = exchange(echo.port(), b"POST /?status=103 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                                               b"Connection: close\r\n\r\nx")
    assert status == 500 and body == b"500 Internal Server Error\n"
    wait_until(lambda: "echo: the server refused status 103" in echo.log(), 5, what="echo told -1")


# ---- Expect: 100-continue (RFC 9110 §10.1.1) ----

def test_expect_continue_is_answered_at_once(echo):
    body = b"x" * 2000
    with HttpConn(echo.port(), timeout=5) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2000\r\n\r\n")
        t0 = time.monotonic()
        c.sock.settimeout(5)
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += c.sock.recv(100)
        waited = time.monotonic() - t0
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
        assert waited < 0.9, f"100 Continue after {waited:.2f}s: curl waits 1 s for it"
        c.buf = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        c.send(body)
        status, _, echoed = c.read_response()
        assert status == 200 and echoed == body


def test_expect_continue_over_the_limit_gets_413_at_once(echo):
    status, _, _, closed = exchange(echo.port(), b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                                 b"Content-Length: 100000000\r\n\r\n")
    assert status == 413 and closed


def test_unknown_expectation_is_417(echo):
    status, _, _, _ = exchange(echo.port(), b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n"
                                            b"Content-Length: 1\r\n\r\nx")
    assert status == 417


# ---- limits and grammar ----

def test_long_target_is_414(echo):
    status, _, _, closed = exchange(echo.port(), b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 414 and closed


@pytest.mark.parametrize("chunks", [
    b"0 \r\n\r\n",              # a space after the size, no extension
    b"2;\r\nab\r\n0\r\n\r\n",   # an extension without a name
    b"2;a=\"x\r\nab\r\n0\r\n\r\n",  # an unclosed quoted string
], ids=["size-space", "ext-no-name", "ext-open-quote"])
def test_chunk_grammar_errors_are_400(echo, chunks):
    status, _, _, closed = exchange(echo.port(), b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    + chunks)
    assert status == 400 and closed


def test_bare_lf_in_the_head_is_not_a_second_request(echo):
    # llhttp's smuggling case: read leniently, the bare LF ends a line early and
    # "GET /admin" becomes a request of its own.
    smuggled = b"GET /admin?show HTTP/1.1\r\nHost: x\r\n\r\n"
    raw = (b"GET /?show HTTP/1.1\r\nHost: x\r\nDummy: y\nContent-Length: " + str(len(smuggled)).encode()
           + b"\r\n\r\n" + smuggled)
    with HttpConn(echo.port(), timeout=5) as c:
        c.send(raw)
        status, headers, _ = c.read_response()
        assert status == 400 and headers.get("connection") == "close"
        assert c.closed_by_peer(3), "a second response followed: the request was smuggled"


# ---- a close the client can read (RFC 9112 §9.6) ----

@pytest.mark.parametrize("last", [b"HTTP/1.1\r\nHost: x\r\nConnection: close", b"HTTP/1.0\r\nHost: x"],
                         ids=["connection-close", "http10"])
def test_bytes_after_a_last_request_do_not_reset_its_response(smooth, last):
    # The client says "close" (Connection: close, or HTTP/1.0 without
    # keep-alive: its last request too), and while its (large) response is
    # on its way it sends more bytes. The server has stopped reading (back-pressure: the
    # response does not fit the socket), so they sit unread; a close() with
    # unread bytes makes the kernel answer with a reset and throw away what it
    # had not sent yet: the client loses the end of the response. Closing in
    # stages (shut the write side, read and drop until the client's FIN) does not.
    srv = smooth.start(groups={"web": {"count": 1, "module": ECHO, "max_request_bytes": "16m"}})
    body = b"b" * (8 << 20)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    s.connect(("127.0.0.1", srv.port()))
    s.settimeout(10)
    try:
        s.sendall(b"POST / %s\r\nContent-Length: %d\r\n\r\n" % (last, len(body)) + body)
        data = s.recv(65536)  # the response has begun
        s.sendall(b"one more thing, never to be read\r\n" * 50)
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, got = data.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split()[1] == b"200", head
    assert len(got) == len(body), f"{len(got)} of {len(body)} bytes of the response arrived"


def test_keep_alive_clients_still_get_a_fast_close(smooth):
    # The other side of it: a client that says close and sends nothing more is
    # closed at once (no lingering), as before.
    srv = smooth.start(groups={"web": {"count": 1}})
    with HttpConn(srv.port()) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert c.read_response()[0] == 200
        t0 = time.monotonic()
        assert is_closed(c.sock, 3)
        assert time.monotonic() - t0 < 1.0, "the server lingered for a client that had said it was done"
