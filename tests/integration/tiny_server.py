#!/usr/bin/python3
"""tiny_server: an HTTP server on loopback that behaves like one that
reload-check meets in the wild, for reload-check's tests. Each answer is
"hello from tiny version N, pid P".

    tiny_server.py DIR [--keepalive MODE] [--reload MODE] [--reload-s S]

In DIR it writes `port` once it listens and `state` ("VERSION PENDING", PENDING
the version a reload is bringing or "-") whenever that changes, each file
whole or not at all. A deploy writes the next version number to DIR/deploy;
SIGHUP reloads to it. tiny_commands() gives the shell commands (builtins only,
so a reload costs no process start): deploy, reload (refused while a reload
runs, as uWSGI refuses a chain reload) and a completion check.

--keepalive MODE, what the server does with a connection after an answer:
  normal   HTTP/1.1: kept unless the request said `Connection: close`, which the
           answer then says too before the close
  always   answers `Connection: keep-alive` whatever was asked and never closes
           (Workerman 5.2.2)
  silent   closes after every answer without saying `Connection: close`; it waits
           up to 0.2 s for the client's next request first, so the close always
           meets a request the client sent on the reused connection (uWSGI's close
           races the client's next request; here the client always loses)
  never    `Connection: close` on every answer (gunicorn's sync workers)

--reload MODE, what SIGHUP does:
  instant  the deployed version answers at once
  slow     for S seconds one answer in four is the new version (workers
           replaced one by one), then all are (uWSGI's chain reload)
  stall    nothing is answered for S seconds, then the new version is (uWSGI: a
           stall of about 1 s per reload)
  graceful the new version answers once every connection open at the signal has
           closed; until then the old version answers (Workerman `reload -g`):
           under keep-alive load, never
"""
import argparse
import asyncio
import os
import signal
import sys


def tiny_commands(directory, pid):
    """(deploy, reload, done-check) for a tiny_server in directory, {n} the version."""
    d = str(directory)
    deploy = f"echo {{n}} > {d}/deploy"
    reload = (f'read v p < {d}/state; [ "$p" = - ] || {{ echo "tiny_server: a reload is already running" >&2; '
              f'exit 1; }}; kill -HUP {pid}')
    done = f'read v p < {d}/state; [ "$v" = {{n}} ] && [ "$p" = - ]'
    return deploy, reload, done


def write_whole(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


class State:
    def __init__(self, directory, reload_mode, reload_s):
        self.dir = directory
        self.mode = reload_mode
        self.reload_s = reload_s
        self.version = 0
        self.pending = None           # the version a reload is bringing
        self.answers = 0              # slow: counts answers, one in four is the new version
        self.open = set()             # connections open now
        self.waiting_for = set()      # graceful: connections the pending version waits for
        self.resumed = asyncio.Event()
        self.resumed.set()
        self.publish()

    def publish(self):
        write_whole(os.path.join(self.dir, "state"), "%d %s\n" % (
            self.version, "-" if self.pending is None else self.pending))

    def reload(self):
        if self.pending is not None:
            return  # refused by the reload command; a signal that slipped through changes nothing
        with open(os.path.join(self.dir, "deploy")) as f:
            n = int(f.read())
        if self.mode == "instant":
            self.version = n
        else:
            self.pending = n
            if self.mode == "graceful":
                self.waiting_for = set(self.open)
            elif self.mode == "stall":
                self.resumed.clear()
            if self.mode in ("slow", "stall"):
                asyncio.get_running_loop().call_later(self.reload_s, self.take_over)
        self.publish()
        self.settle()

    def settle(self):
        if self.pending is not None and self.mode == "graceful" and not self.waiting_for:
            self.take_over()

    def take_over(self):
        self.version, self.pending = self.pending, None
        self.resumed.set()
        self.publish()

    def answering_version(self):
        if self.mode == "slow" and self.pending is not None:
            self.answers += 1
            return self.pending if self.answers % 4 == 0 else self.version
        return self.version

    def closed(self, conn):
        self.open.discard(conn)
        self.waiting_for.discard(conn)
        self.settle()


async def serve_connection(state, keepalive, reader, writer):
    conn = object()
    state.open.add(conn)
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            asked_close = b"\r\nconnection: close" in head.lower()
            await state.resumed.wait()
            body = b"hello from tiny version %d, pid %d\n" % (state.answering_version(), os.getpid())
            close = {"normal": asked_close, "always": False, "silent": True, "never": True}[keepalive]
            said = {"normal": b"Connection: close\r\n" if asked_close else b"",
                    "always": b"Connection: keep-alive\r\n", "silent": b"",
                    "never": b"Connection: close\r\n"}[keepalive]
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s"
                         % (len(body), said, body))
            await writer.drain()
            if close:
                if keepalive == "silent":  # let the client's next request (if any) come, then close under it
                    try:
                        await asyncio.wait_for(reader.read(1), 0.2)
                    except (asyncio.TimeoutError, ConnectionError):
                        pass
                return
    except ConnectionError:
        return
    finally:
        state.closed(conn)
        writer.close()


async def serve(args):
    state = State(args.dir, args.reload, args.reload_s)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, state.reload)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    http = await asyncio.start_server(lambda r, w: serve_connection(state, args.keepalive, r, w), "127.0.0.1", 0,
                                      backlog=1024)
    write_whole(os.path.join(args.dir, "port"), "%d\n" % http.sockets[0].getsockname()[1])
    await stop.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--keepalive", choices=["normal", "always", "silent", "never"], default="normal")
    ap.add_argument("--reload", choices=["instant", "slow", "stall", "graceful"], default="instant")
    ap.add_argument("--reload-s", type=float, default=1.0)
    asyncio.run(serve(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
