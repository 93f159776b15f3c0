"""gateway: the WebSocket rows (issue 19): smooth's gateway path against
GatewayWorker, node's `ws` and tools/benchkit/ws_floor, side by side, one table.

The servers (ws_servers.py): smooth with a gateway worker in front of a
business worker (the chat module's "ping SEQ"), GatewayWorker on Workerman
(when the bench is given its directories), node with `ws` (a direct echo, one
process) and tools/benchkit/ws_floor (the machine's floor: one process, epoll, no hop).
The client is tests/support/wsload. Every row runs in rounds interleaved smooth,
GatewayWorker, node, floor, smooth...; a cell is the median (min-max) of the
rounds, a ratio the median of the per-round ratios, and a target is checked on
each round as the HTTP rows do (PASS, FAIL, within noise).

  throughput  wsload closed loop, 50 clients, D s: round trips/s; CPU of all
              the server's processes (utime+stime, /proc/PID/stat) / round trips
  syscalls    strace -c -f, one tracer per process of the server (the master
              left out, as in the HTTP rows), over exactly N round trips of 50
              clients (their handshakes included): total / N, and per process
  latency     wsload open loop at 25% of the lowest closed-loop rate, one
              client thread on core 1, the servers on core 0: p99, p99.9
  idle        a fresh server per round; 10,000 connections, each with one
              round trip, held idle: RSS growth of all the server's
              processes / 10,000 (and of the business worker alone), then
              closed: RSS after / before
  broadcast   on the same fresh server, 10,000 connected clients; one client
              sends "say ...", K times: the time until the last client has
              it, and the CPU of the gateway process(es) per broadcast
"""

import os
import statistics
import subprocess
import time

from . import report as R
from .parts import servers_on_core_0
from .probes import _Strace
from .procs import PROCS, CouldNotRun, cpu_seconds, log, rss_bytes, socket_fds
from .ws_servers import GatewayWorker, NodeWs, SmoothGateway, WsFloor, gateways_for
from .load import wsload, wsload_argv, parse_wsload

CLIENTS = 50
LOAD_FRACTION = 0.25
SYSCALL_TARGET = 2.5
MEM_TARGET = 1024
BUSINESS_MEM_TARGET = 64   # "nothing per client": under 64 bytes a connection (page noise)
ORDER = ("smooth", "gatewayworker", "node", "floor")
LABELS = {"smooth": "smooth", "gatewayworker": "GatewayWorker", "node": "node ws", "floor": "floor"}


class Settings:
    def __init__(self, s, quick):
        self.rounds = s.rounds
        self.duration = s.duration
        self.n_syscalls = 5000 if quick else 20000
        self.idle_conns = s.idle_conns
        self.broadcasts = 5 if quick else 10
        self.warm = 1000 if quick else 3000


# ---------------------------------------------------------------- rows

class Row:
    """A gateway row: per server, one figure per round. check(fig) gets one
    round's {server: figure} and says whether smooth met the target (None:
    nothing to check against in that round)."""

    def __init__(self, key, label, fmt, figures, target="", check=None, floor_ratio=True, note=""):
        self.key, self.label, self.fmt = key, label, fmt
        self.figures = figures  # server -> [per round]
        self.target, self.check, self.floor_ratio, self.note = target, check, floor_ratio, note

    def rounds(self):
        n = max((len(v) for v in self.figures.values()), default=0)
        return [{srv: v[i] for srv, v in self.figures.items() if i < len(v) and v[i] is not None} for i in range(n)]

    def ratios(self, other):
        return [r["smooth"] / r[other] for r in self.rounds() if "smooth" in r and r.get(other)]

    def verdict(self):
        if self.check is None or not self.figures.get("smooth"):
            return R.INFO
        results = [self.check(r) for r in self.rounds() if "smooth" in r]
        results = [x for x in results if x is not None]
        if not results:
            return "n/a"
        if all(results):
            return R.PASS
        if not any(results):
            return R.FAIL
        return R.NOISE

    def cells(self):
        out = [R.spread([v for v in self.figures.get(srv, []) if v is not None], self.fmt) for srv in ORDER]
        for other in ("gatewayworker", "node", "floor"):
            if other == "floor" and not self.floor_ratio:
                out.append("")
            else:
                rs = self.ratios(other)
                out.append(R.spread(rs, R.fmt_2) if rs else "")
        return out

    def as_json(self):
        return {"label": self.label, "figures": self.figures, "target": self.target, "verdict": self.verdict(),
                "ratios": {o: [round(x, 4) for x in self.ratios(o)] for o in ("gatewayworker", "node", "floor")}}


def table(rows):
    header = ["", "smooth", "GatewayWorker", "node ws", "floor", "smooth/GW", "smooth/node", "smooth/floor",
              "target", "verdict"]
    lines = [header] + [[r.label] + r.cells() + [r.target or r.note, r.verdict()] for r in rows]
    widths = [max(len(line[i]) for line in lines) + 2 for i in range(len(header))]
    return "\n".join("".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def _all(*conds):
    """A round meets the target if every comparison it can make holds; None
    if it can make none."""
    def check(r):
        got = [c(r) for c in conds]
        got = [g for g in got if g is not None]
        return all(got) if got else None
    return check


def _vs(other, op):
    def c(r):
        if "smooth" not in r or not r.get(other):
            return None
        return op(r["smooth"], r[other])
    return c


def _limit(x):
    return lambda r: r["smooth"] <= x if "smooth" in r else None


# ---------------------------------------------------------------- the part

class GatewayPart:
    def __init__(self, bench, gatewayworker=None, workerman=None, wsload_path=None, ws_floor=None, node_script=None,
                 module=None):
        self.b = bench
        self.s = Settings(bench.s, bench.args.quick)
        self.gw_dirs = (gatewayworker, workerman) if gatewayworker and workerman else None
        self.wsload, self.ws_floor, self.node_script, self.module = wsload_path, ws_floor, node_script, module
        self.runs = {}  # row part -> server -> [per round]
        self.extra = {}
        self.rows = []
        self.have_node = node_script is not None

    def record(self, part, server, figures):
        self.runs.setdefault(part, {}).setdefault(server, []).append(figures)

    def figures(self, part, field):
        return {srv: [r.get(field) for r in rounds] for srv, rounds in self.runs.get(part, {}).items()}

    def make(self, label, key):
        if key == "smooth":
            return SmoothGateway(self.b.server, self.b.tmp, label, self.module)
        if key == "gatewayworker":
            return GatewayWorker(self.gw_dirs[0], self.gw_dirs[1], self.b.tmp, label,
                                 gateways_for(self.s.idle_conns) if label.startswith("idle") else 1)
        if key == "node":
            return NodeWs(self.node_script, self.b.tmp, label)
        return WsFloor(self.ws_floor, self.b.tmp, label)

    def names(self):
        return [n for n in ORDER if (n != "gatewayworker" or self.gw_dirs) and (n != "node" or self.have_node)]

    def start(self, srv):
        self.b.servers.append(srv)
        srv.start()
        return srv

    def stop(self, srv):
        srv.stop()
        self.b.servers.remove(srv)

    def rounds(self, servers, fn, what):
        for i in range(self.s.rounds):
            for srv in servers:
                log("%-13s gateway: %s, round %d of %d" % (srv.name, what, i + 1, self.s.rounds))
                fn(srv)
                time.sleep(0.2)

    def load(self, srv, **kw):
        return wsload(self.wsload, srv.port, srv.path, **kw)

    def check(self, what, srv, rep):
        bad = rep.get("errors", 0)
        if bad:
            self.b.problems.append("gateway %s: %s: %d failures (%s)" % (
                what, srv.name, bad, ", ".join("%s %d" % (k, rep[k]) for k in
                                               ("closed_by_server", "refused", "reset", "handshake_failed",
                                                "timeout", "bad_answer", "other_error") if rep.get(k))))

    def run(self):
        if not self.gw_dirs:
            log("GatewayWorker: no --gatewayworker/--workerman directories given: its column is skipped")
        if not self.have_node:
            log("node ws: not installed (tools/benchkit/deps installs node and ws into tools/benchkit/node): skipped")
        main = [self.start(self.make("main", n)) for n in self.names()]
        try:
            for srv in main:
                self.load(srv, mode="closed", clients=CLIENTS, count=self.s.warm)
            self.throughput(main)
            self.syscalls(main)
            self.latency(main)
        finally:
            for srv in main:
                self.stop(srv)
        self.idle_and_broadcast()
        self.make_rows()

    # ------------------------------------------------------------ rows' runs

    def throughput(self, servers):
        d = self.s.duration

        def one(srv):
            roles = dict(srv.workers(), master=[srv.master]) if srv.workers().get("gateway") else srv.workers()
            before = {role: cpu_seconds(pids) for role, pids in roles.items()}
            rep = self.load(srv, mode="closed", clients=CLIENTS, duration=d)
            by_role = {role: cpu_seconds(pids) - before[role] for role, pids in roles.items()}
            cpu = sum(by_role.values())
            self.check("closed loop", srv, rep)
            ok = max(1, rep["ok"])
            self.record("throughput", srv.name, dict(rep, cpu_s=cpu, cpu_us=cpu * 1e6 / ok,
                                                     cpu_us_by_role={r: v * 1e6 / ok for r, v in by_role.items()}))

        self.rounds(servers, one, "closed loop, %d clients, %g s" % (CLIENTS, d))

    def syscalls(self, servers):
        n = self.s.n_syscalls

        def one(srv):
            roles = {pid: role for role, pids in srv.workers().items() for pid in pids}
            tracers = {pid: _Strace([pid], ["-c"], self.b.tmp) for pid in roles}
            texts = {}
            try:
                for t in tracers.values():
                    t.wait_attached()
                rep = self.load(srv, mode="closed", clients=CLIENTS, count=n)
                time.sleep(0.2)
            finally:
                for pid, t in tracers.items():
                    texts[pid] = t.detach()
            self.check("syscalls", srv, rep)
            per_role, total = {}, 0
            for pid, text in texts.items():
                by_name = _strace_counts(text)
                calls = sum(by_name.values())
                total += calls
                role = roles[pid]
                entry = per_role.setdefault(role, {"calls": 0, "by_name": {}})
                entry["calls"] += calls
                for k, v in by_name.items():
                    entry["by_name"][k] = entry["by_name"].get(k, 0) + v
            ok = max(1, rep["ok"])
            self.record("syscalls", srv.name, {
                "round_trips": rep["ok"], "calls": total, "per_rt": total / ok,
                "by_role": {role: {"per_rt": e["calls"] / ok,
                                   "by_name": {k: round(v / ok, 3) for k, v in
                                               sorted(e["by_name"].items(), key=lambda kv: -kv[1])}}
                            for role, e in per_role.items()}})

        self.rounds(servers, one, "syscalls, %d round trips under strace -c" % n)

    def latency(self, servers):
        rates = [statistics.median(self.figures("throughput", "rate")[srv.name]) for srv in servers]
        rate = max(100.0, round(LOAD_FRACTION * min(rates), -2))
        self.extra["latency_rate"] = rate
        split = (os.cpu_count() or 1) >= 2
        self.extra["latency_split"] = split

        def one(srv):
            rep = self.load(srv, mode="open", clients=CLIENTS, rate=rate, duration=self.s.duration,
                            pin_cpu=1 if split else None)
            self.check("open loop", srv, rep)
            self.record("latency", srv.name, rep)

        with servers_on_core_0(servers, split):
            self.rounds(servers, one, "open loop at %.0f msg/s, %g s" % (rate, self.s.duration))

    def idle_and_broadcast(self):
        n = self.s.idle_conns
        for i in range(self.s.rounds):
            for name in self.names():
                srv = self.start(self.make("idle%d" % i, name))
                try:
                    log("%-13s gateway: %d idle connections, then %d broadcasts to them, round %d of %d (a fresh "
                        "server)" % (name, n, self.s.broadcasts, i + 1, self.s.rounds))
                    self.load(srv, mode="closed", clients=CLIENTS, count=self.s.warm)
                    self.record("idle", name, self.idle(srv, n))
                    self.record("broadcast", name, self.broadcast(srv, n))
                finally:
                    self.stop(srv)

    def idle(self, srv, n):
        time.sleep(0.3)
        pids, business, gateways = srv.pids(), srv.workers().get("business", []), srv.gateway_pids()
        socks0, before, biz_before = socket_fds(gateways), rss_bytes(pids), rss_bytes(business)
        stamp = "%s-%d" % (srv.name, time.monotonic_ns())
        ready, stop = (os.path.join(self.b.tmp, "%s-%s" % (w, stamp)) for w in ("ready", "stop"))
        argv = wsload_argv(self.wsload, srv.port, srv.path, mode="idle", clients=n, hello=True, ready_file=ready,
                           stop_file=stop)
        p = PROCS.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not os.path.exists(ready):
            if p.poll() is not None:
                out, err = p.communicate()
                raise CouldNotRun("%s: wsload could not hold %d connections: %s" % (srv.name, n, (err or out)[-500:]))
            if time.monotonic() > deadline:
                p.kill()
                p.communicate()
                raise CouldNotRun("%s: %d connections not open within 120 s" % (srv.name, n))
            time.sleep(0.05)
        time.sleep(0.3)  # the last hello's bookkeeping
        held_socks = socket_fds(gateways)
        held, biz_held = rss_bytes(pids), rss_bytes(business)
        with open(stop, "w"):
            pass
        out, err = p.communicate(timeout=60)
        rep = parse_wsload(out, err, p.returncode)
        if held_socks < socks0 + n:
            raise CouldNotRun("%s holds %d sockets with %d idle connections open, expected %d"
                              % (srv.name, held_socks, n, socks0 + n))
        t0 = time.monotonic()
        while socket_fds(gateways) > socks0:
            if time.monotonic() - t0 > 30:
                raise CouldNotRun("%s still holds %d sockets 30 s after the client closed them"
                                  % (srv.name, socket_fds(gateways) - socks0))
            time.sleep(0.05)
        time.sleep(0.5)
        after = rss_bytes(pids)
        if rep.get("closed_by_server"):
            self.b.problems.append("gateway idle: %s closed %d of the idle connections" % (srv.name,
                                                                                           rep["closed_by_server"]))
        return {"connections": n, "rss_before": before, "rss_held": held, "rss_after": after,
                "bytes_per_conn": (held - before) / n, "after_over_before": after / before,
                "business_bytes_per_conn": (biz_held - biz_before) / n if business else None,
                "hello_ok": rep.get("hello_ok"), "processes": len(pids), "open_s": rep.get("open_s")}

    def broadcast(self, srv, n):
        gateways = srv.gateway_pids()
        rep = self.load(srv, mode="broadcast", clients=n, broadcasts=self.s.broadcasts, cpu_pids=gateways,
                        timeout_ms=10000)
        lasts = [b["to_last_ms"] for b in rep["broadcasts"] if b["to_last_ms"] >= 0]
        firsts = [b["to_first_ms"] for b in rep["broadcasts"] if b["to_first_ms"] >= 0]
        if rep.get("missing"):
            self.b.problems.append("gateway broadcast: %s: %d messages never reached their client"
                                   % (srv.name, rep["missing"]))
        cpu = sum(rep["cpu_s"].values())
        return {"to_last_ms": statistics.median(lasts) if lasts else None,
                "to_first_ms": statistics.median(firsts) if firsts else None,
                "cpu_ms": cpu * 1000 / len(rep["broadcasts"]), "missing": rep.get("missing"),
                "all_to_last_ms": lasts, "gateway_processes": len(gateways)}

    # ------------------------------------------------------------ rows

    def make_rows(self):
        f = self.figures
        node_or_gw_at_most = _all(_vs("gatewayworker", lambda s, o: s <= o), _vs("node", lambda s, o: s <= o))
        rate = self.extra.get("latency_rate", 0)
        n = self.s.idle_conns
        self.rows = [
            Row("gw_rps", "round trips/s, %d clients" % CLIENTS, R.fmt_int, f("throughput", "rate"),
                ">= 2x GW, >= node", _all(_vs("gatewayworker", lambda s, o: s >= 2 * o),
                                          _vs("node", lambda s, o: s >= o))),
            Row("gw_cpu", "server CPU us/round trip", R.fmt_1, f("throughput", "cpu_us"), "<= node",
                _vs("node", lambda s, o: s <= o)),
            Row("gw_sys", "syscalls/round trip", R.fmt_2, f("syscalls", "per_rt"), "<= %.1f" % SYSCALL_TARGET,
                _limit(SYSCALL_TARGET)),
            Row("gw_p99", "p99 ms at %s msg/s" % R.fmt_int(rate), R.fmt_ms, f("latency", "p99_ms"),
                "<= GW, <= node", node_or_gw_at_most),
            Row("gw_p999", "p99.9 ms at %s msg/s" % R.fmt_int(rate), R.fmt_ms, f("latency", "p999_ms"),
                note="for information"),
            Row("gw_mem", "RSS per idle WS conn, bytes", R.fmt_int, f("idle", "bytes_per_conn"),
                "<= %s" % R.fmt_int(MEM_TARGET), _limit(MEM_TARGET)),
            Row("gw_mem_biz", "business worker RSS per idle conn", R.fmt_int, f("idle", "business_bytes_per_conn"),
                "~0 (<= %d)" % BUSINESS_MEM_TARGET, _limit(BUSINESS_MEM_TARGET), floor_ratio=False),
            Row("gw_mem_back", "RSS after close / before", R.fmt_2, f("idle", "after_over_before"),
                "<= 1.20", _limit(1.2), floor_ratio=False),
            Row("gw_bc_last", "broadcast to %s: ms to the last" % R.fmt_int(n), R.fmt_ms, f("broadcast", "to_last_ms"),
                "<= GW", _vs("gatewayworker", lambda s, o: s <= o)),
            Row("gw_bc_cpu", "broadcast to %s: gateway CPU ms" % R.fmt_int(n), R.fmt_1, f("broadcast", "cpu_ms"),
                "<= GW", _vs("gatewayworker", lambda s, o: s <= o)),
        ]

    # ------------------------------------------------------------ method

    def cpu_lines(self):
        """CPU per round trip of each process (the median round of each server)."""
        out = []
        for srv, rounds in self.runs.get("throughput", {}).items():
            mid = sorted(rounds, key=lambda r: r["cpu_us"])[len(rounds) // 2]
            out.append("  %s: %.1f = %s" % (LABELS[srv], mid["cpu_us"], ", ".join(
                "%s %.1f" % kv for kv in sorted(mid["cpu_us_by_role"].items(), key=lambda kv: -kv[1]) if kv[1] >= 0.05)))
        return out

    def breakdown_lines(self):
        """The system calls per round trip of each process, by call: the
        median round of each server."""
        out = []
        for srv, rounds in self.runs.get("syscalls", {}).items():
            mid = sorted(rounds, key=lambda r: r["per_rt"])[len(rounds) // 2]
            parts = []
            for role, e in mid["by_role"].items():
                calls = ", ".join("%s %.2f" % (k, v) for k, v in list(e["by_name"].items())[:6] if v >= 0.01)
                parts.append("%s %.2f (%s)" % (role, e["per_rt"], calls))
            out.append("  %s: %.2f = %s" % (LABELS[srv], mid["per_rt"], "; ".join(parts)))
        return out

    def method_lines(self, versions, meta):
        s, x = self.s, self.extra
        n = s.idle_conns
        load, end = meta["load_avg"], meta.get("load_avg_end", meta["load_avg"])
        lines = [
            "",
            "gateway rows (issue 19): %s" % "; ".join(versions),
            "machine: %d cores (%s), Linux %s; load average %.1f at the start, %.1f at the end (shared with other "
            "work)" % (meta["cores"], meta["cpu"], meta["kernel"], load[0], end[0]),
            "method:",
            "- rounds: %d, interleaved (%s); %g s of load each; a cell is the median (min-max) of the rounds, a "
            "ratio the median (min-max) of the per-round ratios; verdict on each round: PASS if every round meets "
            "the target, FAIL if none does, within noise if some do" % (s.rounds, ", ".join(
                LABELS[k] for k in self.names()), s.duration),
            "- servers, 127.0.0.1: smooth: a gateway group (ws://, count 1) in front of a business group (tcp://, "
            "count 1), both the chat module (modules/chat.so): \"ping SEQ\" -> \"pong SEQ [pid P, chat V]\" through "
            "the link and back; GatewayWorker: Workerman's register + gateway (count 1) + BusinessWorker (count 1), "
            "an Events class answering \"pong SEQ [pid P, gw]\" with Gateway::sendToCurrentClient, on Debian's "
            "php-cli (select() loop: no event extension in Debian; opcache off in the CLI, as shipped); node: "
            "tools/benchkit/node/ws_echo.js, one process, a direct echo (no hop); floor: tools/benchkit/ws_floor, one process, "
            "one epoll loop, a direct echo, the answers of one read in one write",
            "- round trips/s: tests/support/wsload --mode closed -c %d (one thread): each client sends \"ping SEQ\" and "
            "waits for its answer; every close and error counted (any is listed below the table)" % CLIENTS,
            "- CPU us/round trip: utime+stime (/proc/PID/stat) of all the server's processes (smooth: master, gateway "
            "and business; GatewayWorker: master, register, gateway, business) over the run / round trips; by "
            "process (the median round):",
        ]
        lines += self.cpu_lines()
        lines += [
            "- syscalls/round trip: one strace -c -f per process (smooth: the gateway and the business worker, not "
            "the master; GatewayWorker: register, gateway, business), attached before the first and detached 0.2 s "
            "after the last of exactly %s round trips of %d clients (their handshakes and closes included); every "
            "call counted; by process and call (the median round):" % (R.fmt_int(s.n_syscalls), CLIENTS),
        ]
        lines += self.breakdown_lines()
        if "latency_rate" in x:
            lines.append("- p99 / p99.9: tests/support/wsload --mode open -R %s -c %d, one client thread%s; a round trip's "
                         "latency runs from when it was due (no coordinated omission); R = %d%% of the lowest "
                         "closed-loop rate (median of the rounds)" % (
                             R.fmt_int(x["latency_rate"]), CLIENTS,
                             " on core 1, the servers (every process) on core 0" if x.get("latency_split") else "",
                             round(100 * LOAD_FRACTION)))
            late = [r["late"] / max(1, r["round_trips"]) for srv in self.runs.get("latency", {}).values()
                    for r in srv if "late" in r]
            if late:
                lines.append("  %.1f%% of the round trips went out over 1 ms after they were due (median of the "
                             "runs, %.1f%%-%.1f%%: no client free, or the client itself late): on a busy machine the "
                             "tail is the scheduler's as much as the server's" % (
                                 100 * statistics.median(late), 100 * min(late), 100 * max(late)))
        gws = gateways_for(n)
        lines += [
            "- idle: a fresh server per round, warmed with %s round trips; RSS (smaps_rollup) of all its processes "
            "before, and with %s connections open, each having made one round trip (wsload --mode idle --hello; "
            "held: the gateway's socket fds rose by as many); growth / %s; the business worker's own growth / %s "
            "in its row; after: once the gateway's socket fds are back to before, plus 0.5 s; user-space memory "
            "only (the kernel's socket buffers are not in RSS)" % (R.fmt_int(s.warm), R.fmt_int(n), R.fmt_int(n),
                                                                   R.fmt_int(n)),
            "- broadcast: on that server, %s clients connected (wsload --mode broadcast); %d times one of them "
            "sends \"say bench: bK\" and every client waits for the message: a round's figure is the median over "
            "the %d of the time from the send to the last client's read, and the CPU (schedstat, all threads) of "
            "the gateway process(es) per broadcast; smooth: the chat module's smooth_broadcast; GatewayWorker: "
            "Gateway::sendToAll; node: a loop over wss.clients; floor: a loop over its connections; the client "
            "reads 10,000 sockets in one thread, so the floor's figure includes the client's own time"
            % (R.fmt_int(n), s.broadcasts, s.broadcasts),
        ]
        if not self.gw_dirs:
            lines.append("- GatewayWorker: skipped, no --gatewayworker/--workerman directories given "
                         "(docs/benchmark-gateway.md says how to get them); its targets are checked against node only")
        if not self.have_node:
            lines.append("- node ws: skipped, node or tools/benchkit/node/node_modules/ws missing (tools/benchkit/deps)")
        if self.gw_dirs:
            lines.append("- GatewayWorker in the idle and broadcast rows: %d gateway processes (reusePort), one per "
                         "%d clients: Workerman's select() loop serves at most 1024 descriptors a process; its "
                         "broadcast CPU is the sum over them" % (gws, 800))
        return lines


def _strace_counts(text):
    by_name = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[3].isdigit() or fields[-1] == "total":
            continue
        by_name[fields[-1]] = int(fields[3])
    return by_name


def noise_line(rows):
    noisy = [r.label for r in rows if r.verdict() == R.NOISE]
    return "within noise (the rounds' spread overlaps the target): " + ("; ".join(noisy) if noisy else "none")
