"""reloads: one reload, from the deploy to its completion.

A reload is complete when the completion check says so:
  --done-check 'COMMAND'  the command exits 0 (run again every 50 ms until it does);
  --version-text 'TEXT'   else N fresh connections in a row (--fresh N) are answered
                          by the new version;
  neither                 else the reload command's exit.
Until then, nothing else starts: not the next reload, not the next steady phase.
A reload not complete within --done-timeout of its command's start has not
taken effect; the profile stops reloading, and its "during reloads" figures are
not given."""

import time

from .procs import CouldNotRun, log, run_shell

RELOAD_TIMEOUT_S = 60     # a reload command still running after this has failed
DEPLOY_TIMEOUT_S = 120
DONE_CHECK_TIMEOUT_S = 10  # one run of the completion check
DONE_CHECK_EVERY_S = 0.05
PROBE_EVERY_S = 0.005


class Reloader:
    def __init__(self, args, target, version_text, tmp):
        self.args = args
        self.target = target
        self.version_text = version_text
        self.tmp = tmp
        self.n = 0  # the number of the last reload, over the whole run

    def completion(self):
        """How completion is decided, in words."""
        if self.args.done_check:
            return "the completion check exits 0"
        if self.version_text:
            return "%d fresh connections in a row answered by the new version" % self.args.fresh
        return "the reload command's exit"

    def reload(self, load, name):
        """Deploy (if asked), reload, wait for completion; load (a Load with
        phases) is "reloading" from the command's start to the completion."""
        self.n += 1
        n = self.n
        record = {"n": n, "ok": True, "command_ok": True, "completed": False}
        if self.args.deploy:
            command = self.args.deploy.replace("{n}", str(n))
            rc, _, out = run_shell(command, DEPLOY_TIMEOUT_S, "the deploy command", self.tmp)
            if rc != 0:
                raise CouldNotRun("deploy %d (%s) %s%s" % (n, command, "timed out" if rc is None
                                                           else "exited %d" % rc, ":\n" + out if out else ""))
        load.switch(reloading=True)
        t0 = time.monotonic()
        rc, seconds, out = run_shell(self.args.reload.replace("{n}", str(n)), RELOAD_TIMEOUT_S,
                                     "the reload command", self.tmp)
        record["command_ms"] = round(seconds * 1000, 1)
        if rc != 0:
            load.switch(reloading=False)
            record.update(ok=False, command_ok=False, problem="reload %d: the command %s%s" % (
                n, "did not exit within %d s" % RELOAD_TIMEOUT_S if rc is None else "exited %d" % rc,
                ": " + out if out else ""))
            record["completed"] = rc is not None  # a refusal leaves nothing running; a hung command may
            log("%s: %s" % (name, record["problem"]))
            return record
        self.wait_complete(record, t0)
        load.switch(reloading=False)
        if record["completed"]:
            log("%s: reload %d: command %.0f ms%s, complete after %.0f ms" % (
                name, n, record["command_ms"], ", new version after %.0f ms" % record["new_version_ms"]
                if "new_version_ms" in record else "", record["done_ms"]))
        else:
            log("%s: %s" % (name, record["problem"]))
        return record

    def wait_complete(self, record, t0, timeout=None):
        """Polls the completion check until it holds or timeout (default
        --done-timeout) from t0 has passed; fills record's new_version_ms,
        done_ms, completed, or ok=False and problem."""
        n = record["n"]
        timeout = self.args.done_timeout if timeout is None else timeout
        deadline = t0 + timeout
        streak = 0
        last = None  # the versions the last probe saw
        checked = 0.0  # when the completion check last ran
        while True:
            probe = self.version_text and ("new_version_ms" not in record or not self.args.done_check)
            if probe:
                answer = self.target.get()
                last = self.version_text.versions_in(answer.body) if answer else None
                if last and n in last:
                    record.setdefault("new_version_ms", round((time.monotonic() - t0) * 1000, 1))
                    streak += 1
                else:
                    streak = 0
            done = False
            if self.args.done_check:
                if time.monotonic() - checked >= DONE_CHECK_EVERY_S:
                    checked = time.monotonic()
                    remaining = max(1.0, deadline - checked)
                    rc, _, _ = run_shell(self.args.done_check.replace("{n}", str(n)),
                                           min(DONE_CHECK_TIMEOUT_S, remaining), "the completion check", self.tmp)
                    done = rc == 0
            else:
                done = not self.version_text or streak >= self.args.fresh
            if done:
                record["done_ms"] = round((time.monotonic() - t0) * 1000, 1)
                record["completed"] = True
                break
            if time.monotonic() > deadline:
                record.update(ok=False, problem="reload %d did not complete within %g s: %s" % (
                    n, timeout, self.not_complete_because(n, last, streak)))
                return
            time.sleep(DONE_CHECK_EVERY_S if self.args.done_check and not probe else PROBE_EVERY_S)
        if self.version_text and self.args.done_check:
            # The check said done: the new version must be what answers now (a
            # probe that gets no answer at all is tried again, twice).
            for _ in range(3):
                answer = self.target.get()
                if answer:
                    break
            seen = self.version_text.versions_in(answer.body) if answer else None
            if not seen or n not in seen:
                record.update(ok=False, problem="reload %d: the completion check said done, but a fresh "
                              "connection %s" % (n, "got no answer" if answer is None else
                                                 "was answered by version %s" % sorted(seen) if seen else
                                                 "got an answer without %r" % self.version_text.text(n)))

    def not_complete_because(self, n, last, streak):
        if self.args.done_check:
            return "the completion check (--done-check) did not exit 0"
        if last is None:
            return "the last fresh connection got no answer"
        return "%d fresh connection%s in a row answered by %r (of %d wanted); the last answer was %s" % (
            streak, "" if streak == 1 else "s", self.version_text.text(n), self.args.fresh,
            "version %s" % sorted(last) if last else "without a version")

    def finish_pending(self, record):
        """A reload did not complete under load: give it --done-timeout more
        with the load stopped (Workerman's graceful reload waits for its
        connections to close). True if it completed."""
        pending = dict(record, ok=True, problem=None)
        self.wait_complete(pending, time.monotonic())
        if pending["completed"]:
            record["completed_after_load_ms"] = pending["done_ms"]
            log("reload %d completed %.0f ms after its load stopped" % (record["n"], pending["done_ms"]))
        return pending["completed"]
