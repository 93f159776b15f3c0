// metrics_recorder: what the master counts for the metrics (worker/
// metrics_page.h), written into the master's part of the shared stats table
// (core/stats_totals.h). A listener: the reload, the table of workers and
// the upgrade fire their events, and none of them knows it is there.
//
//   a reload finished          smooth_reloads_total{result}: complete, aborted
//                              (it began), refused (it never began); and how
//                              long it took, from Began to Finished
//   a worker respawned         smooth_worker_restarts_total{group}
//   an upgrade failed (here)   smooth_upgrades_total{result="failed"}
//   a gateway worker's word    smooth_handovers_total{result}: complete, failed
//   on its hand-over
//   we took over (new master)  smooth_upgrades_total{result="complete"}
//
// And the counters across an upgrade (master/totals_carry.h): it gives the
// upgrade and the takeover this master's report to send, keeps the other
// master's latest as the `peer` totals, and makes them its own when the
// other master is gone. (What a worker counts, and its drain, is folded by
// the table itself when its row is given back: stats.h.)
#pragma once

#include <cstdint>

#include "master/totals_carry.h"

namespace smooth {

class Master;
class StatsTable;

class MetricsRecorder {
public:
    MetricsRecorder(Master& master, StatsTable& stats);
    MetricsRecorder(const MetricsRecorder&) = delete;
    MetricsRecorder& operator=(const MetricsRecorder&) = delete;

private:
    void heard(std::string_view message);  // a carry message from the other master
    std::vector<std::string> report() const;

    Master& master_;
    StatsTable& stats_;
    int64_t reload_began_ms_ = -1;  // a reload began, and has not finished
    CarryReader reader_;
};

}  // namespace smooth
