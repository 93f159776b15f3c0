"""tests/support/wsload, the gateway rows' client, against a real gateway + business
(the chat module): each mode counts what it says it counts, so that a bench
figure is about round trips that really happened."""
import json
import os
import signal
import subprocess
import time

from conftest import MODULES, ROOT, wait_until
from test_gateway import chat_groups, linked

WSLOAD = ROOT / "tests" / "support" / "wsload"


def wsload(url, *args, timeout=60):
    r = subprocess.run([str(WSLOAD), *args, url], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"wsload {args} exited {r.returncode}: {r.stderr}"
    return json.loads(r.stdout)


def gateway(smooth):
    srv = smooth.start(groups=chat_groups(MODULES / "chat.so", business_count=1))
    wait_until(lambda: linked(srv, 1), what="the gateway linked to the business worker")
    return f"ws://127.0.0.1:{srv.port('gateway')}/chat"


def test_closed_loop_counts_exactly_n_round_trips(smooth):
    url = gateway(smooth)
    rep = wsload(url, "--mode", "closed", "-c", "20", "-n", "2000")
    assert rep["round_trips"] == 2000 and rep["ok"] == 2000, rep
    assert rep["errors"] == 0 and rep["connections"] == 20, rep


def test_open_loop_keeps_its_rate_and_measures_from_the_schedule(smooth):
    url = gateway(smooth)
    rep = wsload(url, "--mode", "open", "-R", "500", "-c", "10", "-d", "1")
    assert rep["errors"] == 0, rep
    assert 450 <= rep["ok"] <= 501, rep  # one second at 500 a second
    assert rep["latency_ms"]["max"] >= rep["latency_ms"]["p99"] >= rep["latency_ms"]["p50"] > 0, rep


def test_idle_holds_every_connection_until_the_stop_file(smooth, tmp_path):
    url = gateway(smooth)
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    p = subprocess.Popen([str(WSLOAD), "--mode", "idle", "-c", "300", "--hello", "--ready-file", str(ready),
                          "--stop-file", str(stop), url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: ready.exists() or p.poll() is not None, timeout=30, what="wsload's ready file")
        assert p.poll() is None, p.communicate()
        time.sleep(0.2)
        assert p.poll() is None, "wsload let go before the stop file"
        stop.touch()
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    rep = json.loads(out)
    assert rep == {**rep, "connections": 300, "failed": 0, "hello_ok": 300, "closed_by_server": 0}, rep


def test_broadcast_reaches_every_client(smooth):
    url = gateway(smooth)
    rep = wsload(url, "--mode", "broadcast", "-c", "200", "--broadcasts", "3", "--cpu-pids", str(os.getpid()))
    assert rep["missing"] == 0, rep
    assert [b["received"] for b in rep["broadcasts"]] == [200, 200, 200], rep
    assert all(0 <= b["to_first_ms"] <= b["to_last_ms"] for b in rep["broadcasts"]), rep
    assert str(os.getpid()) in rep["cpu_s"], rep


# ---- through a reload: the options the hand-over rows use (tools/benchkit/handover.py) ----

def plain_ws(smooth):
    """The chat module on a plain ws:// group (no gateway): a reload drains its
    worker, and every client gets a close with 1001 (going away)."""
    srv = smooth.start(groups={"ws": {"listen": "ws", "count": 1, "module": str(MODULES / "chat.so")}})
    return srv, f"ws://127.0.0.1:{srv.port('ws')}/chat"


def connections(srv):
    return sum(w["connections"] for w in srv.workers("ws"))


def test_idle_reconnects_after_a_drain_and_says_when_the_crowd_is_whole_again(smooth, tmp_path):
    srv, url = plain_ws(smooth)
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    p = subprocess.Popen([str(WSLOAD), "--mode", "idle", "-c", "200", "--hello", "--reconnects", "2", "--goodbye",
                          "--ready-file", str(ready), "--stop-file", str(stop), url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: ready.exists() or p.poll() is not None, timeout=30, what="wsload's ready file")
        assert p.poll() is None, p.communicate()
        before = time.monotonic()
        r = srv.reload()
        assert r.returncode == 0, r.stdout + r.stderr
        # the reload returns once the old worker has drained: every client was closed
        wait_until(ready.exists, timeout=30, what="the ready file written again")
        wait_until(lambda: connections(srv) == 200, what="200 clients on the new worker")
        stop.touch()
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    rep = json.loads(out)
    assert rep == {**rep, "connections": 200, "failed": 0, "closed_by_server": 200, "closes": {"1001": 200},
                   "reconnects": 200, "open_at_end": 200, "goodbye_ok": 200, "hello_ok": 400}, rep
    assert before < rep["first_close_at"] <= rep["all_back_at"] < time.monotonic(), rep


def test_closed_loop_resends_what_a_close_cut_off_and_counts_each_turn(smooth, tmp_path):
    srv, url = plain_ws(smooth)
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    p = subprocess.Popen([str(WSLOAD), "--mode", "closed", "-c", "10", "--retry", "--phases", "--ready-file",
                          str(ready), "--stop-file", str(stop), url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # written once the clients are connected and sending; its SIGUSR1 handler is in place long before
        wait_until(lambda: ready.exists() or p.poll() is not None, timeout=30, what="wsload's ready file")
        assert p.poll() is None and connections(srv) == 10, p.poll()
        time.sleep(0.2)
        p.send_signal(signal.SIGUSR1)  # turn 1: the reload
        r = srv.reload()
        assert r.returncode == 0, r.stdout + r.stderr
        wait_until(lambda: connections(srv) == 10, what="the 10 clients back on the new worker")
        p.send_signal(signal.SIGUSR1)  # turn 2: steady again
        time.sleep(0.2)
        stop.touch()
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    rep = json.loads(out)
    turns = rep["turns"]
    assert len(turns) == 3 and all(t["ok"] > 0 for t in turns), rep
    assert sum(t["ok"] for t in turns) == rep["ok"] == rep["round_trips"], rep  # nothing failed, a resend included
    # every client was closed once: mid round trip (sent again) or between two (counted)
    assert rep["retried"] + rep["closed_by_server"] == 10 and rep["errors"] == rep["closed_by_server"], rep
    assert turns[1]["retried"] == rep["retried"] and rep["connections"] == 20, rep
