"""load: the load generators, run to completion and read back as dicts.

tests/support/loadgen counts every request's outcome and has the options the rows need
(exact counts with -n, open loop with -R, POST bodies with --body-size); wrk is
the usual keep-alive client, leaner per request, for the keep-alive throughput;
tests/support/wsload is the WebSocket client of the gateway rows (closed and open
loop, idle connections, broadcasts). All only ever target 127.0.0.1.
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


def _json_report(tool, out, err, rc):
    """A tool's JSON report, with p50_ms/p99_ms/p999_ms from its latency_ms."""
    if rc != 0:
        raise CouldNotRun("%s exited %d: %s" % (tool, rc, (err or out).strip()[-500:]))
    try:
        rep = json.loads(out)
    except ValueError:
        raise CouldNotRun("%s printed no JSON report: %r" % (tool, out[-300:]))
    lat = rep.get("latency_ms") or {}
    rep["p50_ms"], rep["p99_ms"], rep["p999_ms"] = lat.get("p50"), lat.get("p99"), lat.get("p999")
    return rep


def _run_report(tool, argv, limit):
    """Runs argv (loadgen or wsload) to its end; its report."""
    p = PROCS.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise CouldNotRun("%s did not finish within %.0f s: %s" % (tool, limit, " ".join(argv)))
    return _json_report(tool, out, err, p.returncode)


def parse_loadgen(out, err, rc):
    return _json_report("loadgen", out, err, rc)


def loadgen(loadgen_path, port, timeout=None, **kw):
    """Runs loadgen to its end; its report, with p50_ms/p99_ms/p999_ms added."""
    return _run_report("loadgen", loadgen_argv(loadgen_path, port, **kw), timeout or (kw.get("duration") or 0) + 60)


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


# ---------------------------------------------------------------- WebSocket

def wsload_argv(wsload_path, port, path="/", *, mode="closed", clients, duration=None, count=None, rate=None,
                threads=None, hello=False, ready_file=None, stop_file=None, broadcasts=None, cpu_pids=None,
                timeout_ms=None, pin_cpu=None, reconnects=None, goodbye=False, retry=False, phases=False):
    """tests/support/wsload's command line (see its header for the modes)."""
    argv = [wsload_path, "--mode", mode, "-c", str(clients)]
    if threads is not None:
        argv += ["--threads", str(threads)]
    if duration is not None:
        argv += ["-d", "%g" % duration]
    if count is not None:
        argv += ["-n", str(count)]
    if rate is not None:
        argv += ["-R", "%.0f" % rate]
    if timeout_ms is not None:
        argv += ["-t", str(timeout_ms)]
    if hello:
        argv.append("--hello")
    if reconnects is not None:
        argv += ["--reconnects", str(reconnects)]
    if goodbye:
        argv.append("--goodbye")
    if retry:
        argv.append("--retry")
    if phases:
        argv.append("--phases")
    if ready_file:
        argv += ["--ready-file", ready_file]
    if stop_file:
        argv += ["--stop-file", stop_file]
    if broadcasts is not None:
        argv += ["--broadcasts", str(broadcasts)]
    if cpu_pids:
        argv += ["--cpu-pids", ",".join(str(p) for p in cpu_pids)]
    argv.append("ws://127.0.0.1:%d%s" % (port, path))
    if pin_cpu is not None:
        argv = ["taskset", "-c", str(pin_cpu)] + argv
    return argv


def parse_wsload(out, err, rc):
    return _json_report("wsload", out, err, rc)


def wsload(wsload_path, port, path="/", timeout=None, **kw):
    """Runs wsload to its end; its report, with p50_ms/p99_ms/p999_ms added."""
    return _run_report("wsload", wsload_argv(wsload_path, port, path, **kw),
                       timeout or (kw.get("duration") or 0) + 120)
