#include "core/stats.h"

#include <cerrno>
#include <cstring>
#include <sys/mman.h>

#include "core/fd.h"

namespace smooth {

namespace {
constexpr size_t kRowsBytes = sizeof(WorkerRow) * kStatsRows;
constexpr size_t kMapBytes = kRowsBytes + 4096;  // the rows, then a page for end_
}  // namespace

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
    return "";
}

int StatsTable::allocate() {
    for (size_t i = 0; i < kStatsRows; i++) {
        if (used_[i]) continue;
        used_[i] = true;
        WorkerRow& r = rows_[i];
        r.pid = 0;
        r.connections = 0;
        r.requests = 0;
        r.bytes_in = 0;
        r.bytes_out = 0;
        r.conn_unlisted = 0;
        r.links = 0;
        r.queued = 0;
        r.queued_bytes = 0;
        r.buffered_bytes = 0;
        for (auto& hits : r.limit_hits) hits = 0;
        r.listener = 0;
        r.accepting = 0;
        r.module_version[0] = '\0';
        for (ConnRecord& c : r.conns) c.id = 0;
        if (i + 1 > end_->load(std::memory_order_relaxed)) end_->store(uint32_t(i + 1), std::memory_order_relaxed);
        return int(i);
    }
    return -1;
}

void StatsTable::release(int i) {
    if (i >= 0 && size_t(i) < kStatsRows) {
        used_[i] = false;
        rows_[i].pid = 0;
        size_t end = end_->load(std::memory_order_relaxed);
        while (end > 0 && !used_[end - 1]) end--;
        end_->store(uint32_t(end), std::memory_order_relaxed);
    }
}

}  // namespace smooth
