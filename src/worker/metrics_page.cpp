// metrics_page: see metrics_page.h. The counters first (the seqlock'd
// totals plus the rows in use), then the gauges (the rows as they are now),
// family by family: the format wants each family's samples together.
#include "worker/metrics_page.h"

#include <cstring>
#include <map>

#include "core/stats.h"
#include "protocol/prometheus.h"

namespace smooth {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

// What the rows in use say now, per group entry (gauges: nothing to fold).
struct Live {
    uint64_t workers[kRowStates] = {};
    uint64_t open[kProtocols] = {};
    uint64_t links[kLinkStates] = {};
    uint64_t queued = 0;
    uint64_t queued_bytes = 0;
    std::map<std::string, uint64_t> versions;  // "hello 2" -> workers running it
};

std::vector<Live> read_live(const StatsTable& table, size_t groups) {
    std::vector<Live> live(groups);
    for (size_t i = 0, end = table.rows_in_use_end(); i < end; i++) {
        const WorkerRow& r = table.row(i);
        uint32_t e = r.group.load(kRelaxed);
        if (!r.in_use.load(kRelaxed) || e >= groups) continue;
        Live& l = live[e];
        uint8_t state = r.state.load(kRelaxed);
        if (state < kRowStates) l.workers[state]++;
        for (size_t p = 0; p < kProtocols; p++) l.open[p] += r.open_by[p].load(kRelaxed);
        for (size_t s = 0; s < kLinkStates; s++) l.links[s] += r.links_by[s].load(kRelaxed);
        l.queued += r.queued.load(kRelaxed);
        l.queued_bytes += r.queued_bytes.load(kRelaxed);
        // Written once before READY: a starting worker has none yet.
        if (state != uint8_t(RowState::Starting) && r.module_version[0])
            l.versions[std::string(r.module_version, strnlen(r.module_version, sizeof r.module_version))]++;
    }
    return live;
}

// What a group's connections can speak: a ws:// group's begin as HTTP.
bool speaks(const TotalsSnapshot::Group& g, Protocol p) {
    return g.protocol == p || (g.protocol == Protocol::Ws && p == Protocol::Http);
}

bool is_http(const TotalsSnapshot::Group& g) { return g.protocol == Protocol::Http || g.protocol == Protocol::Ws; }

void counter_per_group(prom::Writer& w, const TotalsSnapshot& t, const char* name, const char* help, GroupField f) {
    w.family(name, "counter", help);
    for (const auto& g : t.groups) w.sample(name, {{"group", g.name}}, g.counts[f]);
}

void counters(prom::Writer& w, const TotalsSnapshot& t) {
    counter_per_group(w, t, "smooth_messages_total",
                      "Requests and messages handled: HTTP requests, WebSocket, text and frame messages.", kMessages);
    const char* http = "smooth_http_requests_total";
    w.family(http, "counter", "HTTP requests answered, by status class (the server's own answers included).");
    for (const auto& g : t.groups)
        if (is_http(g))
            for (size_t c = 0; c < kStatusClasses; c++)
                w.sample(http, {{"group", g.name}, {"code", status_class_name(c)}}, g.counts[kHttp1xx + c]);
    counter_per_group(w, t, "smooth_received_bytes_total", "Bytes read from clients.", kBytesIn);
    counter_per_group(w, t, "smooth_sent_bytes_total", "Bytes written to clients.", kBytesOut);
    const char* hits = "smooth_limit_hits_total";
    w.family(hits, "counter", "Times a bound of docs/limits.md cut something off, by kind.");
    for (const auto& g : t.groups)
        for (size_t l = 0; l < kLimitKinds; l++)
            w.sample(hits, {{"group", g.name}, {"kind", limit_name(Limit(l))}}, g.counts[kLimitUnsent + l]);
    counter_per_group(w, t, "smooth_worker_restarts_total",
                      "Workers that exited without being told to and were started again.", kRestarts);
    counter_per_group(w, t, "smooth_handed_over_connections_total",
                      "Client connections a gateway worker handed to its successor, open all along.", kHandedOver);

    const char* reloads = "smooth_reloads_total";
    w.family(reloads, "counter", "Rolling reloads, by result: complete, aborted (step 5), refused (step 2).");
    w.sample(reloads, {{"result", "complete"}}, t.server[kReloadsComplete]);
    w.sample(reloads, {{"result", "aborted"}}, t.server[kReloadsAborted]);
    w.sample(reloads, {{"result", "refused"}}, t.server[kReloadsRefused]);
    const char* upgrades = "smooth_upgrades_total";
    w.family(upgrades, "counter", "Binary upgrades, by result: complete (the new master took over) or failed.");
    w.sample(upgrades, {{"result", "complete"}}, t.server[kUpgradesComplete]);
    w.sample(upgrades, {{"result", "failed"}}, t.server[kUpgradesFailed]);
    const char* handovers = "smooth_handovers_total";
    w.family(handovers, "counter",
             "Gateway workers' hand-overs to their successors (a reload or an upgrade), by result: complete or failed "
             "(the old worker kept its connections).");
    w.sample(handovers, {{"result", "complete"}}, t.server[kHandoversComplete]);
    w.sample(handovers, {{"result", "failed"}}, t.server[kHandoversFailed]);

    for (size_t h = 0; h < kHistograms; h++) {
        const HistogramSpec& spec = histogram_spec(Hist(h));
        const HistCounts& c = t.hist[h];
        w.family(spec.name, "histogram", spec.help);
        w.histogram(spec.name, {}, spec.bounds_text, c.data(), spec.buckets, c[kHistCount], c[kHistSum]);
    }
}

void gauges(prom::Writer& w, const TotalsSnapshot& t, const std::vector<Live>& live, std::string_view build) {
    w.family("smooth_build_info", "gauge", "The build of ./server this worker runs (make BUILD_ID=...).");
    w.sample("smooth_build_info", {{"build_id", build}}, 1);
    w.family("smooth_module_info", "gauge", "Workers serving, by the module version they run (two during a reload).");
    for (size_t e = 0; e < t.groups.size(); e++)
        for (const auto& [version, n] : live[e].versions)
            w.sample("smooth_module_info", {{"group", t.groups[e].name}, {"version", version}}, n);

    w.family("smooth_workers", "gauge", "Worker processes, by state.");
    for (size_t e = 0; e < t.groups.size(); e++)
        for (size_t s = 0; s < kRowStates; s++)
            w.sample("smooth_workers", {{"group", t.groups[e].name}, {"state", row_state_name(RowState(s))}},
                     live[e].workers[s]);
    w.family("smooth_connections", "gauge", "Client connections open, by the protocol they speak now.");
    for (size_t e = 0; e < t.groups.size(); e++)
        for (size_t p = 0; p < kProtocols; p++)
            if (speaks(t.groups[e], Protocol(p)))
                w.sample("smooth_connections", {{"group", t.groups[e].name}, {"protocol", protocol_name(Protocol(p))}},
                         live[e].open[p]);

    w.family("smooth_gateway_queued_events", "gauge", "Gateway: client events waiting for a business worker, or in flight.");
    for (size_t e = 0; e < t.groups.size(); e++)
        if (t.groups[e].role == Role::Gateway)
            w.sample("smooth_gateway_queued_events", {{"group", t.groups[e].name}}, live[e].queued);
    w.family("smooth_gateway_queued_bytes", "gauge", "Gateway: the payload bytes of those events.");
    for (size_t e = 0; e < t.groups.size(); e++)
        if (t.groups[e].role == Role::Gateway)
            w.sample("smooth_gateway_queued_bytes", {{"group", t.groups[e].name}}, live[e].queued_bytes);
    w.family("smooth_links", "gauge", "Gateway pattern: links between gateway and business workers, by state.");
    for (size_t e = 0; e < t.groups.size(); e++)
        if (t.groups[e].role != Role::Plain)
            for (size_t s = 0; s < kLinkStates; s++)
                w.sample("smooth_links", {{"group", t.groups[e].name}, {"state", link_state_name(LinkState(s))}},
                         live[e].links[s]);
}

}  // namespace

std::optional<std::string> metrics_page(const StatsTable& table, std::string_view build) {
    if (table.totals().scrape_elsewhere()) return std::nullopt;  // this master is being replaced
    TotalsSnapshot totals = table.read_totals(true);
    if (!totals.consistent) return std::nullopt;
    std::vector<Live> live = read_live(table, totals.groups.size());
    prom::Writer w;
    counters(w, totals);
    gauges(w, totals, live, build);
    return w.take();
}

}  // namespace smooth
