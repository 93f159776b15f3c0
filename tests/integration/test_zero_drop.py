"""Zero dropped requests across rolling reloads under load.

The load, the reloads and the counting are tools/reload-check's (one harness
for the question, run here with --strict: a request closed under a client
that does not retry is a failure). This file is meant to be reused against any
server that claims a smooth reload. By default it starts smooth itself (4
workers, the demo hello module, a new build of it deployed before each
reload). Point it at another server with:

    SMOOTH_TARGET=http://127.0.0.1:8080/      the URL to load (loopback only)
    SMOOTH_DEPLOY_CMD='...{n}...'            run before reload n (1, 2, ...) to deploy version n
    SMOOTH_RELOAD_CMD='...'                  the reload command; must exit 0
    SMOOTH_NEW_VERSION_TEXT='version {n}'    text in a response that marks version n
    SMOOTH_RELOADS=5  SMOOTH_CLIENTS=32      how many reloads, how many concurrent clients

docs/reload-check.md shows the tool itself run against nginx, Workerman,
gunicorn and uWSGI.
"""
import json
import os
import subprocess

import pytest

from conftest import ROOT, SERVER, build_module

RELOAD_CHECK = ROOT / "tools" / "reload-check"
TARGET = os.environ.get("SMOOTH_TARGET")
RELOADS = int(os.environ.get("SMOOTH_RELOADS", "5"))
CLIENTS = os.environ.get("SMOOTH_CLIENTS", "32")
# After each reload, this many fresh connections in a row must be answered by
# the new version before the next reload (reload-check's completion check).
FRESH = 40


class SmoothTarget:
    """smooth itself: a group running a hello module, version n deployed
    (built beforehand, moved into place in one rename) before reload n."""

    def __init__(self, smooth, tmp_path, count=4):
        module = build_module("hello", tmp_path / "hello.so", "v0")
        for n in range(1, RELOADS + 1):  # built before the load, so the compiler does not compete with it
            build_module("hello", tmp_path / f"hello-v{n}.so", f"v{n}")
        self.srv = smooth.start(groups={"web": {"count": count, "module": str(module)}})
        self.url = f"http://127.0.0.1:{self.srv.port()}/"
        self.deploy = f"cp {tmp_path}/hello-v{{n}}.so {module}.new && mv -f {module}.new {module}"
        # It must exit 0 and say the reload is complete (it waits for every worker).
        self.reload = (f"out=$({SERVER} -c {self.srv.conf} reload 2>&1) || {{ echo \"$out\"; exit 1; }}; "
                       f"echo \"$out\" | grep -q 'reload complete' || {{ echo \"$out\"; exit 1; }}")
        self.version_text = "version v{n},"


class ExternalTarget:
    """Any server, driven by shell commands from the environment."""

    url = TARGET
    deploy = os.environ.get("SMOOTH_DEPLOY_CMD")
    reload = os.environ.get("SMOOTH_RELOAD_CMD")
    version_text = os.environ.get("SMOOTH_NEW_VERSION_TEXT")


def make_target(smooth, tmp_path, count=4):
    return ExternalTarget() if TARGET else SmoothTarget(smooth, tmp_path, count)


def reload_under_load(target, tmp_path, profile):
    """tools/reload-check, one profile: a short steady phase, then RELOADS
    reloads under load, each complete (FRESH new answers in a row) before the
    next; returns its result for the profile."""
    out = tmp_path / "reload-check.json"
    argv = [str(RELOAD_CHECK), "--url", target.url, "--reload", target.reload, "--profile", profile, "--quick",
            "--reloads", str(RELOADS), "--clients", CLIENTS, "--steady", "0.5", "--gap", "0.3", "--strict",
            "--fresh", str(FRESH), "--json", str(out)]
    if target.deploy:
        argv += ["--deploy", target.deploy]
    if target.version_text:
        argv += ["--version-text", target.version_text]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode in (0, 1), f"reload-check could not run ({r.returncode}):\n{r.stdout}{r.stderr}"
    result = json.loads(out.read_text())["profiles"][0]
    result["output"] = r.stdout + r.stderr
    return result


def assert_no_request_dropped(result, what):
    """Every reload ran and completed, and no request failed or had to be
    retried, in any phase."""
    out = result["output"]
    assert [r["n"] for r in result["reloads"]] == list(range(1, RELOADS + 1)), out
    assert all(r["command_ok"] and r["completed"] for r in result["reloads"]), out
    assert result["failed"] == 0, f"{what}: {result['failed_by_kind']} failed\n{out}"
    assert result["retries"] == 0, f"{what}: {result['retries_by_phase']} closed under a client\n{out}"


@pytest.mark.parametrize("profile", ["short", "keep-alive"], ids=["short", "keepalive"])
def test_no_request_fails_across_reloads(smooth, tmp_path, profile):
    target = make_target(smooth, tmp_path)
    old_pids = None if TARGET else {w["pid"] for w in target.srv.workers()}

    result = reload_under_load(target, tmp_path, profile)

    assert result["under_reloads"]["ok"] > 1000, f"too little load to prove anything:\n{result['output']}"
    assert_no_request_dropped(result, f"{RELOADS} reloads under {profile} load")
    if not TARGET:
        workers = target.srv.workers()
        assert len(workers) == 4 and all(w["state"] == "ready" for w in workers)
        assert not old_pids & {w["pid"] for w in workers}, "a worker survived the reloads"
        assert all(w["generation"] == RELOADS for w in workers)
        seen = result["under_reloads"]["versions_seen"]
        assert len(seen) >= 3, f"the load did not see the versions change: {seen}"


@pytest.mark.skipif(bool(TARGET), reason="smooth-specific: one worker")
def test_single_worker_reload_drops_nothing(smooth, tmp_path):
    # With one worker there is a moment with no worker at all: connections wait
    # in the listener's queue, which the master keeps open.
    target = make_target(smooth, tmp_path, count=1)
    result = reload_under_load(target, tmp_path, "short")
    assert result["under_reloads"]["ok"] > 500, result["output"]
    assert_no_request_dropped(result, "reloads of a single worker")
