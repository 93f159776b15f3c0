"""Zero dropped requests across rolling reloads under load.

This file is meant to be reused against any server that claims a smooth
reload. By default it starts smooth itself (4 workers, the demo hello module,
rebuilt with a new version before each reload). Point it at another server with:

    SMOOTH_TARGET=http://127.0.0.1:8080/      the URL to load (loopback only)
    SMOOTH_DEPLOY_CMD='...{n}...'            run before reload n (1, 2, ...) to deploy version n
    SMOOTH_RELOAD_CMD='...'                  the reload command; must exit 0
    SMOOTH_NEW_VERSION_TEXT='version {n}'    text in a response that marks version n
    SMOOTH_RELOADS=5  SMOOTH_CLIENTS=32      how many reloads, how many concurrent clients

The README shows it run against nginx from Debian (`nginx -s reload`).
"""
import os
import subprocess
import time
import urllib.request

import pytest

from conftest import assert_no_errors, build_module, finish_loadgen, start_loadgen, wait_served, wait_until

TARGET = os.environ.get("SMOOTH_TARGET")
RELOADS = int(os.environ.get("SMOOTH_RELOADS", "5"))
CLIENTS = os.environ.get("SMOOTH_CLIENTS", "32")


class SmoothTarget:
    """smooth itself: a 4-worker group running a hello module we rebuild."""

    def __init__(self, smooth, tmp_path, count=4):
        self.module = build_module("hello", tmp_path / "hello.so", "v0")
        self.srv = smooth.start(groups={"web": {"count": count, "module": str(self.module)}})
        self.url = f"http://127.0.0.1:{self.srv.port()}/"

    def deploy(self, n):
        build_module("hello", self.module, f"v{n}")

    def reload(self, n):
        r = self.srv.reload()
        assert r.returncode == 0, f"reload {n} failed: {r.stdout}{r.stderr}"
        assert "reload complete" in r.stdout
        return r.stdout

    def marker(self, n):
        return f"version v{n},"

    def settle(self):
        """The load has flowed for a while: its workers answered 300 more requests."""
        wait_served(self.srv, 300)


class ExternalTarget:
    """Any server, driven by shell commands from the environment."""

    url = TARGET

    def deploy(self, n):
        cmd = os.environ.get("SMOOTH_DEPLOY_CMD")
        if cmd:
            subprocess.run(cmd.format(n=n), shell=True, check=True, timeout=120)

    def reload(self, n):
        subprocess.run(os.environ["SMOOTH_RELOAD_CMD"].format(n=n), shell=True, check=True, timeout=120)

    def marker(self, n):
        return os.environ.get("SMOOTH_NEW_VERSION_TEXT", "").format(n=n)

    def settle(self):
        """Another server has no counter to read: let the load run 0.4 s."""
        time.sleep(0.4)


def reload_under_load(target, tmp_path, keepalive, reloads=RELOADS):
    """Loads target.url for the whole run while deploying and reloading
    `reloads` times; returns the load generator's report."""
    args = ["-c", CLIENTS, "-d", "600", "--stop-file", str(tmp_path / "stop")] + (["-k"] if keepalive else [])
    load = start_loadgen(target.url, *args, out_path=tmp_path / "load.json")
    try:
        target.settle()  # the load is flowing before the first reload
        for n in range(1, reloads + 1):
            target.deploy(n)
            target.reload(n)
            target.settle()
    finally:
        (tmp_path / "stop").touch()
    return finish_loadgen(load, tmp_path / "load.json")


def check_new_version_everywhere(target, n, samples=40):
    """After the last reload every response comes from version n. (A reload
    command that returns before the new workers serve, like `nginx -s reload`,
    gets a bounded wait for the first new answer.)"""
    marker = target.marker(n)
    if not marker:
        return

    def body():
        with urllib.request.urlopen(target.url, timeout=5) as r:
            return r.read().decode(errors="replace")

    wait_until(lambda: marker in body(), timeout=10, what=f"a response with {marker!r}")
    for _ in range(samples):
        text = body()
        assert marker in text, f"after the last reload got {text!r}, want {marker!r} in it"


def make_target(smooth, tmp_path, count=4):
    return ExternalTarget() if TARGET else SmoothTarget(smooth, tmp_path, count)


@pytest.mark.parametrize("keepalive", [False, True], ids=["short", "keepalive"])
def test_no_request_fails_across_reloads(smooth, tmp_path, keepalive):
    target = make_target(smooth, tmp_path)
    old_pids = None if TARGET else {w["pid"] for w in target.srv.workers()}

    report = reload_under_load(target, tmp_path, keepalive)

    assert report["ok"] > 1000, f"too little load to prove anything: {report}"
    assert_no_errors(report, f"{RELOADS} reloads under {'keep-alive' if keepalive else 'short'} load")
    check_new_version_everywhere(target, RELOADS)
    if not TARGET:
        workers = target.srv.workers()
        assert len(workers) == 4 and all(w["state"] == "ready" for w in workers)
        assert not old_pids & {w["pid"] for w in workers}, "a worker survived the reloads"
        assert all(w["generation"] == RELOADS for w in workers)
        versions_seen = {b.split(",")[0] for b in report["bodies"]}
        assert len(versions_seen) >= 3, f"the load did not see the versions change: {versions_seen}"


@pytest.mark.skipif(bool(TARGET), reason="smooth-specific: one worker")
def test_single_worker_reload_drops_nothing(smooth, tmp_path):
    # With one worker there is a moment with no worker at all: connections wait
    # in the listener's queue, which the master keeps open.
    target = make_target(smooth, tmp_path, count=1)
    report = reload_under_load(target, tmp_path, keepalive=False)
    assert report["ok"] > 500
    assert_no_errors(report, "reloads of a single worker")
    check_new_version_everywhere(target, RELOADS)
