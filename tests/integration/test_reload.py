"""The rolling reload: in-flight requests, rollback, stuck workers, queued
reloads, what reload can and cannot update (the seed's limitation)."""
import os
import re
import shutil
import signal
import threading
import time

from conftest import (MODULES, HttpConn, assert_no_errors, build_module, finish_loadgen, start_loadgen,
                      wait_served, wait_until)


def slow_request(port, delay_ms, results):
    """Sends GET /?delay=... and stores (status, headers, body) or the exception."""
    try:
        with HttpConn(port, timeout=15) as c:
            c.send(f"GET /?delay={delay_ms} HTTP/1.1\r\nHost: x\r\n\r\n")
            results.append(c.read_response())
    except Exception as e:  # recorded, and the test fails on it
        results.append(e)


def test_in_flight_requests_finish_during_reload(smooth):
    srv = smooth.start(groups={"web": {"count": 2, "module": str(MODULES / "slow.so")}})
    results = []
    clients = [threading.Thread(target=slow_request, args=(srv.port(), 1500, results)) for _ in range(8)]
    for t in clients:
        t.start()
    wait_until(lambda: sum(w["connections"] for w in srv.workers()) == 8, what="8 requests in flight")

    r = srv.reload()
    for t in clients:
        t.join(20)

    assert r.returncode == 0, r.stdout + r.stderr
    assert len(results) == 8
    for res in results:
        assert not isinstance(res, Exception), f"an in-flight request failed: {res!r}"
        status, headers, body = res
        assert status == 200 and body.startswith(b"slow reply after 1500 ms")
    # The first worker was told to drain while its requests were in flight:
    # those answers say the connection is closing.
    assert any(h.get("connection") == "close" for _, h, _ in results)


def test_request_arriving_in_pieces_across_the_drain(smooth):
    srv = smooth.start(groups={"web": {"count": 1, "module": str(MODULES / "slow.so")}})
    with HttpConn(srv.port(), timeout=10) as c:
        c.send("GET /?delay=200 HTTP/1.1\r\nHo")  # half a request, then the drain begins
        wait_until(lambda: srv.workers()[0]["connections"] == 1, what="the connection accepted")
        assert srv.reload("--no-wait").returncode == 0
        wait_until(lambda: any(w["state"] == "draining" for w in srv.workers()), what="the worker draining")
        c.send("st: x\r\n\r\n")  # the rest arrives while the worker drains
        status, headers, body = c.read_response()
        assert status == 200 and b"slow reply after 200 ms" in body
        assert headers.get("connection") == "close"
        assert c.closed_by_peer()
    srv.wait_ready()
    assert srv.workers()[0]["generation"] == 1


def test_broken_deploy_is_rolled_back_while_serving(smooth, tmp_path):
    module = build_module("hello", tmp_path / "hello.so", "v1")
    srv = smooth.start(groups={"web": {"count": 4, "module": str(module)}})
    pids = {w["pid"] for w in srv.workers()}
    load = start_loadgen(f"http://127.0.0.1:{srv.port()}/", "-c", "16", "-d", "600", "--stop-file",
                         str(tmp_path / "stop"), out_path=tmp_path / "load.json")
    try:
        wait_served(srv, 300, what="the load to flow before the deploy")
        shutil.copy(MODULES / "broken.so", tmp_path / "broken.tmp")
        os.replace(tmp_path / "broken.tmp", module)  # the deploy overwrites the module
        r = srv.reload()
        wait_served(srv, 300, what="the load to flow after the rollback")
    finally:
        (tmp_path / "stop").touch()
    report = finish_loadgen(load, tmp_path / "load.json")

    assert r.returncode == 1, r.stdout
    assert "reload aborted" in r.stdout
    assert "on_worker_start failed" in r.stdout and "rolled back" in r.stdout
    assert_no_errors(report, "a broken deploy")
    assert all("version v1," in body for body in report["bodies"]), report["bodies"]
    workers = srv.workers()
    assert len(workers) == 4 and all(w["state"] == "ready" for w in workers)
    # The first new worker starts before its old one drains (the canary): it
    # failed, so not one old worker was touched.
    assert pids == {w["pid"] for w in workers}, "every old worker must still serve"
    assert "web#0 keeps its old worker" in r.stdout, r.stdout


def test_module_that_cannot_load_reports_dlerror(smooth, tmp_path):
    module = build_module("hello", tmp_path / "hello.so", "v1")
    srv = smooth.start(groups={"web": {"count": 2, "module": str(module)}})
    pids = {w["pid"] for w in srv.workers()}
    module.write_text("this is not a shared object\n")
    r = srv.reload()
    assert r.returncode == 1
    # Found out by the master's trial load, before any worker was touched.
    assert "failed to load in a trial process" in r.stdout and "dlopen() failed" in r.stdout, r.stdout
    assert {w["pid"] for w in srv.workers()} == pids
    assert srv.get()[2].startswith(b"hello from module hello version v1,")
    srv.wait_ready()


def test_connections_queued_at_the_drain_are_all_served(smooth):
    """The drain's step 2 takes what is queued. A connection it takes may be
    answered and closed at once while another, taken after it, is still
    open: "nothing open" in between must not end the drain (it did, and the
    later connection was closed unread: a reset)."""
    srv = smooth.start(groups={"web": {"count": 1, "module": str(MODULES / "slow.so")}})
    with HttpConn(srv.port(), timeout=15) as blocker, HttpConn(srv.port(), timeout=15) as whole, \
            HttpConn(srv.port(), timeout=15) as partial:
        # Accepted first, then blocked by its own event (not inside the accept
        # loop, which would take the two below before the signal).
        blocker.send("GET /?block=1500 HTTP/1.1\r\n")
        wait_until(lambda: srv.workers()[0]["connections"] == 1, what="the first connection accepted")
        blocker.send("Host: x\r\nConnection: close\r\n\r\n")
        wait_until(lambda: srv.workers()[0]["requests"] >= 1, what="the worker blocked in the module")
        # SIGQUIT is pending before the two below arrive, so once the module
        # returns the worker drains first and finds both in the queue. (Sent
        # as the master sends it, to this worker alone: a reload would start
        # its replacement first, which would take them.)
        os.kill(srv.workers()[0]["pid"], signal.SIGQUIT)
        whole.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")  # first in the queue, answered at once
        partial.send("G")                                                   # second, waits for the rest
        assert blocker.read_response()[0] == 200
        assert whole.read_response()[0] == 200
        partial.send("ET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = partial.read_response()
        assert status == 200 and headers.get("connection") == "close"
    srv.wait_ready()  # the master replaces the worker that left


def test_stuck_worker_is_killed_at_the_deadline(smooth):
    srv = smooth.start(groups={"web": {"count": 1, "module": str(MODULES / "slow.so")}},
                       server={"drain_timeout": "1s"})
    old = srv.workers()[0]["pid"]
    conn = HttpConn(srv.port(), timeout=20)
    conn.send("GET /?block=30000 HTTP/1.1\r\nHost: x\r\n\r\n")  # the worker is stuck in the module
    wait_until(lambda: srv.workers()[0]["requests"] >= 1, what="the module to have the request")
    t0 = time.monotonic()
    r = srv.reload(timeout=30)
    took = time.monotonic() - t0
    conn.close()

    assert r.returncode == 0, r.stdout + r.stderr
    # The old worker's drain, by the master's own clock, from its SIGQUIT to
    # its exit: drain_timeout (1 s) + the master's grace (drain::kKillGraceMs,
    # 2 s), not a millisecond less, and not the module's 30 s. (The worker
    # stuck in the module cannot run its own deadline: the master's SIGKILL
    # ends it.)
    drain_ms = int(re.search(rf"pid {old} -> \d+, drain (\d+) ms", r.stdout).group(1))
    assert 3000 <= drain_ms < 4500, f"the old worker drained for {drain_ms} ms:\n{r.stdout}"
    assert f"sending SIGKILL to worker web#0 (pid {old}): still draining 3000 ms after SIGQUIT" in srv.log()
    assert 3.0 <= took < 10, f"the reload took {took:.1f}s for a drain of {drain_ms} ms"
    assert srv.workers()[0]["pid"] != old
    assert srv.get()[0] == 200


def test_queued_reloads_never_overlap(smooth):
    srv = smooth.start(groups={"web": {"count": 3}})
    pid = srv.master_pid()
    for _ in range(3):
        os.kill(pid, signal.SIGHUP)  # the kernel may merge pending SIGHUPs: 1 to 3 arrive
    # The signals are pending in the master before this command connects, so
    # its reload is requested after them: it waits for theirs (or merges into
    # the queued one), and when it returns every reload has ended.
    r = srv.reload()
    assert r.returncode == 0, r.stdout + r.stderr
    srv.wait_ready()

    log = srv.log()
    runs = log.count("reload complete")
    assert runs in (2, 3), log
    # Never two at once: every "replacing" is followed by its "complete" before the next.
    events = re.findall(r"reload: replacing|reload complete", log)
    assert events == ["reload: replacing", "reload complete"] * runs, events
    assert {w["generation"] for w in srv.workers()} == {runs}


def test_reload_command_waits_for_a_queued_reload(smooth):
    srv = smooth.start(groups={"web": {"count": 1, "module": str(MODULES / "slow.so")}})
    results = []
    client = threading.Thread(target=slow_request, args=(srv.port(), 1000, results))
    client.start()
    wait_until(lambda: srv.workers()[0]["connections"] == 1, what="a request in flight")
    first = srv.cli("reload", "--no-wait")
    second = srv.reload()
    client.join(10)
    assert first.returncode == 0 and second.returncode == 0, second.stdout
    assert "reload queued" in second.stdout and "reload complete" in second.stdout
    assert srv.workers()[0]["generation"] == 2


def test_builtin_and_preload_keep_their_code(smooth, tmp_path):
    # The seed's limitation: only code loaded after fork is new after a reload.
    after_fork = build_module("hello", tmp_path / "after_fork.so", "v1")
    preloaded = build_module("hello", tmp_path / "preloaded.so", "v1")
    srv = smooth.start(groups={
        "builtin": {"count": 1, "module": "builtin:hello"},
        "preload": {"count": 1, "module": str(preloaded), "preload": True},
        "module": {"count": 1, "module": str(after_fork)},
    })
    before = {g: srv.get(group=g)[2] for g in ("builtin", "preload", "module")}
    old_pids = {w["pid"] for w in srv.workers()}
    build_module("hello", after_fork, "v2")
    build_module("hello", preloaded, "v2")

    r = srv.reload()
    assert r.returncode == 0, r.stdout
    after = {g: srv.get(group=g)[2] for g in ("builtin", "preload", "module")}

    assert not old_pids & {w["pid"] for w in srv.workers()}, "every worker is replaced"
    assert before["builtin"].startswith(b"hello from builtin hello version builtin-")
    assert after["builtin"].split(b", pid")[0] == before["builtin"].split(b", pid")[0]
    assert after["preload"].startswith(b"hello from module hello version v1,"), "preloaded code cannot change"
    assert after["module"].startswith(b"hello from module hello version v2,"), "code loaded after fork is new"


def test_start_first_never_lowers_capacity(smooth, tmp_path):
    module = build_module("hello", tmp_path / "hello.so", "v1")
    srv = smooth.start(groups={"web": {"count": 2, "module": str(module)}}, server={"reload_order": "start_first"})
    load = start_loadgen(f"http://127.0.0.1:{srv.port()}/", "-c", "16", "-d", "600", "--stop-file",
                         str(tmp_path / "stop"), out_path=tmp_path / "load.json")
    try:
        for n in (2, 3):
            build_module("hello", module, f"v{n}")
            r = srv.reload()
            assert r.returncode == 0, r.stdout
    finally:
        (tmp_path / "stop").touch()
    assert_no_errors(finish_loadgen(load, tmp_path / "load.json"), "start_first reloads")
    # Each old worker began draining only after its replacement was READY.
    log = srv.log()
    for line in re.findall(r"web#\d: pid (\d+) -> (\d+)", log):
        old, new = line
        ready_at = log.find(f" {new}] ready:")
        drain_at = log.find(f" {old}] draining:")
        assert 0 <= ready_at < drain_at, f"pid {old} drained before {new} was ready"


def test_bad_config_refuses_the_reload(smooth):
    srv = smooth.start(groups={"web": {"count": 2}})
    pids = {w["pid"] for w in srv.workers()}
    good = srv.conf.read_text()
    srv.conf.write_text(good + "\nbogus_key = 1\n")
    # The command line reads the config first, and says what is wrong.
    r = srv.reload()
    assert r.returncode == 1
    assert "bogus_key" in r.stderr and re.search(r"server\.conf:\d+:", r.stderr), r.stderr
    # A signal reaches the master anyway: it refuses, and changes nothing.
    os.kill(srv.master_pid(), signal.SIGHUP)
    wait_until(lambda: "reload refused" in srv.log(), what="the master to refuse the reload")
    assert "bogus_key" in srv.log()
    srv.conf.write_text(good)
    assert {w["pid"] for w in srv.workers()} == pids


def test_count_change_and_not_reloadable_group(smooth):
    srv = smooth.start(groups={"web": {"count": 2},
                               "keep": {"count": 1, "module": str(MODULES / "echo.so"), "listen": "text",
                                        "reloadable": False}})
    keep_pid = srv.workers("keep")[0]["pid"]
    srv.conf.write_text(srv.conf.read_text().replace("count = 2", "count = 3"))
    r = srv.reload()
    assert r.returncode == 0, r.stdout
    assert len(srv.workers("web")) == 3
    assert srv.workers("keep")[0]["pid"] == keep_pid, "a group that is not reloadable keeps its worker"
    assert "on_worker_reload" in srv.log()

    srv.conf.write_text(srv.conf.read_text().replace("count = 3", "count = 1"))
    r = srv.reload()
    assert r.returncode == 0, r.stdout
    assert "retired" in r.stdout
    wait_until(lambda: len(srv.workers("web")) == 1, what="the group to shrink to one worker")


def test_listener_change_is_reported_as_needing_restart(smooth):
    srv = smooth.start(groups={"web": {"count": 1}})
    text = srv.conf.read_text()
    srv.conf.write_text(text.replace(f":{srv.port()}", f":{srv.port() + 1}"))
    r = srv.reload()
    assert r.returncode == 0
    assert "needs a restart" in r.stdout
    assert srv.get()[0] == 200  # still on the old port
