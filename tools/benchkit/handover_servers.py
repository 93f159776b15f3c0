"""handover_servers: the three ways the hand-over rows replace a WebSocket
server under its clients, each started, replaced and stopped alike.

  SmoothHandover  ./server: a gateway group (ws://, count 1, reloadable =
                  handover) in front of a business group (count 1), both the
                  chat module. replace() is `./server reload`: the gateway
                  worker hands every connection to its successor (and the
                  business worker drains, as in any reload); upgrade() is
                  `./server upgrade` of the same binary: the new master's
                  gateway worker takes every connection
  SmoothDrain     ./server: the chat module on a plain ws:// group (count 1,
                  reloadable = true, the default). replace() is `./server
                  reload`: the old worker drains, every client gets a close
                  with 1001 (going away) and must connect again. A gateway
                  group cannot say reloadable = true (the config refuses it:
                  false or handover), so this is what a reload does to
                  WebSocket clients without a hand-over
  NginxWsProxy    nginx from Debian: proxy_pass with the Upgrade headers to
                  tools/benchkit/ws_floor, which holds the upstream end of
                  every client and echoes (it is never replaced). replace() is
                  `nginx -s reload`: new workers take new connections; the old
                  ones keep theirs until the client closes or
                  worker_shutdown_timeout, then close them (no close frame:
                  nginx does not speak WebSocket, it relays bytes)

Each has name, port, path, start(), stop(), and:
  replace()       the replacement's command, run to its end: a dict with ok,
                  command_ms, output, old_pids (the processes it replaces)
                  and what the command reports (handed_over, handover_ms...)
  gone(r)         the processes replacement r replaced have all exited
  held()          connections on the client-facing worker(s) now (status
                  --json), or None where the server does not say (nginx)
"""

import json
import os
import re
import resource
import subprocess
import time

from .procs import PROCS, CouldNotRun, alive, children_of, free_port, kill_tree, read_pid, run, wait_gone
from .servers import NGINX
from .ws_servers import SmoothGateway, _tail, wait_answering

# "gateway#0: pid 2311 -> 2337, handed over 10000 connections and 1 links in 741 ms, ready 6 ms"
# "ws#0: pid 4463 -> 4533, drain 864 ms, ready 14 ms"
SLOT_LINE = re.compile(r"^(\S+)#(\d+): pid (\d+) -> (\d+), (.*)$", re.M)
HANDED = re.compile(r"handed over (\d+) connections and (\d+) links in (\d+) ms")
DRAIN = re.compile(r"drain (\d+) ms")
# "old worker pid 2421: handed over 10000 connections and 1 links in 520 ms"
UPGRADE_HANDED = re.compile(r"^old worker pid (\d+): handed over (\d+) connections and (\d+) links in (\d+) ms", re.M)
# "upgrade complete: master pid 2310 -> 2424 (build dev -> dev) in 618 ms"
UPGRADE_DONE = re.compile(r"^upgrade complete: master pid (\d+) -> (\d+) .* in (\d+) ms", re.M)


def _timed(argv, timeout=120):
    t0 = time.monotonic()
    try:
        r = run(argv, timeout=timeout)
        rc, out = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired:
        rc, out = -1, "timed out after %d s" % timeout
    return rc, out, (time.monotonic() - t0) * 1000.0


class _SmoothCommands:
    """What SmoothHandover and SmoothDrain share: the command line, and
    status --json. Needs server, conf, run_dir, client_group."""

    def cli(self, *args, timeout=120):
        return _timed([self.server, "-c", self.conf] + list(args), timeout)

    def replace(self):
        """`./server reload`, and what its lines say of each slot."""
        rc, out, ms = self.cli("reload")
        r = {"ok": rc == 0, "command_ms": ms, "output": out, "old_pids": [], "slots": {}}
        for m in SLOT_LINE.finditer(out):
            slot = {"old": int(m.group(3)), "new": int(m.group(4))}
            h, d = HANDED.search(m.group(5)), DRAIN.search(m.group(5))
            if h:
                slot.update(handed_over=int(h.group(1)), links=int(h.group(2)), handover_ms=int(h.group(3)))
            if d:
                slot["drain_ms"] = int(d.group(1))
            r["slots"]["%s#%s" % (m.group(1), m.group(2))] = slot
            r["old_pids"].append(slot["old"])
        front = r["slots"].get(self.client_group + "#0", {})
        for key in ("handed_over", "links", "handover_ms", "drain_ms"):
            r[key] = front.get(key)
        return r

    def gone(self, r):
        return not any(alive(pid) for pid in r["old_pids"])

    def held(self):
        rc, out, _ = self.cli("status", "--json", timeout=30)
        if rc != 0:
            raise CouldNotRun("%s: ./server status --json failed: %s" % (self.name, out[-500:]))
        workers = json.loads(out)["workers"]
        return sum(w["connections"] for w in workers if w["group"] == self.client_group)


class SmoothHandover(_SmoothCommands, SmoothGateway):
    name = "handover"
    client_group = "gateway"

    def __init__(self, server, tmp, label, module):
        SmoothGateway.__init__(self, server, tmp, label, module, reloadable="handover")

    def upgrade(self):
        """`./server upgrade` (the same binary, restarted): what the old
        gateway worker handed over, and the new master (whose pid file it is
        now: stop() stops that one)."""
        rc, out, ms = self.cli("upgrade")
        r = {"ok": rc == 0, "command_ms": ms, "output": out, "old_pids": []}
        h, d = UPGRADE_HANDED.search(out), UPGRADE_DONE.search(out)
        if h:
            r.update(old_pids=[int(h.group(1))], handed_over=int(h.group(2)), links=int(h.group(3)),
                     handover_ms=int(h.group(4)))
        if d:
            r.update(old_master=int(d.group(1)), new_master=int(d.group(2)), upgrade_ms=int(d.group(3)))
            r["old_pids"].append(int(d.group(1)))
        self.master = read_pid(os.path.join(self.run_dir, "smooth.pid")) or self.master
        return r


class SmoothDrain(_SmoothCommands):
    name = "drain"
    client_group = "ws"
    path = "/chat"

    def __init__(self, server, tmp, label, module, max_connections=12000):
        self.server, self.module, self.max_connections = server, module, max_connections
        self.dir = os.path.join(tmp, "smooth-drain-" + label)
        os.makedirs(self.dir)
        self.port = free_port()
        self.run_dir = os.path.join(self.dir, "run")
        self.conf = os.path.join(self.dir, "smooth.conf")
        self.master = None
        self.started = False

    def start(self):
        with open(self.conf, "w") as f:
            f.write("[server]\nrun_dir = %s\n\n[group ws]\nlisten = ws://127.0.0.1:%d\nmodule = %s\ncount = 1\n"
                    "max_connections = %d\n" % (self.run_dir, self.port, self.module, self.max_connections))
        self.started = True
        rc, out, _ = self.cli("start", "-d", timeout=60)
        self.master = read_pid(os.path.join(self.run_dir, "smooth.pid"))
        log_tail = lambda: _tail(os.path.join(self.run_dir, "smooth.log"))  # noqa: E731
        if rc != 0 or self.master is None:
            raise CouldNotRun("smooth (plain ws://) did not start (exit %d):\n%s%s" % (rc, out, log_tail()))
        wait_answering(self, log_tail=log_tail)

    def stop(self):
        if not self.started:
            return
        self.started = False
        rc, _, _ = self.cli("stop", timeout=30)
        if self.master and (rc != 0 or not wait_gone(self.master, 5)):
            kill_tree(self.master)


class NginxWsProxy:
    """nginx in front of tools/benchkit/ws_floor. A proxied connection takes two
    descriptors in its nginx worker (the client's and the upstream's): when
    RLIMIT_NOFILE's hard limit cannot hold both for every client in one
    worker (nginx cannot raise it without CAP_SYS_RESOURCE), it runs as many
    workers as it takes, the clients spread among them by the kernel
    (listen ... reuseport)."""

    name = "nginx"
    path = "/"

    def __init__(self, ws_floor, tmp, label, clients, shutdown_timeout_s):
        self.ws_floor = ws_floor
        self.dir = os.path.join(tmp, "nginx-ws-" + label)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)  # the workers run as nobody
        self.port, self.upstream_port = free_port(), free_port()
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.pid_file = os.path.join(self.dir, "nginx.pid")
        self.error_log = os.path.join(self.dir, "error.log")
        self.shutdown_timeout_s = shutdown_timeout_s
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        self.nofile = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        need = 2 * clients + 200  # each client and its upstream, the listener, the channels
        room = self.nofile - 1000  # the kernel's spread is not exact: a worker may get more than its share
        self.workers = max(1, -(-need // room))
        self.worker_connections = min(self.nofile - 100, need // self.workers + 1000)
        self.master = None
        self.floor = None
        self.started = False

    def argv(self, *extra):
        return [NGINX, "-p", self.dir + "/", "-e", self.error_log, "-c", self.conf] + list(extra)

    def start(self):
        with open(self.conf, "w") as f:
            f.write(f"""worker_processes {self.workers};
worker_rlimit_nofile {self.nofile};
worker_shutdown_timeout {self.shutdown_timeout_s:g}s;
daemon on;
pid {self.pid_file};
error_log {self.error_log} warn;
events {{
    worker_connections {self.worker_connections};
}}
http {{
    access_log off;
    client_body_temp_path {os.path.join(self.dir, "body")};
    proxy_temp_path {os.path.join(self.dir, "proxy")};
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    server {{
        listen 127.0.0.1:{self.port} reuseport;
        location / {{
            proxy_pass http://127.0.0.1:{self.upstream_port};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }}
    }}
}}
""")
        # ws_floor holds as many upstream ends as there are clients.
        nofile = self.nofile
        self.floor = PROCS.popen([self.ws_floor, str(self.upstream_port)], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile)))
        self.started = True
        rc, out, _ = _timed(self.argv(), 30)
        deadline = time.monotonic() + 10
        while self.master is None and time.monotonic() < deadline:
            self.master = read_pid(self.pid_file)
            if self.master is None:
                time.sleep(0.05)
        if rc != 0 or self.master is None:
            raise CouldNotRun("nginx (WebSocket proxy) did not start (exit %d):\n%s%s"
                              % (rc, out, _tail(self.error_log)))
        wait_answering(self, log_tail=lambda: _tail(self.error_log))

    def worker_pids(self):
        return children_of(self.master)

    def replace(self):
        """`nginx -s reload` with the same config: it only signals the master,
        which starts new workers and tells the old ones to shut down."""
        old = self.worker_pids()
        rc, out, ms = _timed(self.argv("-s", "reload"), 30)
        return {"ok": rc == 0, "command_ms": ms, "output": out, "old_pids": old}

    def gone(self, r):
        return not any(alive(pid) for pid in r["old_pids"])

    def held(self):
        return None

    def stop(self):
        if not self.started:
            return
        self.started = False
        master = self.master or read_pid(self.pid_file)
        if master is not None:
            kids = children_of(master)
            try:
                run(self.argv("-s", "stop"), timeout=10)  # fast: an old worker would wait for its clients
            except subprocess.TimeoutExpired:
                pass
            if not wait_gone(master, 10):
                kill_tree(master)
            for k in kids:
                if not wait_gone(k, 2):
                    kill_tree(k)
        if self.floor and self.floor.poll() is None:
            self.floor.terminate()
            try:
                self.floor.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.floor.kill()
                self.floor.wait()
