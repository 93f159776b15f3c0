"""method: the lines under the table that say how each figure was taken.

They are written from what the run recorded (sizes, counts, rates), not from
constants, so that they stay true when an option changes the run.
"""

import statistics

from . import report as R
from .servers import KEEPALIVE_REQUESTS


def _fmt_bytes_each(runs, part, key="bytes_read_per_request"):
    check = runs.get(part, {})
    return ", ".join("%s %s" % (name, R.fmt_int(check[name][key])) for name in ("nginx", "smooth") if name in check)


def method_lines(bench, meta, rows):
    s, runs = bench.s, bench.runs
    load = meta["load_avg"]
    end = meta.get("load_avg_end", load)
    lines = [
        "",
        "machine: %d cores (%s), Linux %s; load average %.1f at the start, %.1f at the end (shared with other work)"
        % (meta["cores"], meta["cpu"], meta["kernel"], load[0], end[0]),
        "versions: %s; %s; %s; smooth %s" % (meta["nginx"], meta["wrk"], meta["strace"], meta.get("smooth", "?")),
        "method:",
        "- rounds: %d per row, interleaved (smooth, nginx, smooth, nginx...), %g s of load each; a cell is the median "
        "(min-max) of the rounds, smooth/nginx the median (min-max) of the per-round ratios" % (s.rounds, s.duration),
        "- verdict, on each round (pair): PASS if every round meets the target, FAIL if none does, "
        "within noise if some do (the rounds' spread overlaps the target)",
    ]
    sizes = runs.get("response_bytes")
    body = runs.get("hello_body")
    if sizes and body:
        lines.append("- servers: %d workers each (nginx worker_processes %d), 127.0.0.1; a GET gets the same "
                     "%d-byte body "
                     "(%r, nginx: \"nginx server\" for \"module hello\"), whole responses of %s bytes; access_log off; "
                     "keep-alive timeout 60 s, %d requests per connection (both servers' default); RLIMIT_NOFILE %d%s"
                     % (bench.workers, bench.workers, len(body), body.strip(),
                        " / ".join("%s %d" % kv for kv in sizes.items()), KEEPALIVE_REQUESTS,
                        bench.nofile, " (nginx: worker_rlimit_nofile %(worker_rlimit_nofile)d, worker_connections "
                        "%(worker_connections)d)" % runs["nginx_conf"] if "nginx_conf" in runs else ""))
    lines += [
        "- CPU us/req: utime+stime of the workers (/proc/PID/stat) over the run, divided by the requests it "
        "completed; not the master, not the client",
        "- syscalls/req: strace -c -f -p each worker (not the master), attached before the first and detached 0.2 s "
        "after the last of exactly N requests (short: N=%s, keep-alive: N=%s over 50 connections, their setup and "
        "close included); every call counted (epoll_wait, accept4...), total / N" % (R.fmt_int(s.n_short),
                                                                                   R.fmt_int(s.n_keepalive)),
        "- short: tests/support/loadgen -c 50, a new connection per request (Connection: close); keep-alive: wrk -t2 -c50",
    ]
    if "pinned" in runs:
        lines.append("- 1 worker pinned: worker_processes 1 / count = 1, the worker pinned to core 0 "
                     "(sched_setaffinity, as taskset -p), wrk -t1 -c50 under taskset -c 1")
    if "accesslog" in runs:
        sizes = runs.get("access_line_bytes", {})
        lines.append("- access log on: keep-alive as above, each server logging every request to a file, buffered "
                     "64 KiB and written at least once a second; smooth: access_log = PATH; nginx: access_log PATH "
                     "buffer=64k flush=1s with a log_format of smooth's fields ($time_iso8601 $remote_addr:$remote_port "
                     "\"$request\" $status $body_bytes_sent $request_time $pid \"version\"); bytes a line: %s"
                     % (", ".join("%s %d" % kv for kv in sorted(sizes.items())) or "?"))
    if "body" in runs:
        lines.append("- 1 MiB POST: tests/support/loadgen -k -c 50 --body-size 1048576; smooth: the hello module (the server "
                     "reads the body, the module ignores it); nginx: client_max_body_size 2m; client_body_buffer_size "
                     "2m; return 200: it discards the body by reading it (strace, bytes read per request: %s)"
                     % _fmt_bytes_each(runs, "body_read_check"))
    if "echo" in runs:
        lines.append("- echo: tests/support/loadgen -k -c 50 --body-size 1048576, the first 16 bytes of every answer checked; "
                     "smooth: its builtin echo module sends the body back; floor: tools/benchkit/echo_floor, %d workers on one "
                     "listening socket, each an epoll loop that reads a request into one buffer per connection and "
                     "writevs the same bytes back under a minimal head: the two copies through the kernel (socket to "
                     "user, user to socket) and little else, no HTTP beyond Content-Length; interleaved smooth, floor, "
                     "smooth...; in the echo rows the nginx column is the floor and smooth/nginx is smooth/floor"
                     % bench.workers)
    if "latency_rate" in runs:
        counts = ["%s %s" % (srv, "/".join(str(r["reloads"]["count"]) for r in reps))
                  for srv, reps in runs.get("latency_reloads", {}).items()]
        retried = {part: sum(r.get("retried", 0) for srv in runs.get(part, {}).values() for r in srv)
                   for part in ("latency", "latency_reloads")}
        late = [r["rate"]["late"] / r["requests"] for srv in runs.get("latency", {}).values() for r in srv
                if r.get("rate") and r["requests"]]
        where = ("one client thread (loadgen --threads 1) and the bench itself pinned to core 1, the servers "
                 "(master, workers and what they fork) and their reload commands (taskset -c 0) to core 0" if runs.get("latency_split") else "one core: no split")
        lines.append("- latency: tests/support/loadgen -k -c 50 -R %s --retry, open loop (a request's latency counts from when "
                     "it was due); R = %d%% of the lower keep-alive req/s; %s; --retry: a request that failed on a "
                     "reused connection before any byte of its response went again on a new one, as browsers do (%d "
                     "steady, %d in the runs with reloads)" % (R.fmt_int(runs["latency_rate"]),
                                                               round(100 * runs["latency_fraction"]), where,
                                                               retried["latency"], retried["latency_reloads"]))
        lines.append("  reloading / steady: one run of the same load (loadgen --phases) in pairs of turns: steady, "
                     "then reloading back to back for 0.5 s (to 0.2 s after the last reload returned; at least one), "
                     "each steady turn as long as the reloading turn before it; %d pairs; each request counts in the "
                     "turn it was due in; a round's figure is the median over its pairs of p99 reloading / p99 "
                     "steady (one stall of the machine spoils a pair, not the round; the pooled ratio is in --json); "
                     "reloads in the rounds: %s" % (s.turn_pairs, "; ".join(counts) or "none"))
        if late:
            lines.append("  %.1f%% of the steady requests went out over 1 ms after they were due (median of the "
                         "rounds, %.1f%%-%.1f%%; no connection free, or the client itself late): on a busy "
                         "machine the tail includes the scheduler's noise"
                         % (100 * statistics.median(late), 100 * min(late), 100 * max(late)))
    if "reload_short" in runs:
        lines.append("- reloads: loadgen -c 50 (short, then -k) while each server reloads %d "
                     "times a round back to back; smooth: a new build of the module each time, \"replaced in X ms\"; "
                     "nginx: a new return text, -s reload, then until a new connection gets it" % s.reloads)
    if "memory" in runs:
        mem = runs["memory"]["smooth"][0]
        lines.append("- memory: a fresh server per round, warmed with %s keep-alive requests; sum of the workers' Rss "
                     "(/proc/PID/smaps_rollup) before, and with %s idle keep-alive connections each served one GET "
                     "(held: the workers' socket fds rose by as many); growth / %s; after: once the workers' socket "
                     "fds are back to before, plus 0.5 s, Rss after / before; user-space memory only (the kernel's "
                     "socket buffers are not in Rss)" % (R.fmt_int(s.warm_requests), R.fmt_int(mem["connections"]),
                                                         R.fmt_int(mem["connections"])))
    if "nginx_slots" in runs:
        sl = runs["nginx_slots"]
        lines.append("- nginx allocates its connection slots at start: its workers' Rss before was %.1f MB with "
                     "worker_connections %s, %.1f MB with 512: %s bytes a slot, in its before figure, not its growth"
                     % (sl["rss_before"] / 1e6, R.fmt_int(sl["worker_connections"]), sl["rss_before_512"] / 1e6,
                        R.fmt_int(sl["bytes_per_slot"])))
    lines += R.noise_lines(rows)
    lines.append("runtime: %.0f s (%.0f s measuring)" % (meta["runtime_s"], meta["measuring_s"]))
    return lines
