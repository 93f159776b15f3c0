"""The gateway hands its connections over (worker/handover.h): through
`./server upgrade`, and through reloads of a gateway group that says
`reloadable = handover`, no client
notices that the process holding it was replaced: no close frame, no reset,
no reconnect, no message lost, duplicated or out of order, in either
direction.

The crowd is Debian's python3-websockets (an independent client): each
client sends a numbered `ping` and reads its `pong`; one more client says
something to everyone every period, and every client must read each of
those broadcasts, numbered, once and in order. The business module costs
0.5 ms of work per message (CHAT_WORK_US), so events are in flight when a
gateway worker hands over. SMOOTH_HO_CLIENTS / SMOOTH_HO_ROUNDS make the run
bigger."""
import asyncio
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest
import websockets

from conftest import MODULES, build_server_variant, is_closed, wait_until
from test_websocket import RawWs, frame

CHAT = str(MODULES / "chat.so")
PROBE = str(MODULES / "probe.so")
CLIENTS = int(os.environ.get("SMOOTH_HO_CLIENTS", "200"))
ROUNDS = int(os.environ.get("SMOOTH_HO_ROUNDS", "3"))
PERIOD_S = 0.1
PONG = re.compile(r"^pong (\d+) (\d+) \[pid (\d+), chat [^\]]+\]$")
BROADCAST = re.compile(r"^b: (\d+) \[pid (\d+), chat [^\]]+\]$")


def groups(gateway_count=1, module=CHAT, business=CHAT, protocol="ws", **gateway):
    g = {"listen": protocol, "role": "gateway", "backend": "biz", "count": gateway_count, "module": module,
         "reloadable": "handover", "max_connections": 20000}
    g.update(gateway)
    return {"gateway": g, "biz": {"listen": "tcp", "role": "business", "count": 2, "module": business}}


def gateway_pids(srv):
    return sorted(w["pid"] for w in srv.workers("gateway"))


def linked(srv, want=2):
    try:
        gws = srv.workers("gateway")
    except Exception:
        return False
    return gws and all(w["links"] >= want and w["state"] == "ready" for w in gws)


class Crowd:
    """CLIENTS WebSocket clients and one broadcaster, on a thread of their own."""

    def __init__(self, url, clients, active):
        self.url, self.clients, self.active = url, clients, active
        self.sent = [0] * clients
        self.pongs = [[] for _ in range(clients)]
        self.broadcasts = [[] for _ in range(clients)]
        self.opens = [0] * clients
        self.closes = []          # (client, code, reason)
        self.said = 0
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.errors = []
        self.thread = threading.Thread(target=lambda: asyncio.run(self.main()), daemon=True)

    async def main(self):
        conns = []
        for i in range(self.clients):
            ws = await websockets.connect(self.url, max_queue=None, ping_interval=None, close_timeout=1,
                                          max_size=2 ** 24)
            self.opens[i] += 1
            conns.append(ws)
        readers = [asyncio.create_task(self.read(i, ws)) for i, ws in enumerate(conns)]
        self.ready.set()
        senders = [asyncio.create_task(self.ping(i, conns[i])) for i in range(self.active)]
        speaker = asyncio.create_task(self.speak(conns[0]))
        while not self.stop.is_set():
            await asyncio.sleep(0.05)
        for t in senders + [speaker]:
            t.cancel()
        # every answer must still come: wait (bounded) for the last ones
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not self.all_answered():
            await asyncio.sleep(0.05)
        for t in readers:
            t.cancel()
        for ws in conns:
            await ws.close()

    async def ping(self, i, ws):
        while True:
            await ws.send(f"ping {i} {self.sent[i]}")
            self.sent[i] += 1
            await asyncio.sleep(PERIOD_S)

    async def speak(self, ws):
        while True:
            await ws.send(f"say b: {self.said}")
            self.said += 1
            await asyncio.sleep(PERIOD_S)

    async def read(self, i, ws):
        try:
            async for text in ws:
                m = PONG.match(text)
                if m:
                    self.pongs[i].append(int(m.group(2)))
                    continue
                m = BROADCAST.match(text)
                if m:
                    self.broadcasts[i].append(int(m.group(1)))
                    continue
                self.errors.append(f"client {i} got {text!r}")
        except websockets.ConnectionClosed as e:
            self.closes.append((i, e.code, e.reason))

    def all_answered(self):
        return all(len(self.pongs[i]) >= self.sent[i] for i in range(self.active)) and \
            all(len(b) >= self.said for b in self.broadcasts)

    def check(self):
        assert not self.errors, self.errors[:5]
        assert not self.closes, f"{len(self.closes)} clients were closed: {self.closes[:5]}"
        assert self.opens == [1] * self.clients, "a client had to reconnect"
        for i in range(self.active):
            assert self.pongs[i] == list(range(self.sent[i])), \
                f"client {i}: pongs {len(self.pongs[i])} of {self.sent[i]}, in order and once each: {self.pongs[i][:20]}"
        for i in range(self.clients):
            assert self.broadcasts[i] == list(range(self.said)), \
                f"client {i}: broadcasts {len(self.broadcasts[i])} of {self.said}, in order and once each"


def run_crowd(srv, action, clients=CLIENTS, active=None):
    crowd = Crowd(f"ws://127.0.0.1:{srv.port('gateway')}/chat", clients, active or min(clients, 50))
    crowd.thread.start()
    assert crowd.ready.wait(60), "the crowd did not connect"
    try:
        action()
    finally:
        crowd.stop.set()
        crowd.thread.join(60)
    crowd.check()
    return crowd


# ---- the crowd through upgrades, then reloads by hand-over ----

def test_a_crowd_keeps_every_connection_and_message_through_upgrades_and_reloads(smooth, tmp_path):
    releases = [build_server_variant(b, tmp_path / b / "server") for b in ("b2", "b3")]
    srv = smooth.start(groups=groups(), env={"CHAT_WORK_US": "500"})
    wait_until(lambda: linked(srv), what="the gateway linked")
    seen = [gateway_pids(srv)]

    def action():
        for n in range(ROUNDS):
            r = srv.cli("upgrade", "--binary", str(releases[n % 2]), timeout=120)
            assert r.returncode == 0, r.stdout + r.stderr
            assert "handed over" in r.stdout, r.stdout
            wait_until(lambda: linked(srv), what="the new gateway linked")
            seen.append(gateway_pids(srv))
        for n in range(ROUNDS):
            r = srv.reload()
            assert r.returncode == 0, r.stdout + r.stderr
            assert "handed over" in r.stdout, r.stdout
            wait_until(lambda: linked(srv), what="the gateway linked")
            seen.append(gateway_pids(srv))

    run_crowd(srv, action)
    for before, after in zip(seen, seen[1:]):
        assert not set(before) & set(after), f"gateway pids {before} -> {after}: every one replaced each time"


# ---- connections in the middle of something ----

@pytest.fixture
def probe(smooth):
    srv = smooth.start(groups=groups(module=PROBE, business=PROBE))
    wait_until(lambda: linked(srv), what="the gateway linked")
    return srv


def hand_over(srv):
    before = gateway_pids(srv)
    r = srv.reload()
    assert r.returncode == 0 and "handed over" in r.stdout, r.stdout + r.stderr
    wait_until(lambda: linked(srv), what="the new gateway linked")
    assert not set(before) & set(gateway_pids(srv))


def id_of(ws):
    op, payload = ws.read_frame()
    assert op == 0x1 and payload.startswith(b"id "), payload
    return int(payload.split()[1])


def next_text(ws):
    while True:
        op, payload = ws.read_frame()
        if op == 0x1:
            return payload.decode()
        assert op in (0x9, 0xA), f"opcode {op} {payload!r}"


def test_a_fragmented_message_half_sent_goes_on_after_the_hand_over(probe):
    ws = RawWs(probe.port("gateway"))
    id_of(ws)
    ws.send(frame(0x1, b"half of ", fin=False))
    hand_over(probe)
    ws.send(frame(0x0, b"a message", fin=True))
    assert next_text(ws).startswith("echo half of a message ")


def test_a_reader_with_a_megabyte_unread_gets_all_of_it_in_order(probe):
    stalled = RawWs(probe.port("gateway"))
    stalled.c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    id_of(stalled)
    talker = RawWs(probe.port("gateway"))
    id_of(talker)
    for i in range(100):  # 100 broadcasts of 10 KB, 1 MB for a client that reads none yet
        talker.send(frame(0x1, f"/all {i:03d} ".encode() + b"m" * 10000))
    got = []
    while len(got) < 100:  # the talker reads its own: all sent out by the business
        text = next_text(talker)
        if text[:3].isdigit():
            got.append(int(text[:3]))
    hand_over(probe)
    seen = []
    while len(seen) < 100:
        text = next_text(stalled)
        if text[:3].isdigit():
            seen.append(int(text[:3]))
    assert seen == list(range(100))


def test_a_close_handshake_under_way_finishes_after_the_hand_over(probe):
    victim = RawWs(probe.port("gateway"))
    vid = id_of(victim)
    other = RawWs(probe.port("gateway"))
    id_of(other)
    other.send(frame(0x1, f"/kick {vid}".encode()))
    assert next_text(other).startswith("ok kick")
    hand_over(probe)  # the server's Close was sent; ours has not been
    op, payload = victim.read_frame()
    assert op == 0x8 and struct.unpack("!H", payload[:2])[0] == 1000
    victim.send(frame(0x8, struct.pack("!H", 1000)))
    assert is_closed(victim.c.sock, 5), "the server closes the TCP connection after the handshake"


@pytest.mark.parametrize("protocol", ["text", "frame"])
def test_a_half_received_line_or_frame_goes_on(smooth, protocol):
    srv = smooth.start(groups=groups(module=PROBE, business=PROBE, protocol=protocol))
    wait_until(lambda: linked(srv), what="the gateway linked")
    s = socket.create_connection(("127.0.0.1", srv.port("gateway")), timeout=5)

    def read_message():
        buf = b""
        if protocol == "text":
            while not buf.endswith(b"\n"):
                buf += s.recv(1)
            return buf[:-1].decode()
        while len(buf) < 4:
            buf += s.recv(4 - len(buf))
        (n,) = struct.unpack("!I", buf)
        body = b""
        while len(body) < n - 4:
            body += s.recv(n - 4 - len(body))
        return body.decode()

    assert read_message().startswith("id ")
    whole = b"hello over the hand-over"
    wire = whole + b"\n" if protocol == "text" else struct.pack("!I", 4 + len(whole)) + whole
    s.sendall(wire[:10])
    hand_over(srv)
    s.sendall(wire[10:])
    assert read_message().startswith("echo hello over the hand-over ")


def test_ids_a_module_kept_still_reach_their_clients(probe):
    a, b, c = RawWs(probe.port("gateway")), RawWs(probe.port("gateway")), RawWs(probe.port("gateway"))
    ida, idb, idc = id_of(a), id_of(b), id_of(c)
    hand_over(probe)
    c.send(frame(0x1, f"/to {ida} to a".encode()))
    assert next_text(a).startswith("to a [pid")
    c.send(frame(0x1, f"/many {ida},{idb} to both".encode()))
    assert next_text(a).startswith("to both") and next_text(b).startswith("to both")
    c.send(frame(0x1, f"/kick {idb}".encode()))
    op, payload = b.read_frame()
    assert op == 0x8 and struct.unpack("!H", payload[:2])[0] == 1000
    assert idc  # and c itself was answered all along


# ---- faults: the successor or its master killed, a format it cannot read ----

def pongs_flow(ws, n=3):
    """The client is served: n pings answered in order."""
    for i in range(n):
        ws.send(frame(0x1, f"ping 0 {i}".encode()))
    seqs = []
    while len(seqs) < n:
        text = next_text(ws)
        if text.startswith("pong "):
            seqs.append(int(text.split()[2]))
    assert seqs == list(range(n))


def chat_clients(srv, n):
    clients = [RawWs(srv.port("gateway")) for _ in range(n)]
    for c in clients:
        pongs_flow(c, 1)
    return clients


def new_gateway_pid(srv, old):
    def found():
        pids = [w["pid"] for w in srv.workers("gateway") if w["pid"] not in old]
        return pids[0] if pids else None
    return wait_until(found, 30, what="the new gateway worker")


def test_a_successor_killed_during_a_reload_hand_over_costs_no_client(smooth):
    # Each connection the successor takes waits 20 ms for its confirm: 60
    # clients make a hand-over of more than a second, to kill it in.
    srv = smooth.start(groups=groups(), env={"SMOOTH_HANDOVER_TEST_PAUSE_MS": "20"})
    wait_until(lambda: linked(srv), what="the gateway linked")
    old = gateway_pids(srv)
    clients = chat_clients(srv, 60)
    proc = subprocess.Popen([str(srv.binary), "-c", str(srv.conf), "reload"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    wait_until(lambda: "hand over to pid" in srv.log(), 30, what="the hand-over under way")
    successor = int(re.findall(r"hand over to pid (\d+)", srv.log())[-1])
    st = srv.status()  # status says it (the successor confirms every 20 ms: it is still under way)
    assert [w["state"] for w in st["workers"] if w["pid"] in old] == ["handing"], st["workers"]
    assert f"handing its connections to new pid {successor}" in st["reload"]["description"], st["reload"]
    os.kill(successor, signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "hand-over" in out, out
    assert gateway_pids(srv) == old, "the old gateway worker serves on"
    for c in clients:  # every client still connected, and served
        pongs_flow(c, 2)
    hand_over(srv)  # and a later reload goes through
    for c in clients:
        pongs_flow(c, 2)


@pytest.mark.parametrize("victim", ["worker", "master"])
def test_a_successor_killed_during_an_upgrade_hand_over_costs_no_client(smooth, tmp_path, victim):
    release = build_server_variant("b2", tmp_path / "b2" / "server")
    srv = smooth.start(groups=groups(), env={"SMOOTH_HANDOVER_TEST_PAUSE_MS": "20"})
    wait_until(lambda: linked(srv), what="the gateway linked")
    old = gateway_pids(srv)
    master = srv.master_pid()
    clients = chat_clients(srv, 60)
    proc = subprocess.Popen([str(srv.binary), "-c", str(srv.conf), "upgrade", "--binary", str(release)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_until(lambda: "hand their connections to the new master" in srv.log(), 60, what="the hand-over under way")
    new_master = int(re.findall(r"new master pid (\d+)", srv.log())[-1])
    if victim == "worker":
        successor = int(re.findall(rf"\[master {new_master}\] spawned worker gateway#0 \(pid (\d+)", srv.log())[-1])
        os.kill(successor, signal.SIGKILL)
    else:
        os.kill(new_master, signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "upgrade failed" in out, out
    assert srv.master_pid() == master, "the old master serves on"
    wait_until(lambda: len(gateway_pids(srv)) == 1, what="one gateway worker")
    assert gateway_pids(srv) == old, "the old gateway worker kept its connections"
    for c in clients:  # every client still connected, and served
        pongs_flow(c, 2)
    r = srv.cli("upgrade", "--binary", str(release), timeout=120)  # and a later upgrade goes through
    assert r.returncode == 0 and "handed over" in r.stdout, r.stdout + r.stderr
    for c in clients:
        pongs_flow(c, 2)


def test_a_binary_that_reads_another_hand_over_format_is_refused(smooth, tmp_path):
    other = build_server_variant("ho2", tmp_path / "ho2" / "server", extra=["HANDOVER_VERSION=2"])
    srv = smooth.start(groups=groups())
    wait_until(lambda: linked(srv), what="the gateway linked")
    old = gateway_pids(srv)
    clients = chat_clients(srv, 5)
    r = srv.cli("upgrade", "--binary", str(other), timeout=120)
    assert r.returncode != 0 and "hand-over format" in r.stdout + r.stderr, r.stdout + r.stderr
    assert gateway_pids(srv) == old
    for c in clients:
        pongs_flow(c, 2)


def test_nothing_outside_the_server_reaches_the_hand_over(probe):
    """The hand-over travels on socketpairs: no path anyone could connect to,
    no listening socket but the group's own."""
    for w in probe.workers("gateway"):
        paths, listening = unix_sockets_of(w["pid"])
        assert not paths, f"gateway pid {w['pid']} has unix sockets with a path: {paths}"
        assert not listening, f"gateway pid {w['pid']} listens on a unix socket"
    hand_over(probe)
    for w in probe.workers("gateway"):
        paths, listening = unix_sockets_of(w["pid"])
        assert not paths and not listening


def unix_sockets_of(pid):
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    paths, listening = [], []
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[6] in inodes:
                if len(parts) > 7:
                    paths.append(parts[7])
                if parts[5] == "01" and parts[3] == "00010000":  # state LISTEN (flags __SO_ACCEPTCON)
                    listening.append(parts[6])
    return paths, listening


def test_the_metrics_count_hand_overs_and_the_connections_they_moved(smooth):
    from test_metrics import samples, scrape
    g = groups(module=PROBE, business=PROBE)
    g["web"] = {"listen": "http", "count": 1, "metrics_path": "/metrics"}
    srv = smooth.start(groups=g)
    wait_until(lambda: linked(srv), what="the gateway linked")
    clients = [RawWs(srv.port("gateway")) for _ in range(7)]
    for c in clients:
        id_of(c)
    hand_over(srv)
    hand_over(srv)

    _, page = scrape(srv.port("web"))
    counts = samples(page)
    assert counts.get('smooth_handovers_total{result="complete"}') == 2, page
    assert counts.get('smooth_handovers_total{result="failed"}') == 0, page
    assert counts.get('smooth_handed_over_connections_total{group="gateway"}') == 14, page
