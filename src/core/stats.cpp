#include "core/stats.h"

#include <cerrno>
#include <cstring>
#include <sys/mman.h>

#include "core/fd.h"

namespace smooth {

StatsTable::~StatsTable() {
    if (rows_) munmap(rows_, sizeof(WorkerRow) * kStatsRows);
}

std::string StatsTable::create() {
    void* p = mmap(nullptr, sizeof(WorkerRow) * kStatsRows, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return "mmap() of the shared stats table failed: " + errno_text(errno);
    // Anonymous pages arrive zeroed, and a zeroed std::atomic is a valid 0.
    rows_ = static_cast<WorkerRow*>(p);
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
        r.module_version[0] = '\0';
        for (ConnRecord& c : r.conns) c.id = 0;
        return int(i);
    }
    return -1;
}

void StatsTable::release(int i) {
    if (i >= 0 && size_t(i) < kStatsRows) {
        used_[i] = false;
        rows_[i].pid = 0;
    }
}

}  // namespace smooth
