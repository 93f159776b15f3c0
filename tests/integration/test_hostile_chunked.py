"""Chunked amplification: 1-byte chunks each carrying a 4,000-byte extension.

Before, the raw request was buffered without limit and parsed again from its
start on every read: two such connections grew a worker to 2 GB in 8 s at
100% CPU. Now the chunked decoder keeps its place and drops the framing it
has read, and the bytes a request may take on the wire are bounded (head,
framing, body): the attacker gets 413 after a bounded number of bytes, the
worker's memory stays flat, and other clients keep their latency."""
import socket
import threading
import time

from conftest import MODULES, http_request

EXTENSION = b";" + b"x" * 3990 + b"=y"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def attack(port, results, max_bytes=64 << 20):
    """Sends the amplification body until the server answers or closes;
    records (bytes sent, the answer's first line)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    sent = 0
    chunk = b"1" + EXTENSION + b"\r\na\r\n"
    burst = chunk * 64
    answer = b""
    try:
        s.setblocking(False)
        while sent < max_bytes:
            try:
                sent += s.send(burst)
            except BlockingIOError:
                time.sleep(0.001)
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                answer += s.recv(4096)
                if answer:
                    break
            except BlockingIOError:
                pass
            except ConnectionResetError:
                break
        s.setblocking(True)
        s.settimeout(5)
        try:
            while b"\r\n" not in answer:
                more = s.recv(4096)
                if not more:
                    break
                answer += more
        except (socket.timeout, ConnectionResetError):
            pass
    finally:
        s.close()
    results.append((sent, answer.split(b"\r\n", 1)[0]))


def test_amplified_chunks_get_413_in_bounded_memory(smooth):
    srv = smooth.start(groups={"web": {"count": 1, "module": str(MODULES / "echo.so"), "max_request_bytes": "1m"}})
    pid = srv.workers()[0]["pid"]
    before = rss_kib(pid)

    results = []
    attackers = [threading.Thread(target=attack, args=(srv.port(), results)) for _ in range(2)]
    peak = before
    latencies = []
    for t in attackers:
        t.start()
    # While they attack, a well-behaved client asks away.
    while any(t.is_alive() for t in attackers):
        t0 = time.monotonic()
        status, _, body = http_request(srv.port(), "POST", "/", body=b"fine")
        latencies.append(time.monotonic() - t0)
        assert status == 200 and body == b"fine"
        peak = max(peak, rss_kib(pid))
    for t in attackers:
        t.join(30)

    assert len(results) == 2
    for sent, answer in results:
        assert answer == b"HTTP/1.1 413 Content Too Large", (sent, answer)
        # 1 MiB body allows 64 KiB + 1 MiB / 16 of framing: the answer comes
        # after about 128 KiB, not after everything the attacker had.
        assert sent < 8 << 20, f"the server took {sent} bytes before refusing"
    assert peak - before < 16 << 10, f"worker RSS grew from {before} KiB to {peak} KiB"
    latencies.sort()
    assert latencies[len(latencies) // 2] < 0.2, f"median latency {latencies[len(latencies) // 2]:.3f}s under attack"
    assert srv.get()[0] == 200
