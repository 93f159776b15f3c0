"""`./server upgrade`: the master itself replaced by a new ./server, the
listening sockets inherited (never closed, never bound again), the new
master's workers READY before the old ones drain, the pid file and the
control socket handed over by rename. Under load, nothing may fail; when the
new release cannot start, the old master serves on untouched."""
import json
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import (MODULES, SERVER, HttpConn, assert_no_errors, build_module, build_server_variant, finish_loadgen,
                      pid_alive, start_loadgen, wait_served, wait_until)


def out(r):
    return r.stdout + r.stderr


def install(src, dst):
    """A deploy: the new file written beside the old one, then renamed over it
    (a new inode at the same path; the running master keeps the old one)."""
    tmp = Path(str(dst) + ".new")
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def processes_running(conf):
    """Pids of every process started with this config file: masters and their
    workers (forked, so their command line is their master's)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if str(conf).encode() in args and pid_alive(int(entry)):
            pids.add(int(entry))
    return pids


def assert_one_master(srv, timeout=15):
    """Exactly one master runs with this config (the one `status` names), and
    every other process running with it is one of its workers. Waits
    (bounded) for exiting processes to be gone."""
    def only_ours():
        st = srv.status()
        ours = {st["master"]["pid"]} | {w["pid"] for w in st["workers"]}
        running = processes_running(srv.conf)
        return running == ours and (st, running)
    try:
        return wait_until(only_ours, timeout, what="one master and its workers, nothing else")[0]
    except AssertionError:
        st = srv.status()
        raise AssertionError(f"running: {sorted(processes_running(srv.conf))}, status names master "
                             f"{st['master']['pid']} and workers {[w['pid'] for w in st['workers']]}")


def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def leftovers(srv):
    """What an upgrade may leave in run_dir and must not: files made beside
    the real pid file and control socket."""
    return sorted(p.name for p in srv.run_dir.iterdir() if ".new" in p.name)


class StatusPoller:
    """Asks `status` again and again from a thread, as a monitoring system
    would, and keeps every failure: at no moment may no master answer."""

    def __init__(self, srv):
        self.srv = srv
        self.calls = 0
        self.failures = []
        self.masters = set()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.done.is_set():
            r = self.srv.cli("status", "--json", timeout=20)
            self.calls += 1
            if r.returncode != 0:
                self.failures.append(out(r))
            else:
                self.masters.add(json.loads(r.stdout)["master"]["pid"])

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(timeout=30)


class Load:
    """tests/support/loadgen against the server for the length of a `with` block.
    Keep-alive unless told otherwise: a test that runs long at full speed
    with a new connection per request leaves the machine's ports in
    TIME_WAIT by the hundred thousand, and the next tests find none free."""

    def __init__(self, srv, tmp_path, keepalive=True, clients="8"):
        self.stop_file = tmp_path / "stop-load"
        self.out = tmp_path / "load.json"
        self.proc = start_loadgen(f"http://127.0.0.1:{srv.port()}/", "-c", clients, "-d", "600", "--stop-file",
                                  str(self.stop_file), *(["-k"] if keepalive else []), out_path=self.out)
        self.report = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop_file.touch()
        self.report = finish_loadgen(self.proc, self.out)


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """Two more builds of ./server, told apart by their build id."""
    d = tmp_path_factory.mktemp("releases")
    return {b: build_server_variant(b, d / b / "server") for b in ("b2", "b3")}


# ---- Upgrades that work ----

@pytest.mark.parametrize("keepalive", [False, True], ids=["short", "keepalive"])
def test_five_upgrades_in_a_row_under_load(smooth, tmp_path, releases, keepalive):
    # The server runs from release/server; each round a new build is
    # installed at that path and `upgrade` (no --binary) starts it.
    release = tmp_path / "release"
    release.mkdir()
    shutil.copy2(SERVER, release / "server")
    srv = smooth.start(groups={"web": {"count": 4, "health_path": "/healthz"}}, binary=release / "server")
    masters = [srv.master_pid()]

    with StatusPoller(srv) as poller, Load(srv, tmp_path, keepalive, clients="32") as load:
        wait_served(srv, 1000)
        for n in range(1, 6):
            build = "b2" if n % 2 else "b3"
            install(releases[build], release / "server")
            before = srv.status()
            old_master, old_workers = before["master"]["pid"], {w["pid"] for w in before["workers"]}
            r = srv.cli("upgrade", timeout=120)
            assert r.returncode == 0, f"upgrade {n}: {out(r)}\n{srv.log()[-3000:]}"
            after = srv.status()
            new_master = after["master"]["pid"]
            assert f"upgrade complete: master pid {old_master} -> {new_master}" in r.stdout, r.stdout
            assert new_master != old_master and not pid_alive(old_master), f"upgrade {n}: {old_master} -> {new_master}"
            assert after["master"]["build"] == build, after["master"]
            workers = {w["pid"] for w in after["workers"]}
            assert len(workers) == 4 and all(w["state"] == "ready" for w in after["workers"]), after["workers"]
            assert not workers & old_workers, f"upgrade {n}: a worker of the old master survived"
            assert not any(pid_alive(p) for p in old_workers), f"upgrade {n}: an old worker still runs"
            masters.append(new_master)
            wait_served(srv, 1000)  # the new workers serve the load
            # ...and a response says which build they run (the workers' own health answer)
            assert srv.get("/healthz")[::2] == (200, b"ok build %s\n" % build.encode()), f"upgrade {n}"
    report = load.report
    print(f"5 upgrades, {'keep-alive' if keepalive else 'short'}: {report['requests']} requests, {report['ok']} ok, "
          f"{report['requests'] - report['ok']} failed; status asked {poller.calls} times, "
          f"{len(poller.failures)} failed; masters {masters}")

    assert len(set(masters)) == 6, f"the master pid changed each time: {masters}"
    assert report["ok"] > 1000, report
    assert_no_errors(report, f"5 upgrades under {'keep-alive' if keepalive else 'short'} load")
    assert poller.calls > 10 and not poller.failures, \
        f"`status` failed {len(poller.failures)} times of {poller.calls}: {poller.failures[:3]}"
    assert poller.masters <= set(masters), (poller.masters, masters)
    assert leftovers(srv) == []
    assert_one_master(srv)


def test_sigusr2_upgrades_to_the_binary_at_the_masters_path(smooth, tmp_path, releases):
    release = tmp_path / "release"
    release.mkdir()
    shutil.copy2(SERVER, release / "server")
    srv = smooth.start(groups={"web": {"count": 2}}, binary=release / "server")
    old = srv.master_pid()
    install(releases["b3"], release / "server")
    os.kill(old, signal.SIGUSR2)
    wait_until(lambda: not pid_alive(old), 20, what="the old master gone after SIGUSR2")
    st = srv.status()
    assert st["master"]["pid"] != old and st["master"]["build"] == "b3", st["master"]
    assert srv.get()[0] == 200
    assert os.readlink(f"/proc/{st['master']['pid']}/exe") == str(release / "server")
    assert_one_master(srv)


# ---- Upgrades that fail: the old master serves on ----

def bad_binary(tmp_path):
    script = tmp_path / "bad-release" / "server"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\necho 'bad release: cannot start' >&2\nexit 1\n")
    script.chmod(0o755)
    return script


FAILURES = ["exits-at-start", "never-ready", "worker-fails", "config-refused", "not-executable"]


@pytest.mark.parametrize("failure", FAILURES)
def test_failed_upgrade_leaves_the_old_master_serving(smooth, tmp_path, failure):
    srv = smooth.start(groups={"web": {"count": 2}}, server={"start_timeout": "1s"})
    good_conf = srv.conf.read_text()
    upgrade_conf = good_conf  # the config file as the new master will read it
    args = ["upgrade"]
    if failure == "exits-at-start":
        args += ["--binary", str(bad_binary(tmp_path))]
        want = ["exited with status 1 before it took over"]
    elif failure == "never-ready":
        # The new master reads the config as it is now: a release whose
        # workers hang in on_worker_start for 20 s, with start_timeout 1 s.
        hang = build_module("broken", tmp_path / "hang.so", "v1", defines=["BROKEN_HANG_MS=20000"])
        upgrade_conf = good_conf.replace(str(MODULES / "hello.so"), str(hang))
        want = ["2 workers not READY within start_timeout (1000 ms)", "exited with status 1"]
    elif failure == "worker-fails":
        upgrade_conf = good_conf.replace(str(MODULES / "hello.so"), str(MODULES / "broken.so"))
        want = ["(on_worker_start failed)", "on_worker_start of module broken failed"]
    elif failure == "config-refused":
        upgrade_conf = good_conf + "this is not a config line\n"
        want = ["the config was refused", f"{srv.conf}:"]
    else:
        args += ["--binary", str(tmp_path / "no-such-server")]
        want = ["upgrade refused: cannot execute", "ENOENT"]
    before = srv.status()

    with Load(srv, tmp_path) as load:
        wait_served(srv, 200)
        srv.conf.write_text(upgrade_conf)
        r = srv.cli(*args, timeout=60)
        if failure == "config-refused":
            # The command line reads the config first, and refuses; SIGUSR2
            # reaches the master anyway, and the new master refuses it.
            assert r.returncode == 1 and "this is not a config line" in r.stderr, out(r)
            os.kill(before["master"]["pid"], signal.SIGUSR2)
            line = wait_until(lambda: next((l for l in srv.log().splitlines() if "upgrade failed: " in l), None), 15,
                              what="the master to report the failed upgrade")
            r = subprocess.CompletedProcess(r.args, 1, line[line.index("upgrade failed: "):] + "\n", "")
        srv.conf.write_text(good_conf)
        wait_served(srv, 200)  # and it goes on serving

    assert r.returncode == 1, out(r)
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("upgrade failed: " if failure != "not-executable" else "upgrade refused: "), r.stdout
    for part in want:
        assert part in last, f"{part!r} not in {last!r}"
    print(f"failed upgrade ({failure}): {load.report['requests']} requests, {load.report['ok']} ok; {last}")
    assert_no_errors(load.report, f"an upgrade that failed ({failure})")
    after = assert_one_master(srv)
    assert after["master"]["pid"] == before["master"]["pid"]
    assert {w["pid"] for w in after["workers"]} == {w["pid"] for w in before["workers"]}, "the old workers, untouched"
    assert after["upgrade"]["state"] == "idle" and "upgrade" in after["upgrade"]["description"]
    assert leftovers(srv) == []
    # and the next upgrade, to a release that starts, works
    r = srv.cli("upgrade", timeout=60)
    assert r.returncode == 0 and "upgrade complete" in r.stdout, out(r)
    assert srv.master_pid() != before["master"]["pid"]


def start_slow_upgrade(srv, tmp_path, start_ms=1500):
    """Begins an upgrade whose new master's workers take start_ms to start;
    returns the running `upgrade` command and the new master's pid, once its
    workers have been forked."""
    slow = build_module("slow", tmp_path / "slowstart.so", "v2", defines=[f"SLOW_START_MS={start_ms}"])
    srv.conf.write_text(srv.conf.read_text().replace(str(MODULES / "hello.so"), str(slow)))
    up = subprocess.Popen([str(srv.binary), "-c", str(srv.conf), "upgrade"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)

    def new_master_with_workers():
        u = srv.status()["upgrade"]
        return u["state"] == "starting" and children_of(u["new_pid"]) and u["new_pid"]
    return up, wait_until(new_master_with_workers, 10, what="the new master forking its workers")


def test_kill_9_of_the_new_master_while_its_workers_start(smooth, tmp_path):
    srv = smooth.start(groups={"web": {"count": 2}})
    good_conf = srv.conf.read_text()
    before = srv.status()
    with Load(srv, tmp_path) as load:
        wait_served(srv, 200)
        up, new = start_slow_upgrade(srv, tmp_path)
        its_workers = children_of(new)
        os.kill(new, signal.SIGKILL)
        text, _ = up.communicate(timeout=60)
        wait_until(lambda: not any(pid_alive(p) for p in its_workers), 10, what="the new master's workers gone")
        wait_served(srv, 200)
        srv.conf.write_text(good_conf)
        assert up.returncode == 1, text
        assert "exited with signal 9 (Killed) before it took over" in text, text
        after = assert_one_master(srv)
        assert after["master"]["pid"] == before["master"]["pid"]
        assert {w["pid"] for w in after["workers"]} == {w["pid"] for w in before["workers"]}
        assert leftovers(srv) == [], "the old master removes what the dead one left"
        r = srv.cli("upgrade", timeout=60)  # a later upgrade works
        assert r.returncode == 0 and "upgrade complete" in r.stdout, out(r)
        wait_served(srv, 200)
    print(f"kill -9: {load.report['requests']} requests, {load.report['ok']} ok; {text.strip().splitlines()[-1]}")
    assert_no_errors(load.report, "kill -9 of the new master, then an upgrade")
    assert srv.master_pid() != before["master"]["pid"]
    assert_one_master(srv)


# ---- One thing at a time; a stop has the last word ----

def test_upgrade_and_reload_are_never_interleaved(smooth, tmp_path):
    srv = smooth.start(groups={"web": {"count": 1, "module": str(MODULES / "slow.so")}})
    # A reload that takes a while: the old worker finishes a 2 s request first.
    with HttpConn(srv.port(), timeout=10) as c:
        c.send("GET /?delay=2000 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: srv.workers()[0]["requests"] == 1, 5, what="the slow request in flight")
        reload = subprocess.Popen([str(srv.binary), "-c", str(srv.conf), "reload"], stdout=subprocess.PIPE, text=True)
        wait_until(lambda: srv.status()["reload"]["state"] != "idle", 5, what="the reload running")
        r = srv.cli("upgrade")
        assert r.returncode == 1 and "upgrade refused: a reload is running" in r.stdout, out(r)
        assert c.read_response()[0] == 200
        assert reload.wait(timeout=30) == 0

    srv.conf.write_text(srv.conf.read_text().replace(str(MODULES / "slow.so"), str(MODULES / "hello.so")))
    up, new = start_slow_upgrade(srv, tmp_path, start_ms=2000)
    r = srv.cli("reload")
    assert r.returncode == 1 and "reload refused: an upgrade is in progress" in r.stdout, out(r)
    r = srv.cli("upgrade")
    assert r.returncode == 1 and f"upgrade refused: one is running (starting new master pid {new}" in r.stdout, out(r)
    text, _ = up.communicate(timeout=60)
    assert up.returncode == 0 and "upgrade complete" in text, text
    assert srv.master_pid() == new
    assert_one_master(srv)


def test_stop_while_the_new_master_starts(smooth, tmp_path):
    # A stop has the last word: the upgrade is cancelled, the new master goes
    # with its workers, and the old one stops. When `stop` returns, no
    # process of this server is left, and no file.
    srv = smooth.start(groups={"web": {"count": 2}})
    old = srv.master_pid()
    up, new = start_slow_upgrade(srv, tmp_path)
    r = srv.cli("stop", timeout=60)
    assert r.returncode == 0 and f"stopped: master pid {old}" in r.stdout, out(r)
    assert not pid_alive(old) and not pid_alive(new), "the old master waited for the new one"
    text, _ = up.communicate(timeout=30)
    assert up.returncode == 1 and "upgrade cancelled: the server is stopping" in text, text
    wait_until(lambda: not processes_running(srv.conf), 10, what="every process of this server gone")
    assert sorted(p.name for p in srv.run_dir.iterdir()) == ["modules", "smooth.log"]


def test_stop_after_the_takeover_while_the_old_master_drains(smooth, tmp_path):
    # The new master has taken over; the old one still finishes a request.
    # `stop` reaches the new master (the one the files name), and the old
    # one finishes its request and exits: nothing is left, nothing is cut.
    srv = smooth.start(groups={"web": {"count": 1, "module": str(MODULES / "slow.so")}})
    old = srv.master_pid()
    with HttpConn(srv.port(), timeout=15) as c:
        c.send("GET /?delay=3000 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: srv.workers()[0]["requests"] == 1, 5, what="the slow request in flight")
        up = subprocess.Popen([str(srv.binary), "-c", str(srv.conf), "upgrade"], stdout=subprocess.PIPE, text=True)
        new = wait_until(lambda: (srv.master_pid() or old) != old and srv.master_pid(), 10, what="the takeover")
        assert pid_alive(old), "the old master drains its worker before it exits"
        r = srv.cli("stop", timeout=60)
        assert r.returncode == 0 and f"stopped: master pid {new}" in r.stdout, out(r)
        status, _, body = c.read_response()
        assert status == 200 and b"after 3000 ms" in body
    text, _ = up.communicate(timeout=30)
    assert up.returncode == 0 and f"upgrade complete: master pid {old} -> {new}" in text, text
    wait_until(lambda: not processes_running(srv.conf), 10, what="every process of this server gone")
    assert not (srv.run_dir / "smooth.pid").exists() and not (srv.run_dir / "smooth.sock").exists()
