#include "core/stats.h"

#include <cerrno>
#include <cstring>
#include <sys/mman.h>

#include "core/fd.h"

namespace smooth {

namespace {
constexpr size_t kRowsBytes = sizeof(WorkerRow) * kStatsRows;
constexpr size_t kMapBytes = kRowsBytes + 4096 + sizeof(SharedTotals);  // the rows, a page for end_, the totals
constexpr auto kRelaxed = std::memory_order_relaxed;
}  // namespace

const char* row_state_name(RowState s) {
    switch (s) {
        case RowState::Starting: return "starting";
        case RowState::Ready: return "ready";
        case RowState::Draining: return "draining";
        case RowState::Stopping: return "stopping";
        case RowState::Count: break;
    }
    return "?";
}

const char* link_state_name(LinkState s) {
    switch (s) {
        case LinkState::Connecting: return "connecting";
        case LinkState::Greeting: return "greeting";
        case LinkState::Proving: return "proving";
        case LinkState::Ready: return "ready";
        case LinkState::Draining: return "draining";
        case LinkState::Count: break;
    }
    return "?";
}

const char* limit_name(Limit l) {
    switch (l) {
        case Limit::UnsentBytes: return "unsent_bytes";
        case Limit::MessageTimeout: return "message_timeout";
        case Limit::QueueFull: return "queue_full";
        case Limit::WorkerCeiling: return "worker_ceiling";
        case Limit::Count: break;
    }
    return "?";
}

StatsTable::~StatsTable() {
    if (rows_) munmap(rows_, kMapBytes);
}

std::string StatsTable::create() {
    void* p = mmap(nullptr, kMapBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return "mmap() of the shared stats table failed: " + errno_text(errno);
    // Anonymous pages arrive zeroed, and a zeroed std::atomic is a valid 0.
    rows_ = static_cast<WorkerRow*>(p);
    end_ = reinterpret_cast<std::atomic<uint32_t>*>(static_cast<char*>(p) + kRowsBytes);
    totals_ = reinterpret_cast<SharedTotals*>(static_cast<char*>(p) + kRowsBytes + 4096);
    return "";
}

int StatsTable::allocate(const GroupConfig* group) {
    for (size_t i = 0; i < kStatsRows; i++) {
        if (used_[i]) continue;
        used_[i] = true;
        WorkerRow& r = rows_[i];
        r.pid = 0;
        r.state = uint8_t(RowState::Starting);
        r.connections = 0;
        for (auto& n : r.open_by) n = 0;
        r.requests = 0;
        for (auto& n : r.http) n = 0;
        for (auto& n : r.links_by) n = 0;
        r.drain_connections = 0;
        r.drain_requests = 0;
        r.drain_us = -1;
        r.bytes_in = 0;
        r.bytes_out = 0;
        r.conn_unlisted = 0;
        r.links = 0;
        r.queued = 0;
        r.queued_bytes = 0;
        r.buffered_bytes = 0;
        for (auto& hits : r.limit_hits) hits = 0;
        r.handed_over = 0;
        r.listener = 0;
        r.accepting = 0;
        r.module_version[0] = '\0';
        for (ConnRecord& c : r.conns) c.id = 0;
        // In use only once cleared: a reader adds it from then on.
        Totals t = totals();
        uint32_t entry = group ? t.entry(group->name, group->listen.protocol, group->role) : t.entry(kOtherGroup, Protocol::Tcp, Role::Plain);
        r.group.store(entry, kRelaxed);
        t.begin_write();
        r.in_use.store(1, kRelaxed);
        t.end_write();
        if (i + 1 > end_->load(std::memory_order_relaxed)) end_->store(uint32_t(i + 1), std::memory_order_relaxed);
        return int(i);
    }
    return -1;
}

void StatsTable::release(int i) {
    if (i >= 0 && size_t(i) < kStatsRows) {
        used_[i] = false;
        WorkerRow& r = rows_[i];
        GroupCounts counts{};
        counts[kMessages] = r.requests.load(kRelaxed);
        counts[kBytesIn] = r.bytes_in.load(kRelaxed);
        counts[kBytesOut] = r.bytes_out.load(kRelaxed);
        for (size_t c = 0; c < kStatusClasses; c++) counts[kHttp1xx + c] = r.http[c].load(kRelaxed);
        for (size_t l = 0; l < kLimitKinds; l++) counts[kLimitUnsent + l] = r.limit_hits[l].load(kRelaxed);
        counts[kHandedOver] = r.handed_over.load(kRelaxed);
        std::array<int64_t, 3> drain = {r.drain_us.load(kRelaxed), r.drain_connections.load(kRelaxed),
                                        r.drain_requests.load(kRelaxed)};
        // One step for a reader: the counts move from the row to the totals.
        if (r.in_use.load(kRelaxed))
            totals().fold(r.group.load(kRelaxed), counts, drain, [&r] { r.in_use.store(0, kRelaxed); });
        r.pid = 0;
        size_t end = end_->load(std::memory_order_relaxed);
        while (end > 0 && !used_[end - 1]) end--;
        end_->store(uint32_t(end), std::memory_order_relaxed);
    }
}

}  // namespace smooth

namespace smooth {

TotalsSnapshot StatsTable::read_totals(bool with_peer) const {
    TotalsSnapshot out;
    if (!totals_) return out;
    const size_t end = rows_in_use_end();
    totals().read(out, with_peer, [this, end](TotalsSnapshot& s) {
        for (size_t i = 0; i < end; i++) {
            const WorkerRow& r = rows_[i];
            if (!r.in_use.load(kRelaxed)) continue;
            uint32_t e = r.group.load(kRelaxed);
            if (e >= s.groups.size()) continue;  // (named after this read began: counts nothing yet)
            GroupCounts& c = s.groups[e].counts;
            c[kMessages] += r.requests.load(kRelaxed);
            c[kBytesIn] += r.bytes_in.load(kRelaxed);
            c[kBytesOut] += r.bytes_out.load(kRelaxed);
            for (size_t k = 0; k < kStatusClasses; k++) c[kHttp1xx + k] += r.http[k].load(kRelaxed);
            for (size_t l = 0; l < kLimitKinds; l++) c[kLimitUnsent + l] += r.limit_hits[l].load(kRelaxed);
            c[kHandedOver] += r.handed_over.load(kRelaxed);
        }
    });
    return out;
}

}  // namespace smooth
