"""The reload when things go wrong around it: a stop in the middle, a client
too slow to read, a replacement that never gets ready, a deploy that breaks
halfway through a rollout, a group shrinking under load."""
import os
import signal
import socket
import threading
import time

from conftest import (MODULES, HttpConn, assert_no_errors, build_module, finish_loadgen, pid_alive,
                      start_loadgen, wait_served, wait_until)
from test_reload import slow_request


def test_a_stop_during_a_reload_wins(smooth):
    srv = smooth.start(groups={"web": {"count": 2, "module": str(MODULES / "slow.so")}})
    master = srv.master_pid()
    results = []
    client = threading.Thread(target=slow_request, args=(srv.port(), 1000, results))
    client.start()
    wait_until(lambda: sum(w["connections"] for w in srv.workers()) == 1, what="a request in flight")

    os.kill(master, signal.SIGQUIT)   # graceful stop...
    wait_until(lambda: "stopping gracefully (SIGQUIT)" in srv.log(), what="the master to begin the stop")
    os.kill(master, signal.SIGHUP)    # ...and a reload right behind it
    client.join(10)

    wait_until(lambda: not pid_alive(master), timeout=10, what="the master to exit")
    log = srv.log()
    assert "reload requested (SIGHUP) while stopping: refused" in log
    assert log.count("spawned worker") == 2, "the stop must fork nothing"
    assert results and not isinstance(results[0], Exception) and results[0][0] == 200


def test_a_slow_reader_gets_its_whole_response_across_a_drain(smooth):
    srv = smooth.start(groups={"web": {"count": 1, "module": str(MODULES / "echo.so"), "max_request_bytes": "16m",
                                       "keepalive_timeout": "1s"}})
    body = os.urandom(8 << 20)
    with HttpConn(srv.port(), timeout=20) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        c.send(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        # The response is far bigger than the socket buffers: most of it waits
        # in the worker while we do not read, past keepalive_timeout, through a drain.
        assert srv.reload("--no-wait").returncode == 0
        wait_until(lambda: "draining:" in srv.log(), what="the worker to start draining")
        # The window this test is about: twice keepalive_timeout (1 s) with the
        # response unread. Time passing is the event here, so it is a sleep.
        time.sleep(2.0)
        status, headers, echoed = c.read_response()
    assert status == 200 and echoed == body, f"got {len(echoed)} of {len(body)} bytes"
    srv.wait_ready()


def test_a_replacement_that_never_gets_ready_is_abandoned(smooth, tmp_path):
    module = build_module("hello", tmp_path / "app.so", "v1")
    srv = smooth.start(groups={"web": {"count": 2, "module": str(module)}}, server={"start_timeout": "1s"})
    pids = {w["pid"] for w in srv.workers()}
    build_module("broken", module, "v2", defines=["BROKEN_HANG_MS=60000"])

    t0 = time.monotonic()
    r = srv.reload()
    assert r.returncode == 1 and "not READY within start_timeout (1000 ms)" in r.stdout, r.stdout
    assert time.monotonic() - t0 < 30, "the reload waited for the hanging module, not start_timeout"
    srv.wait_ready()
    workers = srv.workers()
    # It was the canary (the first new worker, started before its old one
    # drains): both old workers serve on, untouched.
    assert len(workers) == 2 and pids == {w["pid"] for w in workers}, "both old workers are untouched"
    assert all(srv.get()[2].startswith(b"hello from module hello version v1,") for _ in range(10))


def test_a_rollout_that_breaks_halfway_retires_the_slots_it_added(smooth, tmp_path):
    module = build_module("hello", tmp_path / "app.so", "v1")
    srv = smooth.start(groups={"web": {"count": 2, "module": str(module)}})
    build_module("broken", module, "v2", defines=["BROKEN_ONLY_SLOT=3"])
    srv.conf.write_text(srv.conf.read_text().replace("count = 2", "count = 4"))

    r = srv.reload()
    assert r.returncode == 1, r.stdout
    assert "web#3" in r.stdout and "was a new slot: not refilled" in r.stdout and "retired" in r.stdout
    wait_until(lambda: len(srv.workers()) == 2 and all(w["state"] == "ready" for w in srv.workers()),
               what="the group back to its old count of 2")
    assert sorted(w["slot"] for w in srv.workers()) == [0, 1]


def test_shrinking_a_group_under_load_drops_nothing(smooth, tmp_path):
    srv = smooth.start(groups={"web": {"count": 4}})
    load = start_loadgen(f"http://127.0.0.1:{srv.port()}/", "-c", "16", "-d", "600", "--stop-file",
                         str(tmp_path / "stop"), out_path=tmp_path / "load.json")
    try:
        wait_served(srv, 300, what="the load to flow before the shrink")
        srv.conf.write_text(srv.conf.read_text().replace("count = 4", "count = 2"))
        r = srv.reload()
        assert r.returncode == 0, r.stdout
        wait_served(srv, 300, what="the load to flow after the shrink")
    finally:
        (tmp_path / "stop").touch()
    assert_no_errors(finish_loadgen(load, tmp_path / "load.json"), "a shrink under load")
    assert len(srv.workers()) == 2
