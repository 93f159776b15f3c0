"""The run directory under attack: links planted where the server writes.

The server may start as root, and it writes its pid file and its log by name
in run_dir. A symbolic link planted there (smooth.pid -> /etc/passwd) must
not be followed: start refuses, says which file and why, and the link's
target is untouched. A run_dir that others can write to (where such a link
could be planted between our check and our open) is refused, with the fix.
"""
import os

import pytest

from conftest import pid_alive, wait_until


def prepare_run_dir(srv, mode=0o755):
    srv.run_dir.mkdir()
    os.chmod(srv.run_dir, mode)  # chmod, not mkdir(mode): the umask would cut it


def assert_refused(srv, r, *words):
    assert r.returncode != 0, f"start must be refused; it said: {r.stdout}{r.stderr}"
    out = r.stdout + r.stderr
    for w in words:
        assert w in out, f"{w!r} not in the message: {out!r}"
    # A master that found the problem itself (run_dir/modules is checked
    # after the pid file is taken) may still be exiting when start returns.
    wait_until(lambda: not (srv.master_pid() and pid_alive(srv.master_pid())), timeout=5, what="no master running")


@pytest.mark.parametrize("name, what", [("smooth.pid", "pid file"), ("smooth.log", "log file")])
def test_a_link_at_a_file_the_server_writes_is_refused_not_followed(smooth, name, what):
    srv = smooth.make()
    prepare_run_dir(srv)
    target = srv.dir / "precious.txt"
    target.write_text("precious content\n")
    before = target.stat()
    os.symlink(target, srv.run_dir / name)

    r = srv.cli("start", "-d", timeout=30)

    assert_refused(srv, r, what, str(srv.run_dir / name), "symbolic link")
    after = target.stat()
    assert target.read_text() == "precious content\n"
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns), "the link's target was written"


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_run_dir_others_can_write_to_is_refused(smooth, mode):
    srv = smooth.make()
    prepare_run_dir(srv, mode)
    r = srv.cli("start", "-d", timeout=30)
    assert_refused(srv, r, f"run_dir {srv.run_dir}", "writable by", f"chmod 755 {srv.run_dir}")
    assert not (srv.run_dir / "smooth.pid").exists()


def test_a_modules_dir_others_can_write_to_is_refused(smooth):
    srv = smooth.make()
    prepare_run_dir(srv)
    (srv.run_dir / "modules").mkdir()
    os.chmod(srv.run_dir / "modules", 0o777)
    r = srv.cli("start", "-d", timeout=30)
    assert_refused(srv, r, str(srv.run_dir / "modules"), f"chmod 755 {srv.run_dir / 'modules'}")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the directory to another user needs root")
def test_a_run_dir_owned_by_another_user_is_refused(smooth):
    srv = smooth.make()
    prepare_run_dir(srv)
    os.chown(srv.run_dir, 65534, 65534)
    r = srv.cli("start", "-d", timeout=30)
    assert_refused(srv, r, f"run_dir {srv.run_dir}", "owned by uid 65534", "chown")


def test_something_else_at_the_control_socket_path_is_refused(smooth):
    srv = smooth.make()
    prepare_run_dir(srv)
    target = srv.dir / "precious.txt"
    target.write_text("precious content\n")
    os.symlink(target, srv.run_dir / "smooth.sock")
    r = srv.cli("start", "-d", timeout=30)
    assert_refused(srv, r, str(srv.run_dir / "smooth.sock"), "not a socket")
    assert target.read_text() == "precious content\n"


def test_a_normal_run_dir_still_works(smooth):
    srv = smooth.start()
    assert srv.get()[0] == 200
    st = srv.run_dir.stat()
    assert st.st_mode & 0o022 == 0 and st.st_uid == os.geteuid()
    assert srv.cli("stop").returncode == 0
    # A second start over the same run_dir (its modules/ and log left behind) works too.
    srv.start()
    assert srv.get()[0] == 200
