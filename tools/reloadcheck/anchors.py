"""anchors: the servers tools/reload-check-anchors sets up, each in its own
directory on a free loopback port with WORKERS workers answering "hello from
NAME version vN, pid P", N read where the server loads its code. Each gives its
deploy, reload and completion-check commands for tools/reload-check.

The reload notes the master's workers (its children) first; the completion
check is done once none of them is left and WORKERS workers run (an old worker
still draining counts as not done)."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
SERVER = os.path.join(ROOT, "server")
PROFILES = ["short", "keep-alive", "slow-client", "sparse"]
WORKERS = 2


class SetupFailed(Exception):
    pass


def log(msg):
    print("reload-check-anchors: " + msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, **kw)


def first_line(argv):
    try:
        return run(argv, timeout=20).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def package_version(name):
    try:
        return run(["dpkg-query", "-W", "-f=${Version}", name], timeout=20).stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def master_children(pid_file):
    """The shell words that set $kids to the master's children (its workers)."""
    # `read` fails at an end of file with no newline, having read the line: a pid
    # file may end so (Workerman's does).
    return ("m=; read m < %s; [ -n \"$m\" ] || exit 1; kids=$(cat /proc/$m/task/*/children 2>/dev/null)"
            % pid_file)


class Anchor:
    """One server in its own directory: start, deploy, reload, done check, stop."""

    name = label = ""
    pid_file = ""

    def __init__(self, tmp, args):
        self.dir = os.path.join(tmp, self.name)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)  # nginx's workers run as nobody
        self.args = args
        self.port = free_port()
        self.url = "http://127.0.0.1:%d/" % self.port
        self.started = False

    def path(self, name):
        return os.path.join(self.dir, name)

    # The reload notes the workers first; the check is done once none of them is
    # left and WORKERS run (an old worker still draining counts as not done).
    def reload_command(self):
        return "%s; echo $kids > %s; %s" % (master_children(self.pid_file), self.path("old-workers"),
                                            self.signal_reload())

    def done_check(self):
        return ("%s; old=; read old < %s; set -- $kids; [ $# -eq %d ] || exit 1; "
                "for k; do case \" $old \" in *\" $k \"*) exit 1;; esac; done%s"
                % (master_children(self.pid_file), self.path("old-workers"), WORKERS, self.also_done()))

    def also_done(self):
        return ""

    def deploy_command(self):
        return "echo v{n} > %s" % self.path("version")

    def master(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def wait_serving(self, timeout=60):
        """Until version v0 answers and the master has its workers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = http_body(self.port)
            pid = self.master()
            if body and "version v0," in body and pid and len(children(pid)) == WORKERS:
                return
            time.sleep(0.1)
        raise SetupFailed("%s does not answer version v0 with %d workers on %s after %d s%s"
                          % (self.name, WORKERS, self.url, timeout, self.log_tail()))

    def log_tail(self):
        text = ""
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(self.path(name), errors="replace") as f:
                    text += "\n--- %s ---\n%s" % (name, "".join(f.readlines()[-20:]))
        return text

    def stop(self):
        if not self.started:
            return
        self.started = False
        pid = self.master()
        try:
            self.stop_server()
        except (OSError, subprocess.TimeoutExpired) as e:
            log("%s: stopping it failed: %s" % (self.name, e))
        if pid and not wait_gone(pid, 15):
            log("%s: master %d still there 15 s after stop: SIGKILL to it and its workers" % (self.name, pid))
            for p in [pid] + children(pid):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass


class Smooth(Anchor):
    name, label = "smooth", "smooth `./server reload`"

    def start(self):
        self.pid_file = self.path("run/smooth.pid")
        self.conf = self.path("smooth.conf")
        self.module = self.path("hello.so")
        count = len(PROFILES) * self.args.reloads
        log("smooth: building the hello module as v0 to v%d" % count)
        for n in range(count + 1):
            out = self.path("hello-v%d.so" % n)
            r = run(["g++", "-std=c++20", "-O2", "-fPIC", "-shared", "-I" + os.path.join(ROOT, "include"),
                     '-DHELLO_VERSION="v%d"' % n, "-o", out, os.path.join(ROOT, "modules", "hello.cpp")], timeout=300)
            if r.returncode != 0:
                raise SetupFailed("compiling modules/hello.cpp failed:\n" + r.stdout[-2000:])
        shutil.copyfile(self.path("hello-v0.so"), self.module)
        with open(self.conf, "w") as f:
            f.write("[server]\nrun_dir = %s\n\n[group web]\nlisten = http://127.0.0.1:%d\ncount = %d\nmodule = %s\n"
                    % (self.path("run"), self.port, WORKERS, self.module))
        self.started = True
        r = run([SERVER, "-c", self.conf, "start", "-d"])
        if r.returncode != 0:
            raise SetupFailed("smooth did not start:\n" + r.stdout)

    def deploy_command(self):
        return "cp %s/hello-v{n}.so %s.new && mv -f %s.new %s" % (self.dir, self.module, self.module, self.module)

    def signal_reload(self):
        return "%s -c %s reload" % (SERVER, self.conf)

    def version(self):
        return first_line(["git", "-C", ROOT, "describe", "--always", "--dirty"])

    def stop_server(self):
        run([SERVER, "-c", self.conf, "stop"], timeout=30)


class Nginx(Anchor):
    name, label = "nginx", "nginx `nginx -s reload`"
    NGINX = "/usr/sbin/nginx"

    def start(self):
        self.pid_file = self.path("nginx.pid")
        self.conf = self.path("nginx.conf")
        with open(self.conf, "w") as f:
            f.write("""worker_processes %d;
daemon on;
pid %s;
error_log %s warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %s;
    server {
        listen 127.0.0.1:%d;
        location / { default_type text/plain; return 200 "hello from nginx version v0, pid $pid\\n"; }
    }
}
""" % (WORKERS, self.pid_file, self.path("error.log"), self.path("body"), self.port))
        self.started = True
        r = run(self.base() + ["-q"])
        if r.returncode != 0:
            raise SetupFailed("nginx did not start:\n" + r.stdout)

    def base(self):
        return [self.NGINX, "-p", self.dir + "/", "-e", self.path("error.log"), "-c", self.conf]

    def deploy_command(self):
        return "sed -i 's/version v[0-9]*,/version v{n},/' %s" % self.conf

    def signal_reload(self):
        return " ".join(self.base()) + " -s reload"

    def version(self):
        return first_line([self.NGINX, "-v"]).split("/")[-1]

    def stop_server(self):
        run(self.base() + ["-s", "stop"], timeout=30)


WORKERMAN_START = r"""<?php
// Workerman from its source: PSR-4 for Workerman\ (composer.json's autoload),
// and a stub for workerman/coroutine's Context, whose destroy() Worker.php calls
// after onWorkerStart; without coroutines there is nothing to destroy.
spl_autoload_register(function ($class) {
    if ($class === 'Workerman\Coroutine\Context') {
        require __DIR__ . '/context_stub.php';
        return;
    }
    if (strncmp($class, 'Workerman\\', 10) === 0) {
        $file = %(src)s . '/' . str_replace('\\', '/', substr($class, 10)) . '.php';
        if (is_file($file)) {
            require $file;
        }
    }
});

use Workerman\Worker;

Worker::$pidFile = __DIR__ . '/workerman.pid';
Worker::$logFile = __DIR__ . '/workerman.log';
Worker::$stdoutFile = __DIR__ . '/stdout.log';

$worker = new Worker('http://127.0.0.1:%(port)d');
$worker->count = %(workers)d;
$version = '';
// Read where a worker loads its code: a reload starts new workers, which read it again.
$worker->onWorkerStart = function () use (&$version) {
    $version = trim(file_get_contents(__DIR__ . '/version'));
};
$worker->onMessage = function ($connection, $request) use (&$version) {
    $connection->send("hello from workerman version $version, pid " . getmypid() . "\n");
};
Worker::runAll();
"""

CONTEXT_STUB = r"""<?php
namespace Workerman\Coroutine;

class Context
{
    public static function destroy(): void
    {
    }
}
"""


class Workerman(Anchor):
    name, label = "workerman", "Workerman `php start.php reload`"
    graceful = False

    def start(self):
        src = os.path.join(self.args.workerman, "src")
        self.pid_file = self.path("workerman.pid")
        with open(self.path("version"), "w") as f:
            f.write("v0\n")
        with open(self.path("start.php"), "w") as f:
            f.write(WORKERMAN_START % {"src": php_string(src), "port": self.port, "workers": WORKERS})
        with open(self.path("context_stub.php"), "w") as f:
            f.write(CONTEXT_STUB)
        self.started = True
        r = run(["php", self.path("start.php"), "start", "-d"], cwd=self.dir)
        if r.returncode != 0:
            raise SetupFailed("Workerman did not start:\n" + r.stdout)

    def signal_reload(self):
        return "php %s reload%s >/dev/null" % (self.path("start.php"), " -g" if self.graceful else "")

    def version(self):
        with open(os.path.join(self.args.workerman, "src", "Worker.php")) as f:
            m = re.search(r"VERSION = '([^']+)'", f.read())
        return "%s (PHP %s)" % (m.group(1) if m else "?", package_version("php-cli").split(":")[-1].split("+")[0])

    def stop_server(self):
        run(["php", self.path("start.php"), "stop"], timeout=30, cwd=self.dir)


class WorkermanGraceful(Workerman):
    name, label = "workerman-g", "Workerman `php start.php reload -g`"
    graceful = True


WSGI_APP = """# Read at import, where a worker loads its code: a reload imports it afresh.
import os

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "version")) as f:
    VERSION = f.read().strip()


def application(environ, start_response):
    body = ("hello from %s version %s, pid %d\\n" % (NAME, VERSION, os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


class Wsgi(Anchor):
    def write_app(self):
        with open(self.path("version"), "w") as f:
            f.write("v0\n")
        with open(self.path("hello_app.py"), "w") as f:
            f.write(WSGI_APP.replace("NAME", repr(self.name.split("-")[0])))


class Gunicorn(Wsgi):
    name, label = "gunicorn", "gunicorn `kill -HUP`"

    def start(self):
        self.write_app()
        self.pid_file = self.path("gunicorn.pid")
        self.started = True
        r = run(["gunicorn", "--workers", str(WORKERS), "--bind", "127.0.0.1:%d" % self.port, "--pid", self.pid_file,
                 "--daemon", "--error-logfile", self.path("gunicorn.log"), "--chdir", self.dir,
                 "hello_app:application"], cwd=self.dir)
        if r.returncode != 0:
            raise SetupFailed("gunicorn did not start:\n" + r.stdout)

    def signal_reload(self):
        return "kill -HUP $m"

    def version(self):
        return package_version("gunicorn")

    def stop_server(self):
        pid = self.master()
        if pid:
            os.kill(pid, signal.SIGTERM)


class Uwsgi(Wsgi):
    name, label = "uwsgi", "uWSGI `uwsgi --reload`"

    def options(self):
        return []

    def start(self):
        self.write_app()
        self.pid_file = self.path("uwsgi.pid")
        self.started = True
        r = run(["uwsgi", "--plugin", "python3", "--master", "--workers", str(WORKERS), "--http-socket",
                 "127.0.0.1:%d" % self.port, "--listen", "1024", "--chdir", self.dir, "--wsgi-file",
                 self.path("hello_app.py"), "--pidfile", self.pid_file, "--daemonize", self.path("uwsgi.log"),
                 "--disable-logging", *self.options()], cwd=self.dir)
        if r.returncode != 0:
            raise SetupFailed("uWSGI did not start:\n" + r.stdout)

    def signal_reload(self):
        return "uwsgi --reload %s" % self.pid_file

    def version(self):
        return package_version("uwsgi")

    def stop_server(self):
        run(["uwsgi", "--stop", self.pid_file], timeout=30)


class UwsgiChain(Uwsgi):
    name, label = "uwsgi-chain", "uWSGI chain reload (touch-chain-reload)"

    def options(self):
        return ["--lazy-apps", "--touch-chain-reload", self.path("chain")]

    def signal_reload(self):
        return "touch %s" % self.path("chain")

    # uWSGI ignores a touch until its chain says it is complete, a master cycle
    # (a second) after the last worker is up: the nth reload is done once the
    # log says so the nth time.
    def also_done(self):
        return "; [ \"$(grep -c 'chain reloading complete' %s)\" -ge {n} ]" % self.path("uwsgi.log")


ANCHORS = {c.name: c for c in (Smooth, Nginx, Workerman, WorkermanGraceful, Gunicorn, Uwsgi, UwsgiChain)}


def php_string(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def children(pid):
    kids = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids


def wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def http_body(port):
    """One GET; the body, read to its Content-Length (a server may keep the connection)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return None
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            while m and len(body) < int(m.group(1)):
                chunk = s.recv(4096)
                if not chunk:
                    break
                body += chunk
            return body.decode("latin-1")
    except OSError:
        return None
