"""procs: the processes the bench starts, and what /proc says about the servers.

Every child the bench starts goes through PROCS, so that one stop_all() on the
way out (also after Ctrl-C) stops them. The readers below take a list of worker
pids: a figure is always about the workers, never the master or the client.
"""

import os
import random
import signal
import socket
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


class CouldNotRun(Exception):
    """Something the benchmark needs did not work: exit 2."""


class Procs:
    """Every child Popen the bench starts, so that the finally can stop them."""

    def __init__(self):
        self.procs = []

    def popen(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.terminate()  # strace detaches from its tracees on SIGTERM
                    p.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                except OSError:
                    pass
        self.procs = []


PROCS = Procs()


def run(argv, timeout, **kw):
    """subprocess.run with output captured; the child is killed on timeout."""
    return subprocess.run(argv, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _stat_fields(pid):
    """/proc/PID/stat from field 3 (state) on: the command name may hold spaces."""
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    return stat[stat.rfind(")") + 2:].split()


def children_of(pid):
    """Direct children of pid, from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat_fields(int(entry))
        except OSError:
            continue
        if len(fields) > 1 and fields[1] == str(pid) and fields[0] != "Z":
            out.append(int(entry))
    return sorted(out)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is as good as gone
        return _stat_fields(pid)[0] != "Z"
    except OSError:
        return False


def wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def kill_tree(pid):
    """Last resort: SIGKILL a master and its children."""
    if pid is None or not alive(pid):
        return
    for p in [pid] + children_of(pid):
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def cpu_seconds(pids):
    """utime + stime of the pids (fields 14 and 15 of /proc/PID/stat), in seconds."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLK_TCK


def rss_bytes(pids):
    """Sum of the pids' Rss from /proc/PID/smaps_rollup: a walk of the page
    tables, exact, where VmRSS in /proc/PID/status may lag (per-CPU counters)."""
    total = 0
    for pid in pids:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Rss:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


def socket_fds(pids):
    """How many of the pids' descriptors are sockets (connections, listeners)."""
    n = 0
    for pid in pids:
        fd_dir = "/proc/%d/fd" % pid
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(os.path.join(fd_dir, fd)).startswith("socket:"):
                    n += 1
            except OSError:
                pass  # closed while we looked
    return n


def pin(pid, cpu):
    """Pins every thread of pid to one cpu (taskset -a -p -c CPU PID)."""
    set_cpus(pid, {cpu})


def set_cpus(pid, cpus):
    """Every thread of pid may run on these cpus only (taskset -a -p)."""
    for tid in os.listdir("/proc/%d/task" % pid):
        os.sched_setaffinity(int(tid), cpus)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_range(count):
    """The first of `count` consecutive free ports on 127.0.0.1, below the
    ephemeral range (so that no client's port takes one meanwhile)."""
    for _ in range(200):
        base = random.randrange(20000, 32000 - count)
        socks = []
        try:
            for k in range(count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", base + k))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise CouldNotRun("no %d consecutive free ports on 127.0.0.1" % count)


def http_get_body(port, timeout=1.0):
    """One GET on a fresh connection; the body, or None on any failure."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1.1 200"):
        return None
    return body.decode("latin-1")


def http_response_size(port):
    """Bytes of one whole response (head and body) to a keep-alive GET, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            time.sleep(0.05)  # a tiny response arrives in one piece
            return len(s.recv(65536))
    except OSError:
        return None
