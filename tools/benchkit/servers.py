"""servers: smooth and nginx, configured alike, started and stopped by the bench.

Both get the same number of workers, the same body for a hello request (the
same text and length, each naming its own version and worker pid), no access
log, a 60 s keep-alive timeout (the idle-connection rows hold connections for
seconds; smooth's default is 5 s), an unlimited number of requests per
keep-alive connection (nginx's default closes one after 1,000), and a 2 MiB
body limit (the 1 MiB body rows). Each instance lives in its own directory
under the bench's temporary directory and on its own free port.

worker_pids() is what every figure is taken over: the master's children, which
must be exactly the configured workers (it refuses to guess during a reload).

EchoFloor is not a competitor but a yardstick: tools/benchkit/echo_floor, the least an
HTTP echo can do (read the body, write it back), which the echo row compares
smooth's echo module with.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time

from .procs import (PROCS, CouldNotRun, children_of, free_port, http_get_body, kill_tree, read_pid, run,
                    wait_gone)

NGINX = "/usr/sbin/nginx"
KEEPALIVE_TIMEOUT_S = 60
KEEPALIVE_REQUESTS = 1000  # both servers at their default: a keep-alive connection ends after this many
BODY_LIMIT = "2m"
REPLACED_RE = re.compile(r"reload complete: (\d+) workers? replaced in (\d+) ms")


def _wait_workers(master, count, what, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        kids = children_of(master)
        if len(kids) == count:
            return kids
        if time.monotonic() > deadline:
            raise CouldNotRun("%s: master %d has %d children, expected %d workers" % (what, master, len(kids), count))
        time.sleep(0.05)


def _workers_now(master, count, what, role="master"):
    """master's children, which must be its count workers right now."""
    kids = children_of(master)
    if len(kids) != count:
        raise CouldNotRun("%s: %s %d has children %s, expected %d workers" % (what, role, master, kids, count))
    return kids


def on_cpus(cpus, argv):
    """argv, to run on those cpus only when cpus is given (taskset -c)."""
    return ["taskset", "-c", cpus] + argv if cpus else argv


class Smooth:
    name = "smooth"

    def __init__(self, server, tmp, label, workers, builds=None, module=None, access_log=None):
        """builds: {version: path of a hello .so}, installed as the module
        (reloads install the next); or module = builtin:NAME. access_log: a
        path, to log every request there (docs/operating.md: one line each,
        buffered 64 KiB, written at least once a second)."""
        self.access_log = access_log
        self.server = server
        self.dir = os.path.join(tmp, "smooth-" + label)
        os.makedirs(self.dir)
        self.label = label
        self.workers = workers
        self.builds = builds or {}  # version name -> path of a prebuilt hello .so
        self.builtin = module is not None
        self.module = module or os.path.join(self.dir, "hello.so")
        self.port = free_port()
        self.run_dir = os.path.join(self.dir, "run")
        self.conf = os.path.join(self.dir, "smooth.conf")
        self.pid_file = os.path.join(self.run_dir, "smooth.pid")
        self.log_file = os.path.join(self.run_dir, "smooth.log")
        self.master = None
        self.started = False
        self.version = None
        self.command_cpus = None  # "0": the reload command runs on core 0 only (taskset)

    def install(self, version):
        """The module file becomes that version's build (atomically: a reload
        in another process never sees half a file)."""
        staged = self.module + ".new"
        shutil.copyfile(self.builds[version], staged)
        os.replace(staged, self.module)
        self.version = version

    def start(self, version=None):
        if not self.builtin:
            self.install(version)
        with open(self.conf, "w") as f:
            f.write("[server]\nrun_dir = %s\ndrain_timeout = 5s\n\n"
                    "[group web]\nlisten = http://127.0.0.1:%d\ncount = %d\nmodule = %s\n"
                    "keepalive_timeout = %ds\nkeepalive_requests = %d\nmax_request_bytes = %s\n"
                    % (self.run_dir, self.port, self.workers, self.module, KEEPALIVE_TIMEOUT_S, KEEPALIVE_REQUESTS,
                       BODY_LIMIT))
            if self.access_log:
                f.write("access_log = %s\n" % self.access_log)
        self.started = True  # from here on, stop() has something to do
        r = run([self.server, "-c", self.conf, "start", "-d"], timeout=60)
        self.master = read_pid(self.pid_file)
        if r.returncode != 0 or self.master is None:
            raise CouldNotRun("smooth did not start (exit %d):\n%s%s%s" % (r.returncode, r.stdout, r.stderr,
                                                                            self.log_tail()))
        if http_get_body(self.port, timeout=5) is None:
            raise CouldNotRun("smooth started but does not answer on port %d%s" % (self.port, self.log_tail()))
        _wait_workers(self.master, self.workers, "smooth " + self.label)

    def worker_pids(self):
        return _workers_now(self.master, self.workers, "smooth " + self.label)

    def reload(self, version):
        """Install version, reload; returns (ok, replaced_ms or None, wall_ms, output)."""
        self.install(version)
        t0 = time.monotonic()
        try:
            r = run(on_cpus(self.command_cpus, [self.server, "-c", self.conf, "reload"]), timeout=120)
            rc, out = r.returncode, r.stdout + r.stderr
        except subprocess.TimeoutExpired as e:
            rc, out = -1, "timed out after 120 s: %s" % (e.stdout or "")
        wall = (time.monotonic() - t0) * 1000.0
        m = REPLACED_RE.search(out)
        replaced = float(m.group(2)) if m else None
        return rc == 0, replaced, wall, out

    def settle(self, timeout=10):
        """After a reload: wait until the master has just its workers again."""
        _wait_workers(self.master, self.workers, "smooth %s after a reload" % self.label, timeout)

    def log_tail(self, lines=30):
        try:
            with open(self.log_file, errors="replace") as f:
                tail = f.readlines()[-lines:]
        except OSError:
            return ""
        return "\n--- last lines of %s ---\n%s" % (self.log_file, "".join(tail))

    def stop(self):
        if not self.started:
            return
        self.started = False
        master = self.master or read_pid(self.pid_file)
        try:
            r = run([self.server, "-c", self.conf, "stop"], timeout=30)
            ok = r.returncode == 0
            if not ok:
                print("bench: smooth stop exited %d: %s" % (r.returncode, (r.stdout + r.stderr).strip()),
                      file=sys.stderr)
        except subprocess.TimeoutExpired:
            ok = False
        if master and (not ok or not wait_gone(master, 5)):
            kill_tree(master)


class Nginx:
    name = "nginx"

    def __init__(self, tmp, label, workers, nofile, worker_connections=12000, access_log=None):
        self.access_log = access_log  # a path: every request logged there, in a line as long as smooth's
        self.dir = os.path.join(tmp, "nginx-" + label)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)  # the workers run as nobody
        self.label = label
        self.workers = workers
        self.nofile = nofile
        self.worker_connections = min(worker_connections, nofile - 64)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.pid_file = os.path.join(self.dir, "nginx.pid")
        self.error_log = os.path.join(self.dir, "error.log")
        self.master = None
        self.started = False
        self.version = None
        self.command_cpus = None  # as Smooth's
        try:
            self.configure_args = subprocess.run([NGINX, "-V"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                 text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            self.configure_args = ""

    def base_argv(self):
        return [NGINX, "-p", self.dir + "/", "-e", self.error_log, "-c", self.conf]

    def write_conf(self, version):
        temp_paths = ""
        for module, directive in (("http_proxy", "proxy_temp_path"), ("http_fastcgi", "fastcgi_temp_path"),
                                  ("http_uwsgi", "uwsgi_temp_path"), ("http_scgi", "scgi_temp_path")):
            if "--without-%s_module" % module not in self.configure_args:
                temp_paths += "    %s %s;\n" % (directive, os.path.join(self.dir, directive.split("_")[0]))
        # smooth's hello says "hello from module hello version V, pid P\n": the
        # same length here ("nginx server" for "module hello"), $pid the worker's.
        # With access_log: smooth's line, field for field (its time has ms,
        # $time_iso8601 none: a line a few bytes shorter; the method lines
        # give both sizes), and the same buffering (64 KiB, at least once a second).
        log = "    access_log off;"
        if self.access_log:
            log = ("    log_format smooth '$time_iso8601 $remote_addr:$remote_port \"$request\" $status "
                   "$body_bytes_sent $request_time $pid \"hello v1\"';\n"
                   f"    access_log {self.access_log} smooth buffer=64k flush=1s;")
        text = f"""worker_processes {self.workers};
worker_rlimit_nofile {self.nofile};
daemon on;
pid {self.pid_file};
error_log {self.error_log} warn;
events {{
    worker_connections {self.worker_connections};
}}
http {{
{log}
    client_body_temp_path {os.path.join(self.dir, "body")};
{temp_paths}    keepalive_requests {KEEPALIVE_REQUESTS};
    keepalive_timeout {KEEPALIVE_TIMEOUT_S}s;
    client_max_body_size {BODY_LIMIT};
    client_body_buffer_size {BODY_LIMIT};
    server {{
        listen 127.0.0.1:{self.port};
        default_type text/plain;
        location / {{
            return 200 "hello from nginx server version {version}, pid $pid\\n";
        }}
    }}
}}
"""
        staged = self.conf + ".new"
        with open(staged, "w") as f:
            f.write(text)
        os.replace(staged, self.conf)
        self.version = version

    def error_tail(self, lines=20):
        try:
            with open(self.error_log, errors="replace") as f:
                tail = f.readlines()[-lines:]
        except OSError:
            return ""
        return "\n--- last lines of %s ---\n%s" % (self.error_log, "".join(tail))

    def start(self, version):
        self.write_conf(version)
        self.started = True
        r = run(self.base_argv(), timeout=30)
        deadline = time.monotonic() + 10
        while self.master is None and time.monotonic() < deadline:
            self.master = read_pid(self.pid_file)
            if self.master is None:
                time.sleep(0.05)
        if r.returncode != 0 or self.master is None:
            raise CouldNotRun("nginx did not start (exit %d):\n%s%s%s" % (r.returncode, r.stdout, r.stderr,
                                                                           self.error_tail()))
        deadline = time.monotonic() + 10
        while version not in (http_get_body(self.port) or ""):
            if time.monotonic() > deadline:
                raise CouldNotRun("nginx started but does not answer on port %d%s" % (self.port, self.error_tail()))
            time.sleep(0.05)
        _wait_workers(self.master, self.workers, "nginx " + self.label)

    def worker_pids(self):
        return _workers_now(self.master, self.workers, "nginx " + self.label)

    def reload(self, version):
        """Rewrite the config, signal; returns (ok, visible_ms or None, wall_ms, output).
        `nginx -s reload` only signals, so this polls until a new connection
        gets the new version."""
        self.write_conf(version)
        t0 = time.monotonic()
        try:
            r = run(on_cpus(self.command_cpus, self.base_argv() + ["-s", "reload"]), timeout=30)
            rc, out = r.returncode, r.stdout + r.stderr
        except subprocess.TimeoutExpired:
            rc, out = -1, "timed out"
        wall = (time.monotonic() - t0) * 1000.0
        if rc != 0:
            return False, None, wall, out
        deadline = t0 + 10
        while time.monotonic() < deadline:
            if version in (http_get_body(self.port) or ""):
                return True, (time.monotonic() - t0) * 1000.0, wall, out
            time.sleep(0.002)
        return False, None, wall, out + "\nthe new version did not answer within 10 s"

    def settle(self, timeout=15):
        """After reloads: wait until the old workers are gone (they finish their
        connections first), so that the master has just its workers again."""
        _wait_workers(self.master, self.workers, "nginx %s after a reload" % self.label, timeout)

    def stop(self):
        if not self.started:
            return
        self.started = False
        master = self.master or read_pid(self.pid_file)
        if master is None:
            return
        kids = children_of(master)
        try:
            run(self.base_argv() + ["-s", "quit"], timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if not wait_gone(master, 10):
            kids = children_of(master)
            kill_tree(master)
        for k in kids:  # workers of a graceful quit exit on their own; make sure
            if not wait_gone(k, 2):
                try:
                    os.kill(k, 9)
                except OSError:
                    pass


def _echoes(port, timeout=1.0):
    """Does a POST to port come back as its own body?"""
    body = b"0123456789abcdef"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            data = b""
            while not data.endswith(body) and len(data) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return False
    return data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\n" + body)


class EchoFloor:
    """tools/benchkit/echo_floor PORT WORKERS: a parent and WORKERS forked workers on one
    listening socket. The parent stops its workers on SIGTERM (and they stop if
    it dies), so stopping it stops everything."""

    name = "floor"

    def __init__(self, binary, tmp, label, workers):
        self.binary = binary
        self.dir = os.path.join(tmp, "floor-" + label)
        os.makedirs(self.dir)
        self.label = label
        self.workers = workers
        self.port = free_port()
        self.log_file = os.path.join(self.dir, "echo_floor.log")
        self.proc = None
        self.master = None

    def log_tail(self):
        try:
            with open(self.log_file, errors="replace") as f:
                return "\n--- %s ---\n%s" % (self.log_file, f.read()[-2000:])
        except OSError:
            return ""

    def start(self):
        with open(self.log_file, "w") as log:
            self.proc = PROCS.popen([self.binary, str(self.port), str(self.workers)], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT)
        self.master = self.proc.pid
        deadline = time.monotonic() + 10
        while not _echoes(self.port):
            if self.proc.poll() is not None:
                raise CouldNotRun("echo_floor exited %d at start%s" % (self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                raise CouldNotRun("echo_floor does not echo on port %d%s" % (self.port, self.log_tail()))
            time.sleep(0.05)
        _wait_workers(self.master, self.workers, "echo_floor " + self.label)

    def worker_pids(self):
        return _workers_now(self.master, self.workers, "echo_floor " + self.label, "parent")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        kids = children_of(self.master)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_tree(self.master)
            self.proc.wait()
        for k in kids:  # the parent waited for them; make sure
            if not wait_gone(k, 2):
                try:
                    os.kill(k, 9)
                except OSError:
                    pass
