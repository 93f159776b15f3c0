"""What a gateway worker that took clients over must keep straight
(worker/gateway_handover.cpp): clients of several tokens in one worker, the
business workers' routes to each (ADOPT, token_routes.h), and each
broadcast delivered once to each client, whichever gateway worker took it
first (heard_broadcasts.h).

A reload replaces the gateway workers (each hands over to its successor),
then the business workers: each drains the links it had, the ones the
successor took over among them, and its successor is linked anew. The
clients a gateway worker took over are reached all along: first through the
links it took over, then through its own (which ADOPTed their tokens), then
through the new business workers' links."""
import os
import signal
import struct
import subprocess

from conftest import wait_until
from test_handover import PROBE, gateway_pids, id_of, linked, next_text
from test_websocket import RawWs, frame


def groups(gateway_count=1):
    return {
        "gateway": {"listen": "ws", "role": "gateway", "backend": "biz", "count": gateway_count, "module": PROBE,
                    "reloadable": "handover"},
        "biz": {"listen": "tcp", "role": "business", "count": 2, "module": PROBE},
    }


def hand_over(srv):
    before = gateway_pids(srv)
    r = srv.reload()
    assert r.returncode == 0 and "handed over" in r.stdout, r.stdout + r.stderr
    wait_until(lambda: linked(srv), what="the new gateway linked")
    assert not set(before) & set(gateway_pids(srv)), "every gateway worker replaced"


def everyone_reaches_everyone(clients):
    """Each client sends to each (itself too) by id: the receiver reads the
    message, then the sender its "ok" (the same order when they are one)."""
    for sender_name, (sender, _) in clients.items():
        for name, (ws, cid) in clients.items():
            sender.send(frame(0x1, f"/to {cid} from {sender_name} to {name}".encode()))
            assert next_text(ws).startswith(f"from {sender_name} to {name} [pid"), (sender_name, name)
            assert next_text(sender).startswith("ok to"), (sender_name, name)


def broadcast_once(clients, sender, label):
    """Two broadcasts, one after the other: each client reads the first,
    then the second (a duplicate of the first would come between)."""
    sender.send(frame(0x1, f"/all {label} first".encode()))
    sender.send(frame(0x1, f"/all {label} second".encode()))
    for name, (ws, _) in clients.items():
        got = [next_text(ws), next_text(ws)]
        assert got[0].startswith(f"{label} first [pid") and got[1].startswith(f"{label} second [pid"), (name, got)


def test_clients_of_three_generations_reach_each_other_and_hear_each_broadcast_once(smooth):
    srv = smooth.start(groups=groups())
    wait_until(lambda: linked(srv), what="the gateway linked")
    clients = {}
    for generation in ("first", "second", "third"):
        ws = RawWs(srv.port("gateway"))
        clients[generation] = (ws, id_of(ws))
        if generation != "third":
            hand_over(srv)
    # One worker holds clients of three tokens now: its own, its
    # predecessor's and the first one's.
    tokens = {cid >> 32 for _, cid in clients.values()}
    assert len(tokens) == 3, tokens
    everyone_reaches_everyone(clients)
    broadcast_once(clients, clients["first"][0], "from the first")
    broadcast_once(clients, clients["third"][0], "from the third")
    # Kicked by id, whatever token it names.
    third = clients["third"][0]
    third.send(frame(0x1, f"/kick {clients['first'][1]}".encode()))
    op, payload = clients["first"][0].read_frame()
    assert op == 0x8 and struct.unpack("!H", payload[:2])[0] == 1000
    assert next_text(third).startswith("ok kick")


def test_two_gateway_workers_hand_over_one_after_the_other(smooth):
    srv = smooth.start(groups=groups(gateway_count=2))
    wait_until(lambda: linked(srv), what="the gateways linked")
    clients = {}
    for i in range(6):  # spread over both workers by the kernel and the balance
        ws = RawWs(srv.port("gateway"))
        clients[f"c{i}"] = (ws, id_of(ws))
    hand_over(srv)
    for i in range(6, 8):  # and some the successors took themselves
        ws = RawWs(srv.port("gateway"))
        clients[f"c{i}"] = (ws, id_of(ws))
    everyone_reaches_everyone(clients)
    broadcast_once(clients, clients["c0"][0], "after one")
    hand_over(srv)
    everyone_reaches_everyone(clients)
    broadcast_once(clients, clients["c7"][0], "after two")


def test_a_closed_client_and_a_held_one_move_with_their_events(smooth):
    """With the business workers stopped (SIGSTOP), events wait in the
    gateway: a client that sent three and closed moves with them (and no
    socket), its CLOSE last; a client that sent a hundred is held (its
    input not read past 64 waiting) and moves held. Once the business
    workers go on, each event is handled once, in its client's order."""
    srv = smooth.start(groups=groups())
    wait_until(lambda: linked(srv), what="the gateway linked")
    b = RawWs(srv.port("gateway"))
    bid = id_of(b)
    a = RawWs(srv.port("gateway"))
    aid = id_of(a)
    h = RawWs(srv.port("gateway"))
    id_of(h)
    business = [w["pid"] for w in srv.workers("biz")]
    for pid in business:
        os.kill(pid, signal.SIGSTOP)
    try:
        for i in range(3):
            a.send(frame(0x1, f"/to {bid} a{i}".encode()))
        a.c.sock.close()  # no Close frame: the connection just ends
        for i in range(100):
            h.send(frame(0x1, f"/to {bid} h{i}".encode()))
        wait_until(lambda: srv.workers("gateway")[0]["queued"] >= 64, what="the events waiting in the gateway")
        reload = subprocess.Popen([str(srv.binary), "-c", str(srv.conf), "reload"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        wait_until(lambda: "gateway: took over 3 clients" in srv.log(), 30, what="the hand-over")
    finally:
        for pid in business:
            os.kill(pid, signal.SIGCONT)
    out, _ = reload.communicate(timeout=120)
    assert reload.returncode == 0, out
    got = [next_text(b) for _ in range(103)]
    from_a = [t.split()[0] for t in got if t.startswith("a")]
    from_h = [t.split()[0] for t in got if t.startswith("h")]
    assert from_a == [f"a{i}" for i in range(3)], got[:10]
    assert from_h == [f"h{i}" for i in range(100)], from_h[:10]
    wait_until(lambda: f"probe: closed {aid} in pid" in srv.log(), what="the business told of the closed client")
    assert srv.log().count(f"probe: closed {aid} in pid") == 1
