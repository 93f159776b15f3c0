"""The fleet (examples/fleet, docs/fleet.md): three smooth hosts on 127.0.0.2,
.3 and .4 behind HAProxy, a rollout driven by the example's own Ansible
playbooks, one host at a time, while tests/support/loadgen sends short and
keep-alive requests through HAProxy. Every client request must succeed:

- a rolling reload of a new module across the three hosts;
- a rolling binary upgrade (a second ./server, `make variant`);
- one host's maintenance: out of rotation, `stop -g`, `start -d`, back;
- a release that breaks on host 2: the play stops there, host 1 serves the
  new release, hosts 2 and 3 the old one, and host 2 keeps the old file;
- and the gateway pattern across two hosts (`fleet chat-up`): the links
  between them proven with the fleet's one link secret.

While a play runs, a watcher asks each host directly which version it serves,
so the test sees the versions switch host by host, in the inventory's order.

One fleet serves the whole module (starting it costs seconds); each test
reads the versions it starts from rather than assuming the previous test's.
HAProxy and ansible-core come from Debian (tests/setup-deps, or
`examples/fleet/fleet deps`); the tests skip only if they cannot be installed.
"""
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import (ROOT, SERVER, assert_no_errors, build_module, build_server_variant, finish_loadgen, pid_alive,
                      start_loadgen, wait_until)

FLEET = ROOT / "examples" / "fleet" / "fleet"
HAPI = ROOT / "examples" / "fleet" / "haproxy-api"
HOSTS = {"h1": "127.0.0.2", "h2": "127.0.0.3", "h3": "127.0.0.4"}
PLAY_TIMEOUT = 240


def tools_or_skip():
    """haproxy and ansible-playbook, installed from Debian if missing (as
    `fleet up` does); a skip, with the reason, only if that fails."""
    def missing():
        return [t for t in ("haproxy", "ansible-playbook") if not shutil.which(t)]
    if missing():
        r = subprocess.run([str(FLEET), "deps"], capture_output=True, text=True, timeout=900)
        if missing():
            pytest.skip(f"{' and '.join(missing())} missing and could not be installed from Debian "
                        f"(examples/fleet/fleet deps exited {r.returncode}: {(r.stdout + r.stderr).strip()})")


def port_free_on_all(addresses):
    """A port nothing listens on at any of these addresses."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind((addresses[0], 0))
            port = s.getsockname()[1]
        socks = []
        try:
            for a in addresses:
                s = socket.socket()
                socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((a, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no port free on every host address")


class Fleet:
    def __init__(self, directory):
        self.dir = Path(directory)
        self.port = port_free_on_all(list(HOSTS.values()))
        self.front = port_free_on_all(["127.0.0.1"])
        self.env = dict(os.environ, FLEET_DIR=str(self.dir), FLEET_PORT=str(self.port),
                        FLEET_FRONT_PORT=str(self.front), FLEET_SERVER=str(SERVER))
        self.env.pop("http_proxy", None)
        self.env.pop("HTTP_PROXY", None)
        self.url = f"http://127.0.0.1:{self.front}/"

    def run(self, *args, timeout=120):
        return subprocess.run([str(FLEET), *args], capture_output=True, text=True, timeout=timeout, env=self.env)

    def play(self, *args):
        """Runs a playbook of examples/fleet; returns (exit status, its output)."""
        r = self.run("play", *args, timeout=PLAY_TIMEOUT)
        return r.returncode, r.stdout + r.stderr

    def hapi(self, *args):
        r = subprocess.run([str(HAPI), "-s", str(self.dir / "haproxy.sock"), *args], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, f"haproxy-api {' '.join(args)}: {r.stdout}{r.stderr}"
        return r.stdout

    def cli(self, host, *args):
        d = self.dir / host
        return subprocess.run([str(d / "server"), "-c", str(d / f"{host}.conf"), *args], capture_output=True,
                              text=True, timeout=60)

    def get(self, host, path="/"):
        return http_request_to(HOSTS[host], self.port, path)

    def module_version(self, host):
        """'hello 2': what every worker of the host reports (status --json)."""
        st = json.loads(self.cli(host, "status", "--json").stdout)
        versions = {w["version"] for w in st["workers"]}
        assert len(versions) == 1, f"{host} serves several versions: {versions}"
        return versions.pop()

    def module_file(self, host):
        return (self.dir / host / "modules" / "hello.so").read_bytes()

    def running_module(self, host):
        """The bytes of the module version the host's workers run (the
        master's copy in its run directory)."""
        st = json.loads(self.cli(host, "status", "--json").stdout)
        paths = {w["module"] for w in st["workers"]}
        assert len(paths) == 1, paths
        return Path(paths.pop()).read_bytes()

    def build(self, host):
        status, _, body = self.get(host, "/healthz")
        assert status == 200, f"{host}: health check answered {status} {body!r}"
        return body.decode().split()[-1]

    def pids(self):
        """HAProxy's, and every host's master and workers."""
        pids = []
        try:
            pids.append(int((self.dir / "haproxy.pid").read_text()))
        except (OSError, ValueError):
            pass
        for h in HOSTS:
            r = self.cli(h, "status", "--json")
            if r.returncode == 0:
                st = json.loads(r.stdout)
                pids += [st["master"]["pid"]] + [w["pid"] for w in st["workers"]]
        return pids

    def all_up(self):
        for h in HOSTS:
            line = self.hapi("show", f"web/{h}")
            assert ": UP," in line, f"HAProxy does not see {h} UP: {line}"


def http_request_to(address, port, path, timeout=5.0):
    """One GET to a host's own address (conftest's helpers speak to 127.0.0.1)."""
    with socket.create_connection((address, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: fleet\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    tools_or_skip()
    f = Fleet(tmp_path_factory.mktemp("fleet"))
    r = f.run("up", timeout=180)
    try:
        assert r.returncode == 0, f"fleet up exited {r.returncode}: {r.stdout}{r.stderr}"
        yield f
    finally:
        pids = f.pids()
        down = f.run("down", timeout=120)
        try:
            wait_until(lambda: not [p for p in pids if pid_alive(p)], 10, what="the fleet's processes to exit")
        finally:
            left = [p for p in pids if pid_alive(p)]
            for p in left:
                os.kill(p, signal.SIGKILL)
        assert down.returncode == 0 and not left, \
            f"fleet down exited {down.returncode} ({down.stdout}{down.stderr}); had to kill {left}"


@contextmanager
def load(fleet, tmp_path):
    """Short and keep-alive clients through HAProxy for as long as the block
    runs; yields a dict that receives both reports. Open loop at a modest
    rate, so that Ansible keeps its share of a small machine."""
    stop = tmp_path / "stop-load"
    runs = {"short": ["-c", "8", "-R", "250"], "keep-alive": ["-k", "-c", "8", "-R", "250"]}
    procs = {name: start_loadgen(fleet.url, *args, "-d", "300", "--stop-file", str(stop),
                                 out_path=tmp_path / f"load-{name}.json")
             for name, args in runs.items()}
    reports = {}
    try:
        # the event "the load flows through HAProxy": requests counted on every host
        deadline = time.monotonic() + 20
        while sum(int(stot(fleet, h)) for h in HOSTS) < 200:
            assert time.monotonic() < deadline, "no load through HAProxy after 20 s"
            time.sleep(0.05)
        yield reports
    finally:
        stop.touch()
        for name, p in procs.items():
            reports[name] = finish_loadgen(p, tmp_path / f"load-{name}.json")


def stot(fleet, host):
    return re.search(r"(\d+) in all", fleet.hapi("show", f"web/{host}")).group(1)


class Watcher:
    """Asks each host directly, every 50 ms, what it serves (`what(host)`),
    and keeps every answer with its time: the order in which the hosts
    switched. An answer that fails (a host stopped) is not kept."""

    def __init__(self, fleet, what):
        self.fleet, self.what = fleet, what
        self.seen = {h: [] for h in HOSTS}  # host -> [(time, value)], every answer
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stopping.is_set():
            for h in HOSTS:
                try:
                    value = self.what(h)
                except (OSError, ValueError, AssertionError):
                    continue
                if value:
                    self.seen[h].append((time.monotonic(), value))
            self.stopping.wait(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(10)

    def assert_host_by_host(self, old, new):
        """Each host served old first and new last, and the switch went host
        by host in the inventory's order: h2 answered new only after h1 had
        answered old for the last time, h3 only after h2 had. (While one
        host reloads, its two workers may answer old and new in turn.)"""
        for h, answers in self.seen.items():
            values = [v for i, (_, v) in enumerate(answers) if i == 0 or answers[i - 1][1] != v]
            assert values and values[0] == old and values[-1] == new and set(values) == {old, new}, \
                f"{h} served, in turn: {values}"
        hosts = list(HOSTS)
        for before, after in zip(hosts, hosts[1:]):
            last_old = max(t for t, v in self.seen[before] if v == old)
            first_new = min(t for t, v in self.seen[after] if v == new)
            assert last_old < first_new, \
                f"{after} served {new} {last_old - first_new:.3f} s before {before} last served {old}"


def hello_version(fleet, host):
    status, _, body = fleet.get(host)
    m = re.search(rb"version (\S+),", body)
    return m.group(1).decode() if status == 200 and m else None


def health_build(fleet, host):
    status, _, body = fleet.get(host, "/healthz")
    return body.decode().split()[-1] if status == 200 else None


def release_dir(tmp_path):
    d = tmp_path / "release"
    d.mkdir(exist_ok=True)
    return d


def assert_clients_saw_nothing(reports):
    for name, report in reports.items():
        assert report["ok"] > 0, f"{name}: no request succeeded"
        assert_no_errors(report, f"{name} clients through HAProxy")


def test_fleet_is_up_behind_haproxy(fleet):
    fleet.all_up()
    hosts_seen = set()
    for _ in range(6):
        status, head, body = http_request_to("127.0.0.1", fleet.front, "/")
        assert status == 200 and body.startswith(b"hello from module hello version"), (status, body)
        hosts_seen.add(re.search(rb"X-Fleet-Host: (\w+)", head, re.I).group(1).decode())
    assert hosts_seen == set(HOSTS), f"HAProxy sent requests to {hosts_seen} only"
    assert (fleet.dir / "link.secret").stat().st_mode & 0o777 == 0o600


def test_a_gateway_host_links_to_a_business_host_with_the_fleet_secret(fleet):
    """The gateway pattern across two hosts (fleet chat-up): the gateway on
    127.0.0.2 links to every business worker on 127.0.0.3, each link proven
    with the fleet's one link_secret_file, and a client's messages are
    answered by both business workers."""
    fleet.env["FLEET_CHAT_PORT"] = str(port_free_on_all(["127.0.0.2"]))
    fleet.env["FLEET_LINK_PORT"] = str(ports_free_from(2, "127.0.0.3"))
    r = fleet.run("chat-up")
    try:
        assert r.returncode == 0, f"fleet chat-up exited {r.returncode}: {r.stdout}{r.stderr}"
        for h in ("chat-gateway", "chat-business"):
            check = fleet.cli(h, "check").stdout
            assert f"links: secret from {fleet.dir / 'link.secret'}: ok" in check, check
        answers = asyncio.run(chat(fleet.env["FLEET_CHAT_PORT"], ["join ann"] + [f"ping {i}" for i in range(20)]))
        assert answers[0].startswith("* ann joined [pid "), answers
        assert [a.split(" [")[0] for a in answers[1:]] == [f"pong {i}" for i in range(20)], answers
        business = json.loads(fleet.cli("chat-business", "status", "--json").stdout)["workers"]
        assert {re.search(r"pid (\d+)", a).group(1) for a in answers} == {str(w["pid"]) for w in business}, \
            f"not every business worker answered: {answers}"
        assert [w["links"] for w in business] == [1, 1], business
        log = (fleet.dir / "chat-business" / "run" / "smooth.log").read_text()
        assert "refused a link" not in log, log
    finally:
        down = fleet.run("chat-down")
        assert down.returncode == 0, down.stdout + down.stderr


async def chat(port, messages):
    import websockets
    async with websockets.connect(f"ws://127.0.0.2:{port}/chat", open_timeout=10) as ws:
        answers = []
        for m in messages:
            await ws.send(m)
            answers.append(await asyncio.wait_for(ws.recv(), 10))
        return answers


def ports_free_from(n, address):
    """The first of n consecutive ports free on address (a business group
    listens on port, port + 1, ...)."""
    for _ in range(100):
        base = port_free_on_all([address])
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((address, p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports on {address}")


def test_rolling_reload_across_three_hosts(fleet, tmp_path):
    old = hello_version(fleet, "h1")
    new = f"r{int(time.time()) % 100000}"
    module = build_module("hello", release_dir(tmp_path) / "hello.so", new)
    with load(fleet, tmp_path) as reports, Watcher(fleet, lambda h: hello_version(fleet, h)) as seen:
        rc, out = fleet.play("rollout.yml", "-e", f"module={module}", "-e", f"version={new}")
        assert rc == 0, f"the rollout failed:\n{out}"
    assert_clients_saw_nothing(reports)
    seen.assert_host_by_host(old, new)
    for h in HOSTS:
        assert fleet.module_version(h) == f"hello {new}"
    fleet.all_up()
    bodies = " ".join(reports["keep-alive"]["bodies"])
    assert f"version {old}," in bodies and f"version {new}," in bodies, "the clients saw no switch"


def test_rolling_upgrade_across_three_hosts(fleet, tmp_path):
    old = fleet.build("h1")
    new = f"fleet-b{int(time.time()) % 100000}"
    binary = build_server_variant(new, release_dir(tmp_path) / "server")
    with load(fleet, tmp_path) as reports, Watcher(fleet, lambda h: health_build(fleet, h)) as seen:
        rc, out = fleet.play("rollout.yml", "-e", f"binary={binary}", "-e", f"build={new}")
        assert rc == 0, f"the upgrade failed:\n{out}"
    assert_clients_saw_nothing(reports)
    seen.assert_host_by_host(old, new)
    for h in HOSTS:
        assert fleet.build(h) == new
    fleet.all_up()


def test_one_host_out_for_maintenance_and_back(fleet, tmp_path):
    before = fleet.cli("h2", "status").stdout.split()[2]  # "master pid N, ..."
    with load(fleet, tmp_path) as reports:
        rc, out = fleet.play("maintenance.yml", "--limit", "h2")
        assert rc == 0, f"the maintenance play failed:\n{out}"
    assert_clients_saw_nothing(reports)
    after = fleet.cli("h2", "status").stdout.split()[2]
    assert before != after, "h2's master is the same: it was not stopped and started"
    assert "web/h2: DOWN" in out, f"HAProxy never saw h2 DOWN:\n{out}"
    fleet.all_up()


def test_a_release_broken_on_host_2_stops_the_rollout_there(fleet, tmp_path):
    old = {h: fleet.module_version(h) for h in HOSTS}
    # One release for every host, that fails at start on h2 only (as a
    # release needing something h2 lacks): tests/modules/broken.cpp.
    module = build_module("broken", release_dir(tmp_path) / "broken.so", "1", defines=['BROKEN_ON_HOST="h2"'])
    with load(fleet, tmp_path) as reports:
        rc, out = fleet.play("rollout.yml", "-e", f"module={module}", "-e", "module_name=broken", "-e", "version=1")
    assert rc != 0, f"the play went on past the broken host:\n{out}"
    assert_clients_saw_nothing(reports)
    assert "h2: the release did not start here" in out, out
    assert "h3" not in re.sub(r"(?s)PLAY RECAP.*", "", out), f"the play reached h3:\n{out}"
    assert fleet.module_version("h1") == "broken 1"
    assert fleet.module_version("h2") == old["h2"]
    assert fleet.module_version("h3") == old["h3"]
    fleet.all_up()  # h2 serves the version it had, back in rotation
    # and on h2's disk is the file it runs, not the release that failed
    # there: a restart of h2 would start what serves now
    assert fleet.module_file("h2") == fleet.running_module("h2"), "h2 keeps the failed release on disk"
    assert fleet.module_file("h1") == module.read_bytes()
