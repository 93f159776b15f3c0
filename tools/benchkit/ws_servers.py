"""ws_servers: the four WebSocket servers of the gateway rows, started and stopped alike.

  SmoothGateway   ./server with a gateway group (ws://, 1 worker) in front of a
                  business group (1 worker), both running modules/chat.so:
                  "ping SEQ" goes gateway -> link -> business, whose chat
                  module answers "pong SEQ [pid P, chat V]" back the same way
  GatewayWorker   GatewayWorker on Workerman (PHP, Debian's php-cli), from
                  directories the user gives (never downloaded): register +
                  gateway + business, the same answers from an Events class
                  (Gateway::sendToCurrentClient, Gateway::sendToAll); the start
                  script is written into the bench's temporary directory
  NodeWs          node with the `ws` package (tools/benchkit/node/ws_echo.js), one
                  process, a direct echo: no business hop
  WsFloor         tools/benchkit/ws_floor: the least a WebSocket echo can do here

Each has: name, port, path (the URL path), master (the process tree's root),
pids() (every process of the server, the figures' scope), workers() (its
processes by role: {"gateway": [...], "business": [...]}, or {"server": [pid]}
for the one-process servers), gateway_pids() (whose RSS and CPU a broadcast
costs), start() and stop(). "say TEXT" reaches every client of each as TEXT
(smooth and GatewayWorker add their "[pid P, ...]" tag).
"""

import base64
import os
import re
import signal
import socket
import struct
import subprocess
import time

from .procs import (PROCS, CouldNotRun, children_of, free_port, free_port_range, kill_tree, read_pid, run,
                    wait_gone)

PING = "ping 0"


def ws_round_trip(port, path="/", timeout=2.0):
    """One WebSocket handshake and one "ping 0" on a fresh connection: the
    answer's text, or None on any failure. Standard library only."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, port, key)).encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return None
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101"):
                return None
            payload = PING.encode()
            mask = os.urandom(4)
            s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            while True:
                while len(data) < 2 or len(data) < 2 + (data[1] & 0x7f if data[1] & 0x7f < 126 else 0):
                    chunk = s.recv(4096)
                    if not chunk:
                        return None
                    data += chunk
                n = data[1] & 0x7f
                at = 2
                if n == 126:
                    while len(data) < 4:
                        data += s.recv(4096)
                    n, at = struct.unpack("!H", data[2:4])[0], 4
                while len(data) < at + n:
                    chunk = s.recv(4096)
                    if not chunk:
                        return None
                    data += chunk
                opcode, text, data = data[0] & 0x0f, data[at:at + n], data[at + n:]
                if opcode == 0x1:
                    s.sendall(bytes([0x88, 0x82]) + b"\0\0\0\0" + b"\x03\xe8")  # close 1000, mask 0
                    return text.decode(errors="replace")
                if opcode == 0x8:
                    return None
    except OSError:
        return None


def wait_answering(srv, proc=None, timeout=15, log_tail=lambda: ""):
    """Until a round trip to srv works (a gateway needs its link first)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = ws_round_trip(srv.port, srv.path)
        if answer and answer.split(" ")[1:2] == ["0"]:
            return answer
        if proc is not None and proc.poll() is not None:
            raise CouldNotRun("%s exited %d at start%s" % (srv.name, proc.returncode, log_tail()))
        if time.monotonic() > deadline:
            raise CouldNotRun("%s does not answer a WebSocket ping on port %d (last: %r)%s"
                              % (srv.name, srv.port, answer, log_tail()))
        time.sleep(0.1)


def _tail(path, n=3000):
    try:
        with open(path, errors="replace") as f:
            return "\n--- %s ---\n%s" % (path, f.read()[-n:])
    except OSError:
        return ""


class SmoothGateway:
    name = "smooth"
    path = "/chat"

    def __init__(self, server, tmp, label, module, max_connections=12000, reloadable=None):
        self.server = server
        self.reloadable = reloadable  # the gateway group's, if given (the hand-over rows: "handover")
        self.dir = os.path.join(tmp, "smooth-gw-" + label)
        os.makedirs(self.dir)
        self.module = module
        self.port, self.business_port = free_port(), free_port()
        self.run_dir = os.path.join(self.dir, "run")
        self.conf = os.path.join(self.dir, "smooth.conf")
        self.max_connections = max_connections
        self.master = None
        self.started = False
        self.command_cpus = None
        self.roles = {}

    def start(self):
        with open(self.conf, "w") as f:
            f.write("[server]\nrun_dir = %s\n\n"
                    "[group gateway]\nlisten = ws://127.0.0.1:%d\nrole = gateway\nbackend = chat\nmodule = %s\n"
                    "count = 1\nmax_connections = %d\n%s\n"
                    "[group chat]\nlisten = tcp://127.0.0.1:%d\nrole = business\nmodule = %s\ncount = 1\n"
                    % (self.run_dir, self.port, self.module, self.max_connections,
                       "reloadable = %s\n" % self.reloadable if self.reloadable else "",
                       self.business_port, self.module))
        self.started = True
        r = run([self.server, "-c", self.conf, "start", "-d"], timeout=60)
        self.master = read_pid(os.path.join(self.run_dir, "smooth.pid"))
        if r.returncode != 0 or self.master is None:
            raise CouldNotRun("smooth (gateway) did not start (exit %d):\n%s%s%s" % (
                r.returncode, r.stdout, r.stderr, _tail(os.path.join(self.run_dir, "smooth.log"))))
        wait_answering(self, log_tail=lambda: _tail(os.path.join(self.run_dir, "smooth.log")))
        self.roles = self._roles()

    def _roles(self):
        """{"gateway": [pid], "business": [pid]} from `./server status`'s worker table."""
        r = run([self.server, "-c", self.conf, "status"], timeout=30)
        roles = {"gateway": [], "business": []}
        for line in r.stdout.splitlines():
            m = re.match(r"^(\d+)\s+(\S+)\s+\d+\s+\d+\s+ready", line)
            if m:
                roles["gateway" if m.group(2) == "gateway" else "business"].append(int(m.group(1)))
        if len(roles["gateway"]) != 1 or len(roles["business"]) != 1:
            raise CouldNotRun("smooth (gateway): expected one gateway and one business worker ready:\n" + r.stdout)
        return roles

    def workers(self):
        return self.roles

    def pids(self):
        return [self.master] + self.roles["gateway"] + self.roles["business"]

    def gateway_pids(self):
        return self.roles["gateway"]

    def stop(self):
        if not self.started:
            return
        self.started = False
        try:
            ok = run([self.server, "-c", self.conf, "stop"], timeout=30).returncode == 0
        except subprocess.TimeoutExpired:
            ok = False
        if self.master and (not ok or not wait_gone(self.master, 5)):
            kill_tree(self.master)


# GatewayWorker's start script. Workerman's own autoloader is composer's;
# the bench has no composer, so a PSR-4 loader for the two directories.
GW_START = r"""<?php
// Written by tools/bench (benchkit/ws_servers.py): GatewayWorker on Workerman,
// register + gateway + business, for the gateway rows. Not a deployment.
const GW_DIR = %(gw_dir)s;
const WM_DIR = %(wm_dir)s;
spl_autoload_register(function ($class) {
    foreach (['GatewayWorker\\' => GW_DIR . '/src/', 'Workerman\\' => WM_DIR . '/src/'] as $prefix => $dir) {
        if (strncmp($class, $prefix, strlen($prefix)) === 0) {
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) require $file;
            return;
        }
    }
});
// Workerman 5 calls Coroutine\Context::destroy() after onWorkerStart; that
// class comes with the workerman/coroutine package: without it, a no-op.
if (!class_exists('Workerman\Coroutine\Context')) require __DIR__ . '/coroutine_stub.php';
require __DIR__ . '/Events.php';

use Workerman\Worker;
use GatewayWorker\Register;
use GatewayWorker\Gateway;
use GatewayWorker\BusinessWorker;

Worker::$pidFile = __DIR__ . '/workerman.pid';
Worker::$logFile = __DIR__ . '/workerman.log';
Worker::$stdoutFile = __DIR__ . '/stdout.log';

$register = new Register('text://127.0.0.1:%(register_port)d');

$gateway = new Gateway('websocket://127.0.0.1:%(port)d');
$gateway->name = 'gateway';
$gateway->count = %(gateways)d;
$gateway->reusePort = %(reuse_port)s;  // more than one: the kernel spreads the clients
$gateway->lanIp = '127.0.0.1';
$gateway->startPort = %(start_port)d;
$gateway->registerAddress = '127.0.0.1:%(register_port)d';

$business = new BusinessWorker();
$business->name = 'business';
$business->count = 1;
$business->registerAddress = '127.0.0.1:%(register_port)d';
$business->eventHandler = 'Events';

Worker::runAll();
"""

GW_STUB = r"""<?php
namespace Workerman\Coroutine;
class Context { public static function destroy(): void {} }
"""

# The business logic: the chat module's ping and say, in GatewayWorker's terms.
# The pid is taken once (posix_getpid() is a system call each time; the chat
# module's smooth_whoami is not).
GW_EVENTS = r"""<?php
use GatewayWorker\Lib\Gateway;
class Events {
    private static $pid = 0;
    public static function onMessage($client_id, $message) {
        if (self::$pid === 0) self::$pid = posix_getpid();
        if (strncmp($message, 'ping ', 5) === 0) {
            Gateway::sendToCurrentClient('pong ' . substr($message, 5) . ' [pid ' . self::$pid . ', gw]');
        } elseif (strncmp($message, 'say ', 4) === 0) {
            Gateway::sendToAll(substr($message, 4) . ' [pid ' . self::$pid . ', gw]');
        }
    }
}
"""

# Workerman without the event extension (Debian has none) uses select(): at
# most 1024 descriptors a process. Past that a gateway process cannot serve a
# connection, so the idle and broadcast rows give it one gateway process per
# this many clients (reusePort spreads them).
GW_CLIENTS_PER_GATEWAY = 800


def _php_string(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def gateways_for(clients):
    return max(1, -(-clients // GW_CLIENTS_PER_GATEWAY))


class GatewayWorker:
    name = "gatewayworker"
    path = "/"

    def __init__(self, gw_dir, wm_dir, tmp, label, gateways=1):
        self.gw_dir, self.wm_dir = gw_dir, wm_dir
        self.dir = os.path.join(tmp, "gatewayworker-" + label)
        os.makedirs(self.dir)
        self.gateways = gateways
        self.port, self.register_port = free_port(), free_port()
        self.start_port = free_port_range(gateways)  # gateway process k's inner port: start_port + k
        self.proc = None
        self.master = None
        self.command_cpus = None
        self.out = os.path.join(self.dir, "out.log")

    @staticmethod
    def version(wm_dir):
        try:
            with open(os.path.join(wm_dir, "src", "Worker.php")) as f:
                m = re.search(r"VERSION = '([^']+)'", f.read())
                return m.group(1) if m else "?"
        except OSError:
            return "?"

    def start(self):
        with open(os.path.join(self.dir, "start.php"), "w") as f:
            f.write(GW_START % {"gw_dir": _php_string(self.gw_dir), "wm_dir": _php_string(self.wm_dir),
                                "register_port": self.register_port, "port": self.port, "gateways": self.gateways,
                                "reuse_port": "true" if self.gateways > 1 else "false",
                                "start_port": self.start_port})
        with open(os.path.join(self.dir, "coroutine_stub.php"), "w") as f:
            f.write(GW_STUB)
        with open(os.path.join(self.dir, "Events.php"), "w") as f:
            f.write(GW_EVENTS)
        with open(self.out, "w") as log:
            self.proc = PROCS.popen(["php", os.path.join(self.dir, "start.php"), "start"], cwd=self.dir,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.master = self.proc.pid
        tail = lambda: _tail(self.out) + _tail(os.path.join(self.dir, "workerman.log"))  # noqa: E731
        wait_answering(self, self.proc, log_tail=tail)
        # Every gateway process must have its link to the business before the load.
        deadline = time.monotonic() + 15
        while len(self.workers()["gateway"]) != self.gateways or not self._all_linked():
            if time.monotonic() > deadline:
                raise CouldNotRun("GatewayWorker: %d gateway processes not all linked%s" % (self.gateways, tail()))
            time.sleep(0.1)

    def _all_linked(self):
        """Each gateway process holds a connection from the business (an
        established TCP socket on its inner port): /proc/net/tcp."""
        want = {self.start_port + k for k in range(self.gateways)}
        seen = set()
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                port = int(fields[1].split(":")[1], 16)
                if fields[3] == "01" and port in want:
                    seen.add(port)
        return seen == want

    def workers(self):
        roles = {"gateway": [], "business": [], "register": []}
        for pid in children_of(self.master):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            for role, word in (("gateway", " gateway "), ("business", " business "), ("register", " Register ")):
                if word in cmd:
                    roles[role].append(pid)
        return roles

    def pids(self):
        w = self.workers()
        return [self.master] + w["register"] + w["gateway"] + w["business"]

    def gateway_pids(self):
        return self.workers()["gateway"]

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        kids = children_of(self.master)
        self.proc.send_signal(signal.SIGINT)  # Workerman's stop: the master stops its workers
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_tree(self.master)
            self.proc.wait()
        for k in kids:
            if not wait_gone(k, 2):
                try:
                    os.kill(k, signal.SIGKILL)
                except OSError:
                    pass


class _OneProcess:
    """A server that is one process, started by argv, stopped with SIGTERM."""
    path = "/"

    def __init__(self, tmp, label):
        self.dir = os.path.join(tmp, "%s-%s" % (self.name, label))
        os.makedirs(self.dir)
        self.port = free_port()
        self.proc = None
        self.master = None
        self.command_cpus = None
        self.out = os.path.join(self.dir, "out.log")

    def argv(self):
        raise NotImplementedError

    def start(self):
        with open(self.out, "w") as log:
            self.proc = PROCS.popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.master = self.proc.pid
        wait_answering(self, self.proc, log_tail=lambda: _tail(self.out))

    def workers(self):
        return {"server": [self.master]}

    def pids(self):
        return [self.master]

    def gateway_pids(self):
        return [self.master]

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class NodeWs(_OneProcess):
    name = "node"

    def __init__(self, script, tmp, label):
        self.script = script
        super().__init__(tmp, label)

    def argv(self):
        return ["node", self.script, str(self.port)]


class WsFloor(_OneProcess):
    name = "floor"

    def __init__(self, binary, tmp, label):
        self.binary = binary
        super().__init__(tmp, label)

    def argv(self):
        return [self.binary, str(self.port)]
