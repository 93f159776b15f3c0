"""check: the profiles, each first steady and then through reloads.

Order within a profile, each step waiting for the one before:
  1. the server answers a probe;
  2. steady: --steady seconds of load, no reload running (the last reload of the
     profile before is complete, or the run has stopped);
  3. under reloads: a new load; after a short lead, N times: deploy n, reload n,
     wait for its completion, --gap seconds of load; then the load stops.
A reload that does not complete ends its profile's reloads; it gets
--done-timeout more with the load stopped, and if it completes then, the next
profile runs; if not, the run stops there (the server is still reloading)."""

import time

from .load import Load
from .procs import log
from .reloads import Reloader
from .verdict import profile_result

PROBE_TIMEOUT_S = 5  # the server must answer before a profile starts

# name, what it is, loadgen options, clients as a multiple of --clients, keep-alive shape.
# The slow clients start spread over 0.5 s: their requests all take about as
# long, so started at once they would stay in lockstep, and a reload would
# meet all of them or none of them between two requests.
PROFILES = (
    ("short", "one request per connection", [], 1, False),
    ("keep-alive", "keep-alive", ["-k", "--retry"], 1, True),
    ("slow-client", "one request per connection, 4 pieces over 300 ms, reads of 16 bytes",
     ["--slow-send", "300", "--slow-read", "16", "--ramp", "500"], 1, False),
    ("sparse", "keep-alive, idle 0.5-1.5 s between requests", ["-k", "--retry", "--think", "1000"], 4, True),
)
PROFILE_NAMES = [p[0] for p in PROFILES]


class StopRun(Exception):
    """The run cannot go on (the server no longer answers, or is still
    reloading): the profiles after this one do not run."""


class Check:
    def __init__(self, args, plan, target, version_text, tmp):
        self.args = args
        self.plan = plan
        self.target = target
        self.version_text = version_text
        self.tmp = tmp
        self.reloader = Reloader(args, target, version_text, tmp)

    def profile(self, name):
        """Runs one profile; its result. Raises StopRun (with the result, if
        there is one) when the profiles after it cannot run."""
        name, what, load_args, scale, keepalive_shape = next(p for p in PROFILES if p[0] == name)
        clients = self.args.clients * scale
        if not self.target.wait_answer(PROBE_TIMEOUT_S):
            raise StopRun("%s no longer answers (waited %d s): profiles from %s on did not run"
                          % (self.target.url, PROBE_TIMEOUT_S, name))
        log("%s: steady, %g s, %d clients" % (name, self.plan["steady_s"], clients))
        load = Load(self.target, load_args, clients, self.tmp, name + "-steady")
        time.sleep(self.plan["steady_s"])
        steady = load.finish()

        log("%s: %d reload%s under load" % (name, self.plan["reloads"], "" if self.plan["reloads"] == 1 else "s"))
        # On an exception the load is left to PROCS.stop_all(): no report is wanted then.
        load = Load(self.target, load_args, clients, self.tmp, name + "-reloads", phases=True)
        records = []
        time.sleep(self.plan["lead_s"])
        for _ in range(self.plan["reloads"]):
            if not load.running():
                break  # finish() says why
            record = self.reloader.reload(load, name)
            records.append(record)
            if record["command_ok"] and not record["completed"]:
                break  # reloads piled on one that never took effect would prove nothing
            time.sleep(self.plan["gap_s"])
        under = load.finish()

        pending_completed = True
        if records and records[-1]["command_ok"] and not records[-1]["completed"]:
            pending_completed = self.reloader.finish_pending(records[-1])
        result = profile_result((name, what, load_args, clients, keepalive_shape), steady, under, records,
                                self.args, self.version_text, pending_completed)
        if not pending_completed:
            raise StopRun("reload %d did not complete, not even with the load stopped (%g s more): the server "
                          "is still reloading, so the profiles after %s did not run"
                          % (records[-1]["n"], self.args.done_timeout, name), result)
        return result
