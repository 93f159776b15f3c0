"""tools/reload-check against a real smooth: it passes a real reload, and it
fails a "reload" that is a restart (stop, then start), which refuses and resets
connections. The second test proves the first could have failed. How it reads
other servers is in test_reload_check_servers.py."""
import json
import subprocess

from conftest import ROOT, SERVER, build_module

RELOAD_CHECK = ROOT / "tools" / "reload-check"
PROFILES = ["short", "keep-alive", "slow-client", "sparse"]
FAILURE_KINDS = ("refused", "reset", "early_eof", "timeout", "bad_status", "other_error")


def reload_check(*args, cwd):
    """Runs tools/reload-check --quick --json; returns (exit status, results)."""
    r = subprocess.run([str(RELOAD_CHECK), "--quick", "--json", *args], capture_output=True, text=True,
                       timeout=120, cwd=cwd)
    assert r.returncode in (0, 1), f"reload-check could not run ({r.returncode}):\n{r.stderr}"
    return r.returncode, json.loads(r.stdout), r.stderr


def test_reload_check_passes_smooth_reloads(smooth, tmp_path):
    reloads = 2  # per profile; each reload n deploys module version vn
    total = reloads * len(PROFILES)
    module = build_module("hello", tmp_path / "hello.so", "v0")
    for n in range(1, total + 1):  # built before the load, so the compiler does not compete with it
        build_module("hello", tmp_path / f"hello-v{n}.so", f"v{n}")
    srv = smooth.start(groups={"web": {"count": 4, "module": str(module)}})
    deploy = f"cp {tmp_path}/hello-v{{n}}.so {module}.new && mv -f {module}.new {module}"

    code, results, stderr = reload_check(
        "--url", f"http://127.0.0.1:{srv.port()}/", "--reload", f"{SERVER} -c {srv.conf} reload",
        "--deploy", deploy, "--version-text", "version v{n},", "--reloads", str(reloads), cwd=tmp_path)

    assert code == 0 and results["verdict"] == "PASS", f"reload-check failed:\n{json.dumps(results, indent=1)}\n{stderr}"
    assert [p["profile"] for p in results["profiles"]] == PROFILES
    n = 0
    for p in results["profiles"]:
        assert p["failed"] == 0 and not p["problems"], p
        for phase in ("steady", "under_reloads"):
            assert p[phase]["ok"] > 0 and p[phase]["failed"] == 0, (p["profile"], phase, p[phase])
        # Each reload brought its version, and the load saw it change.
        assert [r["n"] for r in p["reloads"]] == list(range(n + 1, n + reloads + 1))
        assert all(r["ok"] and r["completed"] and r["done_ms"] >= r["new_version_ms"] for r in p["reloads"]), \
            p["reloads"]
        assert p["reloads_took_effect"] and p["p99_ms"]["reloads"] and p["reloading"]["rps"], p
        seen = p["under_reloads"]["versions_seen"]
        assert n in seen and n + reloads in seen, f"{p['profile']}: versions seen under reloads: {seen}"
        n += reloads
    workers = srv.workers()
    assert all(w["generation"] == total and w["state"] == "ready" for w in workers), workers
    assert b"version v%d," % total in srv.get()[2]


def test_reload_check_fails_a_restart(smooth, tmp_path):
    # A restart stops every worker and closes the listener before the new master
    # opens it again: connections in that gap are refused, those open are cut.
    # (A stop drops new SYNs while it runs, and clients send them again a
    # second later, so a quick restart can slip through unseen: the pause
    # between the stop and the start makes the gap one no client can miss.)
    srv = smooth.start(groups={"web": {"count": 2}})
    restart = f"{SERVER} -c {srv.conf} stop && sleep 1.5 && {SERVER} -c {srv.conf} start -d"

    code, results, stderr = reload_check("--url", f"http://127.0.0.1:{srv.port()}/", "--reload", restart,
                                         "--reloads", "1", "--steady", "1", cwd=srv.dir)

    assert code == 1 and results["verdict"] == "FAIL", f"a restart passed:\n{json.dumps(results, indent=1)}\n{stderr}"
    assert [p["profile"] for p in results["profiles"]] == PROFILES, "every profile ran: the server came back"
    assert all(r["ok"] for p in results["profiles"] for r in p["reloads"]), "each restart command succeeded"
    short = results["profiles"][0]
    assert short["verdict"] == "FAIL"
    assert short["failed_by_kind"]["refused"] + short["failed_by_kind"]["reset"] > 0, short
    # The failures came with the restart, not before it.
    for p in results["profiles"]:
        assert p["steady"]["failed"] == 0, (p["profile"], p["steady"])
        assert p["failed"] == sum(p["failed_by_kind"][k] for k in FAILURE_KINDS)
