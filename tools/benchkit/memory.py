"""memory: what idle keep-alive connections cost the workers, and whether it comes back.

Each round starts a fresh server (warmed with some load), takes the sum of its
workers' Rss, opens the idle connections (idle.py: each served one GET, then
left open), checks that the workers hold them (their socket fds rose by as
many), takes the Rss again, closes them all, waits until the workers' socket
fds are back to before (bounded), and takes the Rss a third time.
"""

import statistics
import time

from . import report as R
from .idle import IdleConnections
from .procs import CouldNotRun, log, rss_bytes, socket_fds
from .servers import Nginx, Smooth


def part_memory(bench):
    n = bench.s.idle_conns
    names = ["smooth"] + (["nginx"] if bench.have_nginx else [])
    for i in range(bench.s.rounds):
        for name in names:
            log("%-6s %d idle connections, round %d of %d (a fresh server)" % (name, n, i + 1, bench.s.rounds))
            if name == "smooth":
                srv = bench.start(Smooth(bench.server, bench.tmp, "mem%d" % i, bench.workers, bench.builds),
                                 bench.versions.first())
            else:
                srv = bench.start(Nginx(bench.tmp, "mem%d" % i, bench.workers, bench.nofile), bench.versions.first())
            try:
                bench.record("memory", name, idle_memory(bench, srv, n))
            finally:
                bench.stop(srv)
    if bench.have_nginx:
        nginx_slots(bench)
    bench.row("mem_conn", "memory per idle conn, bytes", R.fmt_int, "memory", "bytes_per_conn",
             R.both(R.at_most(1024, ""), R.ratio_at_most(1.0, ""), "<= 1,024 and <= nginx"))
    bench.row("mem_back", "memory after close / before", R.fmt_2, "memory", "after_over_before",
             R.at_most(1.2, "<= 1.20 (smooth)"))
    bench.rows["mem_back"].paired = False


def nginx_slots(bench):
    """nginx allocates (and touches) its connection slots for worker_connections
    at start: they are in its "before" figure, not in its growth. How much,
    from a worker_connections 512 nginx warmed the same way."""
    log("nginx  worker_connections 512, for the memory its connection slots take")
    small = bench.start(Nginx(bench.tmp, "mem-slots", bench.workers, bench.nofile, worker_connections=512),
                       bench.versions.first())
    try:
        bench.warm(small)
        time.sleep(0.3)
        small_rss = rss_bytes(small.worker_pids())
    finally:
        bench.stop(small)
    full = bench.runs["memory"]["nginx"]
    full_rss = statistics.median(r["rss_before"] for r in full)
    slots = full[0]["worker_connections"]
    bench.runs["nginx_slots"] = {"rss_before_512": small_rss, "rss_before": full_rss,
                                "worker_connections": slots,
                                "bytes_per_slot": (full_rss - small_rss) / (bench.workers * (slots - 512))}


def idle_memory(bench, srv, n):
    bench.warm(srv)
    time.sleep(0.3)
    pids = srv.worker_pids()
    socks0, before = socket_fds(pids), rss_bytes(pids)
    holder = IdleConnections(srv.port, n)
    try:
        holder.open_all()
        held_socks = socket_fds(pids)
        if held_socks < socks0 + n:
            raise CouldNotRun("%s holds %d sockets with %d idle connections open, expected %d"
                              % (srv.name, held_socks, n, socks0 + n))
        held = rss_bytes(pids)
        per_worker = [socket_fds([p]) for p in pids]
    finally:
        holder.close_all()
    t0 = time.monotonic()
    while socket_fds(pids) > socks0:  # the server has seen every close
        if time.monotonic() - t0 > 30:
            raise CouldNotRun("%s still holds %d sockets 30 s after the client closed them"
                              % (srv.name, socket_fds(pids) - socks0))
        time.sleep(0.05)
    closed_after = time.monotonic() - t0
    time.sleep(0.5)  # a periodic sweep may free what a close left
    after = rss_bytes(pids)
    if srv.worker_pids() != pids:
        raise CouldNotRun("%s's workers changed during the memory round" % srv.name)
    return {"connections": n, "rss_before": before, "rss_held": held, "rss_after": after,
            "bytes_per_conn": (held - before) / n, "after_over_before": after / before,
            "sockets_per_worker_held": per_worker, "closed_within_s": round(closed_after, 2),
            "worker_connections": getattr(srv, "worker_connections", None)}
