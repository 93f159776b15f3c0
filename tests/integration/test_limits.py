"""The bounds of long connections (docs/limits.md), each pushed past.

Every per-connection and per-worker buffer has a bound, and passing it has a
defined answer: a client that does not read what it is sent is closed with
1008 (max_unsent_bytes), a message begun must be whole in time (1008,
message_timeout), a gateway's queue is bounded in bytes (1013,
queue_limit_bytes), a worker's buffers all together have a ceiling past
which the largest holders go first (max_buffered_bytes). A module's answer
HTTP cannot carry gets a 500, never a hanging request. Through each, a
bystander on the same worker keeps its connection and its answers, and the
worker stays alive and small."""
import socket
import struct
import threading
import time

from conftest import MODULES, HttpConn, free_port, http_request, is_closed, wait_until
from test_websocket import RawWs, frame

ECHO = str(MODULES / "echo.so")
CHAT = str(MODULES / "chat.so")
PROBE = str(MODULES / "probe.so")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def worker_pid(srv, group):
    (w,) = srv.workers(group)
    return w["pid"]


def text_frames(ws):
    """Reads text frames until a close frame; returns (texts, close code or None)."""
    texts = []
    while True:
        op, payload = ws.read_frame()
        if op == 0x1:
            texts.append(payload.decode())
        elif op == 0x8:
            return texts, struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


def echo_once(ws, text):
    ws.send(frame(0x1, text.encode()))
    op, payload = ws.read_frame()
    assert (op, payload) == (0x1, text.encode()), f"bystander got {op} {payload!r}"


# ---- max_unsent_bytes: a client that does not read ----

def test_a_client_that_does_not_read_its_broadcasts_is_cut_and_the_gateway_stays_small(smooth):
    srv = smooth.start(groups={
        "gateway": {"listen": "ws", "role": "gateway", "backend": "biz", "count": 1, "module": PROBE,
                    "max_unsent_bytes": "1m"},
        "biz": {"listen": "tcp", "role": "business", "count": 1, "module": PROBE},
    })
    wait_until(lambda: srv.workers("gateway")[0]["links"] == 1, what="the gateway linked")
    port = srv.port("gateway")
    gateway = worker_pid(srv, "gateway")
    before = rss_kb(gateway)

    slow = RawWs(port)  # reads a little, now and then: a phone on a poor link
    slow.c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    readers = [RawWs(port), RawWs(port)]  # read everything: must miss nothing
    got = [[], []]

    def read_all(ws, into):
        while len(into) < 200:
            op, payload = ws.read_frame()
            if op == 0x1 and payload[:4].isdigit():
                into.append(int(payload[:4]))
    threads = [threading.Thread(target=read_all, args=(r, g), daemon=True) for r, g in zip(readers, got)]
    for t in threads:
        t.start()

    peak = before
    for i in range(200):  # 200 broadcasts of 40 KB: 8 MB for each client, past what the kernel buffers
        # The readers stay within 10 broadcasts (400 KB) of the sender, however
        # slowly this machine runs them: only the slow client passes the 1 MB.
        wait_until(lambda: min(len(g) for g in got) >= i - 10, 20, what=f"the readers at broadcast {i - 10}")
        readers[0].send(frame(0x1, f"/all {i:04d} ".encode() + b"x" * 40000))
        if i % 10 == 0:
            slow.c.sock.settimeout(0.05)
            try:
                slow.c.sock.recv(4096)
            except (socket.timeout, ConnectionResetError):
                pass  # (a reset once it has been cut)
            peak = max(peak, rss_kb(gateway))
    for t in threads:
        t.join(30)
    for g in got:
        assert g == list(range(200)), f"a reading client got {len(g)} of 200 broadcasts (or out of order)"

    # The slow client is closed: told why (1008) if it reads that far, cut
    # kWsCloseWaitMs later if not; either way its connection ends.
    wait_until(lambda: "max_unsent_bytes" in srv.log(), 10, what="the slow client's close in the log")
    assert is_closed_after_reading(slow.c.sock, 10), "the slow client must be closed"
    assert worker_pid(srv, "gateway") == gateway, "the gateway worker must not die"
    assert peak - before < 16 * 1024, f"gateway RSS grew {peak - before} kB while one client did not read"
    readers[1].send(frame(0x1, b"still here"))
    while True:
        op, payload = readers[1].read_frame()
        if payload.startswith(b"echo still here"):
            break


def is_closed_after_reading(sock, timeout):
    """Reads whatever is left until EOF or a reset; True if that came in time."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        return False
    return True


def test_a_text_client_that_does_not_read_is_closed(smooth):
    srv = smooth.start(groups={"web": {"listen": "text", "count": 1, "module": ECHO, "max_unsent_bytes": "64k"}})
    pid = worker_pid(srv, "web")
    hog = socket.create_connection(("127.0.0.1", srv.port()))
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    line = b"y" * 4000 + b"\n"
    hog.settimeout(0.5)
    try:
        for _ in range(3000):  # 12 MB of echoes it never reads: past what the kernel buffers
            hog.sendall(line)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    wait_until(lambda: "max_unsent_bytes" in srv.log(), 10, what="the close in the log")
    assert is_closed_after_reading(hog, 10)
    with socket.create_connection(("127.0.0.1", srv.port()), timeout=5) as c:
        c.sendall(b"still here\n")
        assert c.recv(100) == b"still here\n"
    assert worker_pid(srv, "web") == pid


# ---- message_timeout: a message begun must be whole in time ----

def test_a_websocket_message_not_finished_in_time_is_closed_with_1008(smooth):
    srv = smooth.start(groups={"web": {"listen": "ws", "count": 1, "module": ECHO, "message_timeout": "1s"}})
    pid = worker_pid(srv, "web")
    bystander = RawWs(srv.port())
    fragment = RawWs(srv.port())
    fragment.send(frame(0x1, b"the first half of a message", fin=False))  # and never the rest
    half_frame = RawWs(srv.port())
    whole = frame(0x1, b"z" * 5000)
    half_frame.send(whole[:2500])
    t0 = time.monotonic()
    for _ in range(5):  # the bystander is served all along
        echo_once(bystander, "still here")
    fragment.expect_close(1008)
    half_frame.expect_close(1008)
    took = time.monotonic() - t0
    assert 0.8 < took < 4, f"closed after {took:.1f} s; message_timeout is 1 s"
    echo_once(bystander, "after")
    assert worker_pid(srv, "web") == pid


def test_a_slow_but_steady_message_within_the_timeout_is_delivered(smooth):
    srv = smooth.start(groups={"web": {"listen": "ws", "count": 1, "module": ECHO, "message_timeout": "3s"}})
    c = RawWs(srv.port())
    data = frame(0x1, b"m" * 3000)
    for i in range(0, len(data), 100):  # 31 pieces over about 0.6 s
        c.send(data[i:i + 100])
        time.sleep(0.02)
    op, payload = c.read_frame()
    assert (op, payload) == (0x1, b"m" * 3000)
    # and the next message starts its own clock: still open a while later
    time.sleep(0.2)
    echo_once(c, "next")


def test_a_line_or_frame_not_finished_in_time_closes_the_connection(smooth):
    srv = smooth.start(groups={
        "text": {"listen": "text", "count": 1, "module": ECHO, "message_timeout": "1s"},
        "frame": {"listen": "frame", "count": 1, "module": ECHO, "message_timeout": "1s"},
    })
    with socket.create_connection(("127.0.0.1", srv.port("text")), timeout=5) as line, \
            socket.create_connection(("127.0.0.1", srv.port("frame")), timeout=5) as framed:
        line.sendall(b"hello\nno end to this line")
        assert line.recv(100) == b"hello\n"
        framed.sendall(struct.pack("!I", 4 + 1000) + b"f" * 10)
        t0 = time.monotonic()
        assert is_closed(line, 5) and is_closed(framed, 5)
        took = time.monotonic() - t0
        assert 0.7 < took < 4, f"closed after {took:.1f} s; message_timeout is 1 s"
    assert "message_timeout" in srv.log()
    with socket.create_connection(("127.0.0.1", srv.port("text")), timeout=5) as c:
        c.sendall(b"next\n")
        assert c.recv(100) == b"next\n"


# ---- queue_limit_bytes: a gateway's queue in bytes ----

def test_the_gateway_queue_is_bounded_in_bytes(smooth):
    nowhere = free_port()  # no business instance answers: every event waits
    srv = smooth.start(groups={"gateway": {"listen": "ws", "role": "gateway", "backend": f"tcp://127.0.0.1:{nowhere}",
                                           "count": 1, "module": CHAT, "queue_limit_bytes": "64k"}})
    bystander = RawWs(srv.port("gateway"))
    bystander.send(frame(0x1, b"ping 1"))
    flooder = RawWs(srv.port("gateway"))
    for i in range(10):  # 100 KB of messages
        flooder.send(frame(0x1, f"say x: {i} ".encode() + b"q" * 10000))
    flooder.expect_close(1013)
    assert "queue_limit_bytes" in srv.log()
    st = srv.workers("gateway")[0]
    assert st["queued"] >= 1, st  # the bystander's message still waits, not dropped
    assert not is_closed(bystander.c.sock, 0.3), "the bystander must keep its connection"


# ---- max_buffered_bytes: the worker's ceiling ----

def test_past_the_worker_ceiling_the_largest_holders_are_closed_first(smooth):
    srv = smooth.start(groups={"web": {"listen": "http", "count": 1, "module": ECHO, "max_buffered_bytes": "1m",
                                       "max_request_bytes": "1m", "request_timeout": "30s"}})
    pid = worker_pid(srv, "web")
    body = b"b" * 700_000
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    holders = []
    for i in range(3):  # each has begun a 700 KB body: room for all of it is taken at once
        c = HttpConn(srv.port(), timeout=10)
        c.send(head + body[:1000 * (i + 1)])
        holders.append(c)
    wait_until(lambda: srv.log().count("over max_buffered_bytes") >= 2, 5, what="two holders closed")
    closed = [c for c in holders if c.closed_by_peer(0.5)]
    assert len(closed) == 2, f"{len(closed)} of 3 holders closed; the ceiling (1 MB) fits one"
    (kept,) = [c for c in holders if c not in closed]
    kept.send(body[len(kept.buf):])  # it finishes its request, and is answered
    assert http_request(srv.port(), "GET", "/")[0] == 200  # a bystander is served all along
    assert worker_pid(srv, "web") == pid


# ---- a module's answer HTTP cannot carry ----

def test_a_status_out_of_range_gets_a_500_and_a_close_never_a_hanging_request(smooth):
    srv = smooth.start(groups={"web": {"listen": "http", "count": 1, "module": PROBE}})
    for bad in (99, 1000, -1):
        with HttpConn(srv.port(), timeout=5) as c:
            c.send(f"GET /status/{bad} HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = c.read_response()
            assert status == 500 and headers.get("connection") == "close", (bad, status, headers)
            assert c.closed_by_peer(3)
        wait_until(lambda: f"probe: respond {bad} returned -1" in srv.log(), 5, what=f"the module told -1 for {bad}")
    assert http_request(srv.port(), "GET", "/status/201")[0] == 201
    wait_until(lambda: "probe: respond 201 returned 0" in srv.log(), 5, what="the module told 0 for 201")
    # Nothing left open behind those answers (no CLOSE-WAIT for good).
    wait_until(lambda: srv.workers("web")[0]["connections"] == 0, 5, what="no connection left open")


# ---- one client cannot fill the queue every client shares ----

def test_a_flooding_client_is_held_and_its_neighbours_keep_their_place_in_the_queue(smooth):
    # Each message costs the business 20 ms: a burst of 100 from one client
    # is far ahead of it. queue_limit is 100: without a hold per client, the
    # flood fills it and the next client to speak is closed with 1013.
    srv = smooth.start(groups={
        "gateway": {"listen": "ws", "role": "gateway", "backend": "chat", "count": 1, "module": CHAT,
                    "queue_limit": 100},
        "chat": {"listen": "tcp", "role": "business", "count": 1, "module": CHAT},
    }, env={"CHAT_WORK_US": "20000"})
    wait_until(lambda: srv.workers("gateway")[0]["links"] == 1, what="the gateway linked")
    flooder = RawWs(srv.port("gateway"))
    neighbour = RawWs(srv.port("gateway"))
    flooder.send(b"".join(frame(0x1, f"ping f{i}".encode()) for i in range(100)))
    wait_until(lambda: srv.workers("gateway")[0]["queued"] >= 50, 5, what="the flood queued")
    neighbour.send(b"".join(frame(0x1, f"ping n{i}".encode()) for i in range(30)))
    # Every message of both is answered, in order; nobody is closed.
    for ws, name, n in ((neighbour, "n", 30), (flooder, "f", 100)):
        seqs = []
        while len(seqs) < n:
            op, payload = ws.read_frame()
            assert op == 0x1, f"client {name} got opcode {op} {payload!r} after {len(seqs)} answers"
            seqs.append(payload.split()[1].decode())
        assert seqs == [f"{name}{i}" for i in range(n)]
    assert "with 1013" not in srv.log()
