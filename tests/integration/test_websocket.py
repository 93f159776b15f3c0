"""WebSocket (RFC 6455) in a ws:// group: an independent client (Debian's
python3-websockets) for the normal paths, raw frames for the errors a
client library would never send. Each error gets the RFC's answer and the
server goes on serving everyone else."""
import asyncio
import os
import struct

import pytest
import websockets

from conftest import MODULES, HttpConn, http_request, is_closed

ECHO = str(MODULES / "echo.so")
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


@pytest.fixture
def ws(smooth):
    return smooth.start(groups={"web": {"listen": "ws", "count": 1, "module": ECHO, "max_request_bytes": "64k"}})


def url(srv):
    return f"ws://127.0.0.1:{srv.port()}/chat"


# ---- raw frames, for what a library would not send ----

def frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class RawWs:
    """A handshake by hand, then frames by hand."""

    def __init__(self, port):
        self.c = HttpConn(port, timeout=5)
        self.c.send(f"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        status, headers, _ = self.c.read_response(head_request=True)
        assert status == 101 and headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", headers

    def send(self, data):
        self.c.send(data)

    def read_frame(self):
        """(opcode, payload) of the next frame from the server (never masked)."""
        while len(self.c.buf) < 2:
            self.c._fill()
        b0, b1 = self.c.buf[0], self.c.buf[1]
        assert not b1 & 0x80, "a server must not mask its frames"
        n, at = b1 & 0x7F, 2
        if n == 126:
            while len(self.c.buf) < 4:
                self.c._fill()
            n, at = struct.unpack("!H", self.c.buf[2:4])[0], 4
        elif n == 127:
            while len(self.c.buf) < 10:
                self.c._fill()
            n, at = struct.unpack("!Q", self.c.buf[2:10])[0], 10
        while len(self.c.buf) < at + n:
            self.c._fill()
        payload, self.c.buf = self.c.buf[at:at + n], self.c.buf[at + n:]
        return b0 & 0x0F, payload

    def expect_close(self, code):
        op, payload = self.read_frame()
        assert op == 0x8, f"expected a close frame, got opcode {op}: {payload!r}"
        got = struct.unpack("!H", payload[:2])[0]
        assert got == code, f"close code {got} ({payload[2:]!r}), want {code}"
        assert is_closed(self.c.sock, 5), "the server must close the TCP connection after a failure"

    def close(self):
        self.c.close()


# ---- the normal paths, with an independent client ----

def test_text_and_binary_messages_echo(ws):
    async def go():
        async with websockets.connect(url(ws)) as c:
            await c.send("hello, ünïcode")
            assert await c.recv() == "hello, ünïcode"
            await c.send(b"\x00\x01\xff")
            assert await c.recv() == b"\x00\x01\xff"
            big = "x" * 60000  # the 16-bit length form
            await c.send(big)
            assert await c.recv() == big
            pong = await c.ping(b"are you there")
            await asyncio.wait_for(pong, 5)
            await c.close(1000, "bye")
            assert c.close_code == 1000
    run(go())


def test_many_clients_at_once(ws):
    async def one(i):
        async with websockets.connect(url(ws)) as c:
            for n in range(20):
                await c.send(f"client {i} message {n}")
                assert await c.recv() == f"client {i} message {n}"
    async def go():
        await asyncio.gather(*(one(i) for i in range(20)))
    run(go())


def test_plain_http_on_a_ws_group_is_served(ws):
    # The same port serves the page and the socket (the chat demo does).
    status, _, body = http_request(ws.port(), "POST", "/", body=b"plain")
    assert status == 200 and body == b"plain"


def test_fragmented_message_with_a_ping_inside(ws):
    c = RawWs(ws.port())
    try:
        c.send(frame(0x1, b"Hel", fin=False) + frame(0x9, b"ping!") + frame(0x0, b"lo", fin=True))
        assert c.read_frame() == (0xA, b"ping!")  # the pong comes first: the message is not whole yet
        assert c.read_frame() == (0x1, b"Hello")
        c.send(frame(0x8, struct.pack("!H", 1000)))
        op, payload = c.read_frame()
        assert op == 0x8 and payload[:2] == struct.pack("!H", 1000)
        assert is_closed(c.c.sock, 5)
    finally:
        c.close()


# ---- the handshake's refusals ----

@pytest.mark.parametrize("headers,status", [
    ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", 400),  # no key
    (f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n"
     "Sec-WebSocket-Version: 8\r\n", 426),
    (f"Upgrade: websocket\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n", 400),  # no Connection
], ids=["no-key", "version-8", "no-connection-upgrade"])
def test_bad_handshakes(ws, headers, status):
    with HttpConn(ws.port()) as c:
        c.send(f"GET /chat HTTP/1.1\r\nHost: x\r\n{headers}\r\n")
        got, h, _ = c.read_response()
        assert got == status
        if status == 426:
            assert h.get("sec-websocket-version") == "13"
        assert c.closed_by_peer(3)


# ---- protocol errors: the RFC's close codes, and everyone else unharmed ----

@pytest.mark.parametrize("bad,code", [
    (frame(0x1, b"not masked", mask=False), 1002),
    (frame(0x1, b"\xc3\x28 invalid utf-8"), 1007),
    (frame(0x1, b"x" * 70000), 1009),                   # over max_request_bytes (64k)
    (frame(0x1, b"a", rsv=4), 1002),                    # RSV1 without an extension
    (frame(0x3, b"?"), 1002),                           # reserved opcode
    (frame(0x0, b"orphan"), 1002),                      # continuation with nothing to continue
    (frame(0x9, b"p" * 126), 1002),                     # control frame over 125 bytes
    (frame(0x8, struct.pack("!H", 1005)), 1002),        # a code that may not be sent
    (frame(0x1, b"a", fin=False) + frame(0x1, b"b"), 1002),  # a new message inside a fragmented one
], ids=["unmasked", "utf8", "too-big", "rsv", "opcode", "orphan-continuation", "big-ping", "close-1005",
        "interleaved"])
def test_protocol_errors_close_with_their_code(ws, bad, code):
    bystander = RawWs(ws.port())
    c = RawWs(ws.port())
    try:
        c.send(bad)
        c.expect_close(code)
        # the server goes on serving the others
        bystander.send(frame(0x1, b"still here?"))
        assert bystander.read_frame() == (0x1, b"still here?")
    finally:
        c.close()
        bystander.close()


def test_a_message_split_across_reads_is_whole(ws):
    c = RawWs(ws.port())
    try:
        data = frame(0x1, "ü".encode() * 1000)
        for i in range(0, len(data), 7):  # 7 bytes at a time: every UTF-8 character cut somewhere
            c.send(data[i:i + 7])
        assert c.read_frame() == (0x1, "ü".encode() * 1000)
    finally:
        c.close()


# ---- a reload: plain WebSocket groups are drained with 1001 ----

def test_reload_says_going_away_and_clients_can_come_back(ws):
    async def go():
        c = await websockets.connect(url(ws))
        await c.send("before")
        assert await c.recv() == "before"
        old = ws.workers()[0]["pid"]
        reload = await asyncio.get_running_loop().run_in_executor(None, ws.reload)
        assert reload.returncode == 0, reload.stdout
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await c.recv()
        assert closed.value.rcvd.code == 1001, closed.value
        # the client reconnects, to the new worker
        async with websockets.connect(url(ws)) as again:
            await again.send("after")
            assert await again.recv() == "after"
        assert ws.workers()[0]["pid"] != old
    run(go())


def test_reload_is_not_held_up_by_a_client_that_never_answers_the_close(ws):
    c = RawWs(ws.port())
    try:
        c.send(frame(0x1, b"hi"))
        assert c.read_frame() == (0x1, b"hi")
        r = ws.reload()  # the client never answers the 1001: the close wait is bounded
        assert r.returncode == 0, r.stdout
        op, payload = c.read_frame()
        assert op == 0x8 and struct.unpack("!H", payload[:2])[0] == 1001
        assert is_closed(c.c.sock, 10)
    finally:
        c.close()
