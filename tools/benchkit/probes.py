"""probes: what a run costs the workers: CPU time, system calls, bytes read.

Each probe takes the worker pids and a function that runs the load, and
measures around exactly that function:

  worker_cpu       utime + stime of the workers (/proc/PID/stat) before and
                   after; the same pids must still be there after
  syscalls         strace -c -f attached to the workers (only them: not the
                   master, not the client) from before the first request to
                   after the last; every system call is counted, epoll_wait
                   and accept included
  bytes_read       strace of the read family on the workers: how many bytes
                   they took from their sockets (does nginx read a body it
                   discards?)

The echo row's yardstick is not a probe but a server: tools/benchkit/echo_floor
(servers.EchoFloor), measured with the same probes as smooth.
"""

import os
import re
import select
import signal
import subprocess
import tempfile
import time

from .procs import PROCS, CouldNotRun, cpu_seconds


def worker_cpu(pids, fn):
    """(fn(), CPU seconds the workers spent while fn ran)."""
    before = cpu_seconds(pids)
    result = fn()
    after = cpu_seconds(pids)  # raises if a worker is gone: the figure would be short
    return result, after - before


class _Strace:
    """strace attached to pids; the context exits once it has detached."""

    def __init__(self, pids, argv_extra, tmp):
        fd, self.out = tempfile.mkstemp(prefix="strace-", suffix=".txt", dir=tmp)
        os.close(fd)
        argv = ["strace", "-f", "-o", self.out] + argv_extra
        for pid in pids:
            argv += ["-p", str(pid)]
        self.pids = pids
        self.proc = PROCS.popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait_attached(self, timeout=10):
        """Reads strace's stderr until it says every pid is attached."""
        want = {str(p) for p in self.pids}
        text = ""
        deadline = time.monotonic() + timeout
        fd = self.proc.stderr.fileno()
        while not want <= set(re.findall(r"strace: Process (\d+) attached", text)):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise CouldNotRun("strace did not attach to %s: %s" % (sorted(want), text[-500:]))
            if select.select([fd], [], [], left)[0]:
                text += os.read(fd, 65536).decode(errors="replace")

    def detach(self):
        """SIGINT: strace detaches, writes its summary and exits."""
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise CouldNotRun("strace did not exit after SIGINT")
        with open(self.out, errors="replace") as f:
            text = f.read()
        os.unlink(self.out)
        return text


def syscalls(pids, fn, tmp, settle_s=0.2):
    """(fn(), {"total": calls, "by_name": {name: calls}}) for the workers while
    fn ran. settle_s after fn lets the workers finish the last connections'
    closes (the client has closed them; the server's close follows at once)."""
    tracer = _Strace(pids, ["-c"], tmp)
    try:
        tracer.wait_attached()
        result = fn()
        time.sleep(settle_s)
    finally:
        text = tracer.detach()
    by_name, total = {}, None
    for line in text.splitlines():
        fields = line.split()
        # "% time  seconds  usecs/call  calls  [errors]  syscall": calls is the 4th
        if len(fields) < 5 or not fields[3].isdigit():
            continue
        if fields[-1] == "total":
            total = int(fields[3])
        else:
            by_name[fields[-1]] = int(fields[3])
    if total is None:
        raise CouldNotRun("no total in strace -c's summary:\n" + text[-1000:])
    return result, {"total": total, "by_name": by_name}


def bytes_read(pids, fn, tmp):
    """(fn(), bytes the workers read from descriptors while fn ran)."""
    tracer = _Strace(pids, ["-s", "0", "-e", "trace=read,readv,recvfrom,recvmsg", "-e", "signal=none"], tmp)
    try:
        tracer.wait_attached()
        result = fn()
        time.sleep(0.2)
    finally:
        text = tracer.detach()
    total = 0
    for line in text.splitlines():
        if "unfinished" in line:
            continue  # its "resumed" line carries the result
        m = re.search(r"\) += (\d+)$", line)
        if m:
            total += int(m.group(1))
    return result, total

