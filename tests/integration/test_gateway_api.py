"""The gateway pattern's module API, end to end: what a business worker sends
(to one client, to a list, to all, a close) reaches exactly the clients it
names, over ws://, text:// and frame:// gateways, with one gateway worker or
two; a group that is not reloadable runs on_worker_reload and keeps its
workers, and is respawned after a crash; and events wait in the gateway,
counted, while no business worker is there, then go out in order.

The business module is tests/modules/probe.cpp: one text command per API call
("/to ID TEXT", "/many ID,ID TEXT", "/all TEXT", "/kick ID"), "id ID" to each
client as it connects, "[pid P]" on every answer, and a log line for each
on_close and on_worker_reload. The clients here are plain sockets, read one
message at a time, so a test sees every byte a client gets, in order."""
import os
import re
import signal
import socket
import struct

from conftest import MODULES, is_closed, link_secret_file, pid_alive, wait_until

PROBE = str(MODULES / "probe.so")
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
TAG = re.compile(r" \[pid (\d+)(?:, reloads (\d+))?\]$")


class Client:
    """One client of a gateway (or any stream group): ws, text or frame, one
    message at a time. recv() returns the next message as text, or
    ("close", code) for a WebSocket close frame; None on EOF."""

    def __init__(self, proto, port, timeout=5.0):
        self.proto = proto
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.id = None
        if proto == "ws":
            self.sock.sendall(f"GET /probe HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
            while b"\r\n\r\n" not in self.buf:
                self._fill()
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            assert head.startswith(b"HTTP/1.1 101"), head

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"{self.proto} client: connection closed; unread {self.buf!r}")
        self.buf += chunk

    def _need(self, n):
        while len(self.buf) < n:
            self._fill()

    def send(self, text):
        data = text.encode()
        if self.proto == "text":
            self.sock.sendall(data + b"\n")
        elif self.proto == "frame":
            self.sock.sendall(struct.pack("!I", len(data) + 4) + data)
        else:
            self.sock.sendall(ws_frame(0x1, data))

    def recv(self, timeout=5.0):
        self.sock.settimeout(timeout)
        try:
            if self.proto == "text":
                while b"\n" not in self.buf:
                    self._fill()
                line, self.buf = self.buf.split(b"\n", 1)
                return line.decode()
            if self.proto == "frame":
                self._need(4)
                n = struct.unpack("!I", self.buf[:4])[0]
                assert n >= 4, f"a frame header says {n} bytes (it counts itself: at least 4)"
                self._need(n)
                payload, self.buf = self.buf[4:n], self.buf[n:]
                return payload.decode()
            self._need(2)
            b0, b1 = self.buf[0], self.buf[1]
            assert not b1 & 0x80, "a server must not mask its frames"
            n, at = b1 & 0x7F, 2
            if n == 126:
                self._need(4)
                n, at = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                self._need(10)
                n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
            self._need(at + n)
            payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
            if b0 & 0x0F == 0x8:
                return ("close", struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None)
            assert b0 & 0x0F == 0x1, f"expected a text message, got opcode {b0 & 0x0F}"
            return payload.decode()
        except EOFError:
            return None

    def greeted(self):
        """Reads the "id ID" on_connect sent: the connect event reached the
        business module and its answer came back. Returns the id."""
        first = self.recv()
        assert isinstance(first, str) and first.startswith("id "), f"expected 'id ID' first, got {first!r}"
        self.id = int(first[3:])
        return self

    def expect(self, want, timeout=5.0):
        """The next message is `want` followed by its [pid P] tag; returns P."""
        got = self.recv(timeout)
        m = TAG.search(got) if isinstance(got, str) else None
        assert m and got[:m.start()] == want, f"client {self.id} ({self.proto}): expected {want!r} [pid P], got {got!r}"
        return int(m.group(1))

    def close(self):
        self.sock.close()


def ws_frame(opcode, payload):
    """A masked client frame (payloads here are short)."""
    assert len(payload) < 126
    key = os.urandom(4)
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def gateway_groups(gateways, business_count=2, backend="biz"):
    """gateways: {name: (protocol, count)}; each in front of the business group biz."""
    groups = {name: {"listen": proto, "role": "gateway", "backend": backend, "count": count, "module": PROBE}
              for name, (proto, count) in gateways.items()}
    if backend == "biz":
        groups["biz"] = {"listen": "tcp", "role": "business", "count": business_count, "module": PROBE}
    return groups


def linked(srv, group, want):
    """Every worker of gateway `group` has `want` ready links (one per business worker)."""
    try:
        gws = srv.workers(group)
    except Exception:
        return False
    return bool(gws) and all(w["links"] == want and w["state"] == "ready" for w in gws)


def closed_logged(srv, client_id):
    return f"probe: closed {client_id} in pid" in srv.log()


def test_send_many_and_close_reach_the_named_clients_only(smooth):
    srv = smooth.start(groups=gateway_groups({"gw": ("ws", 1)}))
    wait_until(lambda: linked(srv, "gw", 2), what="the gateway linked to both business workers")
    a, b, c, d = (Client("ws", srv.port("gw")).greeted() for _ in range(4))
    assert len({a.id, b.id, c.id, d.id}) == 4, "every client has an id of its own"

    # To a list: b and c, and an id no client has (as a client that has
    # left would): the others still get it. The same business worker sends the list and then
    # a's "ok many" on one link, so a's next message being "ok many" means a
    # was not on it; d's next message being the marker sent after it means
    # d was not either (a's next event leaves only once this one is DONE).
    nobody = (a.id >> 32) << 32 | 0xFFFFFF
    a.send(f"/many {b.id},{c.id},{nobody} to b and c")
    sender = a.expect("ok many")
    assert b.expect("to b and c") == sender and c.expect("to b and c") == sender
    a.send(f"/to {d.id} marker")
    a.expect("ok to")
    d.expect("marker")

    # A close of one client: b gets a close frame (1000), then the TCP close
    # once it answers; the business module hears of it (on_close); the
    # others go on talking.
    a.send(f"/kick {b.id}")
    a.expect("ok kick")
    assert b.recv() == ("close", 1000), "the kicked client gets a WebSocket close with 1000"
    b.sock.sendall(ws_frame(0x8, struct.pack("!H", 1000)))
    assert is_closed(b.sock, 5), "the gateway closes the kicked client's connection"
    wait_until(lambda: closed_logged(srv, b.id), what="on_close of the kicked client in a business worker")
    for other in (a, c, d):
        other.send("still here")
        got = other.recv()
        assert isinstance(got, str) and got.startswith("echo still here [pid"), f"client {other.id}: {got!r}"
    assert not any(closed_logged(srv, x.id) for x in (a, c, d)), "only the kicked client was closed"


def two_gateway_clients(srv, group="gw"):
    """Clients of a two-worker gateway, connected until both workers hold
    some. A client id names its gateway worker in its high 32 bits (the
    workers balance their accepts). Returns (all clients, {token: clients})."""
    clients = []
    for _ in range(30):
        clients.append(Client("ws", srv.port(group)).greeted())
        if len({x.id >> 32 for x in clients}) == 2 and len(clients) >= 4:
            break
    by_gateway = {}
    for x in clients:
        by_gateway.setdefault(x.id >> 32, []).append(x)
    assert len(by_gateway) == 2, f"{len(clients)} clients all on one gateway worker"
    return clients, by_gateway


def holder_pid(srv, client, group="gw"):
    """The pid of the worker holding this client's connection (./server connections)."""
    peer = f"127.0.0.1:{client.sock.getsockname()[1]}"
    for line in srv.cli("connections", check=True).stdout.splitlines():
        cols = line.split()
        if len(cols) > 2 and cols[1] == group and cols[2] == peer:
            return int(cols[0])
    raise AssertionError(f"no connection from {peer} in ./server connections")


def test_two_gateway_workers_each_client_reached_wherever_it_is_held(smooth):
    srv = smooth.start(groups=gateway_groups({"gw": ("ws", 2)}))
    wait_until(lambda: linked(srv, "gw", 2) and len(srv.workers("gw")) == 2,
               what="both gateway workers linked to both business workers")
    clients, by_gateway = two_gateway_clients(srv)
    assert all(w["connections"] >= 1 for w in srv.workers("gw")), "each gateway worker holds clients"
    one, two = (group[0] for group in by_gateway.values())

    # Across gateway workers, both ways, until each business worker has
    # sent at least once: whichever business worker handles the message
    # finds the gateway worker that holds the addressee.
    senders = set()
    for n in range(20):
        src, dst = (one, two) if n % 2 == 0 else (two, one)
        src.send(f"/to {dst.id} message {n}")
        senders.add(dst.expect(f"message {n}"))
        src.expect("ok to")
        if n >= 3 and len(senders) == 2:
            break
    biz_pids = {w["pid"] for w in srv.workers("biz")}
    assert senders == biz_pids, f"sends came from {senders}, the business workers are {biz_pids}"

    # A broadcast reaches every client of both gateway workers.
    one.send("/all to everyone")
    for x in clients:
        assert x.expect("to everyone") in biz_pids

    # A close of a client held by the other gateway worker.
    one.send(f"/kick {two.id}")
    one.expect("ok kick")
    assert two.recv() == ("close", 1000)
    two.sock.sendall(ws_frame(0x8, struct.pack("!H", 1000)))  # the close handshake's answer
    wait_until(lambda: closed_logged(srv, two.id), what="on_close of the kicked client")

    st = srv.status()
    gw = next(g for g in st["groups"] if g["name"] == "gw")
    assert gw["role"] == "gateway" and gw["reloadable"] is False, gw
    line = next(l for l in srv.cli("status", check=True).stdout.splitlines() if l.startswith("group gw "))
    assert "not reloadable" in line and "gateway to biz" in line, line


def test_gateway_worker_crash_is_respawned_and_the_other_keeps_its_clients(smooth):
    srv = smooth.start(groups=gateway_groups({"gw": ("ws", 2)}))
    wait_until(lambda: linked(srv, "gw", 2) and len(srv.workers("gw")) == 2, what="both gateway workers linked")
    clients, by_gateway = two_gateway_clients(srv)
    (lost_token, lost), (kept_token, kept) = by_gateway.items()
    crashed = holder_pid(srv, lost[0])
    survivor = holder_pid(srv, kept[0])
    assert crashed != survivor and {crashed, survivor} == {w["pid"] for w in srv.workers("gw")}

    os.kill(crashed, signal.SIGKILL)
    for x in lost:
        assert x.recv() is None, "a client of the killed gateway worker sees its connection end"

    def respawned():
        ws = srv.workers("gw")
        pids = {w["pid"] for w in ws}
        return len(ws) == 2 and survivor in pids and crashed not in pids and linked(srv, "gw", 2) and pids
    new_pid = (wait_until(respawned, what="the gateway worker respawned and linked") - {survivor}).pop()
    for x in kept:  # the survivor's clients never noticed
        x.send("still here")
        x.expect("echo still here")

    # The respawned worker takes new clients (held open: the survivor, ahead
    # by many, steps back from accepting) and they are reached from business
    # workers like any other: a broadcast from a survivor's client reaches them.
    fresh = []
    while not any(x.id >> 32 not in (lost_token, kept_token) for x in fresh):
        assert len(fresh) < 10, "the respawned gateway worker takes no clients"
        fresh.append(Client("ws", srv.port("gw")).greeted())
    newcomer = next(x for x in fresh if x.id >> 32 not in (lost_token, kept_token))
    assert holder_pid(srv, newcomer) == new_pid
    kept[0].send("/all after the crash")
    for x in kept + fresh:
        x.expect("after the crash")


def test_text_and_frame_gateways(smooth):
    # Two gateway groups, text:// and frame://, in front of one business
    # group: every event of either kind of client reaches the module, and
    # what it sends comes back framed for the client that gets it.
    srv = smooth.start(groups=gateway_groups({"gtext": ("text", 1), "gframe": ("frame", 1)}))
    wait_until(lambda: linked(srv, "gtext", 2) and linked(srv, "gframe", 2), what="both gateways linked")
    t = Client("text", srv.port("gtext")).greeted()      # connect: "id ID" came back as a line
    f = Client("frame", srv.port("gframe")).greeted()    # ... and as a frame
    assert t.id >> 32 != f.id >> 32, "two gateway workers, two tokens"

    t.send("hello from a line")
    got = t.recv()
    assert got.startswith("echo hello from a line [pid"), got
    f.send("a frame\nwith a newline inside")             # one message, not two lines
    got = f.recv()
    assert got.startswith("echo a frame\nwith a newline inside [pid"), repr(got)
    # a message in pieces: the header alone, then the payload byte by byte
    f.sock.sendall(struct.pack("!I", 4 + 5))
    for ch in b"split":
        f.sock.sendall(bytes([ch]))
    assert f.recv().startswith("echo split [pid")

    t.send(f"/to {f.id} from the text client")
    f.expect("from the text client")
    t.expect("ok to")
    f.send(f"/to {t.id} from the frame client")
    t.expect("from the frame client")
    f.expect("ok to")
    t.send("/all both")
    assert t.expect("both") == f.expect("both")

    # Close events: a text client that hangs up; a frame client closed by the module.
    t.close()
    wait_until(lambda: closed_logged(srv, t.id), what="on_close of the text client in a business worker")
    assert not closed_logged(srv, f.id)
    t2 = Client("text", srv.port("gtext")).greeted()
    t2.send(f"/kick {f.id}")
    t2.expect("ok kick")
    assert f.recv() is None, "the kicked frame client sees the connection closed"
    f.close()  # (until the client closes too, the server's lingering close holds the connection)
    wait_until(lambda: closed_logged(srv, f.id), what="on_close of the kicked frame client")


def test_not_reloadable_group_reload_and_crash(smooth):
    # A plain text group with reloadable = false runs probe: its echo says how
    # many times on_worker_reload ran in the worker that answers.
    srv = smooth.start(groups={"web": {"count": 1},
                               "keep": {"listen": "text", "count": 2, "module": PROBE, "reloadable": False}})
    st = srv.status()
    flags = {g["name"]: g["reloadable"] for g in st["groups"]}
    assert flags == {"web": True, "keep": False}, flags
    text = srv.cli("status", check=True).stdout
    lines = {l.split()[1]: l for l in text.splitlines() if l.startswith("group ")}
    assert "not reloadable" in lines["keep"] and "not reloadable" not in lines["web"], text
    assert " reloadable" in lines["web"], text

    # A connection on each keep worker (the echo names the pid). All are held
    # open: a worker holding clearly more steps back from accepting
    # (accept_balance.h), so the other one soon takes one.
    keep_pids = {w["pid"] for w in srv.workers("keep")}
    held, opened = {}, []
    for _ in range(30):
        c = Client("text", srv.port("keep")).greeted()
        opened.append(c)
        c.send("who")
        pid = int(TAG.search(c.recv()).group(1))
        held.setdefault(pid, c)
        if len(held) == 2:
            break
    assert set(held) == keep_pids, f"connections reached {set(held)}, workers are {keep_pids}"
    web_pid = srv.workers("web")[0]["pid"]

    r = srv.reload()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "group keep is not reloadable: told its workers, they keep running" in r.stdout, r.stdout
    for pid in keep_pids:
        wait_until(lambda: f"probe: on_worker_reload 1 in pid {pid}" in srv.log(),
                   what=f"on_worker_reload in keep worker {pid}")
    assert {w["pid"] for w in srv.workers("keep")} == keep_pids, "a group that is not reloadable keeps its workers"
    assert srv.workers("web")[0]["pid"] != web_pid, "the reloadable group was replaced"
    for pid, c in held.items():  # the same connections, the same workers, the callback seen
        c.send("after")
        assert c.recv() == f"echo after [pid {pid}, reloads 1]"

    # A crash of one keep worker: respawned (a new pid that serves), while
    # the other keeps its connection.
    crashed, survivor = sorted(keep_pids)
    os.kill(crashed, signal.SIGKILL)
    assert held[crashed].recv() is None, "the crashed worker's connection is gone"

    def respawned():
        ws = srv.workers("keep")
        pids = {w["pid"] for w in ws}
        return len(ws) == 2 and all(w["state"] == "ready" for w in ws) and survivor in pids and crashed not in pids \
            and pids
    pids = wait_until(respawned, what="the crashed keep worker respawned")
    new_pid = (pids - {survivor}).pop()
    assert not pid_alive(crashed)
    held[survivor].send("still")
    assert held[survivor].recv() == f"echo still [pid {survivor}, reloads 1]", "the survivor kept its connection"

    # New connections, held open as above: the new worker must take one
    # within a few.
    fresh = []

    def served_by_new():
        c = Client("text", srv.port("keep")).greeted()
        fresh.append(c)
        c.send("new")
        got = c.recv()
        assert TAG.search(got) and int(TAG.search(got).group(1)) in (survivor, new_pid), got
        return got == f"echo new [pid {new_pid}, reloads 0]"
    wait_until(served_by_new, what=f"a connection served by the respawned worker {new_pid}")
    assert len(fresh) <= 8, f"the respawned worker took its first connection only after {len(fresh)}"
    flags = {g["name"]: g["reloadable"] for g in srv.status()["groups"]}
    assert flags == {"web": True, "keep": False}, flags


def test_events_wait_in_the_gateway_while_the_business_instance_is_down(smooth, tmp_path):
    # The business group in an instance of its own (127.0.0.2, as another
    # machine). While it is stopped the gateway holds its client's messages,
    # counted in status --json "queued"; once it is back every one is
    # answered, in order, on the same connection. Two instances link with
    # the secret both are given (docs/links.md).
    secret = {"link_secret_file": link_secret_file(tmp_path)}
    business = smooth.start(groups={"biz": {"listen": "tcp", "host": "127.0.0.2", "role": "business", "count": 1,
                                            "module": PROBE}}, server=secret)
    backend = f"tcp://127.0.0.2:{business.port('biz')}"
    gateway = smooth.start(groups=gateway_groups({"gw": ("text", 1)}, backend=backend), server=secret)
    wait_until(lambda: linked(gateway, "gw", 1), what="the gateway linked to the business instance")
    c = Client("text", gateway.port("gw")).greeted()
    for i in range(3):
        c.send(f"m{i}")
        assert c.expect(f"echo m{i}") == business.workers("biz")[0]["pid"]

    r = business.cli("stop", timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_until(lambda: linked(gateway, "gw", 0), what="the gateway to see its link gone")
    for i in range(3, 23):
        c.send(f"m{i}")
    queued = wait_until(lambda: gateway.workers("gw")[0]["queued"] == 20 and 20,
                        what="the 20 messages counted as queued in the gateway")
    assert queued == 20

    business.start()
    new_pid = business.workers("biz")[0]["pid"]
    for i in range(3, 23):  # each once, in order, from the restarted instance
        assert c.expect(f"echo m{i}", timeout=10) == new_pid
    wait_until(lambda: gateway.workers("gw")[0]["queued"] == 0, what="the queue empty again")
    c.send("after")
    assert c.expect("echo after") == new_pid
