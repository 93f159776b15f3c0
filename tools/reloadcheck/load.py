"""load: one tests/support/loadgen run in the background, and the figures kept from it.

A run under reloads uses loadgen's phases: reload-check sends SIGUSR1 when a
reload starts and when it is complete, so every request is counted in the
phase it started in: "between" (phase a: before the first reload, and from each
reload's completion to the next one's start) or "reloading" (phase b: from the
reload command's start until the reload is complete)."""

import json
import os
import signal
import subprocess
import time

from .procs import LOADGEN, PROCS, CouldNotRun, die_with_parent, signal_handler_installed

FAILURE_KINDS = ("refused", "reset", "early_eof", "timeout", "bad_status", "other_error")
CAUSES = ("reset", "early_eof")


def figures(part, seconds):
    """What reload-check keeps of a set of requests (a loadgen report, or one of
    its phases) that took `seconds` of load."""
    failed = {k: part.get(k, 0) for k in FAILURE_KINDS}
    lat = part.get("latency_ms") or {}
    ok = part.get("ok", 0)
    causes = part.get("retried_by_cause") or {}
    return {
        "requests": part.get("requests", 0),
        "ok": ok,
        "failed": sum(failed.values()),
        "failed_by_kind": failed,
        "retries": part.get("retried", 0),
        "retries_by_cause": {c: causes.get(c, 0) for c in CAUSES},
        "reused": part.get("reused", 0),
        "seconds": round(seconds, 3),
        "rps": round(ok / seconds, 1) if seconds > 0 else None,
        "latency_ms": {k: lat.get(k) for k in ("p50", "p90", "p99", "p999", "max")} if ok else
        {k: None for k in ("p50", "p90", "p99", "p999", "max")},
    }


def versions_seen(report, version_text):
    seen = set()
    for body in report.get("bodies") or {}:
        seen |= version_text.versions_in(body)
    return sorted(seen)


class Load:
    """One tests/support/loadgen run, stopped by a stop file. With phases=True,
    switch() moves it between "between" and "reloading"."""

    def __init__(self, target, args, clients, tmp, name, phases=False):
        self.report_path = os.path.join(tmp, name + ".json")
        self.stop_path = os.path.join(tmp, name + ".stop")
        self.phases = phases
        # -d is only a safety bound: the stop file ends the run.
        argv = [LOADGEN, "-c", str(clients), "-d", "3600", "--stop-file", self.stop_path, "-o", self.report_path,
                *(["--phases"] if phases else []), *args, target.url]
        self.started = time.monotonic()
        self.proc = PROCS.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, preexec_fn=die_with_parent)
        self.reloading = False
        self.reloading_s = 0.0
        self.switched_at = None
        self.stopped = None
        if phases:  # SIGUSR1 before loadgen catches it would kill it: wait for its handler
            deadline = time.monotonic() + 10
            while not signal_handler_installed(self.proc.pid, signal.SIGUSR1):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise CouldNotRun("loadgen did not start (its SIGUSR1 handler is not there): %s"
                                      % " ".join(argv))
                time.sleep(0.005)

    def running(self):
        return self.proc.poll() is None

    def switch(self, reloading):
        """The phase changes: a reload starts (True) or is complete (False)."""
        if reloading == self.reloading or not self.running():
            return
        now = time.monotonic()
        self.proc.send_signal(signal.SIGUSR1)
        if not reloading:
            self.reloading_s += now - self.switched_at
        self.reloading, self.switched_at = reloading, now

    def finish(self):
        """Stops the load; returns loadgen's report, with "seconds" (how long the
        load ran) and, with phases, "reloading_s" and "between_s"."""
        with open(self.stop_path, "w"):
            pass
        self.stopped = time.monotonic()
        if self.reloading:
            self.reloading_s += self.stopped - self.switched_at
        try:
            _, err = self.proc.communicate(timeout=30)  # requests in flight end within loadgen's -t (5 s)
        except subprocess.TimeoutExpired:
            PROCS.stop(self.proc)
            raise CouldNotRun("loadgen did not stop within 30 s of its stop file")
        PROCS.stop(self.proc)
        if self.proc.returncode != 0:
            raise CouldNotRun("loadgen exited %d: %s" % (self.proc.returncode, (err or "").strip()[-1000:]))
        try:
            with open(self.report_path) as f:
                report = json.load(f)
        except (OSError, ValueError) as e:
            raise CouldNotRun("loadgen wrote no readable report: %s" % e)
        report["seconds"] = self.stopped - self.started
        report["reloading_s"] = self.reloading_s
        report["between_s"] = report["seconds"] - self.reloading_s
        return report
