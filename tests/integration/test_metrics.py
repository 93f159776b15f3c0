"""The metrics page (metrics_path): Debian's promtool accepts it, a worker of
any group answers for the whole server, and a real Prometheus from Debian,
scraping smooth on loopback through a reload and a binary upgrade under
load, sees the reload, the upgrade and every request counted, with no
counter going backwards (its resets() says 0)."""
import json
import os
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request

from conftest import (MODULES, assert_no_errors, finish_loadgen, free_port, http_request, start_loadgen,
                      wait_until)

PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"


def scrape(port, path="/metrics"):
    status, headers, body = http_request(port, "GET", path)
    assert status == 200, body
    return headers, body.decode()


def samples(text):
    """{'name{labels}': value} for every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def promtool_check(text):
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def test_promtool_accepts_the_page_and_any_worker_answers_for_all(smooth):
    srv = smooth.start(groups={
        "web": {"listen": "http", "count": 2, "metrics_path": "/metrics", "health_path": "/healthz"},
        "lines": {"listen": "text", "count": 1, "module": str(MODULES / "echo.so")},
    })
    for _ in range(5):
        assert srv.get("/x")[0] == 200
    assert srv.get("/healthz")[0] == 200
    headers, text = scrape(srv.port("web"))
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    rc, out = promtool_check(text)
    assert rc == 0, f"promtool check metrics: {out}\n{text}"
    s = samples(text)
    # Both groups, from one worker of one group.
    assert s['smooth_http_requests_total{group="web",code="2xx"}'] >= 6
    assert s['smooth_workers{group="web",state="ready"}'] == 2
    assert s['smooth_workers{group="lines",state="ready"}'] == 1
    assert s['smooth_connections{group="lines",protocol="text"}'] == 0
    assert s['smooth_build_info{build_id="dev"}'] == 1 or any(k.startswith("smooth_build_info") for k in s)
    assert s['smooth_module_info{group="lines",version="echo 1"}'] == 1
    assert 'smooth_limit_hits_total{group="web",kind="unsent_bytes"}' in s
    # No pid anywhere in a label: a pid is not a dimension.
    assert "pid=" not in text
    # A module never sees the scrape: hello would answer with its own body.
    assert "hello from module" not in text


def test_a_reload_is_counted_and_no_counter_goes_back(smooth):
    srv = smooth.start(groups={"web": {"listen": "http", "count": 2, "metrics_path": "/metrics"}})
    for _ in range(10):
        srv.get("/")
    before = samples(scrape(srv.port())[1])
    assert srv.reload().returncode == 0
    for _ in range(3):
        srv.get("/")
    after = samples(scrape(srv.port())[1])
    for key, value in before.items():
        if "_total" in key or key.endswith("_count") or "_bucket" in key:
            assert after.get(key, 0) >= value, f"{key} went from {value} to {after.get(key)}"
    assert after['smooth_reloads_total{result="complete"}'] == before['smooth_reloads_total{result="complete"}'] + 1
    assert after['smooth_messages_total{group="web"}'] >= before['smooth_messages_total{group="web"}'] + 4
    assert after["smooth_reload_duration_seconds_count"] == 1
    # Each old worker's drain, as it measured it, and what it had then.
    assert after["smooth_drain_duration_seconds_count"] == 2
    assert after["smooth_drain_connections_count"] == 2
    # A refused reload (a config that does not parse: SIGHUP, the command
    # line would not even send it) is counted as refused.
    conf = srv.conf.read_text()
    srv.conf.write_text(conf + "\nbogus line\n")
    os.kill(srv.master_pid(), signal.SIGHUP)
    wait_until(lambda: samples(scrape(srv.port())[1])['smooth_reloads_total{result="refused"}'] == 1, 10,
               what="the refused reload counted")
    srv.conf.write_text(conf)


def test_a_crashed_worker_is_a_restart(smooth):
    srv = smooth.start(groups={"web": {"listen": "http", "count": 2, "metrics_path": "/metrics"}})
    victim = srv.workers()[0]["pid"]
    os.kill(victim, signal.SIGKILL)
    srv.wait_ready()
    s = samples(scrape(srv.port())[1])
    assert s['smooth_worker_restarts_total{group="web"}'] == 1


class Prometheus:
    """A Prometheus from Debian on loopback, its own storage in the test's directory."""

    def __init__(self, tmp_path, target_port):
        self.port = free_port()
        conf = tmp_path / "prometheus.yml"
        conf.write_text(
            "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n"
            "scrape_configs:\n  - job_name: smooth\n    metrics_path: /metrics\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n")
        self.log = open(tmp_path / "prometheus.log", "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={conf}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self._ready, 60, interval=0.2, what="Prometheus ready")

    def _ready(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, promql):
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as r:
            reply = json.loads(r.read())
        assert reply["status"] == "success", reply
        return {json.dumps(x["metric"], sort_keys=True): float(x["value"][1]) for x in reply["data"]["result"]}

    def value(self, promql):
        v = self.query(promql)
        return next(iter(v.values())) if v else None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def test_prometheus_scrapes_through_a_reload_and_an_upgrade(smooth, tmp_path):
    srv = smooth.start(groups={"web": {"listen": "http", "count": 2, "metrics_path": "/metrics"}})
    prom = Prometheus(tmp_path, srv.port())
    try:
        wait_until(lambda: prom.value('smooth_messages_total{group="web"}') is not None, 30, interval=0.2,
                   what="Prometheus's first scrape")
        # Our own scraper too, on new connections, as fast as it can: each
        # answer from whichever worker (of whichever master) takes it.
        seen, went_back, stop = [], [], threading.Event()

        def scraper():
            last = {}
            while not stop.is_set():
                try:
                    s = samples(scrape(srv.port())[1])
                except (OSError, AssertionError):
                    continue
                for k, v in s.items():
                    counter = "_total" in k or "_count" in k or "_bucket" in k
                    if counter and last.get(k, 0) > v:
                        went_back.append((k, last[k], v))
                    last[k] = v
                seen.append(s['smooth_messages_total{group="web"}'])
                time.sleep(0.05)

        t = threading.Thread(target=scraper)
        t.start()
        out = tmp_path / "load.json"
        load = start_loadgen(f"http://127.0.0.1:{srv.port()}/", "-c", "4", "-k", "-d", "6", out_path=out)
        time.sleep(1.0)  # (the load is flowing: a stretch of scrapes before the reload)
        r = srv.reload()
        assert r.returncode == 0, r.stdout + r.stderr
        r = srv.cli("upgrade", timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        report = finish_loadgen(load, out)
        stop.set()
        t.join()
        assert_no_errors(report)
        assert not went_back, f"a counter went back between two scrapes: {went_back[:5]}"

        # Prometheus has scraped the new master after the load ended.
        wait_until(lambda: (prom.value('smooth_upgrades_total{result="complete"}') or 0) >= 1, 30, interval=0.25,
                   what="Prometheus to see the upgrade")
        # Every request of the load, and not one twice: the load's answers
        # plus our own scrapes (Prometheus's are counted too, so at least).
        # Waited for: Prometheus's last scrape may come before the one that counts them all.
        ok_2xx = lambda: prom.value('smooth_http_requests_total{group="web",code="2xx"}') or 0
        wait_until(lambda: ok_2xx() >= report["ok"] + len(seen), 30, interval=0.25,
                   what="Prometheus to count every request of the load and every scrape of ours")
        assert prom.value('smooth_reloads_total{result="complete"}') == 1
        assert prom.value("smooth_drain_duration_seconds_count") >= 4  # two drained by the reload, two by the upgrade
        # resets(): how many times a counter went down in the window. None.
        for name in ("smooth_messages_total", "smooth_http_requests_total", "smooth_sent_bytes_total",
                     "smooth_received_bytes_total", "smooth_reloads_total", "smooth_reload_duration_seconds_count",
                     "smooth_drain_duration_seconds_count"):
            resets = prom.query(f"resets({name}[5m])")
            assert resets and all(v == 0 for v in resets.values()), f"{name}: {resets}"
    finally:
        prom.stop()
