"""A worker out of file descriptors: far more clients than its RLIMIT_NOFILE.

accept4() then fails with EMFILE while the connection stays queued, so the
listener stays readable. A worker that goes straight back to epoll_wait is
woken again at once: 100% CPU and a log line per attempt (the review measured
about 1 GB of identical lines in 12 s). What must happen instead: the worker
stops watching its listener for a moment, keeps serving the connections it
has, says so in a few lines, and accepts again once descriptors free up.
"""
import os
import socket
import time

from conftest import HttpConn, http_request, wait_until

FD_LIMIT = 128      # the server's RLIMIT_NOFILE (soft and hard), set with prlimit
CLIENTS = 600       # connections held open by the test: several times the limit
WINDOW_S = 3.0      # how long the worker's CPU time and log are watched at the limit


def cpu_seconds(pid):
    """utime + stime of a process (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # fields[0] is field 3
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_pauses_accepting_instead_of_spinning(smooth):
    # Long timeouts: the held connections (which never send a byte) must stay
    # open for the whole test, not be closed by the worker and cycled.
    srv = smooth.make(groups={"web": {"count": 1, "keepalive_timeout": "60s", "request_timeout": "60s"}})
    srv.start(wrapper=["prlimit", f"--nofile={FD_LIMIT}:{FD_LIMIT}"])
    worker = srv.workers()[0]["pid"]
    log_file = srv.run_dir / "smooth.log"

    clients = []
    # A connection accepted before the flood: the worker must go on serving it.
    with HttpConn(srv.port()) as early:
        try:
            early.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert early.read_response()[0] == 200
            for _ in range(CLIENTS):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", srv.port()))  # EINPROGRESS; the kernel completes it into the queue
                clients.append(s)
            wait_until(lambda: b"EMFILE" in log_file.read_bytes()[:1 << 20], timeout=10,
                       what="the worker to run out of descriptors")

            # The measurement window: CPU time and log growth while the worker
            # sits at its limit with hundreds of connections queued for it.
            cpu_before, log_before, t0 = cpu_seconds(worker), log_file.stat().st_size, time.monotonic()
            time.sleep(WINDOW_S)
            cpu_used = cpu_seconds(worker) - cpu_before
            elapsed = time.monotonic() - t0
            log_growth = log_file.stat().st_size - log_before

            assert cpu_used < 0.2 * elapsed, \
                f"the worker used {cpu_used:.2f} s of CPU in {elapsed:.2f} s at its descriptor limit (a busy loop)"
            assert log_growth < 8192, f"the log grew by {log_growth} bytes in {elapsed:.2f} s at the limit"
            early.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert early.read_response()[0] == 200, "an open connection must be served while accepting is paused"
        finally:
            for s in clients:
                s.close()

    # Descriptors free up as the worker sees the clients go: it accepts again.
    def served():
        try:
            return http_request(srv.port(), timeout=2.0)[0] == 200
        except OSError:
            return False
    wait_until(served, timeout=20, interval=0.2, what="a normal request to be served once the clients have gone")

    log = log_file.read_bytes()
    assert len(log) < 64 << 10, f"the log is {len(log)} bytes"
    lines = [l for l in log.decode(errors="replace").splitlines() if "EMFILE" in l]
    assert 1 <= len(lines) <= 20, f"{len(lines)} EMFILE lines; the first: {lines[:1]}"
    assert "not accepting for 500 ms" in lines[0], lines[0]
