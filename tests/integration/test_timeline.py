"""`./server reload --timeline FILE.svg`: the reload that just ran, drawn.
The picture must be well-formed XML with one lane per worker slot; a failed
reload's picture shows the abort and the rollback."""
import xml.etree.ElementTree as ET

from conftest import assert_no_errors, build_module, finish_loadgen, start_loadgen, wait_until

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
