// stats_totals: see stats_totals.h.
#include "core/stats_totals.h"

#include <algorithm>
#include <cstring>

namespace smooth {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

const char* const kGroupFieldNames[kGroupFields] = {
    "messages",   "bytes_in",   "bytes_out",  "http_1xx",           "http_2xx",
    "http_3xx",   "http_4xx",   "http_5xx",   "http_other",         "limit_unsent_bytes",
    "limit_message_timeout",    "limit_queue_full",  "limit_worker_ceiling", "restarts",
    "handed_over"};
const char* const kServerFieldNames[kServerFields] = {"reloads_complete", "reloads_aborted", "reloads_refused",
                                                      "upgrades_complete", "upgrades_failed",
                                                      "handovers_complete", "handovers_failed"};
const char* const kStatusClassNames[kStatusClasses] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};

}  // namespace

size_t status_class(int status) { return status >= 100 && status < 600 ? size_t(status / 100 - 1) : kStatusClasses - 1; }
const char* status_class_name(size_t i) { return i < kStatusClasses ? kStatusClassNames[i] : "?"; }
const char* group_field_name(size_t field) { return field < kGroupFields ? kGroupFieldNames[field] : "?"; }
const char* server_field_name(size_t field) { return field < kServerFields ? kServerFieldNames[field] : "?"; }

TotalsSnapshot::Group& TotalsSnapshot::group(std::string_view name) {
    for (Group& g : groups)
        if (g.name == name) return g;
    groups.push_back(Group{std::string(name)});
    return groups.back();
}

// ---- Writing (the master) ----

void Totals::begin_write() {
    t_->seq.store(t_->seq.load(kRelaxed) + 1, kRelaxed);
    std::atomic_thread_fence(std::memory_order_release);  // odd before any field changes
}

void Totals::end_write() { t_->seq.store(t_->seq.load(kRelaxed) + 1, std::memory_order_release); }

uint32_t Totals::add_name(std::string_view name, Protocol protocol, Role role) {
    name = name.substr(0, kMaxGroupName);
    uint32_t n = t_->groups.load(kRelaxed);
    for (uint32_t i = 0; i < n; i++)
        if (name == t_->names[i].name) return i;
    // Full: the last entry is "_other", for every name that finds no room.
    if (n == kTotalsGroups - 1) name = kOtherGroup;
    if (n == kTotalsGroups) return n - 1;
    GroupName& g = t_->names[n];
    std::memcpy(g.name, name.data(), name.size());
    g.name[name.size()] = '\0';
    g.protocol.store(uint8_t(protocol), kRelaxed);
    g.role.store(uint8_t(role), kRelaxed);
    t_->groups.store(n + 1, std::memory_order_release);
    return n;
}

uint32_t Totals::entry(std::string_view name, Protocol protocol, Role role) {
    begin_write();
    uint32_t e = add_name(name, protocol, role);
    end_write();
    return e;
}

void Totals::add_server(ServerField f, uint64_t n) {
    begin_write();
    t_->own.server[f].fetch_add(n, kRelaxed);
    end_write();
}

void Totals::add_group(uint32_t entry, GroupField f, uint64_t n) {
    if (entry >= kTotalsGroups) return;
    begin_write();
    t_->own.group[entry][f].fetch_add(n, kRelaxed);
    end_write();
}

void Totals::observe(Hist h, uint64_t millionths) {
    begin_write();
    observe_into(t_->own, h, millionths);
    end_write();
}

void Totals::add_counts(SharedCounts& c, uint32_t entry, const GroupCounts& counts) {
    if (entry >= kTotalsGroups) return;
    for (size_t f = 0; f < kGroupFields; f++)
        if (counts[f]) c.group[entry][f].fetch_add(counts[f], kRelaxed);
}

void Totals::observe_into(SharedCounts& c, Hist h, uint64_t millionths) {
    const HistogramSpec& spec = histogram_spec(h);
    size_t b = histogram_bucket(spec, millionths);
    if (b < spec.buckets) c.hist[size_t(h)][b].fetch_add(1, kRelaxed);
    c.hist[size_t(h)][kHistCount].fetch_add(1, kRelaxed);
    c.hist[size_t(h)][kHistSum].fetch_add(millionths, kRelaxed);
}

void Totals::set_peer(const TotalsSnapshot& s) {
    begin_write();
    SharedCounts& p = t_->peer;
    for (auto& g : p.group)
        for (auto& f : g) f.store(0, kRelaxed);
    for (const TotalsSnapshot::Group& g : s.groups) {
        uint32_t e = add_name(g.name, g.protocol, g.role);
        add_counts(p, e, g.counts);  // (adds: two names may have landed in "_other")
    }
    for (size_t f = 0; f < kServerFields; f++) p.server[f].store(s.server[f], kRelaxed);
    for (size_t h = 0; h < kHistograms; h++)
        for (size_t i = 0; i < kHistSlots; i++) p.hist[h][i].store(s.hist[h][i], kRelaxed);
    end_write();
}

void Totals::adopt_peer() {
    begin_write();
    SharedCounts& p = t_->peer;
    SharedCounts& o = t_->own;
    for (size_t e = 0; e < kTotalsGroups; e++)
        for (size_t f = 0; f < kGroupFields; f++) o.group[e][f].fetch_add(p.group[e][f].exchange(0, kRelaxed), kRelaxed);
    for (size_t f = 0; f < kServerFields; f++) o.server[f].fetch_add(p.server[f].exchange(0, kRelaxed), kRelaxed);
    for (size_t h = 0; h < kHistograms; h++)
        for (size_t i = 0; i < kHistSlots; i++) o.hist[h][i].fetch_add(p.hist[h][i].exchange(0, kRelaxed), kRelaxed);
    end_write();
}

// ---- Reading (anyone) ----

void Totals::read_counts(TotalsSnapshot& out, bool with_peer) const {
    uint32_t n = std::min<uint32_t>(t_->groups.load(std::memory_order_acquire), kTotalsGroups);
    out.groups.resize(n);
    for (uint32_t e = 0; e < n; e++) {
        TotalsSnapshot::Group& g = out.groups[e];
        const GroupName& name = t_->names[e];
        // Written once, before `groups` counted it (release/acquire above).
        g.name.assign(name.name, strnlen(name.name, kMaxGroupName));
        g.protocol = Protocol(name.protocol.load(kRelaxed));
        g.role = Role(name.role.load(kRelaxed));
        for (size_t f = 0; f < kGroupFields; f++)
            g.counts[f] = t_->own.group[e][f].load(kRelaxed) + (with_peer ? t_->peer.group[e][f].load(kRelaxed) : 0);
    }
    for (size_t f = 0; f < kServerFields; f++)
        out.server[f] = t_->own.server[f].load(kRelaxed) + (with_peer ? t_->peer.server[f].load(kRelaxed) : 0);
    for (size_t h = 0; h < kHistograms; h++)
        for (size_t i = 0; i < kHistSlots; i++)
            out.hist[h][i] = t_->own.hist[h][i].load(kRelaxed) + (with_peer ? t_->peer.hist[h][i].load(kRelaxed) : 0);
}

}  // namespace smooth
