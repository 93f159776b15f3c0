// stats_totals: the counts that outlive a worker, in the part of the shared
// stats table that the master writes and every worker reads.
//
// A worker's row (stats.h) counts what it serves, and the row is given back
// when the worker is reaped. A counter must never go backwards (Prometheus
// takes a drop for a restart of the counter), so at that moment the master
// folds the row's counts into its group's totals, and a reader adds the
// totals and the rows still in use. The fold and the row's release are one
// step for a reader, under a seqlock:
//
//   master (the only writer)              any reader (a worker answering a scrape)
//   seq++  (odd: a write is under way)    s1 = seq; odd: try again
//   totals[group] += row; row free        read totals, then every row in use
//   seq++  (even)                         s2 = seq; s1 != s2: try again
//
// so a reader sees the row's counts once: in the row, or in the totals. The
// workers' own increments need no lock (each field only grows, and a row's
// reader sees each field at some moment). A reader gives up retrying after
// kMaxReadTries, so a scrape's cost stays bounded even if the master died in
// the middle of a write; what it read then may be torn (a row seen neither
// in the totals nor in the rows), and says so (`consistent`): a counter read
// torn could seem to go back, so it is not served as one.
//
// What else lives here, written by the master under the same seqlock:
// reloads and upgrades by result, worker restarts, and the histograms
// (histogram.h). Counts are kept twice: `own` (this master's, and of every
// master before it in a chain of upgrades) and `peer` (the other master's
// during an upgrade, its latest report over the upgrade's channel). Readers
// add both; when the peer is gone, adopt_peer() moves its counts into `own`
// in one write. Groups are known by name (an upgrade's new master may number
// them otherwise): kTotalsGroups names at most, then "_other" takes the rest.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/histogram.h"

namespace smooth {

// Names: those of this config (kMaxWorkers groups at most) and as many
// inherited from the master before an upgrade.
inline constexpr size_t kTotalsGroups = 2 * size_t(kMaxWorkers);
inline constexpr size_t kMaxGroupName = kMaxGroupNameLength;
inline constexpr const char* kOtherGroup = "_other";
inline constexpr int kMaxReadTries = 1000;

// A group's counters, by index. HTTP responses by status class: 1xx to 5xx,
// then "other" (600 to 999).
enum GroupField : uint8_t {
    kMessages, kBytesIn, kBytesOut,
    kHttp1xx, kHttp2xx, kHttp3xx, kHttp4xx, kHttp5xx, kHttpOther,
    kLimitUnsent, kLimitMessageTimeout, kLimitQueueFull, kLimitWorkerCeiling,
    kRestarts,
    kHandedOver,  // connections a gateway worker handed to its successor (worker/handover.h)
    kGroupFields
};
inline constexpr size_t kStatusClasses = 6;
size_t status_class(int status);             // 200 -> 1 (kHttp2xx - kHttp1xx)
const char* status_class_name(size_t i);     // "2xx", ..., "other"
const char* group_field_name(size_t field);  // "messages", "http_2xx", "limit_unsent_bytes", ...

enum ServerField : uint8_t {
    kReloadsComplete, kReloadsAborted, kReloadsRefused,
    kUpgradesComplete, kUpgradesFailed,
    kHandoversComplete, kHandoversFailed,  // a gateway worker's hand-over to its successor, by result
    kServerFields
};
const char* server_field_name(size_t field);  // "reloads_complete", ...

using GroupCounts = std::array<uint64_t, kGroupFields>;

// What a reader gets: every group's counters with the rows in use added,
// the server's, the histograms. Also what an upgrade carries (own only).
struct TotalsSnapshot {
    struct Group {
        std::string name;
        Protocol protocol = Protocol::Http;
        Role role = Role::Plain;
        GroupCounts counts{};
    };
    std::vector<Group> groups;
    std::array<uint64_t, kServerFields> server{};
    std::array<HistCounts, kHistograms> hist{};
    bool consistent = true;  // false: the master wrote all through kMaxReadTries reads

    Group& group(std::string_view name);  // found, or added
};

struct SharedCounts {
    std::atomic<uint64_t> group[kTotalsGroups][kGroupFields];
    std::atomic<uint64_t> server[kServerFields];
    std::atomic<uint64_t> hist[kHistograms][kHistSlots];
};

struct GroupName {
    char name[kMaxGroupName + 1];
    std::atomic<uint8_t> protocol;
    std::atomic<uint8_t> role;
};

// The master's part of the shared table. All zero is a valid empty state.
struct SharedTotals {
    std::atomic<uint64_t> seq;
    std::atomic<uint32_t> groups;  // names in use
    GroupName names[kTotalsGroups];
    SharedCounts own;
    SharedCounts peer;
    // Set by the old master of an upgrade from its fork of the new one until
    // the upgrade fails: its workers send scrapes to the new master's (503).
    // Two masters each adding the other's last report (up to 100 ms old, more
    // on a loaded machine) can each be a little behind the other, so scrapes
    // answered by both in turn could see a counter go back; answered by one,
    // they cannot.
    std::atomic<uint32_t> scrape_elsewhere;
};

// The master's hands on a SharedTotals: every method is one write (one
// seqlock section). Readers use read() with the rows (stats.h does).
class Totals {
public:
    explicit Totals(SharedTotals* shared) : t_(shared) {}

    // The entry for a group's name, added if new (kTotalsGroups names, then
    // "_other"). Master only.
    uint32_t entry(std::string_view name, Protocol protocol, Role role);
    void add_server(ServerField f, uint64_t n = 1);
    void add_group(uint32_t entry, GroupField f, uint64_t n = 1);
    void observe(Hist h, uint64_t millionths);
    // A row given back: its counts and its drain into `own`, and `release`
    // run (the row marked free) in the same write.
    template <typename F>
    void fold(uint32_t entry, const GroupCounts& counts, const std::array<int64_t, 3>& drain, F release) {
        begin_write();
        add_counts(t_->own, entry, counts);
        if (drain[0] >= 0) {
            observe_into(t_->own, Hist::DrainSeconds, uint64_t(drain[0]));
            observe_into(t_->own, Hist::DrainConnections, uint64_t(drain[1]) * kMillion);
            observe_into(t_->own, Hist::DrainRequests, uint64_t(drain[2]) * kMillion);
        }
        release();
        end_write();
    }
    // The other master's latest report (replaces the last one); and, once it
    // is gone, its counts made ours.
    void set_peer(const TotalsSnapshot& s);
    void adopt_peer();

    // A reader's section: `read` fills `out` from the totals (`with_peer`:
    // own + peer) and then adds the rows in use; retried while the master
    // writes, kMaxReadTries at most.
    template <typename AddRows>
    void read(TotalsSnapshot& out, bool with_peer, AddRows add_rows) const {
        for (int tries = 0; tries < kMaxReadTries; tries++) {
            uint64_t s1 = t_->seq.load(std::memory_order_acquire);
            if (s1 & 1) continue;
            read_counts(out, with_peer);
            add_rows(out);
            std::atomic_thread_fence(std::memory_order_acquire);
            if (t_->seq.load(std::memory_order_relaxed) == s1) return;
        }
        out.consistent = false;
    }
    std::string name(uint32_t entry) const { return t_->names[entry].name; }
    void set_scrape_elsewhere(bool on) { t_->scrape_elsewhere.store(on ? 1 : 0, std::memory_order_relaxed); }
    bool scrape_elsewhere() const { return t_->scrape_elsewhere.load(std::memory_order_relaxed) != 0; }
    uint32_t size() const { return t_->groups.load(std::memory_order_acquire); }

    void begin_write();
    void end_write();

private:
    static void add_counts(SharedCounts& c, uint32_t entry, const GroupCounts& counts);
    static void observe_into(SharedCounts& c, Hist h, uint64_t millionths);
    void read_counts(TotalsSnapshot& out, bool with_peer) const;
    uint32_t add_name(std::string_view name, Protocol protocol, Role role);  // inside a write

    SharedTotals* t_;
};

}  // namespace smooth
