"""Configs the server cannot honour are refused up front, not discovered later.

- `-c` naming a FIFO: opening it to read would wait for a writer forever
  (`./server check` hung); it is refused as not a regular file, at once.
- More workers in all than the server's tables hold (the review's 600 groups
  of one worker each passed `check`, then 88 groups got no worker while their
  ports accepted and hung): refused, naming the group that goes over.
"""
import os
import subprocess

import pytest

from conftest import SERVER

MAX_WORKERS = 512  # kMaxWorkers in src/config/config.h


def run(*args, cwd, timeout=10):
    """./server with args; a hang fails the test (TimeoutExpired) instead of stalling it."""
    return subprocess.run([str(SERVER), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


@pytest.mark.parametrize("command", [("check",), ("start", "-d"), ("reload",)])
def test_a_fifo_as_config_is_refused_at_once(tmp_path, command):
    fifo = tmp_path / "server.conf"
    os.mkfifo(fifo)
    r = run("-c", str(fifo), *command, cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"cannot read {fifo}: it is a FIFO, not a regular file" in r.stderr, r.stderr


def test_more_workers_than_the_server_can_run_is_refused(tmp_path):
    conf = tmp_path / "server.conf"
    lines = ["[server]", f"run_dir = {tmp_path / 'run'}"]
    for i in range(600):
        lines += [f"[group g{i}]", f"listen = http://127.0.0.1:{20000 + i}", "module = builtin:hello", "count = 1"]
    conf.write_text("\n".join(lines) + "\n")
    # The group that goes over the limit is the one named, at its count line.
    count_line = 2 + 4 * MAX_WORKERS + 4
    for command in (("check",), ("start", "-d")):
        r = run("-c", str(conf), *command, cwd=tmp_path, timeout=30)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"{conf}:{count_line}: [group g{MAX_WORKERS}] count: the groups ask for {MAX_WORKERS + 1} workers" \
            in r.stderr, r.stderr
        assert f"at most {MAX_WORKERS}" in r.stderr
    assert not (tmp_path / "run" / "smooth.pid").exists()
