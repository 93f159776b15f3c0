"""health_path: the worker answers a load balancer's health check itself,
200 "ok build B" while it serves and 503 "draining build B" (with Connection:
close) once it drains, so a balancer stops sending before the connections
close; B is the build of ./server it runs."""
import subprocess

from conftest import MODULES, SERVER, HttpConn, wait_until

BUILD = subprocess.run([str(SERVER), "--version"], capture_output=True, text=True).stdout.split()[-1].encode()
OK, DRAINING = b"ok build " + BUILD + b"\n", b"draining build " + BUILD + b"\n"


def test_ready_worker_says_ok_draining_worker_says_503(smooth):
    srv = smooth.start(groups={"web": {"count": 1, "module": str(MODULES / "slow.so"), "health_path": "/healthz",
                                       "keepalive_timeout": "10s"}})
    status, headers, body = srv.get("/healthz")
    assert (status, body) == (200, OK), (status, headers, body)
    status, _, body = srv.get("/")
    assert status == 200 and body.startswith(b"slow reply"), "every other path is the module's"
    old = srv.workers()[0]["pid"]
    served = srv.workers()[0]["requests"]

    with HttpConn(srv.port(), timeout=10) as c:
        # A request the module holds for 3 s, and a health check pipelined
        # behind it on the same connection: it is read only once the first is
        # answered, and by then the worker drains.
        c.send("GET /?delay=3000 HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: srv.workers()[0]["requests"] > served, 5, what="the slow request handed to the module")
        r = srv.reload("--no-wait")  # count = 1, stop_first: the worker is told to drain now
        assert r.returncode == 0, r.stdout + r.stderr
        wait_until(lambda: any(w["pid"] == old and w["state"] == "draining" for w in srv.workers()), 5,
                   what="the old worker draining")

        status, headers, body = c.read_response()
        assert status == 200 and b"after 3000 ms" in body, (status, body)
        assert headers.get("connection") != "close", "a request is pipelined behind it: not the last response"
        status, headers, body = c.read_response()
        assert (status, body) == (503, DRAINING), (status, headers, body)
        assert headers.get("connection") == "close", headers
        assert c.closed_by_peer(), "the draining worker closes after its 503"

    srv.wait_ready()
    (new,) = srv.workers()
    assert new["pid"] != old
    status, headers, body = srv.get("/healthz")
    assert (status, body) == (200, OK)


def test_ws_group_answers_health_checks(smooth):
    srv = smooth.start(groups={"chat": {"listen": "ws", "count": 1, "health_path": "/up"}})
    status, headers, body = srv.get("/up", group="chat")
    assert (status, body) == (200, OK)
    assert headers.get("content-type") == "text/plain"
    status, _, body = srv.get("/", group="chat")
    assert status == 200 and b"hello from module hello" in body
