"""Fixtures for smooth's integration tests: a real ./server on free loopback
ports, in its own temporary run directory, driven through its real command line.

    def test_something(smooth):
        srv = smooth.start(groups={"web": {"listen": "http", "count": 2}})
        status, headers, body = http_request(srv.port("web"), "GET", "/")

Environment:
    SMOOTH_SERVER     the binary under test (default: ./server at the repo root)
    SMOOTH_MAKE_ARGS  how it was built, for `make variant` (default: guessed from
                      SMOOTH_SERVER: build/ or build-asan/)
"""
import json
import os
import random
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(os.environ.get("SMOOTH_SERVER", ROOT / "server")).resolve()
MODULES = SERVER.parent / "modules"
LOADGEN = ROOT / "tests" / "support" / "loadgen"


def free_port():
    """A port nothing listens on right now (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls predicate() until it returns something truthy; fails the test at timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port_range(n):
    """The first of n consecutive ports nothing listens on right now (a
    business group listens on port, port + 1, ... one per worker). Drawn from
    below the kernel's ephemeral range, where client sockets take their
    ports, and probed the way the server binds (SO_REUSEADDR: a port in
    TIME_WAIT is free for a listener)."""
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(10000, max(10001, low - n))
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports")


def wait_served(srv, more, timeout=20.0, what=None):
    """Waits until the server has answered `more` requests beyond what it had
    answered when called (counted by its workers, from `status --json`): the
    event "the load has been flowing", without guessing how long that takes."""
    def served():
        try:
            return sum(w["requests"] for w in srv.workers())
        except Exception:
            return None
    start = wait_until(lambda: served() is not None and (served(),), timeout, what="status to answer")[0]
    wait_until(lambda: (served() or 0) - start >= more, timeout, what=what or f"{more} more requests served")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ---- HTTP over raw sockets (no client library hides what the server sends) ----

class HttpConn:
    """A client connection with its own receive buffer, so pipelined and
    keep-alive responses are read one at a time, exactly as sent."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed; unparsed bytes: {self.buf!r}")
        self.buf += chunk

    def read_response(self, head_request=False):
        """Returns (status, headers with lower-case names, body bytes). A
        response to HEAD (head_request) has no body whatever its
        Content-Length says; nor has one without Content-Length (204, 304)."""
        self.sock.settimeout(self.timeout)
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head_request else int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body

    def closed_by_peer(self, timeout=3.0):
        return is_closed(self.sock, timeout)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def http_request(port, method="GET", path="/", headers=None, body=b"", timeout=5.0):
    """One request on a new connection; returns (status, headers, body)."""
    hdrs = {"Host": "127.0.0.1", "Connection": "close"}
    hdrs.update(headers or {})
    if body:
        hdrs["Content-Length"] = str(len(body))
    raw = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    with HttpConn(port, timeout) as c:
        c.send(raw.encode() + body)
        return c.read_response()


def is_closed(sock, timeout=3.0):
    """True if the peer closes the connection (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


# ---- The server under test ----

class Server:
    """One smooth master in a temporary directory. Build it with groups, start()
    it, talk to it, and the fixture stops whatever is left at the end."""

    def __init__(self, tmp_path, groups, server=None, env=None, binary=None):
        self.dir = Path(tmp_path)
        self.binary = Path(binary) if binary else SERVER  # the ./server this one is started and driven with
        self.env = dict(os.environ, **(env or {}))  # the server's environment (its workers inherit it)
        self.run_dir = self.dir / "run"
        self.conf = self.dir / "server.conf"
        self.ports = {}
        self.proc = None  # foreground master, if started that way
        settings = {
            "run_dir": str(self.run_dir),
            "stop_timeout": "3s",
            "drain_timeout": "5s",
            "start_timeout": "5s",
        }
        settings.update(server or {})
        lines = ["[server]"] + [f"{k} = {v}" for k, v in settings.items()]
        for name, g in groups.items():
            g = dict(g)
            proto = g.pop("listen", "http")
            # a business group takes one port per worker: room for its count to grow
            port = g.pop("port", None) or (free_port_range(8) if g.get("role") == "business" else free_port())
            self.ports[name] = port
            g.setdefault("module", str(MODULES / "hello.so"))
            g.setdefault("count", 2)
            host = g.pop("host", "127.0.0.1")  # any loopback address
            lines += ["", f"[group {name}]", f"listen = {proto}://{host}:{port}"]
            lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in g.items()]
        self.conf.write_text("\n".join(lines) + "\n")

    # -- command line --
    def cli(self, *args, timeout=60, check=False, wrapper=()):
        """Runs ./server with args; `wrapper` goes in front of it (e.g. a
        prlimit command, so the server starts under a resource limit)."""
        r = subprocess.run([*wrapper, str(self.binary), "-c", str(self.conf), *args], capture_output=True, text=True,
                           timeout=timeout, cwd=self.dir, env=self.env)
        if check and r.returncode != 0:
            raise AssertionError(f"./server {' '.join(args)} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def start(self, daemon=True, wait_ready=True, wrapper=()):
        if daemon:
            r = self.cli("start", "-d", timeout=30, wrapper=wrapper)
            assert r.returncode == 0, f"start -d failed ({r.returncode}): {r.stdout}{r.stderr}\nlog: {self.log()}"
        else:
            self.err_path = self.dir / "foreground.err"
            self.proc = subprocess.Popen([*wrapper, str(self.binary), "-c", str(self.conf), "start"], cwd=self.dir,
                                         env=self.env,
                                         stdout=subprocess.PIPE, stderr=open(self.err_path, "w"), text=True)
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        def ready():
            try:
                st = self.status()
            except Exception:
                return False
            want = sum(int(g) for g in self.counts().values())
            ws = [w for w in st["workers"] if w["state"] == "ready"]
            return len(ws) == want and len(st["workers"]) == want and st["reload"]["state"] == "idle"
        wait_until(ready, timeout, what="every worker READY")

    def counts(self):
        counts, group = {}, None
        for line in self.conf.read_text().splitlines():
            if line.startswith("[group "):
                group = line[7:-1]
            elif group and line.startswith("count"):
                counts[group] = line.split("=")[1].strip()
        return counts

    def status(self):
        r = self.cli("status", "--json", timeout=10)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        return json.loads(r.stdout)

    def workers(self, group=None):
        return [w for w in self.status()["workers"] if group is None or w["group"] == group]

    def master_pid(self):
        try:
            return int((self.run_dir / "smooth.pid").read_text())
        except (OSError, ValueError):
            return None

    def port(self, group="web"):
        return self.ports[group]

    def log(self):
        text = ""
        for p in (self.run_dir / "smooth.log", getattr(self, "err_path", None)):
            if p and Path(p).exists():
                text += Path(p).read_text(errors="replace")
        return text

    def get(self, path="/", group="web", **kw):
        return http_request(self.port(group), "GET", path, **kw)

    def reload(self, *args, timeout=120):
        return self.cli("reload", *args, timeout=timeout)

    def stop(self):
        """Stops the server if it runs; returns what went wrong ("" if nothing)."""
        problems = []
        pid = self.master_pid()
        if pid and pid_alive(pid):
            r = self.cli("stop", timeout=30)
            if r.returncode != 0:
                problems.append(f"./server stop exited {r.returncode}: {r.stdout}{r.stderr}")
        if self.proc:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problems.append("the foreground master did not exit within 10 s of stop")
        return "; ".join(problems)

    def kill_everything(self):
        """Last resort at teardown: nothing of this test may outlive it.
        Returns the pids it had to kill (none, when stop did its job)."""
        pid = self.master_pid()
        pids = [w["pid"] for w in self._workers_quiet()]
        killed = []
        for p in ([pid] if pid else []) + pids:
            if not pid_alive(p):
                continue
            try:
                os.kill(p, signal.SIGKILL)
                killed.append(p)
            except (ProcessLookupError, PermissionError):
                pass
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            killed.append(self.proc.pid)
        return killed

    def _workers_quiet(self):
        try:
            return self.status()["workers"]
        except Exception:
            return []


class ServerFactory:
    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.servers = []

    def make(self, groups=None, server=None, name="srv", env=None, binary=None):
        d = self.tmp_path / f"{name}{len(self.servers)}"
        d.mkdir()
        s = Server(d, groups or {"web": {}}, server, env, binary)
        self.servers.append(s)
        return s

    def start(self, groups=None, server=None, daemon=True, env=None, binary=None):
        return self.make(groups, server, env=env, binary=binary).start(daemon=daemon)

    def cleanup(self):
        """Stops every server the test started. Whatever had to be forced is
        reported as a teardown error: a server that does not stop when told
        is a bug, not noise."""
        problems = []
        for s in self.servers:
            try:
                problem = s.stop()
            except Exception as e:  # reported below, after everything is killed
                problem = f"stop raised {e!r}"
            killed = s.kill_everything()
            if problem:
                problems.append(f"{s.dir.name}: {problem}")
            if killed:
                problems.append(f"{s.dir.name}: had to SIGKILL {killed} after stop")
        if problems:
            raise AssertionError("cleanup: " + "; ".join(problems))


@pytest.fixture
def smooth(tmp_path):
    factory = ServerFactory(tmp_path)
    yield factory
    factory.cleanup()


def run_loadgen(url, *args, timeout=120):
    """Runs tests/support/loadgen and returns its JSON report."""
    r = subprocess.run([str(LOADGEN), *args, url], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"loadgen failed: {r.stderr}"
    return json.loads(r.stdout)


def start_loadgen(url, *args, out_path):
    """Starts tests/support/loadgen in the background; finish with finish_loadgen()."""
    return subprocess.Popen([str(LOADGEN), *args, "-o", str(out_path), url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish_loadgen(proc, out_path, timeout=120):
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"loadgen failed: {err}"
    return json.loads(Path(out_path).read_text())


def assert_no_errors(report, what="load"):
    bad = {k: report[k] for k in ("refused", "reset", "early_eof", "timeout", "bad_status", "other_error") if report[k]}
    assert not bad, f"{what}: {bad} of {report['requests']} requests failed; statuses {report['status_counts']}"


def module_source(name):
    """A module's source: a demo (modules/) or a test fixture (tests/modules/)."""
    for d in (ROOT / "modules", ROOT / "tests" / "modules"):
        if (d / f"{name}.cpp").exists():
            return d / f"{name}.cpp"
    raise FileNotFoundError(f"no module source named {name}")


def link_secret_file(directory, secret=None, name="link.secret"):
    """A link secret file (docs/links.md) in `directory`: 32 random bytes
    (or `secret`), mode 0600, for [server] link_secret_file. Two instances
    linked by backend = tcp://... are given the same one."""
    path = Path(directory) / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(32) if secret is None else secret)
    os.chmod(path, 0o600)
    return path


def build_module(source, out_path, version, defines=()):
    """Compiles a demo module (modules/SOURCE.cpp) with a version string (and
    any -D defines) into out_path, the way a deploy produces a new build:
    written elsewhere, then moved over the old file in one rename."""
    out_path = Path(out_path)
    tmp = out_path.with_suffix(".building")
    subprocess.run(["g++", "-std=c++20", "-O2", "-fPIC", "-shared", f"-I{ROOT / 'include'}",
                    f'-DHELLO_VERSION="{version}"', *[f"-D{d}" for d in defines],
                    "-o", str(tmp), str(module_source(source))],
                   check=True, timeout=120)
    os.replace(tmp, out_path)
    return out_path


def make_args():
    """How the server under test was built, as `make` arguments."""
    if os.environ.get("SMOOTH_MAKE_ARGS"):
        return shlex.split(os.environ["SMOOTH_MAKE_ARGS"])
    build = "build" if SERVER.parent == ROOT else str(SERVER.parent.relative_to(ROOT))
    return [f"BUILD={build}"] + (["SANITIZE=address,undefined"] if "asan" in build else [])


def build_server_variant(build_id, out_path, extra=()):
    """A second ./server that differs from the one under test only in its
    build id (`make variant`: one compile, one link): a new release to
    upgrade to, which `status` and `--version` tell apart."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["make", "-s", "-C", str(ROOT), "variant", *make_args(), f"BUILD_ID={build_id}",
                    f"VARIANT={out_path}", *extra], check=True, timeout=300, stdout=subprocess.DEVNULL)
    return out_path
