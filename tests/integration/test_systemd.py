"""systemd without libsystemd: what a service manager sees of smooth.

A unix datagram socket of the test's own stands in for systemd's
NOTIFY_SOCKET, and Debian's systemd-socket-activate hands the server its
listening socket the way a .socket unit does (LISTEN_FDS, LISTEN_PID,
LISTEN_FDNAMES). The server runs in the foreground, as ExecStart runs it."""
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import (MODULES, SERVER, assert_no_errors, finish_loadgen, free_port, http_request, start_loadgen, wait_served,
                      wait_until)


class Notifications:
    """The receiving end of NOTIFY_SOCKET: one datagram per state change,
    newline-separated KEY=VALUE lines."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.seen = []  # every message, in order of arrival

    def next(self, timeout=15):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode()
        except socket.timeout:
            raise AssertionError(f"no notification within {timeout}s; so far: {self.seen}")
        msg = dict(line.split("=", 1) for line in data.splitlines())
        self.seen.append(msg)
        return msg

    def until(self, key, timeout=15):
        """Messages up to and including the first that carries `key`."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            got.append(self.next(max(0.1, deadline - time.monotonic())))
            if key in got[-1]:
                return got

    def close(self):
        self.sock.close()


def test_ready_reloading_ready_stopping_in_order(smooth, tmp_path):
    notes = Notifications(tmp_path / "notify.sock")
    try:
        srv = smooth.make(groups={"web": {"count": 3}}, env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
        srv.start(daemon=False)

        got = notes.until("READY")
        ready = got[-1]
        assert ready["READY"] == "1" and ready["STATUS"] == "serving: 3 workers ready", got
        assert not any("RELOADING" in m or "STOPPING" in m for m in got), got

        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        r = srv.reload()
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        assert r.returncode == 0, r.stdout + r.stderr
        got = notes.until("READY")
        reloading, steps, done = got[0], got[1:-1], got[-1]
        assert reloading.get("RELOADING") == "1", got
        assert before <= int(reloading["MONOTONIC_USEC"]) <= after, (before, reloading, after)
        assert reloading["STATUS"] == "reloading: 0 of 3 replaced", reloading
        assert [m["STATUS"] for m in steps] == [f"reloading: {k} of 3 replaced" for k in (1, 2)], steps
        assert done["READY"] == "1" and done["STATUS"].startswith("reload complete: 3 workers replaced"), done

        # A reload the master refuses never began: no RELOADING, no READY.
        good = srv.conf.read_text()
        srv.conf.write_text(good + "bogus_key = 1\n")
        os.kill(srv.master_pid(), signal.SIGHUP)
        wait_until(lambda: "reload refused" in srv.log(), 10, what="the master to refuse the reload")
        srv.conf.write_text(good)

        assert srv.stop() == ""
        got = notes.until("STOPPING")
        assert got == [got[-1]], f"something came between the reload's READY and STOPPING: {got}"
        assert got[-1]["STOPPING"] == "1" and got[-1]["STATUS"].startswith("stopping: 3 workers"), got
        assert srv.proc.returncode == 0
    finally:
        notes.close()


def test_upgrade_tells_systemd_the_new_main_pid(smooth, tmp_path):
    # After an upgrade the new master announces itself: MAINPID=<its pid>
    # and READY=1 in one datagram (NotifyAccess=all in the unit file: it is
    # not the main pid yet when it says so). The old one says nothing more,
    # not even STOPPING=1 when it exits; the stop that follows is the new one's.
    notes = Notifications(tmp_path / "notify.sock")
    try:
        srv = smooth.make(groups={"web": {"count": 2}}, env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
        srv.start(daemon=False)
        old = srv.master_pid()
        assert notes.until("READY")[-1]["READY"] == "1"
        r = srv.cli("upgrade")
        assert r.returncode == 0, r.stdout + r.stderr
        new = srv.master_pid()
        assert new != old
        got = notes.until("MAINPID")
        assert got[0]["STATUS"].startswith("upgrading: starting "), got
        took = got[-1]
        assert took["MAINPID"] == str(new) and took["READY"] == "1", took
        assert took["STATUS"] == f"serving: 2 workers ready (upgraded from master pid {old})", took
        assert srv.proc.wait(timeout=15) == 0, "the old (foreground) master exits 0 once drained"
        assert srv.stop() == ""
        got = notes.until("STOPPING")
        assert len(got) == 1, f"the old master said something after the hand-over: {got}"
    finally:
        notes.close()


def test_not_ready_while_a_worker_is_missing(smooth, tmp_path):
    # A group that cannot start: the start report comes at start_timeout with
    # a warning, and systemd hears a STATUS saying so, never READY=1.
    notes = Notifications(tmp_path / "notify.sock")
    try:
        srv = smooth.make(groups={"web": {"count": 1}, "bad": {"count": 1, "module": str(MODULES / "broken.so")}},
                          server={"start_timeout": "1s"}, env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
        srv.start(daemon=False, wait_ready=False)
        msg = notes.next()
        assert "READY" not in msg and msg["STATUS"].startswith("starting: 1 of 2 workers ready after start_timeout"), msg
        with pytest.raises(AssertionError):
            notes.next(timeout=1.5)  # still nothing: the broken worker keeps failing
    finally:
        notes.close()


def first_answer(port):
    """The first response through systemd-socket-activate. It execs the server
    when the first connection arrives, which waits in the socket's queue
    meanwhile: the first request is answered, not refused (once the activator
    listens at all)."""
    def attempt():
        try:
            return http_request(port, timeout=15)
        except ConnectionRefusedError:
            return None
    return wait_until(attempt, 10, what="systemd-socket-activate listening")


def test_socket_activation_serves_on_the_inherited_socket_through_a_reload(smooth, tmp_path):
    srv = smooth.make(groups={"web": {"count": 2}})
    port, spare = srv.port(), free_port()
    srv.err_path = srv.dir / "foreground.err"
    # Two sockets as a .socket unit would pass them: one a group listens on,
    # one nobody does (it is closed, with a warning naming it).
    srv.proc = subprocess.Popen(
        ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "-l", f"127.0.0.1:{spare}", "--fdname=web:spare",
         str(SERVER), "-c", str(srv.conf), "start"],
        cwd=srv.dir, stdout=subprocess.DEVNULL, stderr=open(srv.err_path, "w"))
    status, _, body = first_answer(port)
    assert status == 200 and b"hello from module hello" in body
    srv.wait_ready()
    master = srv.master_pid()
    assert master == srv.proc.pid, "systemd-socket-activate execs the server in its own process"
    log = srv.log()
    assert f"group web: listening on the inherited socket for http://127.0.0.1:{port}" in log, log
    assert f"inherited socket spare (127.0.0.1:{spare}): no group listens there; closed it" in log, log
    assert "bind() failed" not in log
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", spare), timeout=2).close()

    load = start_loadgen(f"http://127.0.0.1:{port}/", "-c", "8", "-d", "600", "--stop-file", str(tmp_path / "stop"),
                         out_path=tmp_path / "load.json")
    try:
        wait_served(srv, 200)
        for _ in range(2):
            r = srv.reload()
            assert r.returncode == 0 and "reload complete" in r.stdout, r.stdout + r.stderr
            wait_served(srv, 200)
    finally:
        (tmp_path / "stop").touch()
    report = finish_loadgen(load, tmp_path / "load.json")
    assert report["ok"] > 400, report
    assert_no_errors(report, "two reloads on a socket-activated listener")
    assert srv.master_pid() == master


def test_socket_activation_with_start_d(smooth):
    # `start -d` under socket activation: the sockets were passed to the
    # command's pid, and the master is its grandchild; it gets them all the same.
    srv = smooth.make(groups={"web": {"count": 1}})
    port = srv.port()
    activator = subprocess.Popen(
        ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "--fdname=web", str(SERVER), "-c", str(srv.conf),
         "start", "-d"], cwd=srv.dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        status, _, body = first_answer(port)
        output, _ = activator.communicate(timeout=20)  # the command returns once the daemon has started
        assert activator.returncode == 0, output
        assert status == 200 and b"hello from module hello" in body
        log = srv.log()
        assert f"group web: listening on the inherited socket for http://127.0.0.1:{port}" in log, log
    finally:
        if activator.poll() is None:
            activator.kill()
        r = srv.cli("stop")
        assert r.returncode == 0, r.stdout + r.stderr
