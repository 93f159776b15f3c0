// test_timeline: a reload's timeline survives its trip over the control
// socket (to_text, from_text), and the picture has a lane per step.
#include "cli/timeline_svg.h"
#include "master/reload_timeline.h"

#include "check.h"

#include <string>

using namespace smooth;

namespace {

ReloadTimeline sample() {
    ReloadTimeline t;
    t.ok = false;
    t.start_first = true;
    t.generation = 7;
    t.finished_ms = 40;
    t.after_ms = 500;
    t.summary = "reload aborted: web#1: not READY <in time> & gone; rolled back";
    ReloadTimeline::Lane a;
    a.slot = "web#0";
    a.kind = "replace";
    a.old_pid = 101;
    a.new_pid = 201;
    a.fork_ms = 0;
    a.ready_ms = 3;
    a.drain_ms = 3;
    a.exit_ms = 9;
    a.version = "app v2.so";  // a space in a file name survives
    a.handover_ms = 3;            // a gateway's hand-over: 50 connections move in 4 ms
    a.handover_end_ms = 7;
    a.handover_ok = true;
    for (int i = -1; i < 12; i++) {
        int64_t t = i;
        a.connections.push_back({t, t < 3 ? 50 : t <= 7 ? 50 - int32_t(t - 3) * 12 : t < 9 ? 0 : -1,
                                 t < 0 ? -1 : t < 3 ? 0 : t <= 7 ? int32_t(t - 3) * 12 + 2 : 50});
    }
    ReloadTimeline::Lane b;
    b.slot = "web#1";
    b.kind = "replace";
    b.old_pid = 102;
    b.new_pid = 202;
    b.fork_ms = 9;
    b.failed_ms = 40;
    ReloadTimeline::Lane c;
    c.slot = "web#1";
    c.kind = "rollback";
    c.new_pid = 203;
    c.fork_ms = 40;
    c.ready_ms = 42;
    t.lanes = {a, b, c};
    for (int i = -5; i < 60; i++) t.rate.push_back({i * 10, uint64_t(1000 + i * 37)});
    return t;
}

void test_round_trip() {
    ReloadTimeline t = sample();
    ReloadTimeline parsed;
    EXPECT_EQ(ReloadTimeline::from_text(t.to_text(), parsed), std::string(""));
    const ReloadTimeline* back = &parsed;
    EXPECT_EQ(back->to_text(), t.to_text());
    EXPECT_EQ(back->summary, t.summary);
    EXPECT_EQ(back->lanes.size(), size_t(3));
    EXPECT_EQ(back->lanes[0].version, std::string("app v2.so"));
    EXPECT_EQ(back->lanes[1].failed_ms, int64_t(40));
    EXPECT_EQ(back->rate.size(), t.rate.size());
    EXPECT_EQ(back->rate.front().t_ms, int64_t(-50));
    EXPECT_EQ(back->lanes[0].handover_end_ms, int64_t(7));
    EXPECT(back->lanes[0].handover_ok);
    EXPECT_EQ(back->lanes[0].connections.size(), t.lanes[0].connections.size());
    EXPECT_EQ(back->lanes[0].connections.front().new_count, -1);
    EXPECT(back->lanes[1].connections.empty() && back->lanes[1].handover_ms == -1);
}

// A master older than the hand-over keys: its lanes read as lanes without one.
void test_a_lane_without_the_handover_keys() {
    ReloadTimeline t;
    EXPECT_EQ(ReloadTimeline::from_text("reload ok=1 start_first=0 generation=1 finished=5 after=500\n"
                                        "lane slot=web#0 kind=replace old=1 new=2 drain=0 exit=3 fork=3 ready=5 "
                                        "failed=-1 version=a.so\n",
                                        t),
              std::string(""));
    EXPECT_EQ(t.lanes.size(), size_t(1));
    EXPECT(t.lanes[0].handover_ms == -1 && t.lanes[0].handover_end_ms == -1 && !t.lanes[0].handover_ok);
    EXPECT_EQ(t.lanes[0].version, std::string("a.so"));
    // A connections line names a lane that is there.
    std::string error = ReloadTimeline::from_text("reload ok=1 start_first=0 generation=1 finished=5 after=500\n"
                                                  "conns lane=0 t=1 old=2 new=3\n",
                                                  t);
    EXPECT_EQ(error.rfind("line 2:", 0), size_t(0));
}

void test_what_is_not_a_timeline() {
    ReloadTimeline t;
    std::string error = ReloadTimeline::from_text("error: no reload has run yet\n", t);
    EXPECT_EQ(error, std::string("error: no reload has run yet"));
    error = ReloadTimeline::from_text("reload ok=1 start_first=0 generation=1 finished=5 after=500\nlane slot=web#0 old=x\n", t);
    EXPECT_EQ(error.rfind("line 2:", 0), size_t(0));
    EXPECT(!ReloadTimeline::from_text("", t).empty());
}

size_t count(const std::string& s, const std::string& part) {
    size_t n = 0;
    for (size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + 1)) n++;
    return n;
}

void test_picture() {
    std::string svg = timeline_svg(sample());
    EXPECT_EQ(svg.rfind("<?xml", 0), size_t(0));
    EXPECT_EQ(count(svg, "<g class=\"lane\""), size_t(3));
    EXPECT_EQ(count(svg, "<svg "), size_t(1));
    EXPECT_EQ(count(svg, "</svg>"), size_t(1));
    EXPECT(svg.find("&lt;in time&gt; &amp; gone") != std::string::npos);  // escaped, so the XML stays well-formed
    EXPECT(svg.find("aborted, rolled back") != std::string::npos);
    EXPECT(svg.find("new pid 203 (rollback)") != std::string::npos);
    EXPECT(svg.find("failed: abort") != std::string::npos);
    EXPECT(svg.find("<polyline") != std::string::npos);  // the rate
    // The hand-over's span in lane web#0, and its two workers' connections,
    // each only while it was there; a legend for both.
    EXPECT_EQ(count(svg, "<rect class=\"handover\" data-from=\"3\" data-to=\"7\" data-ok=\"1\""), size_t(1));
    EXPECT_EQ(count(svg, "<g class=\"connections\" data-worker=\"old\" data-pid=\"101\" data-counts=\"-1:50 0:50"),
              size_t(1));
    EXPECT_EQ(count(svg, "<g class=\"connections\" data-worker=\"new\" data-pid=\"201\" data-counts=\"0:0 1:0"), size_t(1));
    EXPECT_EQ(count(svg, "<g class=\"connections\""), size_t(2));  // web#1 and the rollback had none
    EXPECT(svg.find("8:0\"") != std::string::npos);                  // the old worker's last: 0, then gone
    EXPECT(svg.find("hand-over 4 ms") != std::string::npos);
    EXPECT(svg.find("new worker's connections") != std::string::npos);
    // An empty timeline (a refused reload) still draws.
    ReloadTimeline empty;
    empty.summary = "reload refused: bad config";
    std::string blank = timeline_svg(empty);
    EXPECT_EQ(count(blank, "<g class=\"lane\""), size_t(0));
    EXPECT(blank.find("(no samples)") != std::string::npos);
    EXPECT(blank.find("connections") == std::string::npos);  // no legend for what is not drawn
}

}  // namespace

int main() {
    test_round_trip();
    test_what_is_not_a_timeline();
    test_a_lane_without_the_handover_keys();
    test_picture();
    return check::summary("timeline");
}
