"""idle: a client that holds many idle keep-alive connections to one server.

Each connection is opened, sends one GET, reads the whole response, and then
sits idle, open, until close_all(). At most `window` connections are being set
up at once, so the server's listen queue never overflows (a dropped SYN would
cost a second's retransmit, not memory). Standard library only: one epoll.
"""

import errno
import resource
import select
import socket
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class CouldNotHold(Exception):
    pass


def raise_fd_limit(need):
    """Soft RLIMIT_NOFILE up to the hard limit; False if even that is below need."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return True
    if hard != resource.RLIM_INFINITY and hard < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return False
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return True


def _response_complete(data):
    """True once data holds a whole response with a Content-Length body."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    if not head.startswith(b"HTTP/1.1 200"):
        raise CouldNotHold("unexpected response: %r" % head[:80])
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    raise CouldNotHold("a response without Content-Length: %r" % head[:200])


class IdleConnections:
    """Opens n connections to 127.0.0.1:port, each served one GET, and keeps them."""

    def __init__(self, port, n, window=256, timeout=60.0):
        self.port, self.n, self.window, self.timeout = port, n, window, timeout
        self.held = []  # sockets served once, now idle

    def open_all(self):
        ep = select.epoll()
        pending = {}  # fd -> [socket, received bytes, request sent?]
        started = 0
        deadline = time.monotonic() + self.timeout
        try:
            while len(self.held) < self.n:
                while started < self.n and len(pending) < self.window:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
                    err = s.connect_ex(("127.0.0.1", self.port))
                    if err not in (0, errno.EINPROGRESS):
                        s.close()
                        raise CouldNotHold("connect() to port %d failed: %s" % (self.port, errno.errorcode.get(err)))
                    pending[s.fileno()] = [s, b"", False]
                    ep.register(s.fileno(), select.EPOLLOUT)
                    started += 1
                if time.monotonic() > deadline:
                    raise CouldNotHold("only %d of %d connections were served within %.0f s"
                                       % (len(self.held), self.n, self.timeout))
                for fd, events in ep.poll(1.0):
                    entry = pending[fd]
                    s = entry[0]
                    if not entry[2]:
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            raise CouldNotHold("connect() to port %d failed: %s"
                                               % (self.port, errno.errorcode.get(err)))
                        s.send(REQUEST)  # 35 bytes into an empty socket buffer: all of it
                        entry[2] = True
                        ep.modify(fd, select.EPOLLIN)
                        continue
                    chunk = s.recv(65536)
                    if not chunk:
                        raise CouldNotHold("the server closed a connection before its response")
                    entry[1] += chunk
                    if _response_complete(entry[1]):
                        ep.unregister(fd)
                        del pending[fd]
                        self.held.append(s)
        except BaseException:
            for entry in pending.values():
                entry[0].close()
            self.close_all()
            raise
        finally:
            ep.close()

    def close_all(self):
        for s in self.held:
            s.close()
        self.held = []
