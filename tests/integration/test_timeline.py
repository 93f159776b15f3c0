"""`./server reload --timeline FILE.svg`: the reload that just ran, drawn.
The picture must be well-formed XML with one lane per worker slot; a failed
reload's picture shows the abort and the rollback; a gateway's hand-over
shows its span and the connections moving from the old worker to the new."""
import xml.etree.ElementTree as ET

from conftest import assert_no_errors, build_module, finish_loadgen, start_loadgen, wait_until
from test_handover import gateway_pids, groups, linked, next_text
from test_websocket import RawWs, frame

SVG = "{http://www.w3.org/2000/svg}"


def lanes(path):
    root = ET.parse(path).getroot()  # raises if it is not well-formed XML
    assert root.tag == SVG + "svg"
    return [(g.get("data-slot"), g.get("data-kind")) for g in root.iter(SVG + "g") if g.get("class") == "lane"]


def served(srv):
    return sum(w["requests"] for w in srv.workers())


def test_timeline_of_a_reload_under_load(smooth, tmp_path):
    module = build_module("hello", tmp_path / "app.so", "v1")
    srv = smooth.start(groups={"web": {"count": 3, "module": str(module)}})
    load = start_loadgen(f"http://127.0.0.1:{srv.port()}/", "-c", "16", "-d", "60", "--stop-file",
                         str(tmp_path / "stop"), out_path=tmp_path / "load.json")
    try:
        wait_until(lambda: served(srv) > 500, what="the load to flow")
        build_module("hello", module, "v2")
        r = srv.reload("--timeline", str(tmp_path / "reload.svg"))
    finally:
        (tmp_path / "stop").touch()
    assert_no_errors(finish_loadgen(load, tmp_path / "load.json"), "a reload drawn as a timeline")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "reload complete" in r.stdout and "timeline: 3 lanes drawn" in r.stdout, r.stdout

    drawn = lanes(tmp_path / "reload.svg")
    assert sorted(drawn) == [("web#0", "replace"), ("web#1", "replace"), ("web#2", "replace")], drawn
    text = (tmp_path / "reload.svg").read_text()
    assert "<polyline" in text, "the requests-per-second line is missing"
    assert "READY after" in text and "draining" in text


def test_timeline_of_a_failed_reload_shows_the_rollback(smooth, tmp_path):
    module = build_module("hello", tmp_path / "app.so", "v1")
    srv = smooth.start(groups={"web": {"count": 3, "module": str(module)}})
    # A release that starts in slot 0 (the canary passes) and fails in slot 1,
    # whose old worker has drained by then: slot 1 is refilled.
    build_module("broken", module, "v2", defines=["BROKEN_ONLY_SLOT=1"])

    r = srv.reload("--timeline", str(tmp_path / "abort.svg"))
    assert r.returncode == 1 and "reload aborted" in r.stdout, r.stdout

    drawn = lanes(tmp_path / "abort.svg")
    assert {slot for slot, _ in drawn} == {"web#0", "web#1", "web#2"}, "one lane per slot"
    assert ("web#1", "rollback") in drawn and ("web#2", "untouched") in drawn, drawn
    text = (tmp_path / "abort.svg").read_text()
    assert "aborted, rolled back" in text and "failed: abort" in text
    # Slot 1 was refilled with the version it ran before (v1), which starts
    # there: not with the new one that had just failed in it.
    wait_until(lambda: len(srv.workers()) == 3 and all(w["state"] == "ready" for w in srv.workers()),
               what="all three slots serving after the rollback")
    assert "refilled with" in r.stdout and "the version it ran before" in r.stdout, r.stdout


def test_timeline_needs_a_reload_that_waits(smooth, tmp_path):
    srv = smooth.start(groups={"web": {"count": 1}})
    r = srv.cli("reload", "--no-wait", "--timeline", str(tmp_path / "x.svg"))
    assert r.returncode == 2 and "--timeline" in r.stderr, r.stderr
    assert not (tmp_path / "x.svg").exists()
    assert srv.status()["reload"]["description"] == "idle", "nothing was reloaded"


def counts_of(lane, worker):
    """A lane's samples of one worker's open connections: [(t_ms, count)]."""
    for g in lane.iter(SVG + "g"):
        if g.get("class") == "connections" and g.get("data-worker") == worker:
            return [tuple(int(v) for v in pair.split(":")) for pair in g.get("data-counts").split()]
    raise AssertionError(f"lane {lane.get('data-slot')} has no line for the {worker} worker's connections")


def test_timeline_of_a_hand_over_shows_the_connections_moving(smooth, tmp_path):
    """A gateway group replaced by hand-over: its lane shows the hand-over's
    span, and the old worker's 50 connections becoming the new one's."""
    srv = smooth.start(groups=groups())
    wait_until(lambda: linked(srv), what="the gateway linked")
    clients = [RawWs(srv.port("gateway")) for _ in range(50)]  # idle: they only stay connected
    wait_until(lambda: srv.workers("gateway")[0]["connections"] == 50, what="50 clients on the gateway worker")
    old = gateway_pids(srv)

    r = srv.reload("--timeline", str(tmp_path / "handover.svg"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "handed over 50 connections" in r.stdout, r.stdout
    assert not set(old) & set(gateway_pids(srv)), "the gateway worker was replaced"

    root = ET.parse(tmp_path / "handover.svg").getroot()
    lane = next(g for g in root.iter(SVG + "g") if g.get("class") == "lane" and g.get("data-slot") == "gateway#0")
    spans = [e for e in lane.iter(SVG + "rect") if e.get("class") == "handover"]
    assert len(spans) == 1, "one hand-over in the gateway's lane"
    began, ended = int(spans[0].get("data-from")), int(spans[0].get("data-to"))
    assert 0 <= began <= ended and spans[0].get("data-ok") == "1", spans[0].attrib
    assert lane.find(f"{SVG}g[@class='connections']/{SVG}polyline") is not None, "the lines are drawn"

    # A sample reads two rows that two processes write, so only what holds
    # whenever it was taken is asserted: before 'H' every client is the old
    # worker's, after its word every one is the new worker's, and the word's
    # own sample (the last one at its millisecond) shows both at once. A
    # worker missing from a sample (not forked yet, or exited) holds none.
    olds, news = counts_of(lane, "old"), counts_of(lane, "new")
    old_at, new_at = dict(olds), dict(news)
    times = sorted(set(old_at) | set(new_at))
    before = [t for t in times if t < began]
    after = [t for t in times if t > ended]
    assert before and after, f"samples before {began} and after {ended} ms: {times}"
    for t in before:
        assert old_at.get(t) == 50 and new_at.get(t, 0) == 0, (t, old_at.get(t), new_at.get(t))
    for t in after:
        assert old_at.get(t, 0) == 0 and new_at.get(t) == 50, (t, old_at.get(t), new_at.get(t))
    assert [n for t, n in olds if t <= ended][-1] == 0 and [n for t, n in news if t <= ended][-1] == 50, \
        f"at the word ({ended} ms): old {olds}, new {news}"

    for c in clients:  # every client still connected, and served by the new worker
        c.send(frame(0x1, b"ping 0 0"))
    for c in clients:
        assert next_text(c).startswith("pong 0 0")
