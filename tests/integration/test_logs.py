"""Logs that rotate, and the access log: Debian's logrotate, run with
examples/logrotate.conf and --force while tests/support/loadgen runs against a group
with an access log, loses no line and splits none (each request once, across
the rotated file and the new one); `./server reopen` with the log directory
unwritable keeps the old files, says why and serves on; a symbolic link
planted at a log path is refused, at a reopen as at start."""
import os
import re
import signal
import subprocess
import threading
from pathlib import Path

from conftest import ROOT, SERVER, assert_no_errors, finish_loadgen, http_request, start_loadgen, wait_until

LOGROTATE = "/usr/sbin/logrotate"
# time peer "request line" status bytes seconds pid "version"
LINE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4} 127\.0\.0\.1:\d+ "([^"\\]|\\.)*" (\d{3}|-) \d+ '
                  r'\d+\.\d{3} \d+ "[^"]*"$')


def with_logs(smooth, **group):
    """A daemon whose log and access log live in DIR/logs (0755, ours), as
    examples/logrotate.conf expects them."""
    srv = smooth.make(groups={"web": {"listen": "http", "count": 2, **group}})
    logs = srv.dir / "logs"
    logs.mkdir(mode=0o755)
    text = srv.conf.read_text().replace("[group web]", f"[group web]\naccess_log = {logs / 'access.log'}")
    text = text.replace("[server]", f"[server]\nlog_file = {logs / 'smooth.log'}")
    srv.conf.write_text(text)
    srv.start()
    return srv, logs


def lines_of(*paths):
    out = []
    for p in paths:
        if Path(p).exists():
            out += Path(p).read_text().splitlines()
    return out


def reopen(srv):
    return srv.cli("reopen", timeout=30)


def test_logrotate_under_load_loses_and_splits_no_line(smooth, tmp_path):
    srv, logs = with_logs(smooth)
    conf = tmp_path / "logrotate.conf"
    example = (ROOT / "examples" / "logrotate.conf").read_text()
    example = example.replace("/srv/smooth/server -c /srv/smooth/server.conf", f"{SERVER} -c {srv.conf}")
    example = example.replace("/srv/smooth/run/smooth.log /srv/smooth/logs/*.log", f"{logs}/*.log")
    conf.write_text(example)
    os.chmod(conf, 0o644)

    # The load, and beside it requests each of which can be told apart.
    out = tmp_path / "load.json"
    load = start_loadgen(f"http://127.0.0.1:{srv.port()}/load", "-c", "4", "-k", "-d", "4", out_path=out)
    unique, stop = [], threading.Event()

    def one_by_one():
        n = 0
        while not stop.is_set():
            status, _, _ = http_request(srv.port(), "GET", f"/u/{n}")
            assert status == 200
            unique.append(n)
            n += 1

    t = threading.Thread(target=one_by_one)
    t.start()
    wait_until(lambda: len(unique) >= 20, 10, what="requests flowing")
    # notifempty: the lines are buffered for up to a second first.
    wait_until(lambda: (logs / "access.log").stat().st_size > 0, 5, what="the first lines written")
    r = subprocess.run([LOGROTATE, "--force", "--state", str(tmp_path / "logrotate.state"), str(conf)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    n_before = len(unique)
    wait_until(lambda: len(unique) >= n_before + 20, 10, what="requests after the rotation")
    report = finish_loadgen(load, out)
    stop.set()
    t.join()
    assert_no_errors(report)
    assert (logs / "access.log.1").exists() and (logs / "smooth.log.1").exists()

    answered = sum(report["status_counts"].values()) + len(unique)
    files = (logs / "access.log.1", logs / "access.log")
    # Flushed within a second by each worker.
    wait_until(lambda: len(lines_of(*files)) >= answered, 10, what="every line written")
    old, new = lines_of(files[0]), lines_of(files[1])
    assert old and new, "the rotation fell outside the load"
    bad = [line for line in old + new if not LINE.match(line)]
    assert not bad, f"lines cut or malformed: {bad[:3]}"
    assert len(old) + len(new) == answered
    targets = [line.split('"')[1].split(" ")[1] for line in old + new]
    for n in unique:
        assert targets.count(f"/u/{n}") == 1, f"/u/{n} appears {targets.count(f'/u/{n}')} times"
    assert targets.count("/load") == sum(report["status_counts"].values())
    # The master's log and the workers' went to the new file after the reopen.
    assert "reopened" in (logs / "smooth.log").read_text()


def test_reopen_with_an_unwritable_directory_keeps_the_old_files(smooth, tmp_path):
    srv, logs = with_logs(smooth)
    assert srv.get("/first")[0] == 200
    for name in ("smooth.log", "access.log"):
        os.rename(logs / name, logs / (name + ".1"))
    # Unwritable even for root: immutable (chattr), or, where the file
    # system has no such flag, no directory there at all any more.
    made_immutable = subprocess.run(["chattr", "+i", str(logs)], capture_output=True).returncode == 0
    if not made_immutable:
        os.rename(logs, tmp_path / "logs.away")
        logs.write_text("not a directory\n")
    try:
        r = reopen(srv)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "keeping the old log file" in r.stdout and "keeping the old access log" in r.stdout, r.stdout
        assert ("EPERM" in r.stdout or "EACCES" in r.stdout or "ENOTDIR" in r.stdout), r.stdout
        # It serves on, into the files it had.
        assert srv.get("/after")[0] == 200
        kept = (logs if made_immutable else tmp_path / "logs.away") / "access.log.1"
        wait_until(lambda: any("/after " in line for line in lines_of(kept)), 5, what="the line in the old file")
    finally:
        if made_immutable:
            subprocess.run(["chattr", "-i", str(logs)], check=True)
        else:
            logs.unlink()
            os.rename(tmp_path / "logs.away", logs)
    # Writable again: the next reopen works.
    r = reopen(srv)
    assert r.returncode == 0, r.stdout + r.stderr
    assert srv.get("/again")[0] == 200
    wait_until(lambda: any("/again " in line for line in lines_of(logs / "access.log")), 5, what="the new file")


def test_a_symlink_at_a_log_path_is_refused(smooth, tmp_path):
    srv, logs = with_logs(smooth)
    target = tmp_path / "victim"
    target.write_text("precious\n")
    os.rename(logs / "access.log", logs / "access.log.1")
    os.symlink(target, logs / "access.log")
    r = reopen(srv)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "is a symbolic link: refusing to follow it" in r.stdout, r.stdout
    assert srv.get("/still")[0] == 200
    wait_until(lambda: any("/still " in line for line in lines_of(logs / "access.log.1")), 5, what="the old file")
    assert target.read_text() == "precious\n"

    # At start too.
    other = smooth.make(groups={"web": {"listen": "http", "count": 1, "access_log": str(logs / "access.log")}})
    r = other.cli("start", "-d", timeout=30)
    assert r.returncode == 1 and "symbolic link" in r.stderr, r.stdout + r.stderr
    assert target.read_text() == "precious\n"


def test_the_signal_reopens_too(smooth):
    srv, logs = with_logs(smooth)
    assert srv.get("/one")[0] == 200
    os.rename(logs / "access.log", logs / "access.log.1")
    os.kill(srv.master_pid(), signal_reopen())
    wait_until(lambda: (logs / "access.log").exists(), 5, what="the reopened file")
    assert srv.get("/two")[0] == 200
    wait_until(lambda: any("/two " in line for line in lines_of(logs / "access.log")), 5, what="the line in the new file")
    assert not any("/two " in line for line in lines_of(logs / "access.log.1"))


def signal_reopen():
    return signal.SIGRTMIN + 1  # (docs/operating.md: why this one)
