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
//   totals = what the master writes and every worker reads (stats_totals.h):
//         the counts of rows given back, reloads, upgrades, histograms
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"
#include "core/stats_totals.h"

namespace smooth {

// A row is taken at fork and given back at reap, so the table must hold every
// process alive at once, not every slot. The config keeps the slots of the
// running groups at kMaxWorkers or fewer (the reader for a file, the reload's
// prepare for what a reload leaves running). The worst case is a reload from
// config A to config B:
//   - it visits the groups in order, so one group may grow (its slots added)
//     before another shrinks (its slots retired): per group it runs at most
//     max(a, b) <= a + b - 1 slots at once (both counts are at least 1), in
//     all at most |A| + |B| - 1 <= 2 * kMaxWorkers - 1;
//   - one step may overlap: with start_first the new worker runs beside the
//     old one until the old one has drained (with stop_first the old one is
//     reaped, and its row given back, before the new one is forked).
// Hence twice kMaxWorkers. Beyond that bound are only leftovers of failures
// (workers of added slots still draining after an aborted reload while the
// next reload starts, a killed worker not reaped yet): a fork that finds the
// table full then fails like any failed fork, loudly, and the slot is
// retried with back-off.
inline constexpr size_t kStatsRows = 2 * size_t(kMaxWorkers);
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

// The bounds a worker enforces (docs/limits.md), each counted when it cuts
// something off, so an operator sees which one is being hit.
enum class Limit : uint8_t {
    UnsentBytes,     // max_unsent_bytes: a client that does not read
    MessageTimeout,  // message_timeout: a message not whole in time
    QueueFull,       // queue_limit / queue_limit_bytes: a gateway's queue is full
    WorkerCeiling,   // max_buffered_bytes: the worker's buffers all together
    Count
};
inline constexpr size_t kLimitKinds = size_t(Limit::Count);
const char* limit_name(Limit l);  // "unsent_bytes", ...
static_assert(kLimitWorkerCeiling - kLimitUnsent + 1 == kLimitKinds, "stats_totals.h counts each limit");

// A worker's state as it says it (the master's word is WorkerState in
// worker_table.h; the two agree but for the moment a message takes).
enum class RowState : uint8_t { Starting, Ready, Draining, Stopping, Count };
inline constexpr size_t kRowStates = size_t(RowState::Count);
const char* row_state_name(RowState s);  // "starting", ...

// A gateway's links to business workers, by state (worker/gateway_link.h).
enum class LinkState : uint8_t { Connecting, Greeting, Proving, Ready, Draining, Count };
inline constexpr size_t kLinkStates = size_t(LinkState::Count);
const char* link_state_name(LinkState s);  // "connecting", ...

inline constexpr size_t kProtocols = size_t(Protocol::Ws) + 1;  // config.h's order

struct WorkerRow {
    std::atomic<uint8_t> in_use;          // the master's: taken (allocate) until folded (release)
    std::atomic<uint32_t> group;          // the master's: its group's entry in the totals
    std::atomic<uint8_t> state;           // a RowState, the worker's own word
    std::atomic<int32_t> pid;
    std::atomic<uint32_t> connections;
    std::atomic<uint32_t> open_by[kProtocols];    // connections by what they speak now (Protocol)
    std::atomic<uint64_t> requests;
    std::atomic<uint64_t> http[kStatusClasses];   // HTTP responses by status class (stats_totals.h)
    std::atomic<uint64_t> bytes_in;
    std::atomic<uint64_t> bytes_out;
    std::atomic<uint32_t> links;          // gateway pattern: links to the other side
    std::atomic<uint32_t> links_by[kLinkStates];   // gateway: its links by state
    std::atomic<uint32_t> queued;         // gateway: events waiting for a business worker
    std::atomic<uint64_t> queued_bytes;   // gateway: their bytes, with those in flight
    std::atomic<uint64_t> buffered_bytes; // what its connections hold in buffers (the last sweep's sum)
    std::atomic<uint64_t> limit_hits[kLimitKinds];  // by Limit
    std::atomic<uint64_t> handed_over;    // gateway: connections handed to its successor (worker/handover.h)
    std::atomic<uint32_t> conn_unlisted;  // open connections without a record (the table was full when they opened)
    std::atomic<uint64_t> listener;       // the listening socket's inode: rows with the same one share its queue
    std::atomic<uint32_t> accepting;      // 1 while the worker watches that listener (worker/accept_balance.h)
    char module_version[48];              // written once before READY, read after it
    // Told to drain: what it had then (connections, requests being handled),
    // and once it has drained (or given up at drain_timeout) how long it
    // took, in µs (-1 until then): folded into the histograms at release.
    std::atomic<uint32_t> drain_connections;
    std::atomic<uint32_t> drain_requests;
    std::atomic<int64_t> drain_us;
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
    // Every row in use is below this index (rows are taken lowest first), so
    // a reader looks at a few rows, not at every page of the table: a page
    // of a shared mapping is allocated, and counted in RSS, once touched.
    size_t rows_in_use_end() const { return end_ ? end_->load(std::memory_order_relaxed) : 0; }

    // Master only: a free row for a process about to be forked, cleared; or
    // -1 when all are taken. release() gives it back once the process is
    // reaped, folding its counts into its group's totals (stats_totals.h).
    int allocate(const GroupConfig* group = nullptr);
    void release(int i);

    // The master's part: its hands on it, and a reader's view of every
    // counter (the totals plus the rows in use; `with_peer`: and an upgrade's
    // other master). Bounded: the rows in use and kTotalsGroups names.
    Totals totals() const { return Totals(totals_); }
    TotalsSnapshot read_totals(bool with_peer) const;

private:
    WorkerRow* rows_ = nullptr;
    std::atomic<uint32_t>* end_ = nullptr;  // shared, on a page of its own after the rows
    SharedTotals* totals_ = nullptr;        // shared, after that page
    bool used_[kStatsRows] = {};  // in the master's private memory, not shared
};

}  // namespace smooth
