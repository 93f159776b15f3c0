"""The protocols over raw sockets: HTTP keep-alive, pipelining, HTTP/1.0,
Connection: close, chunked bodies, the error statuses (400, 408, 413, 431),
and the text and frame protocols."""
import socket
import struct
import time

import pytest

from conftest import MODULES, HttpConn, http_request, is_closed

ECHO = str(MODULES / "echo.so")


def pid_of(body):
    """hello's reply ends with "pid N"."""
    return int(body.rsplit(b"pid ", 1)[1])


def still_open(conn, wait=0.3):
    """True if the server has not closed the connection within `wait` seconds
    (a keep-alive connection must stay open well beyond that)."""
    return not is_closed(conn.sock, wait)


# ---- keep-alive, pipelining, HTTP/1.0, Connection: close ----

def test_keep_alive_many_requests_on_one_connection(smooth):
    srv = smooth.start(groups={"web": {"count": 2, "keepalive_timeout": "10s"}})
    with HttpConn(srv.port()) as c:
        pids = set()
        for i in range(5):
            c.send(f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = c.read_response()
            assert status == 200, (i, status, body)
            assert headers.get("connection", "").lower() != "close", headers
            assert b"hello from module hello" in body
            pids.add(pid_of(body))
        assert len(pids) == 1, f"one connection, one worker: {pids}"
        assert still_open(c)
        c.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response()[0] == 200
    # the worker counted all of them on its one connection
    w = next(w for w in srv.workers() if w["pid"] in pids)
    assert w["requests"] >= 6


def test_pipelined_requests_answered_in_order(smooth):
    srv = smooth.start(groups={"web": {"count": 1, "module": ECHO}})
    bodies = [b"first", b"second request body", b"3"]
    raw = b"".join(b"POST /p%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (i, len(b), b)
                   for i, b in enumerate(bodies))
    with HttpConn(srv.port()) as c:
        c.send(raw)  # one write, three requests
        for expected in bodies:
            status, headers, body = c.read_response()
            assert status == 200 and body == expected, (status, body, expected)
        assert c.buf == b"", f"more than three responses: {c.buf!r}"
        assert still_open(c)


def test_http10_without_keep_alive_is_closed_after_the_response(smooth):
    srv = smooth.start(groups={"web": {"count": 1, "keepalive_timeout": "10s"}})
    with HttpConn(srv.port()) as c:
        c.send("GET / HTTP/1.0\r\n\r\n")
        status, headers, body = c.read_response()
        assert status == 200 and b"hello" in body
        assert headers.get("connection", "close").lower() == "close", headers
        assert c.closed_by_peer(3), "HTTP/1.0 without keep-alive: the server must close after the response"


def test_http10_with_keep_alive_stays_open(smooth):
    srv = smooth.start(groups={"web": {"count": 1, "keepalive_timeout": "10s"}})
    with HttpConn(srv.port()) as c:
        for _ in range(3):
            c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            status, headers, body = c.read_response()
            assert status == 200 and b"hello" in body
            assert headers.get("connection", "").lower() == "keep-alive", headers
        assert still_open(c)


def test_connection_close_is_honoured(smooth):
    srv = smooth.start(groups={"web": {"count": 1, "keepalive_timeout": "10s"}})
    with HttpConn(srv.port()) as c:
        c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response()[0] == 200  # keep-alive first
        c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, headers, body = c.read_response()
        assert status == 200 and b"hello" in body
        assert headers.get("connection", "").lower() == "close", headers
        assert c.closed_by_peer(3), "Connection: close: the server must close after the response"
        assert c.buf == b""


def test_chunked_post_is_dechunked(smooth):
    srv = smooth.start(groups={"web": {"count": 1, "module": ECHO}})
    pieces = [b"Hello, ", b"chunked ", b"world" * 300, b"!"]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    with HttpConn(srv.port()) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        # the body arrives in several writes, one cut inside a size line
        c.send(chunked[:5])
        c.send(chunked[5:400])
        c.send(chunked[400:])
        status, headers, body = c.read_response()
        assert status == 200
        assert body == b"".join(pieces)
        # and the connection goes on
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nnext")
        assert c.read_response()[2] == b"next"


# ---- errors: the right status, then a close; the server keeps serving ----

def send_too_slow(c):
    c.send("GET /half-a-requ")  # and nothing more


ERRORS = [
    # id, what the client sends, expected status, seconds to wait for the answer
    ("400-garbage", lambda c: c.send(b"\x16\x03\x01 this is not http\r\n\r\n"), 400, 3),
    ("400-bad-request-line", lambda c: c.send(b"GET/HTTP/1.1\r\nHost: x\r\n\r\n"), 400, 3),
    ("408", send_too_slow, 408, 8),
    ("413", lambda c: c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"), 413, 3),
    ("431", lambda c: c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"), 431, 3),
]


@pytest.mark.parametrize("send,expected,wait", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_error_status_then_close(smooth, send, expected, wait):
    # request_timeout is short only where the 408 is the point; elsewhere it is
    # long, so "answered at once" can be told from "answered at a timeout".
    timeout = "1s" if expected == 408 else "20s"
    srv = smooth.start(groups={"web": {"count": 1, "module": ECHO, "request_timeout": timeout,
                                       "keepalive_timeout": "20s", "max_request_bytes": "1k"}})
    with HttpConn(srv.port(), timeout=wait) as c:
        t0 = time.monotonic()
        send(c)
        status, headers, body = c.read_response()
        took = time.monotonic() - t0
        assert status == expected, (status, body)
        assert str(expected).encode() in body
        assert headers.get("connection", "").lower() == "close", headers
        assert c.closed_by_peer(3), f"{expected}: the server must close the connection after it"
        if expected == 408:
            assert 0.8 <= took <= 6.0, f"408 after {took:.2f}s with request_timeout = 1s"
        else:
            assert took < 10.0, f"{expected} took {took:.2f}s: it waited for a timeout"
    # a fresh client right after is served
    status, _, body = http_request(srv.port(), "POST", "/", body=b"fine")
    assert status == 200 and body == b"fine"


def test_body_within_max_request_bytes_is_accepted(smooth):
    # the counterpart of 413: a body at the limit is fine
    srv = smooth.start(groups={"web": {"count": 1, "module": ECHO, "max_request_bytes": "1k"}})
    status, _, body = http_request(srv.port(), "POST", "/", body=b"x" * 1024)
    assert status == 200 and body == b"x" * 1024


# ---- text and frame protocols ----

def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {n} bytes: {data!r}")
        data += chunk
    return data


def recv_lines(sock, n):
    data = b""
    while data.count(b"\n") < n:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    return data


def test_text_protocol_echo(smooth):
    srv = smooth.start(groups={"txt": {"listen": "text", "count": 1, "module": ECHO}})
    with socket.create_connection(("127.0.0.1", srv.port("txt")), timeout=5) as s:
        s.sendall(b"hello\nsecond line\r\n")
        assert recv_lines(s, 2) == b"hello\nsecond line\n"
        # a line cut across writes is one message
        s.sendall(b"spl")
        s.sendall(b"it\n")
        assert recv_lines(s, 1) == b"split\n"
        assert not is_closed(s, 0.2)


def frame(payload):
    return struct.pack(">I", len(payload) + 4) + payload


def test_frame_protocol_echo(smooth):
    srv = smooth.start(groups={"frm": {"listen": "frame", "count": 1, "module": ECHO}})
    with socket.create_connection(("127.0.0.1", srv.port("frm")), timeout=5) as s:
        payloads = [b"ping", b"\x00\x01binary\n\xff" * 10, b""]
        s.sendall(b"".join(frame(p) for p in payloads))
        for p in payloads:
            (length,) = struct.unpack(">I", recv_exactly(s, 4))
            assert length == len(p) + 4, f"length {length} for a {len(p)}-byte payload"
            assert recv_exactly(s, length - 4) == p
        # a frame cut inside its header
        data = frame(b"in pieces")
        s.sendall(data[:2])
        s.sendall(data[2:7])
        s.sendall(data[7:])
        assert recv_exactly(s, len(data)) == data
