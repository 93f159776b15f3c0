// stats: the table in shared memory where workers keep their counters.
//
// The master maps it (MAP_SHARED | MAP_ANONYMOUS) before it forks anything, so
// every worker inherits the same pages. A worker writes only its own row; the
// master reads all rows to answer `status` and `connections` without asking any
// worker anything. Every field is a relaxed atomic: a reader may see a count
// one request old, never a torn one.
//
//   row = one worker process (not one slot: during a start_first reload a slot
//         briefly has two processes, the old one draining and the new one)
//   row.conns = the worker's open connections, up to kConnRecords of them
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace smooth {

inline constexpr size_t kStatsRows = 512;
inline constexpr size_t kConnRecords = 256;

struct ConnRecord {
    std::atomic<uint64_t> id;          // 0: free
    std::atomic<uint32_t> peer_ip;     // network byte order
    std::atomic<uint16_t> peer_port;   // host byte order
    std::atomic<uint8_t> state;        // a Connection::State
    std::atomic<int64_t> opened_ms;    // wall clock
    std::atomic<uint64_t> bytes_in;
    std::atomic<uint64_t> bytes_out;
};

struct WorkerRow {
    std::atomic<int32_t> pid;
    std::atomic<uint32_t> connections;
    std::atomic<uint64_t> requests;
    std::atomic<uint64_t> bytes_in;
    std::atomic<uint64_t> bytes_out;
    std::atomic<uint32_t> links;          // gateway pattern: links to the other side
    std::atomic<uint32_t> queued;         // gateway: events waiting for a business worker
    std::atomic<uint32_t> conn_unlisted;  // open connections without a record (the table was full when they opened)
    char module_version[48];              // written once before READY, read after it
    ConnRecord conns[kConnRecords];
};

class StatsTable {
public:
    StatsTable() = default;
    StatsTable(const StatsTable&) = delete;
    StatsTable& operator=(const StatsTable&) = delete;
    ~StatsTable();

    // Maps the table. Returns "" or what failed. Call before fork.
    std::string create();

    WorkerRow& row(size_t i) { return rows_[i]; }
    const WorkerRow& row(size_t i) const { return rows_[i]; }

    // Master only: a free row for a process about to be forked, cleared; or
    // -1 when all are taken. release() gives it back once the process is reaped.
    int allocate();
    void release(int i);

private:
    WorkerRow* rows_ = nullptr;
    bool used_[kStatsRows] = {};  // in the master's private memory, not shared
};

}  // namespace smooth
