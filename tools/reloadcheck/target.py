"""target: the URL under test (loopback only), one-request probes on fresh
connections, and the version text that tells which version answered.

A probe's answer ends where HTTP says it ends: at its Content-Length, or its
last chunk, or (only when it gives neither) at the close. A server that keeps
the connection open whatever it is asked (Workerman answers `Connection:
keep-alive` to a request that says `Connection: close`) is answered as fast as
any other."""

import ipaddress
import re
import socket
import time
import urllib.parse

from .procs import CouldNotRun

MAX_ANSWER = 1 << 20  # a probe reads at most this much


class Answer:
    def __init__(self, status, body):
        self.status = status
        self.body = body


class _Reader:
    """Reads from a socket against a deadline; None from any method on timeout,
    close (unless allowed), or more than MAX_ANSWER bytes."""

    def __init__(self, sock, deadline):
        self.sock = sock
        self.deadline = deadline
        self.buf = b""
        self.total = 0
        self.eof = False

    def _fill(self):
        left = self.deadline - time.monotonic()
        if left <= 0 or self.eof:
            return False
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            self.eof = True
            return False
        self.total += len(chunk)
        if self.total > MAX_ANSWER:
            return False
        self.buf += chunk
        return True

    def until(self, sep):
        while sep not in self.buf:
            if not self._fill():
                return None
        part, self.buf = self.buf.split(sep, 1)
        return part

    def exactly(self, n):
        while len(self.buf) < n:
            if not self._fill():
                return None
        part, self.buf = self.buf[:n], self.buf[n:]
        return part

    def to_close(self):
        while self._fill():
            pass
        return self.buf if self.eof else None


def read_answer(sock, deadline):
    """One HTTP/1.x response from sock: an Answer, or None if it is not complete
    and well-formed by the deadline."""
    r = _Reader(sock, deadline)
    while True:
        head = r.until(b"\r\n\r\n")
        if head is None:
            return None
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or not status[0].startswith("HTTP/1.") or not status[1].isdigit():
            return None
        code = int(status[1])
        if code >= 200:
            break  # 1xx interim answers are skipped
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            return None
        headers[name.strip().lower()] = value.strip()
    if code in (204, 304):
        body = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size_line = r.until(b"\r\n")
            try:
                size = int(size_line.split(b";")[0].strip(), 16) if size_line is not None else None
            except ValueError:
                return None
            if size is None:
                return None
            if size == 0:
                break
            data = r.exactly(size + 2)
            if data is None:
                return None
            body += data[:-2]
        while True:  # trailers, up to the empty line
            line = r.until(b"\r\n")
            if line is None:
                return None
            if not line:
                break
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            return None
        body = r.exactly(length)
    else:
        body = r.to_close()
    if body is None:
        return None
    return Answer(code, body.decode("latin-1"))


class Target:
    """The URL, checked to be loopback, and one-request probes on fresh connections."""

    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http":
            raise CouldNotRun("the URL must start with http:// (got %r)" % url)
        host = parts.hostname or ""
        try:
            port = parts.port or 80
        except ValueError:
            raise CouldNotRun("the URL's port is not a number: %r" % url)
        address = "127.0.0.1" if host == "localhost" else host
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise CouldNotRun("refusing %r: reload-check only loads loopback addresses, and %r is not "
                              "a numeric address (use 127.0.0.1 or localhost)" % (url, host))
        if not ip.is_loopback:
            raise CouldNotRun("refusing %r: reload-check generates load and only targets loopback "
                              "(127.0.0.0/8 or localhost); %s is not loopback" % (url, host))
        if ip.version != 4:
            raise CouldNotRun("refusing %r: loadgen speaks IPv4 only; use 127.0.0.1" % url)
        self.url = url
        self.address = address
        self.port = port
        self.authority = parts.netloc
        self.path = (parts.path or "/") + ("?" + parts.query if parts.query else "")

    def get(self, timeout=1.0):
        """One GET on a fresh connection: an Answer, or None on any failure,
        including no complete answer within 2 x timeout."""
        request = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (self.path, self.authority)
        deadline = time.monotonic() + 2 * timeout
        try:
            with socket.create_connection((self.address, self.port), timeout=timeout) as s:
                s.sendall(request.encode())
                return read_answer(s, deadline)
        except OSError:
            return None

    def wait_answer(self, timeout):
        """The first answer within timeout, or None."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.get()
            if answer or time.monotonic() > deadline:
                return answer
            time.sleep(0.05)


class VersionText:
    """'TEXT {n}' as a pattern: which version numbers a body shows. The number is
    read whole, so 'version 1' does not match a body saying 'version 12'."""

    def __init__(self, template):
        if template.count("{n}") != 1:
            raise CouldNotRun("--version-text must contain {n} exactly once, got %r" % template)
        before, after = template.split("{n}")
        self.template = template
        # The digits are taken greedily; with no text before them, not from inside a longer number.
        self.regex = re.compile((re.escape(before) if before else r"(?<!\d)") + r"(\d+)" + re.escape(after))

    def versions_in(self, body):
        return {int(m) for m in self.regex.findall(body)}

    def text(self, n):
        return self.template.replace("{n}", str(n))
