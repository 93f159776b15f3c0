"""parts: the bench's measurements, each a part that runs its rounds and makes its rows.

Bench holds what the parts share: the settings, the servers it started (so the
caller can stop them all on the way out), the raw figures of every round
(runs), the rows, and the problems seen. A part runs its rounds interleaved
(smooth, nginx, smooth, nginx...) through rounds(), records each round's raw
figures with record(), and turns them into rows. The memory part is in
memory.py. The echo part measures smooth against tools/benchkit/echo_floor instead of
nginx (a floor, not a competitor): its figures sit in the nginx column, marked.
"""

import contextlib
import os
import statistics
import time

from . import memory
from . import report as R
from .load import loadgen, wrk
from .probes import bytes_read, syscalls, worker_cpu
from .procs import CouldNotRun, children_of, http_get_body, http_response_size, log, pin, set_cpus
from .reloads import TALLY_PREFIX, alternating_phases, reload_phase, reload_rows
from .servers import NGINX, EchoFloor, Nginx, Smooth

@contextlib.contextmanager
def servers_on_core_0(servers, split=True):
    """For the block: the servers (their masters, workers, and whatever those
    fork from now on) and their reload commands (as an operator on the
    server's machine runs them) keep to core 0; this process, which drives the
    load and times the reloads, keeps to core 1 with the client. Every core
    again after."""
    if not split:
        yield
        return
    everywhere = os.sched_getaffinity(0)

    def each(cpus, command_cpus):
        for srv in servers:
            srv.command_cpus = command_cpus
            for pid in [srv.master] + children_of(srv.master):
                try:
                    set_cpus(pid, cpus)
                except OSError:
                    pass  # gone meanwhile (an old worker that just exited)

    each({0}, "0")
    os.sched_setaffinity(0, {1})
    try:
        yield
    finally:
        os.sched_setaffinity(0, everywhere)
        each(everywhere, None)


WORKERS = 2
CLIENTS = 50
BODY = 1 << 20
IDLE_CONNS = 10000
LOAD_FRACTION = 0.25  # the latency rows' load: this much of the keep-alive req/s
ECHO_TARGET = 0.80    # smooth's echo module: at least this much of tools/benchkit/echo_floor's req/s
ECHO_TALLY = 16       # the first bytes of each echoed body, tallied: the body loadgen sends starts with them
ECHO_BODY_PREFIX = "0123456789abcdef"


class Settings:
    def __init__(self, args):
        q = args.quick
        self.rounds = args.rounds or 3
        self.duration = args.duration or (1.0 if q else 5.0)
        # strace: requests, one per connection; requests over 50 connections
        # (enough that the connections' setup is ~0.015 a request). Under
        # strace -c both take about a second, so --quick keeps them.
        self.n_short = 5000
        self.n_keepalive = 20000
        self.reloads = args.reloads or (2 if q else 7)  # per reload phase (a round has 4)
        self.turn_pairs = 3 if q else 8  # latency: pairs of turns, steady then reloading, a round
        self.idle_conns = 2000 if q else IDLE_CONNS
        self.warm_s = 0.25 if q else 0.5           # warming a server: short connections,
        self.warm_requests = 2000 if q else 5000   # then keep-alive requests
        self.warm_bodies = 200 if q else 500       # and for the echo part, 1 MiB POSTs


class Bench:
    def __init__(self, args, tmp, server, loadgen_path, echo_floor_path=None):
        self.args, self.tmp = args, tmp
        self.server, self.loadgen = server, loadgen_path  # ./server measured, tests/support/loadgen
        self.echo_floor = echo_floor_path                 # tools/benchkit/echo_floor, for the echo part
        self.s = Settings(args)
        self.runs = {}      # part -> server -> [raw figures of each round]
        self.rows = {}      # row key -> Row
        self.problems = []
        self.exit_code = 0
        self.workers = WORKERS
        self.servers = []   # every server started, for the finally
        self.main = None    # (smooth, nginx or None): the 2-worker pair
        self.versions = None
        self.builds = None
        self.have_nginx = not args.no_nginx and os.access(NGINX, os.X_OK)
        self.nofile = None
        self.runtime_s = 0.0
        self.part_s = {}    # part -> seconds it took

    # ------------------------------------------------------------ helpers

    def record(self, part, server, figures):
        self.runs.setdefault(part, {}).setdefault(server, []).append(figures)

    def figures(self, part, server, key):
        return [r[key] for r in self.runs.get(part, {}).get(server, []) if r.get(key) is not None]

    def row(self, key, label, fmt, part, field, target=None, paired=True):
        self.rows[key] = R.Row(key, label, fmt, self.figures(part, "smooth", field),
                               self.figures(part, "nginx", field), target, paired=paired)

    def start(self, server, *args):
        self.servers.append(server)
        server.start(*args)
        return server

    def stop(self, server):
        server.stop()
        self.servers.remove(server)

    def pair(self, label, workers):
        smooth = self.start(Smooth(self.server, self.tmp, label, workers, self.builds), self.versions.first())
        nginx = None
        if self.have_nginx:
            nginx = self.start(Nginx(self.tmp, label, workers, self.nofile), self.versions.first())
        if "response_bytes" not in self.runs:  # what a hello request gets, for the method lines
            self.runs["hello_body"] = http_get_body(smooth.port)
            self.runs["response_bytes"] = {srv.name: http_response_size(srv.port) for srv in (smooth, nginx) if srv}
            if nginx:
                self.runs["nginx_conf"] = {"worker_rlimit_nofile": nginx.nofile,
                                           "worker_connections": nginx.worker_connections}
        return smooth, nginx

    def rounds(self, steps):
        """Every round runs the steps [(server, fn, what)] in order, fn(server):
        smooth, nginx, smooth, nginx... (a step whose server is None is skipped)."""
        for i in range(self.s.rounds):
            for srv, step, what in steps:
                if srv is None:
                    continue
                log("%-6s %s, round %d of %d" % (srv.name, what, i + 1, self.s.rounds))
                step(srv)
                time.sleep(0.2)

    @staticmethod
    def alike(servers, fn, what):
        """The steps of a row where every server does the same."""
        return [(srv, fn, what) for srv in servers]

    @staticmethod
    def breakdown(rep):
        keys = ("bad_status", "refused", "reset", "early_eof", "timeout", "other_error")
        out = ", ".join("%s %d" % (k, rep[k]) for k in keys if rep.get(k))
        return out + (" %s" % rep["other_error_counts"] if rep.get("other_error_counts") else "")

    def check_errors(self, what, srv, rep):
        if rep.get("errors"):
            self.problems.append("%s: %s failed %d of %d requests (%s)" % (what, srv.name, rep["errors"],
                                                                           rep["requests"], self.breakdown(rep)))

    def warm(self, srv):
        loadgen(self.loadgen, srv.port, clients=CLIENTS, duration=self.s.warm_s)
        loadgen(self.loadgen, srv.port, clients=CLIENTS, keepalive=True, count=self.s.warm_requests)

    # ------------------------------------------------------------ parts

    def part(self, name):
        t0 = time.monotonic()
        getattr(self, "part_" + name)()
        self.part_s[name] = round(time.monotonic() - t0, 1)
        log("%s: %.1f s" % (name, self.part_s[name]))

    def part_keepalive(self):
        d = self.s.duration

        def one(srv):
            res, cpu = worker_cpu(srv.worker_pids(), lambda: wrk(srv.port, d, CLIENTS, 2))
            self.check_errors("keep-alive (wrk)", srv, res)
            self.record("keepalive", srv.name, dict(res, cpu_s=cpu, cpu_us_per_req=cpu * 1e6 / res["requests"]))

        self.rounds(self.alike(self.main, one, "keep-alive, wrk -t2 -c%d, %gs" % (CLIENTS, d)))
        self.row("ka_rps", "keep-alive req/s", R.fmt_int, "keepalive", "rps",
                 R.ratio_at_least(1.0, ">= 1.00x nginx"))
        self.row("ka_cpu", "keep-alive CPU us/req", R.fmt_1, "keepalive", "cpu_us_per_req",
                 R.ratio_at_most(1.0, "<= nginx"))

    def part_short(self):
        d = self.s.duration

        def one(srv):
            res, cpu = worker_cpu(srv.worker_pids(),
                                  lambda: loadgen(self.loadgen, srv.port, clients=CLIENTS, duration=d))
            self.check_errors("short connections", srv, res)
            self.record("short", srv.name, dict(res, cpu_s=cpu, cpu_us_per_req=cpu * 1e6 / max(1, res["requests"])))

        self.rounds(self.alike(self.main, one, "short connections, loadgen -c %d, %gs" % (CLIENTS, d)))
        self.row("short_rps", "short conns req/s", R.fmt_int, "short", "rps",
                 R.ratio_at_least(1.05, ">= 1.05x nginx"))
        self.row("short_cpu", "short conns CPU us/req", R.fmt_1, "short", "cpu_us_per_req",
                 R.ratio_at_most(1.0, "<= nginx"))

    def part_syscalls(self):
        for kind, keepalive, n in (("short", False, self.s.n_short), ("keepalive", True, self.s.n_keepalive)):
            def one(srv, keepalive=keepalive, n=n, kind=kind):
                res, calls = syscalls(srv.worker_pids(), lambda: loadgen(self.loadgen, srv.port, clients=CLIENTS,
                                                                         keepalive=keepalive, count=n), self.tmp)
                self.check_errors("syscalls, " + kind, srv, res)
                per_req = {k: round(v / n, 3) for k, v in sorted(calls["by_name"].items(), key=lambda kv: -kv[1])}
                self.record("syscalls_" + kind, srv.name, {"requests": n, "ok": res["ok"], "calls": calls["total"],
                                                           "per_request": calls["total"] / n, "by_name": per_req})

            self.rounds(self.alike(self.main, one, "syscalls, %d %s requests under strace -c" % (n, kind)))
        self.row("short_sys", "short conns syscalls/req", R.fmt_2, "syscalls_short", "per_request",
                 R.ratio_at_most(1.0, "<= nginx"))
        self.row("ka_sys", "keep-alive syscalls/req", R.fmt_2, "syscalls_keepalive", "per_request",
                 R.at_most(2.1, "<= 2.1"))

    def part_body(self):
        d = self.s.duration
        # Does each server take the whole body from its socket? (20 requests, strace)
        for srv in self.main:
            if srv is None:
                continue
            res, nbytes = bytes_read(srv.worker_pids(), lambda srv=srv: loadgen(
                self.loadgen, srv.port, clients=2, keepalive=True, count=20, body_size=BODY), self.tmp)
            each = nbytes / max(1, res["ok"])
            self.runs.setdefault("body_read_check", {})[srv.name] = {"requests": res["ok"],
                                                                    "bytes_read_per_request": each}
            log("%-6s reads %.0f bytes per 1 MiB POST (strace)" % (srv.name, each))
            if each < BODY:
                self.problems.append("%s read %.0f bytes per 1 MiB request: not the whole body" % (srv.name, each))

        def one(srv):
            res, cpu = worker_cpu(srv.worker_pids(), lambda: loadgen(self.loadgen, srv.port, clients=CLIENTS,
                                                                     keepalive=True, duration=d, body_size=BODY))
            self.check_errors("1 MiB bodies", srv, res)
            self.record("body", srv.name, dict(res, cpu_s=cpu, cpu_us_per_req=cpu * 1e6 / max(1, res["requests"])))

        self.rounds(self.alike(self.main, one, "1 MiB POST bodies, keep-alive, %gs" % d))
        self.row("body_rps", "1 MiB POST req/s (hello)", R.fmt_int, "body", "rps",
                 R.ratio_at_least(1.0, ">= 1.00x nginx"))

    def keepalive_capacity(self):
        caps = [statistics.median(self.figures("keepalive", srv.name, "rps")) for srv in self.main
                if srv and self.figures("keepalive", srv.name, "rps")]
        if len(caps) < len([s for s in self.main if s]):
            log("measuring the keep-alive capacity first (no keepalive part ran)")
            caps = [wrk(srv.port, 2, CLIENTS, 2)["rps"] for srv in self.main if srv]
        return min(caps)

    def part_latency(self):
        d = self.s.duration
        rate = round(LOAD_FRACTION * self.keepalive_capacity(), -2)
        smooth, nginx = self.main
        # One client thread on core 1, the servers on core 0: four client
        # threads at this rate took more than a core of the two, and the
        # servers' tail was then the client's own scheduling. --retry: a
        # request that fails on a reused connection before any byte of its
        # response is tried again on a new one, as browsers do; an open-loop
        # pool leaves connections idle, and a draining worker may close one
        # just as it is reused (the README's "sparse" case).
        split = (os.cpu_count() or 1) >= 2
        load = dict(clients=CLIENTS, keepalive=True, rate=rate, retry=True, threads=1, pin_cpu=1 if split else None)
        self.runs["latency_rate"] = rate
        self.runs["latency_fraction"] = LOAD_FRACTION
        self.runs["latency_split"] = split

        def steady(srv):
            rep = loadgen(self.loadgen, srv.port, duration=d, **load)
            self.check_errors("latency", srv, rep)
            self.record("latency", srv.name, rep)

        # Steady and reloading in turn within one run: the two p99s of a pair
        # share the machine's moment, which two runs do not.
        def alternating(srv):
            rep = alternating_phases(srv, self.versions, self.loadgen, load, self.tmp, pairs=self.s.turn_pairs)
            srv.settle()
            self.check_reloads("latency under reloads", srv, rep)
            self.record("latency_reloads", srv.name, rep)

        what = "open loop at %.0f req/s, %gs" % (rate, d)
        turns = "open loop at %.0f req/s, steady and reloading in turn, %d pairs" % (rate, self.s.turn_pairs)
        with servers_on_core_0([srv for srv in self.main if srv], split):
            self.rounds([(smooth, steady, what), (nginx, steady, what), (smooth, alternating, turns),
                         (nginx, alternating, turns)])
        lbl = "%s req/s" % R.fmt_int(rate)
        self.row("lat_p99", "p99 ms at " + lbl, R.fmt_ms, "latency", "p99_ms", R.ratio_at_most(1.0, "<= nginx"))
        self.row("lat_p999", "p99.9 ms at " + lbl, R.fmt_ms, "latency", "p999_ms", R.ratio_at_most(1.0, "<= nginx"))
        # Each server's own ratio, side by side (not divided by each other).
        self.row("lat_reload", "p99 reloading / steady, in turn", R.fmt_2, "latency_reloads", "p99_b_over_a",
                 R.at_most(1.2, "<= 1.20 (smooth)"), paired=False)

    def check_reloads(self, what, srv, rep):
        if srv.name != "smooth":
            if rep["reloads"]["failed"]:
                self.problems.append("%s: %d nginx reloads failed: %s" % (what, rep["reloads"]["failed"],
                                                                       rep["reloads"].get("first_failure_output")))
            return
        if rep["errors"]:
            self.problems.append("%s: smooth failed %d of %d requests under reload (%s)" % (
                what, rep["errors"], rep["requests"], self.breakdown(rep)))
            self.exit_code = 1
        if rep["reloads"]["failed"]:
            self.problems.append("%s: %d smooth reload commands failed; the first said:\n%s" % (
                what, rep["reloads"]["failed"], rep["reloads"].get("first_failure_output", "")))
            self.exit_code = 1

    def part_reload(self):
        k = self.s.reloads
        for kind, keepalive in (("short", False), ("keep-alive", True)):
            load = dict(clients=CLIENTS, keepalive=keepalive, tally_prefix=TALLY_PREFIX)

            def one(srv, kind=kind, load=load):
                rep = reload_phase(srv, self.versions, self.loadgen, load, self.tmp, count=k)
                srv.settle()
                self.check_reloads(kind + " under reloads", srv, rep)
                self.record("reload_" + kind, srv.name, rep)

            self.rounds(self.alike(self.main, one, "%s load through %d reloads" % (kind, k)))
        for row in reload_rows(self.runs):
            self.rows[row.key] = row

    def part_echo(self):
        """smooth's echo module against tools/benchkit/echo_floor (the least an echo can
        do: read the body, write it back), both with self.workers workers,
        interleaved smooth, floor, smooth, floor... under the same load."""
        d = self.s.duration
        echo = self.start(Smooth(self.server, self.tmp, "echo", self.workers, module="builtin:echo"))
        floor = self.start(EchoFloor(self.echo_floor, self.tmp, "echo", self.workers))
        load = dict(clients=CLIENTS, keepalive=True, body_size=BODY)
        for srv in (echo, floor):
            self.warm(srv)
            loadgen(self.loadgen, srv.port, count=self.s.warm_bodies, **load)

        def one(srv):
            res, cpu = worker_cpu(srv.worker_pids(), lambda: loadgen(self.loadgen, srv.port, duration=d,
                                                                     tally_prefix=ECHO_TALLY, **load))
            self.check_errors("echo", srv, res)
            if set(res.get("bodies", {})) - {ECHO_BODY_PREFIX}:
                self.problems.append("echo: %s sent unexpected bodies %s" % (srv.name, list(res["bodies"])[:3]))
            self.record("echo", srv.name, dict(res, cpu_s=cpu, cpu_us_per_req=cpu * 1e6 / max(1, res["requests"])))

        self.rounds(self.alike((echo, floor), one, "echo, 1 MiB POST bodies, keep-alive, %gs" % d))
        self.stop(floor)
        self.stop(echo)
        # The floor's figures go where nginx's go in the other rows; the cell
        # says "floor" so that the nginx column's header does not mislead.
        for key, label, field, fmt, target in (
                ("echo", "1 MiB echo req/s (vs copy-twice floor)", "rps", R.fmt_int,
                 R.ratio_at_least(ECHO_TARGET, ">= %.2fx floor" % ECHO_TARGET)),
                ("echo_cpu", "1 MiB echo CPU us/req (vs floor)", "cpu_us_per_req", R.fmt_int, None)):
            ours, floors = self.figures("echo", "smooth", field), self.figures("echo", "floor", field)
            row = R.Row(key, label, fmt, ours, floors, target, note="for information")
            row.cells = (R.spread(ours, fmt), "floor " + R.spread(floors, fmt), R.spread(row.ratios(), R.fmt_2))
            self.rows[key] = row

    def part_pinned(self):
        if (os.cpu_count() or 1) < 2:
            self.problems.append("pinned: one core only; no 1-worker row")
            return
        d = self.s.duration
        smooth, nginx = self.pair("pinned", 1)
        for srv in (smooth, nginx):
            if srv:
                for pid in srv.worker_pids():
                    pin(pid, 0)
                    if os.sched_getaffinity(pid) != {0}:
                        raise CouldNotRun("could not pin %s's worker %d to core 0" % (srv.name, pid))
                self.warm(srv)

        def one(srv):
            res, cpu = worker_cpu(srv.worker_pids(), lambda: wrk(srv.port, d, CLIENTS, 1, pin_cpu=1))
            self.check_errors("pinned keep-alive", srv, res)
            self.record("pinned", srv.name, dict(res, cpu_s=cpu, cpu_us_per_req=cpu * 1e6 / res["requests"]))

        self.rounds(self.alike((smooth, nginx), one, "1 worker on core 0, wrk -t1 -c%d on core 1, %gs" % (CLIENTS, d)))
        for srv in (smooth, nginx):
            if srv:
                self.stop(srv)
        self.row("pin_rps", "keep-alive, 1 worker pinned req/s", R.fmt_int, "pinned", "rps",
                 R.ratio_at_least(1.0, ">= 1.00x nginx"))
        self.row("pin_cpu", "keep-alive, 1 worker pinned CPU us/req", R.fmt_1, "pinned", "cpu_us_per_req",
                 R.ratio_at_most(1.0, "<= nginx"))

    def part_accesslog(self):
        """Keep-alive with an access log on, both servers, lines of the same size."""
        d = self.s.duration
        logs = {}
        smooth = self.start(Smooth(self.server, self.tmp, "accesslog", self.workers, self.builds,
                                   access_log=os.path.join(self.tmp, "smooth-access.log")), self.versions.first())
        logs["smooth"] = smooth.access_log
        nginx = None
        if self.have_nginx:
            nginx = self.start(Nginx(self.tmp, "accesslog", self.workers, self.nofile,
                                     access_log=os.path.join(self.tmp, "nginx-access.log")), self.versions.first())
            logs["nginx"] = nginx.access_log
        for srv in (smooth, nginx):
            if srv:
                self.warm(srv)

        def one(srv):
            res, cpu = worker_cpu(srv.worker_pids(), lambda: wrk(srv.port, d, CLIENTS, 2))
            self.check_errors("keep-alive with an access log", srv, res)
            self.record("accesslog", srv.name, dict(res, cpu_s=cpu, cpu_us_per_req=cpu * 1e6 / res["requests"]))

        self.rounds(self.alike((smooth, nginx), one, "keep-alive with access log, wrk -t2 -c%d, %gs" % (CLIENTS, d)))
        for srv in (smooth, nginx):
            if srv:
                self.stop(srv)
        # What one line weighs in each, for the method lines.
        sizes = {}
        for name, path in logs.items():
            try:
                with open(path, "rb") as f:
                    lines = f.read().splitlines()
                sizes[name] = round(sum(map(len, lines)) / max(1, len(lines)) + 1)
            except OSError:
                pass
        self.runs["access_line_bytes"] = sizes
        self.row("log_rps", "keep-alive, access log on req/s", R.fmt_int, "accesslog", "rps",
                 R.ratio_at_least(1.0, ">= 1.00x nginx"))
        self.row("log_cpu", "keep-alive, access log on CPU us/req", R.fmt_1, "accesslog", "cpu_us_per_req",
                 R.ratio_at_most(1.0, "<= nginx"))

    def part_memory(self):
        memory.part_memory(self)
