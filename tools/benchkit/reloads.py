"""reloads: load while a server reloads back to back (the bench's reload part).

smooth gets a new build of modules/hello.cpp (version vNNN) before each
`./server reload`, which waits until every worker is replaced and says in how
many ms ("replaced in X ms"). nginx gets its config rewritten with the new
version before each `nginx -s reload`, which only signals the master, so the
loop then polls until a fresh connection is answered by the new version ("new
version after"); that is also when its next reload starts. Every version is
compiled before any load runs, so the compiler does not compete with the
servers; installing one is an os.replace of its build over the module path.
"""

import os
import re
import signal
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from . import report as R
from .load import loadgen_argv, parse_loadgen
from .procs import PROCS, CouldNotRun, run

# "hello from module hello version v001, pid 42" and "hello from nginx server
# version v001, pid 42": the first 36 bytes end with the version, so loadgen's
# body tally counts versions rather than pids.
TALLY_PREFIX = 36
VERSION_RE = re.compile(r"version (v\d+)")


def version_name(n):
    return "v%03d" % n


def build_versions(root, tmp, count):
    """Compiles modules/hello.cpp as v000 .. v(count-1); {name: path}."""
    out_dir = os.path.join(tmp, "builds")
    os.makedirs(out_dir)
    src = os.path.join(root, "modules", "hello.cpp")

    def one(n):
        v = version_name(n)
        path = os.path.join(out_dir, "hello-%s.so" % v)
        r = run(["g++", "-std=c++20", "-O2", "-fPIC", "-shared", "-I" + os.path.join(root, "include"),
                 '-DHELLO_VERSION="%s"' % v, "-o", path, src], timeout=300)
        if r.returncode != 0:
            raise CouldNotRun("compiling %s (%s) failed:\n%s" % (src, v, r.stderr[-2000:]))
        return v, path

    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as ex:
        return dict(ex.map(one, range(count)))


class Versions:
    """The versions a server reloads to, in turn: never the one it runs."""

    def __init__(self, count):
        self.names = [version_name(n) for n in range(count)]
        self.next_index = {}  # server name -> index of its next version

    def first(self):
        return self.names[0]

    def next(self, server):
        i = self.next_index.get(server, 1)
        self.next_index[server] = i + 1
        return self.names[i % len(self.names)]


def reload_phase(server, versions, loadgen, load_kw, tmp, count, lead_s=0.25):
    """Runs loadgen (load_kw) while `server` reloads back to back, `count`
    times. The load starts lead_s before the first reload and stops after the
    last one has finished."""
    stop_file = os.path.join(tmp, "stop-%s-%d" % (server.name, time.monotonic_ns()))
    argv = loadgen_argv(loadgen, server.port, duration=3600, stop_file=stop_file, **load_kw)
    p = PROCS.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    records = []
    try:
        time.sleep(lead_s)
        while p.poll() is None and len(records) < count:
            records.append(server.reload(versions.next(server.name)))
        time.sleep(0.1)  # the last new worker's first requests
    finally:
        with open(stop_file, "w"):
            pass
    out, err = p.communicate(timeout=120)
    rep = parse_loadgen(out, err, p.returncode)
    seen = set()
    for body in (rep.get("bodies") or {}):
        m = VERSION_RE.search(body)
        if m:
            seen.add(m.group(1))
    rep["versions_seen"] = len(seen)
    rep["reloads"] = reload_summary(server, records, missing=count - len(records))
    rep.pop("bodies", None)
    return rep


def reload_summary(server, records, missing=0):
    """The reloads of a run, from server.reload()'s (ok, figure, wall_ms, output)
    each; `missing`: reloads that were due and never ran (counted failed)."""
    failed = [r for r in records if not r[0]]
    key = "replaced_ms" if server.name == "smooth" else "new_version_after_ms"
    out = {"count": len(records), "failed": len(failed) + missing,
           "command_ms": [round(r[2], 1) for r in records],
           key: [round(r[1], 1) for r in records if r[1] is not None]}
    if failed:
        out["first_failure_output"] = failed[0][3].strip()[-2000:]
    return out


# A turn's p99 is taken from at least this many requests (its top 1% is 10 or more).
MIN_TURN_REQUESTS = 1000


def alternating_phases(server, versions, loadgen, load_kw, tmp, pairs, phase_s=0.5, settle_s=0.2, action=None):
    """One loadgen run (--phases) in which `server` is steady (a turn of phase
    a) and then reloads back to back (a turn of phase b), `pairs` times. A b
    turn runs from its first reload's start to settle_s after the last reload
    that began within phase_s returned, so the reloads' aftermath counts
    against them; the a turn before it lasts as long as the b turn before that
    (the first, phase_s + settle_s), so the two sides of a pair have the same
    length and the same moment of the machine.

    Returns loadgen's report with the reloads, as reload_phase does, and:
    turn_pairs_p99_ms, the (a, b) p99 of each pair; p99_b_over_a, the median
    over the pairs of b / a (one stall of the machine spoils one pair, not the
    round); p99_a_ms / p99_b_ms / p99_b_over_a_pooled, over all the a and all
    the b requests.

    action: what phase b does back to back instead of a reload (tools/benchkit/reload-cost
    runs the command alone, or nothing); it returns what server.reload does."""
    act = action or (lambda: server.reload(versions.next(server.name)))
    stop_file = os.path.join(tmp, "stop-%s-%d" % (server.name, time.monotonic_ns()))
    argv = loadgen_argv(loadgen, server.port, duration=3600, stop_file=stop_file, phases=True, **load_kw)
    p = PROCS.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    records = []
    last_b = phase_s + settle_s
    try:
        for _ in range(pairs):
            time.sleep(last_b)  # phase a: steady (loadgen has its SIGUSR1 handler long before)
            if p.poll() is not None:
                break
            p.send_signal(signal.SIGUSR1)  # phase b: reloads
            began = time.monotonic()
            while time.monotonic() < began + phase_s and p.poll() is None:
                records.append(act())
            time.sleep(settle_s)
            p.send_signal(signal.SIGUSR1)
            last_b = time.monotonic() - began
        time.sleep(0.1)
    finally:
        with open(stop_file, "w"):
            pass
    out, err = p.communicate(timeout=120)
    rep = parse_loadgen(out, err, p.returncode)
    phases = rep.get("phases") or {}
    a, b = (phases.get(k, {}).get("latency_ms", {}).get("p99") for k in ("a", "b"))
    rep["p99_a_ms"], rep["p99_b_ms"] = a, b
    rep["p99_b_over_a_pooled"] = b / a if a and b is not None else None
    turns = phases.get("turns") or []
    both = [(turns[i]["p99"], turns[i + 1]["p99"]) for i in range(0, len(turns) - 1, 2)
            if min(turns[i]["ok"], turns[i + 1]["ok"]) >= MIN_TURN_REQUESTS and turns[i]["p99"] > 0]
    rep["turn_pairs_p99_ms"] = both
    rep["p99_b_over_a"] = statistics.median(y / x for x, y in both) if both else None
    rep["reloads"] = reload_summary(server, records)
    rep.pop("bodies", None)
    return rep


def reload_rows(runs):
    """the reload part's rows, from runs["reload_short" / "reload_keep-alive"]:
    throughput, p99, failed requests and versions seen under reloads, then the
    reloads themselves (over both kinds of load)."""
    rows = []
    per_server = {}  # server -> {"figure": [...], "command": [...], "count": n, "failed": n}
    for kind in ("short", "keep-alive"):
        part = runs.get("reload_" + kind, {})
        sm, ng = part.get("smooth", []), part.get("nginx", [])
        if not sm:
            continue

        def fig(reps, key):
            return [r[key] for r in reps if r.get(key) is not None]

        title = "%s, under reloads" % kind
        rows.append(R.Row("rl_%s_rps" % kind, title + " req/s", R.fmt_int, fig(sm, "rps"), fig(ng, "rps")))
        rows.append(R.Row("rl_%s_p99" % kind, title + " p99 ms", R.fmt_ms, fig(sm, "p99_ms"), fig(ng, "p99_ms")))

        def failed(reps):
            if not reps:
                return "-"
            return "%s of %s" % (R.fmt_int(sum(r["errors"] for r in reps)), R.fmt_int(sum(r["requests"] for r in reps)))

        def seen(reps):
            if not reps:
                return "-"
            return "%d of %d" % (sum(r["versions_seen"] for r in reps), sum(r["reloads"]["count"] + 1 for r in reps))

        smooth_failed = sum(r["errors"] for r in sm)
        rows.append(R.Row("rl_%s_failed" % kind, title + " failed", R.fmt_int, cells=(failed(sm), failed(ng), ""),
                          target=R.at_most(0, "0 (smooth)"), fixed_verdict=R.PASS if smooth_failed == 0 else R.FAIL))
        rows.append(R.Row("rl_%s_versions" % kind, title + " versions seen", R.fmt_int,
                          cells=(seen(sm), seen(ng), "")))
        for name, reps in (("smooth", sm), ("nginx", ng)):
            acc = per_server.setdefault(name, {"figure": [], "command": [], "count": 0, "failed": 0})
            key = "replaced_ms" if name == "smooth" else "new_version_after_ms"
            for r in reps:
                acc["figure"] += r["reloads"][key]
                acc["command"] += r["reloads"]["command_ms"]
                acc["count"] += r["reloads"]["count"]
                acc["failed"] += r["reloads"]["failed"]
    if not per_server:
        return rows
    sm, ng = per_server.get("smooth"), per_server.get("nginx")
    rows.append(R.Row("rl_new", "reload: replaced / new version after, ms", R.fmt_ms, cells=(
        R.three(sm["figure"]), R.three(ng["figure"]) if ng else "-", ""), note="min / median / max"))
    rows.append(R.Row("rl_cmd", "reload: command, ms", R.fmt_ms, cells=(
        R.three(sm["command"]), R.three(ng["command"]) if ng else "-", ""), note="min / median / max"))
    rows.append(R.Row("rl_failed", "reload: commands failed", R.fmt_int, cells=(
        "%d of %d" % (sm["failed"], sm["count"]), "%d of %d" % (ng["failed"], ng["count"]) if ng else "-", ""),
        target=R.at_most(0, "0 (smooth)"), fixed_verdict=R.PASS if sm["failed"] == 0 else R.FAIL))
    return rows
