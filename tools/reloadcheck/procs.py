"""procs: the processes reload-check starts (loadgen, the user's commands),
each bounded in time and all stopped on the way out."""

import ctypes
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
LOADGEN = os.path.join(ROOT, "tests", "support", "loadgen")


class CouldNotRun(Exception):
    """The check itself could not run: exit 2."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP: stop like Ctrl-C."""


def log(msg):
    print("reload-check: " + msg, file=sys.stderr, flush=True)


class Procs:
    """Every child the script starts, so that the way out can stop them all."""

    def __init__(self):
        self.procs = []

    def popen(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def stop(self, p):
        """SIGTERM (to the process group of a shell command), SIGKILL after 3 s."""
        if p.poll() is None:
            group = getattr(p, "own_group", False)
            try:
                os.killpg(p.pid, signal.SIGTERM) if group else p.terminate()
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL) if group else p.kill()
                p.wait()
            except OSError:
                pass
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in list(self.procs):
            self.stop(p)


PROCS = Procs()


def die_with_parent():
    """preexec_fn for loadgen: SIGTERM it if this script dies, even by SIGKILL, so
    no load outlives the check (PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)


def run_shell(command, timeout, what, out_dir):
    """Runs command with /bin/sh in its own process group, output to a file (a
    daemon it starts may keep a pipe open forever). Returns (exit code or None on
    timeout, seconds, the output's tail)."""
    out_path = os.path.join(out_dir, "command.out")
    with open(out_path, "w+") as out:
        t0 = time.monotonic()
        p = PROCS.popen(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                        start_new_session=True)
        p.own_group = True
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log("%s still running after %g s; stopping it: %s" % (what, timeout, command))
            rc = None
        seconds = time.monotonic() - t0
        PROCS.stop(p)
        out.seek(0)
        text = out.read()
    return rc, seconds, text.strip()[-1000:]


def signal_handler_installed(pid, signo):
    """True once process pid catches signo (its SigCgt mask in /proc says so)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signo - 1) & 1)
    except OSError:
        pass
    return False


def ensure_loadgen():
    source = LOADGEN + ".cpp"
    if os.access(LOADGEN, os.X_OK) and not (os.path.exists(source) and
                                            os.path.getmtime(source) > os.path.getmtime(LOADGEN)):
        return
    log("building tests/support/loadgen")
    try:
        r = subprocess.run(["make", "-s", "-C", ROOT, "tests/support/loadgen"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CouldNotRun("building tests/support/loadgen failed: %s" % e)
    if r.returncode != 0 or not os.access(LOADGEN, os.X_OK):
        raise CouldNotRun("tests/support/loadgen is missing or older than its source, and `make tests/support/loadgen` "
                          "failed:\n" + r.stdout[-2000:])
