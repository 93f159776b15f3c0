"""A new module version is tried in a throw-away process before any worker is
drained.

A deploy that leaves a truncated .so (a copy cut short, a full disk) used to
be found out by the first replacement worker, which died of SIGBUS while the
loader mapped it, after one old worker had already been drained (stop_first).
Now the master loads each new version in a child it can lose first; if that
fails the reload is refused with the child's reason, and no worker is touched.
"""
import os
import shutil

from conftest import MODULES, assert_no_errors, build_module, finish_loadgen, start_loadgen, wait_served


def deploy(path, content):
    """Puts a new module file in place in one rename, as a deploy does."""
    tmp = path.with_suffix(".deploying")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def test_a_module_that_cannot_load_refuses_the_reload_before_any_drain(smooth, tmp_path):
    module = tmp_path / "app.so"
    shutil.copy(MODULES / "hello.so", module)
    srv = smooth.start(groups={"web": {"count": 2, "module": str(module)}})
    pids = sorted(w["pid"] for w in srv.workers())

    stop_file, out = tmp_path / "load.stop", tmp_path / "load.json"
    load = start_loadgen(f"http://127.0.0.1:{srv.port()}/", "-c", "8", "-d", "60", "--stop-file", str(stop_file),
                         out_path=out)
    try:
        wait_served(srv, 200)
        deploy(module, (MODULES / "hello.so").read_bytes()[:4096])  # the first 4 KiB of a real build
        r = srv.reload()
        wait_served(srv, 200, what="requests served after the refused reload")
    finally:
        stop_file.touch()
    report = finish_loadgen(load, out)

    said = r.stdout + r.stderr
    assert r.returncode == 1, said
    assert "failed to load" in said and "trial" in said, said
    assert sorted(w["pid"] for w in srv.workers()) == pids, "a worker was replaced: " + said
    assert "draining:" not in srv.log(), "a worker was drained for a module that cannot load"
    assert_no_errors(report, "load across the refused reload")

    # A good build deployed after it reloads as usual.
    build_module("hello", module, "v2")
    r = srv.reload()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "version v2" in srv.get()[2].decode()
