"""load: the two load generators, run to completion and read back as dicts.

tools/loadgen counts every request's outcome and has the options the rows need
(exact counts with -n, open loop with -R, POST bodies with --body-size); wrk is
the usual keep-alive client, leaner per request, for the keep-alive throughput.
Both only ever target 127.0.0.1.
"""

import json
import re
import subprocess

from .procs import PROCS, CouldNotRun


def loadgen_argv(loadgen, port, *, clients, keepalive=False, duration=None, count=None, rate=None,
                 body_size=None, tally_prefix=None, stop_file=None, pin_cpu=None, retry=False, phases=False,
                 threads=None):
    argv = [loadgen, "-c", str(clients)]
    if threads is not None:
        argv += ["--threads", str(threads)]
    if duration is not None:
        argv += ["-d", "%g" % duration]
    if count is not None:
        argv += ["-n", str(count)]
    if keepalive:
        argv.append("-k")
    if rate is not None:
        argv += ["-R", "%.0f" % rate]
    if body_size is not None:
        argv += ["--body-size", str(body_size)]
    argv += ["--tally-prefix", str(tally_prefix)] if tally_prefix else ["--no-tally"]
    if stop_file:
        argv += ["--stop-file", stop_file]
    if retry:
        argv.append("--retry")
    if phases:
        argv.append("--phases")
    argv.append("http://127.0.0.1:%d/" % port)
    if pin_cpu is not None:
        argv = ["taskset", "-c", str(pin_cpu)] + argv
    return argv


def parse_loadgen(out, err, rc):
    if rc != 0:
        raise CouldNotRun("loadgen exited %d: %s" % (rc, (err or out).strip()[-500:]))
    try:
        rep = json.loads(out)
    except ValueError:
        raise CouldNotRun("loadgen printed no JSON report: %r" % (out[-300:],))
    lat = rep.get("latency_ms") or {}
    rep["p50_ms"], rep["p99_ms"], rep["p999_ms"] = lat.get("p50"), lat.get("p99"), lat.get("p999")
    return rep


def loadgen(loadgen_path, port, timeout=None, **kw):
    """Runs loadgen to its end; its report, with p50_ms/p99_ms/p999_ms added."""
    argv = loadgen_argv(loadgen_path, port, **kw)
    p = PROCS.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    limit = timeout or (kw.get("duration") or 0) + 60
    try:
        out, err = p.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise CouldNotRun("loadgen did not finish within %.0f s: %s" % (limit, " ".join(argv)))
    return parse_loadgen(out, err, p.returncode)


def _to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(port, duration, connections, threads, pin_cpu=None):
    """wrk -tT -cC -dD --latency; requests, rps, errors, p50_ms, p99_ms."""
    secs = max(1, int(round(duration)))
    argv = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % secs, "--latency", "http://127.0.0.1:%d/" % port]
    if pin_cpu is not None:
        argv = ["taskset", "-c", str(pin_cpu)] + argv
    p = PROCS.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=secs + 30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise CouldNotRun("wrk did not finish: " + " ".join(argv))
    if p.returncode != 0:
        raise CouldNotRun("wrk exited %d: %s" % (p.returncode, (err or out).strip()[-500:]))
    res = {"tool": "wrk"}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if not m or not n:
        raise CouldNotRun("cannot parse wrk output: %r" % out[-500:])
    res["rps"] = float(m.group(1))
    res["requests"] = int(n.group(1))
    for q, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % q, out, re.M)
        res[key] = _to_ms(*m.groups()) if m else None
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    res["errors"] = errors
    return res
