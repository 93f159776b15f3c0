"""handover: the hand-over rows. What N idle WebSocket clients, and 50 busy
ones, live through when the worker that holds them is replaced: smooth's
hand-over, smooth's drain (today's behaviour for a group that a reload
replaces: a close 1001, then reconnect) and nginx's reload, side by side.
The servers are in handover_servers.py.

A round, on each server in turn (hand-over, drain, nginx, hand-over...):

  1. a crowd: N idle clients (wsload --mode idle --hello --goodbye
     --reconnects 3), each connected and answered once, held
  2. hand-over only, the crowd alone: `./server reload`, then `./server
     upgrade`: how long the gateway worker took to hand the N over (its
     line in the command's report), and `status --json` must count N
     connections on the gateway after each
  3. 50 active clients (wsload --mode closed --retry --phases), each
     sending "ping SEQ" and waiting for its answer, in three turns:
       turn 0  0.5 s, the loop settling: not counted
       turn 1  the replacement: from the command's start until the
               replaced processes have exited and the crowd is whole
               again (every client connected), plus 0.2 s
       turn 2  steady, as long as turn 1
     p99 and max of the round trips that started in each turn; a round
     trip that a close cut off is sent again once its client has
     reconnected, its latency running from the first send
  4. the crowd lets go: first one more round trip each (goodbye: the
     connection is still served), then its report: the closes it saw (by
     close code, or "eof"), the reconnects, when the first close came and
     when every client was back (CLOCK_MONOTONIC, against the command's
     start)
"""

import os
import signal
import subprocess
import time

from . import report as R
from .handover_servers import NginxWsProxy, SmoothDrain, SmoothHandover
from .load import parse_wsload, wsload_argv
from .procs import PROCS, CouldNotRun, log

CLIENTS = 50              # active clients
RECONNECTS = 3            # a crowd client's tries after a close
SETTLE_FIRST_S = 0.5      # turn 0
SETTLE_S = 0.2            # the end of turn 1, after the crowd is whole
WINDOW_LIMIT_S = 90       # turn 1 may not last longer
HANDOVER_TARGET = 10000   # connections a second: 10,000 in under a second
ORDER = ("handover", "drain", "nginx")
LABELS = {"handover": "smooth hand-over", "drain": "smooth drain + reconnect", "nginx": "nginx -s reload"}


class Settings:
    def __init__(self, s, quick):
        self.rounds = s.rounds
        self.n = s.idle_conns
        self.nginx_shutdown_s = 2 if quick else 5  # worker_shutdown_timeout


# ---------------------------------------------------------------- clients

class Crowd:
    """N idle clients held by one wsload: open() returns once every one is
    connected and answered once; whole() says whether every one is connected
    now (wsload removes its ready file at a close, writes it again once all
    are back); finish() lets go and returns the report."""

    def __init__(self, wsload, srv, n, tmp):
        stamp = "%s-%d" % (srv.name, time.monotonic_ns())
        self.ready, self.stop = (os.path.join(tmp, "%s-%s" % (w, stamp)) for w in ("crowd-ready", "crowd-stop"))
        self.argv = wsload_argv(wsload, srv.port, srv.path, mode="idle", clients=n, hello=True, goodbye=True,
                                reconnects=RECONNECTS, ready_file=self.ready, stop_file=self.stop)
        self.name, self.n, self.p = srv.name, n, None

    def open(self, timeout=180):
        self.p = PROCS.popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while not self.whole():
            if self.p.poll() is not None:
                out, err = self.p.communicate()
                raise CouldNotRun("%s: wsload could not hold %d clients: %s" % (self.name, self.n, (err or out)[-500:]))
            if time.monotonic() > deadline:
                raise CouldNotRun("%s: %d clients not connected within %d s" % (self.name, self.n, timeout))
            time.sleep(0.05)
        return self

    def whole(self):
        return os.path.exists(self.ready)

    def finish(self):
        with open(self.stop, "w"):
            pass
        try:
            out, err = self.p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.communicate()
            raise CouldNotRun("%s: the crowd's wsload did not let go within 120 s" % self.name)
        return parse_wsload(out, err, self.p.returncode)


class Active:
    """CLIENTS busy clients in turns (wsload --phases): the constructor
    returns once they are connected and sending (turn 0), next_turn() sends
    SIGUSR1, finish() stops them and returns the report."""

    def __init__(self, wsload, srv, tmp, timeout=60):
        stamp = "%s-%d" % (srv.name, time.monotonic_ns())
        ready, self.stop = (os.path.join(tmp, "%s-%s" % (w, stamp)) for w in ("active-ready", "active-stop"))
        argv = wsload_argv(wsload, srv.port, srv.path, mode="closed", clients=CLIENTS, retry=True, phases=True,
                           ready_file=ready, stop_file=self.stop)
        self.p = PROCS.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while not os.path.exists(ready):  # its SIGUSR1 handler is in place long before
            self.check_running()
            if time.monotonic() > deadline:
                raise CouldNotRun("%s: %d active clients not connected within %d s" % (srv.name, CLIENTS, timeout))
            time.sleep(0.02)

    def check_running(self):
        if self.p.poll() is not None:
            out, err = self.p.communicate()
            raise CouldNotRun("the active clients' wsload exited %d: %s" % (self.p.returncode, (err or out)[-500:]))

    def next_turn(self):
        self.check_running()
        self.p.send_signal(signal.SIGUSR1)

    def finish(self):
        with open(self.stop, "w"):
            pass
        out, err = self.p.communicate(timeout=120)
        return parse_wsload(out, err, self.p.returncode)


# ---------------------------------------------------------------- rows

class Row:
    """A hand-over row: per server, one figure per round (None: not measured
    there). check(x) says whether the hand-over column's figure of one round
    meets the target: PASS if every round does, FAIL if none, within noise
    if some. cells, when given, are the columns' texts instead of figures."""

    def __init__(self, label, fmt, figures=None, target="", check=None, cells=None):
        self.label, self.fmt, self.figures = label, fmt, figures or {}
        self.target, self.check, self.cells = target, check, cells

    def values(self, name):
        return [v for v in self.figures.get(name, []) if v is not None]

    def texts(self):
        if self.cells:
            return [self.cells.get(name, "-") for name in ORDER]
        return [R.spread(self.values(name), self.fmt) for name in ORDER]

    def verdict(self):
        mine = self.values("handover")
        if self.check is None or not mine:
            return R.INFO
        results = [self.check(v) for v in mine]
        return R.PASS if all(results) else R.FAIL if not any(results) else R.NOISE

    def as_json(self):
        return {"label": self.label, "figures": self.figures, "cells": self.cells, "target": self.target,
                "verdict": self.verdict()}


def table(rows):
    header = [""] + [LABELS[name] for name in ORDER] + ["target", "verdict"]
    lines = [header] + [[r.label] + r.texts() + [r.target, r.verdict()] for r in rows]
    widths = [max(len(line[i]) for line in lines) + 2 for i in range(len(header))]
    return "\n".join("".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


# ---------------------------------------------------------------- the part

class HandoverPart:
    def __init__(self, bench, wsload_path, ws_floor, module):
        self.b = bench
        self.s = Settings(bench.s, bench.args.quick)
        self.wsload, self.ws_floor, self.module = wsload_path, ws_floor, module
        self.have_nginx = bench.have_nginx
        self.runs = {}   # server -> [the figures of each round]
        self.extra = {}
        self.rows = []

    def names(self):
        return [n for n in ORDER if n != "nginx" or self.have_nginx]

    def make(self, name):
        if name == "handover":
            return SmoothHandover(self.b.server, self.b.tmp, "handover", self.module)
        if name == "drain":
            return SmoothDrain(self.b.server, self.b.tmp, "handover", self.module)
        return NginxWsProxy(self.ws_floor, self.b.tmp, "handover", self.s.n + CLIENTS, self.s.nginx_shutdown_s)

    def problem(self, srv, text, broken_promise=False):
        """Something a figure does not show. A hand-over that closed a client
        or failed is smooth failing under reload: exit 1, as the HTTP rows."""
        self.b.problems.append("handover: %s: %s" % (LABELS[srv.name], text))
        if broken_promise and srv.name == "handover" and self.b.exit_code == 0:
            self.b.exit_code = 1

    def run(self):
        if not self.have_nginx:
            log("handover: nginx not found or --no-nginx: its column is skipped")
        servers = []
        try:
            for name in self.names():
                srv = self.make(name)
                self.b.servers.append(srv)
                servers.append(srv)
                srv.start()
            if self.have_nginx:
                nginx = servers[-1]
                self.extra["nginx"] = {"workers": nginx.workers, "worker_rlimit_nofile": nginx.nofile,
                                       "worker_connections": nginx.worker_connections,
                                       "worker_shutdown_timeout_s": nginx.shutdown_timeout_s}
            for i in range(self.s.rounds):
                for srv in servers:
                    log("%-13s handover: %s idle clients, then the replacement under 50 active ones, round %d of %d"
                        % (srv.name, R.fmt_int(self.s.n), i + 1, self.s.rounds))
                    self.runs.setdefault(srv.name, []).append(self.round(srv))
                    time.sleep(0.2)
        finally:
            for srv in servers:
                srv.stop()
                self.b.servers.remove(srv)
        self.make_rows()

    # ------------------------------------------------------------ a round

    def round(self, srv):
        n = self.s.n
        fig = {}
        # On an exception the bench stops: tools/bench's PROCS.stop_all() ends the clients.
        crowd = Crowd(self.wsload, srv, n, self.b.tmp).open()
        if srv.name == "handover":  # the crowd alone: the hand-over's own speed
            fig["reload"] = self.checked(srv, srv.replace(), "reload")
            fig["upgrade"] = self.checked(srv, srv.upgrade(), "upgrade")
        fig.update(self.turns(srv, crowd))
        rep = fig["crowd"] = crowd.finish()
        t0, window = fig["t0"], fig["window_s"]
        first, back = rep.get("first_close_at"), rep.get("all_back_at")
        fig["first_close_ms"] = (first - t0) * 1000 if first else None
        fig["all_back_ms"] = (back - t0) * 1000 if back else None
        if back and back > t0 + window:
            self.problem(srv, "the crowd was whole again %.0f ms after turn 1 ended: turn 2 is not steady"
                         % ((back - t0 - window) * 1000))
        if rep.get("goodbye_ok") != n or rep.get("open_at_end") != n:
            self.problem(srv, "%s of %d clients open at the end, %s answered their last ping"
                         % (rep.get("open_at_end"), n, rep.get("goodbye_ok")), broken_promise=True)
        if srv.name == "handover" and rep.get("closed_by_server"):
            self.problem(srv, "%d idle clients closed (%s)" % (rep["closed_by_server"], rep.get("closes")),
                         broken_promise=True)
        return fig

    def checked(self, srv, r, what):
        """A replacement run with the crowd alone: it succeeded, its old
        processes are gone, and the server holds every client after it."""
        n = self.s.n
        if not r["ok"]:
            self.problem(srv, "./server %s failed:\n%s" % (what, r["output"][-1500:]), broken_promise=True)
        deadline = time.monotonic() + 30
        while not srv.gone(r) and time.monotonic() < deadline:
            time.sleep(0.01)
        r["held_after"] = srv.held()
        if r["held_after"] != n or r.get("handed_over") != n:
            self.problem(srv, "after ./server %s: the report says %s handed over, status counts %s connections on "
                         "the gateway, of %d" % (what, r.get("handed_over"), r["held_after"], n), broken_promise=True)
        r["output"] = r["output"][-2000:]
        return r

    def turns(self, srv, crowd):
        """Turn 0 (settling), turn 1 (the replacement, until its old processes
        are gone and the crowd is whole, plus SETTLE_S), turn 2 (steady, as
        long as turn 1); the active clients' figures of turns 1 and 2."""
        active = Active(self.wsload, srv, self.b.tmp)
        time.sleep(SETTLE_FIRST_S)
        active.next_turn()
        t0 = time.monotonic()
        r = srv.replace()
        if not r["ok"]:
            self.problem(srv, "the replacement's command failed:\n%s" % r["output"][-1500:], broken_promise=True)
        deadline = t0 + WINDOW_LIMIT_S
        while not srv.gone(r):
            if time.monotonic() > deadline:
                raise CouldNotRun("%s: the replaced processes %s still run %d s after the command"
                                  % (srv.name, r["old_pids"], WINDOW_LIMIT_S))
            time.sleep(0.01)
        time.sleep(0.1)  # what their exit closed reaches the crowd
        while not crowd.whole():
            if time.monotonic() > deadline:
                raise CouldNotRun("%s: the crowd is not whole again %d s after the command" % (srv.name,
                                                                                              WINDOW_LIMIT_S))
            time.sleep(0.01)
        time.sleep(SETTLE_S)
        window = time.monotonic() - t0
        active.next_turn()
        time.sleep(window)
        rep = active.finish()
        turns = rep.get("turns") or []
        if len(turns) != 3:
            raise CouldNotRun("%s: the active clients counted %d turns, not 3" % (srv.name, len(turns)))
        during, steady = turns[1], turns[2]
        other = rep["errors"] - rep["closed_by_server"]
        if other:
            self.problem(srv, "the active clients: %d round trips failed (%s)" % (other, ", ".join(
                "%s %d" % (k, rep[k]) for k in ("refused", "reset", "handshake_failed", "timeout", "bad_answer",
                                                "other_error") if rep.get(k))), broken_promise=True)
        if srv.name == "handover" and (rep["closed_by_server"] or rep.get("retried")):
            self.problem(srv, "the active clients were closed %d times" % (rep["closed_by_server"] + rep["retried"]),
                         broken_promise=True)
        r["output"] = r["output"][-2000:]
        return {"t0": t0, "window_s": window, "replace": r, "active": rep,
                "p99_during": during["latency_ms"]["p99"], "p99_steady": steady["latency_ms"]["p99"],
                "max_during": during["latency_ms"]["max"], "max_steady": steady["latency_ms"]["max"],
                "ok_during": during["ok"], "ok_steady": steady["ok"],
                "p99_ratio": during["latency_ms"]["p99"] / steady["latency_ms"]["p99"]
                if steady["latency_ms"]["p99"] else None,
                "resent": rep.get("retried", 0), "closed_between": rep["closed_by_server"]}

    # ------------------------------------------------------------ rows

    def figures(self, fn):
        out = {}
        for name, rounds in self.runs.items():
            vals = []
            for f in rounds:
                try:
                    vals.append(fn(f))
                except (KeyError, TypeError, ZeroDivisionError):
                    vals.append(None)
            out[name] = vals
        return out

    def make_rows(self):
        n = self.s.n
        f = self.figures
        per_s = lambda r: r["handed_over"] * 1000.0 / max(1, r["handover_ms"])  # noqa: E731
        fast = lambda x: x >= HANDOVER_TARGET  # noqa: E731
        nn = R.fmt_int(n)

        def how_closed(name):
            kinds = {}
            for fig in self.runs.get(name, []):
                for k, v in fig["crowd"].get("closes", {}).items():
                    kinds[k] = kinds.get(k, 0) + v
            if not kinds:
                return "none"
            said = {"eof": "eof (no close frame)"}
            by_count = sorted(kinds, key=lambda k: -kinds[k])
            return ", ".join("close %s" % k if k.isdigit() else said.get(k, k) for k in by_count)

        self.rows = [
            Row("reload: hand-over of %s idle clients, ms" % nn, R.fmt_ms, f(lambda x: x["reload"]["handover_ms"])),
            Row("reload: connections handed over/s", R.fmt_int, f(lambda x: per_s(x["reload"])),
                ">= 10,000 (10,000 in < 1 s)", fast),
            Row("upgrade: hand-over of %s idle clients, ms" % nn, R.fmt_ms, f(lambda x: x["upgrade"]["handover_ms"])),
            Row("upgrade: connections handed over/s", R.fmt_int, f(lambda x: per_s(x["upgrade"])),
                ">= 10,000 (10,000 in < 1 s)", fast),
            Row("upgrade: the whole upgrade, ms", R.fmt_ms, f(lambda x: x["upgrade"]["upgrade_ms"])),
            Row("held after each (status), of %s" % nn, R.fmt_int,
                f(lambda x: min(x["reload"]["held_after"], x["upgrade"]["held_after"])), "all", lambda x: x == n),
            Row("idle clients closed by the replacement", R.fmt_int, f(lambda x: x["crowd"]["closed_by_server"]),
                "0", lambda x: x == 0),
            Row("  how they were closed", None, cells={name: how_closed(name) for name in self.runs}),
            Row("  first close after the command, ms", R.fmt_ms, f(lambda x: x["first_close_ms"])),
            Row("  all %s connected again after, ms" % nn, R.fmt_ms, f(lambda x: x["all_back_ms"])),
            Row("  reconnects", R.fmt_int, f(lambda x: x["crowd"]["reconnects"])),
            Row("open and answering at the end, of %s" % nn, R.fmt_int, f(lambda x: x["crowd"]["goodbye_ok"]),
                "all", lambda x: x == n),
            Row("replacement under load: command, ms", R.fmt_ms, f(lambda x: x["replace"]["command_ms"])),
            Row("  hand-over under load, ms", R.fmt_ms, f(lambda x: x["replace"]["handover_ms"])),
            Row("%d active: window (turn 1, turn 2), s" % CLIENTS, R.fmt_2, f(lambda x: x["window_s"])),
            Row("  p99 ms steady", R.fmt_ms, f(lambda x: x["p99_steady"])),
            Row("  p99 ms during the replacement", R.fmt_ms, f(lambda x: x["p99_during"])),
            Row("  p99 during / steady", R.fmt_2, f(lambda x: x["p99_ratio"]), "for information"),
            Row("  max ms steady", R.fmt_ms, f(lambda x: x["max_steady"])),
            Row("  max ms during the replacement", R.fmt_ms, f(lambda x: x["max_during"])),
            Row("  round trips cut off, sent again", R.fmt_int, f(lambda x: x["resent"]), "0", lambda x: x == 0),
            Row("  closed between round trips", R.fmt_int, f(lambda x: x["closed_between"]), "0", lambda x: x == 0),
        ]

    # ------------------------------------------------------------ method

    def method_lines(self, meta):
        s, n = self.s, R.fmt_int(self.s.n)
        load, end = meta["load_avg"], meta.get("load_avg_end", meta["load_avg"])
        lines = [
            "",
            "hand-over rows: smooth %s; %s" % (meta.get("smooth", "?"), meta.get("nginx", "?")),
            "machine: %d cores (%s), Linux %s; load average %.1f at the start, %.1f at the end (shared with other "
            "work)" % (meta["cores"], meta["cpu"], meta["kernel"], load[0], end[0]),
            "method:",
            "- rounds: %d, interleaved (%s); a cell is the median (min-max) of the rounds; a verdict (hand-over "
            "column only): PASS if every round meets the target, FAIL if none does, within noise if some do"
            % (s.rounds, ", ".join(LABELS[k] for k in self.names())),
            "- servers, 127.0.0.1: smooth hand-over: a gateway group (ws://, count 1, reloadable = handover) in "
            "front of a business group (count 1), both the chat module; smooth drain: the chat module on a plain "
            "ws:// group (count 1, reloadable = true: a gateway group cannot be, the config allows false or "
            "handover), the clients' messages answered by the worker that holds them",
        ]
        ng = self.extra.get("nginx")
        if ng:
            lines.append(
                "  nginx: proxy_pass with the Upgrade and Connection headers to tools/benchkit/ws_floor (one process, "
                "a direct echo, never replaced); worker_processes %d (listen ... reuseport), worker_rlimit_nofile "
                "%s, worker_connections %s, worker_shutdown_timeout %gs; a proxied client takes two descriptors in "
                "its worker%s" % (ng["workers"], R.fmt_int(ng["worker_rlimit_nofile"]),
                                  R.fmt_int(ng["worker_connections"]), ng["worker_shutdown_timeout_s"],
                                  ": RLIMIT_NOFILE's hard limit cannot hold both ends of every client in one worker, "
                                  "and nginx cannot raise it here" if ng["workers"] > 1 else ""))
        else:
            lines.append("  nginx: skipped (not installed, or --no-nginx)")
        lines += [
            "- a round, on each server: a crowd of %s idle clients (tests/support/wsload --mode idle --hello "
            "--goodbye --reconnects %d: each connected and answered once, held; a client the server closes "
            "connects again at once, at most %d at a time, as --window says)" % (n, RECONNECTS, 256),
            "- hand-over speed, the crowd alone: ./server reload, then ./server upgrade (the same binary): the ms "
            "are the gateway worker's own, from the command's line (\"gateway#0: pid A -> B, handed over N "
            "connections and M links in T ms\"; \"old worker pid A: handed over ...\"), from the moment it is told "
            "to the moment its successor confirmed the last; connections/s = N / T; status --json must then count "
            "%s connections on the gateway worker" % n,
            "- under load: %d active clients (wsload --mode closed --retry --phases), each sending \"ping SEQ\" "
            "and waiting for the answer; turn 0: %.1f s, not counted; turn 1: from the replacement's command (smooth: "
            "./server reload; nginx: nginx -s reload) until the processes it replaced have exited and every client "
            "of the crowd is connected again, plus %.1f s; turn 2: steady, as long as turn 1; p99 and max of the "
            "round trips that started in each turn; a round trip that a close cut off is sent again once its "
            "client has reconnected, its latency running from the first send (what a user waiting for the answer "
            "sees); a closed loop charges a stall to one round trip per client: max says what p99 cannot"
            % (CLIENTS, SETTLE_FIRST_S, SETTLE_S),
            "- the crowd's figures: the closes it saw (by close code, or eof: the connection ended without a close "
            "frame), when the first came and when every client was connected again, both from the command's start "
            "(CLOCK_MONOTONIC on both sides), the reconnects; at the end each client sends one more ping "
            "(--goodbye): open and answering",
            "- smooth's reload replaces the business worker too (it drains, as in any reload): the hand-over "
            "column's turn 1 includes that",
        ]
        return lines
