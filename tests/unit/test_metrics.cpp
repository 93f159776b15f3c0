// test_metrics: what is pure in the metrics: the exposition format writer,
// the histogram, the seqlock'd totals (a row folded at release is counted
// once, before and after), their bound (kTotalsGroups names, then "_other"),
// and the report one master carries to the other in an upgrade.
#include <memory>
#include <thread>

#include "check.h"
#include "core/stats.h"
#include "master/totals_carry.h"
#include "protocol/prometheus.h"

using namespace smooth;

namespace {

void test_writer() {
    prom::Writer w;
    w.family("smooth_x_total", "counter", "Line one\nback\\slash");
    w.sample("smooth_x_total", {{"group", "we\"b\\\n"}, {"code", "2xx"}}, 42);
    w.sample("smooth_x_total", {}, 0);
    EXPECT_EQ(w.text(),
              std::string("# HELP smooth_x_total Line one\\nback\\\\slash\n# TYPE smooth_x_total counter\n"
                          "smooth_x_total{group=\"we\\\"b\\\\\\n\",code=\"2xx\"} 42\nsmooth_x_total 0\n"));
    EXPECT_EQ(prom::millionths_text(1500000), std::string("1.5"));
    EXPECT_EQ(prom::millionths_text(0), std::string("0"));
    EXPECT_EQ(prom::millionths_text(1), std::string("0.000001"));
    EXPECT_EQ(prom::millionths_text(12000000), std::string("12"));

    prom::Writer h;
    const char* const le[] = {"0.1", "1"};
    const uint64_t buckets[] = {2, 3};
    h.histogram("d_seconds", {{"g", "a"}}, le, buckets, 2, 7, 2500000);
    EXPECT_EQ(h.text(), std::string("d_seconds_bucket{g=\"a\",le=\"0.1\"} 2\nd_seconds_bucket{g=\"a\",le=\"1\"} 5\n"
                                    "d_seconds_bucket{g=\"a\",le=\"+Inf\"} 7\nd_seconds_sum{g=\"a\"} 2.5\n"
                                    "d_seconds_count{g=\"a\"} 7\n"));
}

void test_histogram() {
    const HistogramSpec& s = histogram_spec(Hist::ReloadSeconds);
    EXPECT_EQ(histogram_bucket(s, 0), size_t(0));
    EXPECT_EQ(histogram_bucket(s, 100000), size_t(0));  // le is "less or equal"
    EXPECT_EQ(histogram_bucket(s, 100001), size_t(1));
    EXPECT_EQ(histogram_bucket(s, 300 * kMillion), s.buckets - 1);
    EXPECT_EQ(histogram_bucket(s, 301 * kMillion), s.buckets);  // +Inf only
    HistCounts h{};
    histogram_observe(s, h, 50000);
    histogram_observe(s, h, 999 * kMillion);
    EXPECT_EQ(h[0], uint64_t(1));
    EXPECT_EQ(h[kHistCount], uint64_t(2));
    EXPECT_EQ(h[kHistSum], 999 * kMillion + 50000);
    for (size_t i = 0; i < kHistograms; i++) {  // bounds ascend, text and numbers agree in count
        const HistogramSpec& sp = histogram_spec(Hist(i));
        EXPECT(sp.buckets > 0 && sp.buckets <= kMaxBuckets);
        for (size_t b = 1; b < sp.buckets; b++) EXPECT(sp.bounds[b] > sp.bounds[b - 1]);
    }
}

GroupConfig group_named(const std::string& name) {
    GroupConfig g;
    g.name = name;
    return g;
}

uint64_t messages_of(const TotalsSnapshot& s, const std::string& name) {
    for (const auto& g : s.groups)
        if (g.name == name) return g.counts[kMessages];
    return 0;
}

// A row's counts are seen in the row while it is in use, in the totals once
// released, never twice and never missing, also by a reader racing the fold.
void test_fold_counts_once() {
    StatsTable table;
    EXPECT_EQ(table.create(), std::string());
    GroupConfig web = group_named("web");
    int a = table.allocate(&web);
    int b = table.allocate(&web);
    table.row(size_t(a)).requests = 5;
    table.row(size_t(a)).http[status_class(200)] = 5;
    table.row(size_t(a)).drain_us = 2500;  // drained in 2.5 ms
    table.row(size_t(a)).drain_connections = 3;
    table.row(size_t(b)).requests = 7;
    EXPECT_EQ(messages_of(table.read_totals(true), "web"), uint64_t(12));
    table.release(a);
    TotalsSnapshot after = table.read_totals(true);
    EXPECT_EQ(messages_of(after, "web"), uint64_t(12));
    EXPECT_EQ(after.groups[0].counts[kHttp2xx], uint64_t(5));
    EXPECT_EQ(after.hist[size_t(Hist::DrainSeconds)][kHistCount], uint64_t(1));
    EXPECT_EQ(after.hist[size_t(Hist::DrainSeconds)][0], uint64_t(1));  // le 0.005
    EXPECT_EQ(after.hist[size_t(Hist::DrainConnections)][kHistSum], 3 * kMillion);
    // A row taken again starts from zero, and the totals keep what was folded.
    int c = table.allocate(&web);
    EXPECT_EQ(c, a);
    EXPECT_EQ(messages_of(table.read_totals(true), "web"), uint64_t(12));

    // Readers against a master folding rows: the sum never goes back, and
    // ends where it must.
    std::atomic<bool> done{false};
    std::atomic<int> went_back{0};
    std::thread reader([&] {
        uint64_t last = 0;
        while (!done.load()) {
            TotalsSnapshot s = table.read_totals(true);
            if (!s.consistent) continue;  // a read the master wrote all through: it says so, and is not used
            uint64_t now = messages_of(s, "web");
            if (now < last) went_back++;
            last = now;
        }
    });
    uint64_t expected = 12;
    for (int i = 0; i < 2000; i++) {
        int r = table.allocate(&web);
        table.row(size_t(r)).requests = 3;
        expected += 3;
        table.release(r);
    }
    done = true;
    reader.join();
    EXPECT_EQ(went_back.load(), 0);
    EXPECT_EQ(messages_of(table.read_totals(true), "web"), expected);
}

// kTotalsGroups names at most: every name beyond lands in "_other", and
// nothing is lost.
void test_names_bound() {
    auto shared = std::make_unique<SharedTotals>();
    Totals t(shared.get());
    for (size_t i = 0; i < kTotalsGroups + 10; i++) {
        uint32_t e = t.entry("g" + std::to_string(i), Protocol::Http, Role::Plain);
        t.add_group(e, kMessages, 1);
    }
    EXPECT_EQ(t.size(), uint32_t(kTotalsGroups));
    EXPECT_EQ(t.name(kTotalsGroups - 1), std::string(kOtherGroup));
    TotalsSnapshot s;
    t.read(s, false, [](TotalsSnapshot&) {});
    uint64_t sum = 0;
    for (const auto& g : s.groups) sum += g.counts[kMessages];
    EXPECT_EQ(sum, uint64_t(kTotalsGroups + 10));
    EXPECT_EQ(s.groups.back().counts[kMessages], uint64_t(11));
    // A known name still finds its own entry when the table is full.
    EXPECT_EQ(t.entry("g5", Protocol::Http, Role::Plain), uint32_t(5));
}

// The peer: readers add it; a newer report replaces it; adopt_peer moves it
// into our own counts in one step.
void test_peer() {
    auto shared = std::make_unique<SharedTotals>();
    Totals t(shared.get());
    t.add_group(t.entry("web", Protocol::Http, Role::Plain), kMessages, 10);
    TotalsSnapshot peer;
    peer.group("web").counts[kMessages] = 100;
    peer.group("chat").counts[kMessages] = 4;
    peer.server[kReloadsComplete] = 2;
    t.set_peer(peer);
    peer.group("web").counts[kMessages] = 150;  // a newer report replaces the last
    t.set_peer(peer);
    TotalsSnapshot with, without;
    t.read(with, true, [](TotalsSnapshot&) {});
    t.read(without, false, [](TotalsSnapshot&) {});
    EXPECT_EQ(messages_of(with, "web"), uint64_t(160));
    EXPECT_EQ(messages_of(with, "chat"), uint64_t(4));
    EXPECT_EQ(messages_of(without, "web"), uint64_t(10));
    EXPECT_EQ(with.server[kReloadsComplete], uint64_t(2));
    t.adopt_peer();
    TotalsSnapshot adopted;
    t.read(adopted, false, [](TotalsSnapshot&) {});
    EXPECT_EQ(messages_of(adopted, "web"), uint64_t(160));
    EXPECT_EQ(adopted.server[kReloadsComplete], uint64_t(2));
    TotalsSnapshot again;
    t.read(again, true, [](TotalsSnapshot&) {});
    EXPECT_EQ(messages_of(again, "web"), uint64_t(160));  // not twice
}

void test_carry_round_trip() {
    TotalsSnapshot s;
    auto& web = s.group("web");
    web.protocol = Protocol::Ws;
    web.role = Role::Gateway;
    web.counts[kMessages] = 15201;
    web.counts[kHttp5xx] = 3;
    web.counts[kRestarts] = 1;
    web.counts[kHandedOver] = 1200;
    const GroupCounts want = web.counts;  // (a second group may move the first: `web` dangles after it)
    s.group("chat").counts[kLimitQueueFull] = 9;
    s.server[kUpgradesComplete] = 4;
    s.server[kHandoversFailed] = 2;
    histogram_observe(histogram_spec(Hist::ReloadSeconds), s.hist[0], 812000);
    CarryReader r;
    bool ended = false;
    for (const std::string& m : carry_messages(s)) {
        EXPECT(m.size() <= 4096);
        ended = r.feed(m);
    }
    EXPECT(ended);
    const TotalsSnapshot& got = r.report();
    EXPECT_EQ(got.groups.size(), size_t(2));
    EXPECT_EQ(got.groups[0].name, std::string("web"));
    EXPECT(got.groups[0].protocol == Protocol::Ws && got.groups[0].role == Role::Gateway);
    EXPECT(got.groups[0].counts == want);
    EXPECT_EQ(got.groups[1].counts[kLimitQueueFull], uint64_t(9));
    EXPECT_EQ(got.server[kUpgradesComplete], uint64_t(4));
    EXPECT_EQ(got.server[kHandoversFailed], uint64_t(2));
    EXPECT(got.hist[0] == s.hist[0]);
    // Another build's fields and histograms are skipped, not misread.
    CarryReader other;
    other.feed("carry group web http plain messages=5 frobs=7 http_2xx=x");
    other.feed("carry hist smooth_unknown 0.1=3 count=3");
    other.feed("carry nonsense");
    EXPECT(other.feed("carry end"));
    EXPECT_EQ(other.report().groups.size(), size_t(1));
    EXPECT_EQ(other.report().groups[0].counts[kMessages], uint64_t(5));
    EXPECT_EQ(other.report().groups[0].counts[kHttp2xx], uint64_t(0));
    EXPECT_EQ(other.report().hist[0][kHistCount], uint64_t(0));
    // Past kTotalsGroups groups, a report drops the rest.
    CarryReader many;
    for (size_t i = 0; i < kTotalsGroups + 5; i++) many.feed("carry group g" + std::to_string(i) + " http plain messages=1");
    many.feed("carry end");
    EXPECT_EQ(many.report().groups.size(), kTotalsGroups);
}

}  // namespace

int main() {
    test_writer();
    test_histogram();
    test_fold_counts_once();
    test_names_bound();
    test_peer();
    test_carry_round_trip();
    return check::summary("test_metrics");
}
