"""The command line as an operator uses it: start (foreground and daemon),
status, status --json, connections, check, stop; a second start; a stale pid
file; config and module errors reported by `check` and `start`."""
import ctypes
import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import threading

import pytest

from conftest import MODULES, SERVER, HttpConn, http_request, pid_alive, wait_until


def out(r):
    """Everything a CLI run printed, for assertions that do not care which stream."""
    return r.stdout + r.stderr


def dlopen_error(path):
    """The dlerror() text the C library gives for this file, e.g.
    "/tmp/x/bad.so: invalid ELF header" (what the server must show)."""
    with pytest.raises(OSError) as info:
        ctypes.CDLL(str(path))
    return str(info.value)


def write_garbage_module(path):
    path.write_bytes(b"this is not a shared object, just text pretending to be one\n" * 20)
    return path


# ---- start / status / connections / check / stop ----

@pytest.mark.parametrize("daemon", [False, True], ids=["foreground", "daemon"])
def test_round_trip(smooth, daemon):
    srv = smooth.make(groups={"web": {"count": 2, "keepalive_timeout": "10s"}})
    if daemon:
        r = srv.cli("start", "-d", timeout=30)
        assert r.returncode == 0, f"start -d failed: {out(r)}\nlog: {srv.log()}"
        report = r.stdout
        srv.wait_ready()
    else:
        srv.start(daemon=False)

    # status, for people
    r = srv.cli("status", check=True)
    master = srv.master_pid()
    assert master and pid_alive(master)
    assert f"master pid {master}" in r.stdout, r.stdout
    # status --json, for scripts
    st = json.loads(srv.cli("status", "--json", check=True).stdout)
    assert st["master"]["pid"] == master
    assert st["reload"]["state"] == "idle"
    workers = st["workers"]
    assert len(workers) == 2 and all(w["group"] == "web" and w["state"] == "ready" for w in workers), workers
    assert len({w["pid"] for w in workers}) == 2
    for w in workers:
        assert pid_alive(w["pid"]) and w["pid"] != master
        assert re.search(rf"^{w['pid']}\s+web\s.*\bready\b", r.stdout, re.M), f"worker {w['pid']} not in status:\n{r.stdout}"
    if daemon:
        assert os.getsid(master) != os.getsid(0), "the daemon has left our session"
        assert "spawned worker" in (srv.run_dir / "smooth.log").read_text(), "the daemon logs to its log file"
    else:
        assert master == srv.proc.pid, "a foreground start runs the master in the process that was started"
        assert "spawned worker" in srv.err_path.read_text(), "the foreground master logs to stderr"

    # connections: a keep-alive client that is idle between requests is listed
    with HttpConn(srv.port()) as c:
        c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = c.read_response()
        assert status == 200 and headers.get("connection") != "close"
        local = c.sock.getsockname()
        peer = f"{local[0]}:{local[1]}"
        serving_pid = int(body.rsplit(b"pid ", 1)[1])

        def listed():
            r = srv.cli("connections", check=True)
            return r.stdout if peer in r.stdout else None
        table = wait_until(listed, 5, what=f"{peer} in `connections`")
        line = next(l for l in table.splitlines() if peer in l)
        fields = line.split()
        assert fields[0] == str(serving_pid), line
        assert "web" in fields and "http" in fields and "idle" in fields, line
        # the connection is still usable afterwards
        c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response()[0] == 200

    # check, while running
    r = srv.cli("check")
    assert r.returncode == 0, out(r)
    assert str(MODULES / "hello.so") in r.stdout and "ok" in r.stdout, r.stdout

    # stop
    worker_pids = [w["pid"] for w in workers]
    r = srv.cli("stop", timeout=30)
    assert r.returncode == 0, out(r)
    assert f"stopped: master pid {master}" in r.stdout, out(r)
    # (that `stop` returns only once the master is gone is test_restart_and_stop_let_go_of_the_port's business)
    wait_until(lambda: not any(pid_alive(p) for p in [master] + worker_pids), 5, what="master and workers gone after stop")
    assert srv.master_pid() is None, "the pid file is removed at exit"
    assert srv.cli("status").returncode != 0, "status after stop says not running"

    if daemon:
        table = report
    else:
        assert srv.proc.wait(timeout=10) == 0
        table = srv.proc.stdout.read()
    # the start report: a table of groups
    assert f"master pid {master}" in table, table
    assert re.search(r"^GROUP\s+LISTEN\s+WORKERS", table, re.M), table
    assert re.search(rf"^web\s+http://127\.0\.0\.1:{srv.port()}\s+2/2\s", table, re.M), table


def test_connections_counts_what_it_cannot_list_and_only_what_is_open(smooth):
    # A worker lists at most kConnRecords (256) connections in the shared
    # stats table; the rest are a count, "+N open now but not listed". That
    # count is of connections open now: it goes down as unlisted ones close
    # (not a running total of every connection that ever missed the table).
    table_size = 256
    srv = smooth.start(groups={"web": {"count": 1, "keepalive_timeout": "120s"}})
    conns = []
    try:
        for _ in range(table_size + 44):
            c = HttpConn(srv.port())
            conns.append(c)
            c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, _ = c.read_response()
            assert status == 200 and headers.get("connection") != "close"
        wait_until(lambda: srv.workers()[0]["connections"] == len(conns), what=f"{len(conns)} connections open")

        def table():
            """(peers listed, the summary's listed count, its unlisted count)."""
            text = srv.cli("connections", check=True).stdout
            peers = set(re.findall(r"^\d+\s+web\s+(127\.0\.0\.1:\d+)\s", text, re.M))
            m = re.search(r"^(\d+) connections(?: \(\+(\d+) open now but not listed: the table holds (\d+) per worker\))?$",
                          text, re.M)
            assert m, f"no summary line in:\n{text}"
            if m.group(3):
                assert int(m.group(3)) == table_size, m.group(0)
            return peers, int(m.group(1)), int(m.group(2) or 0)

        def name(c):
            host, port = c.sock.getsockname()
            return f"{host}:{port}"

        peers, listed, unlisted = table()
        assert listed == len(peers) == table_size, f"{listed} listed, {len(peers)} rows"
        assert unlisted == len(conns) - table_size == 44, f"+{unlisted} not listed"
        assert peers <= {name(c) for c in conns}, "every row is one of ours"

        # Close 100: 30 of those not listed, 70 of those listed.
        not_listed = [c for c in conns if name(c) not in peers]
        on_list = [c for c in conns if name(c) in peers]
        closing = not_listed[:30] + on_list[:70]
        for c in closing:
            c.close()
        conns = [c for c in conns if c not in closing]
        wait_until(lambda: srv.workers()[0]["connections"] == len(conns), what=f"{len(conns)} connections open")
        want = (table_size - 70, 44 - 30)
        wait_until(lambda: table()[1:] == want, what=f"connections to say {want[0]} listed, +{want[1]} not listed")
        peers, listed, unlisted = table()
        assert peers == {name(c) for c in on_list[70:]}, "the rows are the listed connections still open"
        assert listed + unlisted == len(conns) == 200
    finally:
        for c in conns:
            c.close()


def test_restart_and_stop_let_go_of_the_port(smooth):
    # `stop` reports "stopped" only once the master is gone, so that `stop`
    # followed by `start` (which is what `restart` does) can bind the port again.
    srv = smooth.start(groups={"web": {"count": 1}})
    port = srv.port()
    for i in range(30):
        old = srv.master_pid()
        r = srv.cli("restart", "-d", timeout=30)
        assert r.returncode == 0, f"restart #{i} failed: {out(r)}"
        new = srv.master_pid()
        assert new and new != old and not pid_alive(old), f"restart #{i}: old {old}, new {new}"
        srv.wait_ready()
        assert srv.get()[0] == 200
    master = srv.master_pid()
    r = srv.cli("stop", timeout=30)
    assert r.returncode == 0, out(r)
    assert not pid_alive(master), "`stop` returned while the master still runs"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_second_start_is_refused(smooth):
    srv = smooth.start(groups={"web": {"count": 1}})
    master = srv.master_pid()
    for args in (("start", "-d"), ("start",)):
        r = srv.cli(*args, timeout=20)
        assert r.returncode != 0, f"second `{' '.join(args)}` succeeded: {out(r)}"
        assert "already running" in out(r), out(r)
        assert str(master) in out(r), out(r)
    # the first one never noticed
    assert srv.master_pid() == master and pid_alive(master)
    status, _, body = srv.get()
    assert status == 200 and b"hello from module hello" in body
    st = srv.status()
    assert st["master"]["pid"] == master and [w["state"] for w in st["workers"]] == ["ready"]


def test_stale_pid_file_of_unrelated_process(smooth):
    srv = smooth.make(groups={"web": {"count": 1}})
    srv.run_dir.mkdir()
    pid_file = srv.run_dir / "smooth.pid"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        pid_file.write_text(f"{sleeper.pid}\n")

        r = srv.cli("status")
        assert r.returncode != 0, f"status of a stale pid file succeeded: {out(r)}"
        assert "stale" in out(r) and str(sleeper.pid) in out(r), out(r)

        r = srv.cli("stop", timeout=20)
        assert "stale" in out(r), out(r)
        # (its exit status is not asserted: nothing was stopped either way)
        assert sleeper.poll() is None, "stop signalled a process that is not our master"

        r = srv.cli("start", "-d", timeout=30)
        assert r.returncode == 0, f"start with a stale pid file failed: {out(r)}\nlog: {srv.log()}"
        srv.wait_ready()
        master = srv.master_pid()
        assert master and master != sleeper.pid and pid_alive(master)
        assert srv.get()[0] == 200
        assert sleeper.poll() is None, "start signalled the process named by the stale pid file"

        assert srv.cli("stop", timeout=30).returncode == 0
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_locked_pid_file_and_socket_of_someone_else(smooth):
    # The strongest stale file: its lock IS held (by this test), it names an
    # unrelated process, and a control socket answers, created by this test.
    # The socket's peer credentials name this test's pid, not the file's: not
    # our master. Nothing is signalled, and not a byte of a command is sent.
    srv = smooth.make(groups={"web": {"count": 1}})
    srv.run_dir.mkdir(mode=0o755)
    sleeper = subprocess.Popen(["sleep", "60"])
    impostor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    impostor.bind(str(srv.run_dir / "smooth.sock"))
    impostor.listen(64)
    heard = []  # what the CLI sent the impostor, connection by connection

    def answer_like_a_socket():
        while True:
            try:
                conn, _ = impostor.accept()
            except OSError:
                return  # closed at the end of the test
            with conn:
                conn.settimeout(5)
                try:
                    heard.append(conn.recv(4096))
                except OSError as e:
                    heard.append(repr(e).encode())
    listener = threading.Thread(target=answer_like_a_socket, daemon=True)
    listener.start()
    pid_file = open(srv.run_dir / "smooth.pid", "w")
    try:
        pid_file.write(f"{sleeper.pid}\n")
        pid_file.flush()
        fcntl.flock(pid_file, fcntl.LOCK_EX)

        for args in (("status",), ("stop",), ("stop", "-g"), ("reload",), ("connections",)):
            r = srv.cli(*args, timeout=20)
            assert r.returncode != 0, f"`{' '.join(args)}` trusted the file: {out(r)}"
            assert str(sleeper.pid) in out(r) and f"belongs to pid {os.getpid()}" in out(r), out(r)
            assert sleeper.poll() is None, f"`{' '.join(args)}` signalled a process that is not our master"
        # The CLI connected to see who answers, and then said nothing.
        assert heard and not any(heard), f"a command reached a socket the proof refused: {heard!r}"

        r = srv.cli("start", "-d", timeout=30)
        assert r.returncode != 0 and "already running" in out(r), out(r)
        assert sleeper.poll() is None
    finally:
        pid_file.close()
        impostor.shutdown(socket.SHUT_RDWR)
        impostor.close()
        sleeper.kill()
        sleeper.wait()


def test_another_copy_of_the_binary_reaches_the_master(smooth, tmp_path):
    # A new release unpacked in another directory drives the master started
    # from the first one: the proof does not look at where ./server lives.
    release = tmp_path / "release-2"
    release.mkdir()
    shutil.copy2(SERVER, release / "server")
    srv = smooth.start(groups={"web": {"count": 2}})
    master = srv.master_pid()

    def other(*args, timeout=60):
        return subprocess.run([str(release / "server"), "-c", str(srv.conf), *args], capture_output=True, text=True,
                              timeout=timeout, cwd=release)

    r = other("status")
    assert r.returncode == 0 and f"master pid {master}" in r.stdout, out(r)
    old = {w["pid"] for w in srv.workers()}
    r = other("reload")
    assert r.returncode == 0 and "reload complete" in r.stdout, out(r)
    assert not old & {w["pid"] for w in srv.workers()}
    assert srv.get()[0] == 200
    # upgrade: to the binary the master was started from, then to the copy
    r = other("upgrade")
    assert r.returncode == 0 and f"upgrade complete: master pid {master} -> " in r.stdout, out(r)
    second = srv.master_pid()
    assert second != master and os.readlink(f"/proc/{second}/exe") == str(SERVER)
    r = other("upgrade", "--binary", "./server")  # relative to the command's directory
    assert r.returncode == 0 and f"upgrade complete: master pid {second} -> " in r.stdout, out(r)
    third = srv.master_pid()
    assert os.readlink(f"/proc/{third}/exe") == str(release / "server")
    assert srv.get()[0] == 200
    # and the first binary still reaches the master the copy started
    assert srv.cli("status").returncode == 0
    r = other("stop", timeout=30)
    assert r.returncode == 0 and f"stopped: master pid {third}" in r.stdout, out(r)
    assert not any(pid_alive(p) for p in (master, second, third))


# ---- check ----

def test_check_good_config_names_every_module(smooth):
    srv = smooth.make(groups={
        "web": {"count": 1},
        "txt": {"listen": "text", "count": 1, "module": str(MODULES / "echo.so")},
        "slowpoke": {"count": 1, "module": str(MODULES / "slow.so")},
    })
    r = srv.cli("check", timeout=30)
    assert r.returncode == 0, out(r)
    for group, module in (("web", "hello.so"), ("txt", "echo.so"), ("slowpoke", "slow.so")):
        line = next((l for l in r.stdout.splitlines() if l.startswith(f"group {group}")), None)
        assert line and str(MODULES / module) in line and "ok" in line, f"group {group}: {r.stdout}"
    assert not srv.run_dir.joinpath("smooth.pid").exists(), "check does not start anything"


def test_check_garbage_module_shows_dlopen_error(smooth):
    bad = write_garbage_module(smooth.tmp_path / "bad.so")
    srv = smooth.make(groups={"web": {"count": 1}, "broken": {"count": 1, "module": str(bad)}})
    r = srv.cli("check", timeout=30)
    assert r.returncode == 1, out(r)
    reason = dlopen_error(bad)
    assert reason and reason in out(r), f"dlopen's own words ({reason!r}) missing from:\n{out(r)}"
    bad_line = next((l for l in out(r).splitlines() if str(bad) in l), "")
    assert "dlopen" in bad_line and "broken" in bad_line, out(r)
    # the good group is still checked and named
    assert re.search(rf"group web: .*{re.escape(str(MODULES / 'hello.so'))}: ok", r.stdout), r.stdout


def test_check_module_without_entry_point(smooth):
    # A real shared object that is not a smooth module: dlopen works, dlsym does not.
    lib = smooth.tmp_path / "notamodule.so"
    lib.write_bytes((MODULES / "hello.so").read_bytes().replace(b"smooth_module_v1", b"smooth_module_x1"))
    if b"smooth_module_x1" not in lib.read_bytes():
        pytest.fail("hello.so does not name smooth_module_v1; has the entry point been renamed?")
    srv = smooth.make(groups={"web": {"count": 1, "module": str(lib)}})
    r = srv.cli("check", timeout=30)
    assert r.returncode == 1, out(r)
    assert "smooth_module_v1" in out(r) and str(lib) in out(r), out(r)


CONFIG_ERRORS = [
    # (id, line to add to the [group web] section or [server], key named in the message)
    ("unknown-group-key", "group", "colour = blue", "colour"),
    ("unknown-server-key", "server", "bogus_timeout = 1s", "bogus_timeout"),
    ("bad-count", "group", "max_connections = many", "max_connections"),
    ("bad-duration", "group", "keepalive_timeout = soon", "keepalive_timeout"),
    ("bad-size", "group", "max_request_bytes = 12 parsecs", "max_request_bytes"),
]


@pytest.mark.parametrize("section,line,key", [c[1:] for c in CONFIG_ERRORS], ids=[c[0] for c in CONFIG_ERRORS])
def test_config_error_names_file_line_and_key(smooth, section, line, key):
    srv = smooth.make(groups={"web": {"count": 1}})
    lines = srv.conf.read_text().splitlines()
    at = 1 if section == "server" else len(lines)  # right after [server], or at the end of [group web]
    lines.insert(at, line)
    srv.conf.write_text("\n".join(lines) + "\n")
    where = f"{srv.conf}:{at + 1}"

    for args in (("check",), ("start", "-d"), ("start",)):
        try:
            r = srv.cli(*args, timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`{' '.join(args)}` with a bad config did not exit (it started?)")
        assert r.returncode != 0, f"`{' '.join(args)}` accepted `{line}`: {out(r)}"
        msg = out(r)
        assert where in msg, f"`{' '.join(args)}`: {where} not in {msg!r}"
        err_line = next(l for l in msg.splitlines() if where in l)
        assert key in err_line, f"`{' '.join(args)}`: key {key} not named in {err_line!r}"
    assert not (srv.run_dir / "smooth.pid").exists()
    with pytest.raises(OSError):
        http_request(srv.port(), timeout=1)
