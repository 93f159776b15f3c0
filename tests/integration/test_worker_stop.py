"""on_worker_stop runs on every way a worker leaves once its on_worker_start
has succeeded (Worker::finish): after a drain (reload), a drain cut short by
drain_timeout, a stop (SIGTERM), a graceful stop (SIGQUIT), and the master's
death (PR_SET_PDEATHSIG, or the worker's own check of its parent). A module
frees what it holds there (include/smooth/module.h), so a way out that skips
it leaks or loses data.

The lifecycle module (tests/modules/lifecycle.cpp) appends "start PID ..." and
"stop PID" to the file named by $SMOOTH_LIFECYCLE_FILE; each test reads it
once the worker is gone, when the line must already be there."""
import os
import re
import signal

from conftest import MODULES, HttpConn, pid_alive, wait_until

LIFECYCLE = str(MODULES / "lifecycle.so")


def events(path):
    """Every line of the file as (event, pid)."""
    if not path.exists():
        return []
    return [(line.split()[0], int(line.split()[1])) for line in path.read_text().splitlines()]


def start(smooth, tmp_path, count=2, server=None):
    record = tmp_path / "lifecycle.events"
    srv = smooth.start(groups={"web": {"count": count, "module": LIFECYCLE}}, server=server,
                       env={"SMOOTH_LIFECYCLE_FILE": str(record)})
    pids = [w["pid"] for w in srv.workers()]
    assert len(pids) == count
    for pid in pids:
        assert ("start", pid) in events(record), f"no start line for worker {pid}: {events(record)}"
    return srv, record, pids


def assert_stopped_once(record, pids, how):
    got = events(record)
    for pid in pids:
        assert not pid_alive(pid)
        stops = got.count(("stop", pid))
        assert stops == 1, f"on_worker_stop ran {stops} times in worker {pid} ({how}); events: {got}"
        assert got.index(("start", pid)) < got.index(("stop", pid)), got


def wait_gone(pids, what):
    wait_until(lambda: not any(pid_alive(p) for p in pids), 15, what=f"workers {pids} to exit ({what})")


def test_on_worker_stop_runs_after_a_drain(smooth, tmp_path):
    srv, record, old = start(smooth, tmp_path)
    r = srv.reload()
    assert r.returncode == 0, r.stdout + r.stderr
    wait_gone(old, "reload")
    assert_stopped_once(record, old, "drained by a reload")
    new = [w["pid"] for w in srv.workers()]
    assert not set(new) & set(old)
    got = events(record)
    assert all(("start", p) in got and ("stop", p) not in got for p in new), got


def test_on_worker_stop_runs_when_drain_timeout_cuts_the_drain(smooth, tmp_path):
    srv, record, old = start(smooth, tmp_path, count=1, server={"drain_timeout": "1s"})
    with HttpConn(srv.port()) as c:
        c.send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")  # never answered: the drain cannot finish
        wait_until(lambda: srv.workers()[0]["connections"] == 1, what="the held request in flight")
        r = srv.reload()
        assert r.returncode == 0, r.stdout + r.stderr
        wait_gone(old, "drain_timeout")
        assert c.closed_by_peer(), "the held request's connection was closed"
    assert "drain_timeout reached" in srv.log()
    assert_stopped_once(record, old, "drain_timeout")


def test_on_worker_stop_runs_on_stop(smooth, tmp_path):
    srv, record, pids = start(smooth, tmp_path)
    r = srv.cli("stop", timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_gone(pids, "stop")
    assert_stopped_once(record, pids, "SIGTERM from stop")
    assert "SIGKILL" not in srv.log(), "the workers left by themselves, not by the master's SIGKILL"


def test_on_worker_stop_runs_on_graceful_stop(smooth, tmp_path):
    srv, record, pids = start(smooth, tmp_path)
    r = srv.cli("stop", "-g", timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_gone(pids, "stop -g")
    assert_stopped_once(record, pids, "SIGQUIT from stop -g")


def test_on_worker_stop_runs_when_the_master_dies(smooth, tmp_path):
    srv, record, pids = start(smooth, tmp_path)
    master = srv.master_pid()
    os.kill(master, signal.SIGKILL)
    wait_until(lambda: not pid_alive(master), 10, what="the master to die")
    wait_gone(pids, "the master killed")
    assert_stopped_once(record, pids, "the master's death")
    # Three things tell a worker its master is gone, whichever comes first:
    # its channel to the master reads EOF, PR_SET_PDEATHSIG's SIGTERM, and
    # getppid() no longer the master's pid (checked every 100 ms). Each stops
    # it through Worker::stop_now, hence finish() and on_worker_stop.
    log = srv.log()
    for pid in pids:
        assert re.search(rf"\[worker web#\d {pid}\] stopping now \((the master closed our channel|SIGTERM"
                         rf"|the master is gone)\)", log), log
