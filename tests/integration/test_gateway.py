"""The gateway pattern: long connections survive business reloads.

A gateway group (ws://, never reloaded) holds the WebSocket clients; a
business group behind it runs the chat module and is reloaded. The clients
(Debian's python3-websockets) send "ping" messages at a steady rate while
the business workers are replaced, each message costing 0.5 ms of work
(CHAT_WORK_US), so messages are really in flight when a worker drains. Every
message must be answered exactly once, in order, no client may be
disconnected, and the answers must come from the new version after."""
import asyncio
import os
import re
import shutil

import pytest
import websockets

from conftest import MODULES, build_module, link_secret_file, wait_until

CLIENTS = int(os.environ.get("SMOOTH_GW_CLIENTS", "50"))
EVERY_S = 0.020      # each client sends a message every 20 ms
WORK = {"CHAT_WORK_US": "500"}
PONG = re.compile(r"^pong (\d+) (\d+) \[pid (\d+), chat ([^\]]+)\]$")


def chat_groups(module, business_count=2, gateway_count=1, backend=None, queue_limit=None, business=True):
    groups = {
        "gateway": {"listen": "ws", "role": "gateway", "backend": backend or "chat", "count": gateway_count,
                    "module": str(module)},
    }
    if queue_limit:
        groups["gateway"]["queue_limit"] = queue_limit
    if business:
        groups["chat"] = {"listen": "tcp", "role": "business", "count": business_count, "module": str(module)}
    return groups


def linked(srv, want):
    """Every gateway worker has `want` ready links."""
    try:
        gws = srv.workers("gateway")
    except Exception:
        return False
    return gws and all(w["links"] == want for w in gws)


class Client:
    """One WebSocket client: sends ping <id> <seq> every EVERY_S, records the answers."""

    def __init__(self, number, url):
        self.number, self.url = number, url
        self.sent = 0
        self.answers = []      # (seq, pid, version) in the order received
        self.opens = 0
        self.closed = None     # why, if the server closed us

    async def run(self, stop):
        async with websockets.connect(self.url, max_queue=None) as ws:
            self.opens += 1
            reader = asyncio.create_task(self.read(ws))
            while not stop.is_set():
                await ws.send(f"ping {self.number} {self.sent}")
                self.sent += 1
                try:
                    await asyncio.wait_for(stop.wait(), EVERY_S)
                except asyncio.TimeoutError:
                    pass
            # every answer must still come: wait (bounded) for the last
            for _ in range(200):
                if len(self.answers) >= self.sent or self.closed:
                    break
                await asyncio.sleep(0.05)
            reader.cancel()

    async def read(self, ws):
        try:
            async for text in ws:
                m = PONG.match(text)
                assert m and int(m.group(1)) == self.number, f"client {self.number} got {text!r}"
                self.answers.append((int(m.group(2)), int(m.group(3)), m.group(4)))
        except websockets.ConnectionClosed as e:
            self.closed = f"{e.rcvd.code if e.rcvd else '?'} {e.rcvd.reason if e.rcvd else ''}"


def check_nothing_lost(clients, final_version):
    """At least once, in order: a hard stop may answer an event twice (its DONE
    lost with the link), never drop one, never reorder."""
    doubled = 0
    for c in clients:
        assert c.closed is None, f"client {c.number} was disconnected: {c.closed}"
        firsts, seen = [], set()
        for seq, _, _ in c.answers:
            if seq in seen:
                doubled += 1
                continue
            seen.add(seq)
            firsts.append(seq)
        assert firsts == list(range(c.sent)), f"client {c.number}: answers missing or out of order"
    assert all(c.answers[-1][2] == final_version for c in clients if c.answers)
    return doubled


def check_clients(clients, final_version):
    for c in clients:
        assert c.closed is None, f"client {c.number} was disconnected: {c.closed}"
        assert c.opens == 1
        seqs = [a[0] for a in c.answers]
        assert seqs == list(range(c.sent)), (
            f"client {c.number}: sent {c.sent}, answers out of order, missing or twice: "
            f"{len(seqs)} answers, first bad at {next((i for i, s in enumerate(seqs) if s != i), len(seqs))}")
    last = [c.answers[-1][2] for c in clients if c.answers]
    assert all(v == final_version for v in last), f"the last answers are not all from {final_version}: {set(last)}"


async def load_through(url, clients_count, during):
    """Runs the clients while `during(clients)` (a blocking function) runs in a thread."""
    stop = asyncio.Event()
    clients = [Client(i, url) for i in range(clients_count)]
    tasks = [asyncio.create_task(c.run(stop)) for c in clients]
    await asyncio.sleep(0.5)  # the conversation is under way (a load shape, not a wait for an event)
    try:
        await asyncio.get_running_loop().run_in_executor(None, during, clients)
    finally:
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return clients


def reload_versions(srv, module, versions, tmp_path, clients=None, workers=0):
    """Deploys each version (prebuilt) and reloads the business group. With
    `clients`, each version must have answered from `workers` processes before
    the next reload: every generation carries traffic, however fast the
    reloads follow each other on a loaded machine."""
    for v in versions:
        shutil.copy(tmp_path / f"chat-{v}.so", tmp_path / "deploy.tmp")
        os.replace(tmp_path / "deploy.tmp", module)
        r = srv.reload()
        assert r.returncode == 0, r.stdout + r.stderr
        if srv.counts().get("gateway"):
            assert "group gateway is not reloadable: told its workers, they keep running" in r.stdout, r.stdout
        if clients:
            wait_until(lambda: len({a[1] for c in clients for a in list(c.answers) if a[2] == v}) >= workers,
                       what=f"answers from {workers} business workers running {v}")


@pytest.fixture
def chat_builds(tmp_path):
    """chat.so as versions v1..v6, built before any load runs."""
    for n in range(1, 7):
        build_module("chat", tmp_path / f"chat-v{n}.so", f"v{n}")
    module = tmp_path / "chat.so"
    shutil.copy(tmp_path / "chat-v1.so", module)
    return module


@pytest.mark.parametrize("business_count", [2, 1], ids=["two-business-workers", "one-business-worker"])
def test_no_message_lost_or_doubled_across_business_reloads(smooth, tmp_path, chat_builds, business_count):
    srv = smooth.start(groups=chat_groups(chat_builds, business_count=business_count), env=WORK)
    wait_until(lambda: linked(srv, business_count), what="the gateway linked to every business worker")
    gateway_pid = srv.workers("gateway")[0]["pid"]
    url = f"ws://127.0.0.1:{srv.port('gateway')}/chat"

    clients = asyncio.run(load_through(url, CLIENTS, lambda clients: reload_versions(
        srv, chat_builds, ["v2", "v3", "v4", "v5", "v6"], tmp_path, clients, business_count)))

    check_clients(clients, "v6")
    assert srv.workers("gateway")[0]["pid"] == gateway_pid, "the gateway was never replaced"
    assert sum(c.sent for c in clients) > CLIENTS * 20, "too little traffic to prove anything"
    pids = {a[1] for c in clients for a in c.answers}
    assert len(pids) >= business_count * 6, f"answers came from only {len(pids)} business workers"
    versions = {a[2] for c in clients for a in c.answers}
    assert {"v1", "v6"} <= versions, versions


def test_two_instances_business_reloaded_and_restarted(smooth, tmp_path, chat_builds):
    # The business group in an instance of its own on another loopback
    # address, as on another machine: reloads are exactly once; a restart
    # (stop, then start) loses nothing. The two link with the secret both
    # are given (docs/links.md).
    secret = {"link_secret_file": link_secret_file(tmp_path)}
    business = smooth.start(groups={"chat": {"listen": "tcp", "host": "127.0.0.2", "role": "business", "count": 2,
                                             "module": str(chat_builds)}}, env=WORK, server=secret)
    backend = f"tcp://127.0.0.2:{business.port('chat')}"
    gateway = smooth.start(groups=chat_groups(chat_builds, backend=backend, business=False), server=secret)
    wait_until(lambda: linked(gateway, 2), what="the gateway instance linked to the business instance")
    url = f"ws://127.0.0.1:{gateway.port('gateway')}/chat"

    clients = asyncio.run(load_through(
        url, 20, lambda clients: reload_versions(business, chat_builds, ["v2", "v3"], tmp_path)))
    check_clients(clients, "v3")

    def restart(clients):
        shutil.copy(tmp_path / "chat-v4.so", chat_builds)
        r = business.cli("restart", "-d", timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        wait_until(lambda: linked(gateway, 2), what="the gateway linked to the restarted instance")

    clients = asyncio.run(load_through(url, 20, restart))
    doubled = check_nothing_lost(clients, "v4")
    print(f"restart: {sum(c.sent for c in clients)} messages, none lost, {doubled} answered twice")


def test_overflow_closes_clients_with_a_reason(smooth, tmp_path, chat_builds):
    # No business worker can start (a broken module): events wait in the
    # gateway, the queue fills, each client whose message finds it full is
    # told 1013 (try again later); the gateway keeps running, and a reload
    # onto the same broken code reports its failure.
    broken = tmp_path / "business.so"
    shutil.copy(MODULES / "broken.so", broken)
    groups = chat_groups(chat_builds, business_count=1, queue_limit=50)
    groups["chat"]["module"] = str(broken)
    srv = smooth.make(groups=groups, server={"start_timeout": "1s"})
    srv.start(wait_ready=False)
    wait_until(lambda: any(w["group"] == "gateway" and w["state"] == "ready" for w in srv.workers()),
               what="the gateway worker ready")
    port = srv.port("gateway")

    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{port}/chat") as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                for i in range(200):
                    await ws.send(f"ping 0 {i}")
                await ws.recv()
            assert closed.value.rcvd.code == 1013, closed.value
            assert "try again later" in closed.value.rcvd.reason
    asyncio.run(asyncio.wait_for(go(), 30))
    assert "queue_limit" in srv.log() and "1013" in srv.log()
    r = srv.reload()
    assert r.returncode == 1 and "reload aborted" in r.stdout, r.stdout
    gw = srv.workers("gateway")
    assert len(gw) == 1 and gw[0]["state"] == "ready", "the gateway keeps running"
    # and it still takes clients
    async def again():
        async with websockets.connect(f"ws://127.0.0.1:{port}/chat") as ws:
            await ws.send("ping 1 0")
    asyncio.run(asyncio.wait_for(again(), 10))


def test_gateway_config_errors_are_named(smooth):
    srv = smooth.make(groups={"gateway": {"listen": "ws", "role": "gateway", "backend": "nope"}})
    r = srv.cli("check")
    assert r.returncode != 0 and "backend" in r.stderr and "no group named" in r.stderr, r.stderr
    srv = smooth.make(groups={"gateway": {"listen": "http", "role": "gateway", "backend": "tcp://127.0.0.1:9"}})
    r = srv.cli("check")
    assert r.returncode != 0 and "a gateway holds ws://, text:// or frame:// clients" in r.stderr, r.stderr
