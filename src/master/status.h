// status: how the master shows what it is doing: the table printed at start,
// `status` (for people and, with --json, for scripts) and `connections`.
//
// Pure formatting over a MasterView, a read-only look at the master's state.
// Counters come from the shared stats table, so no worker is asked anything.
#pragma once

#include <ctime>
#include <string>
#include <sys/types.h>

#include "config/config.h"
#include "core/stats.h"
#include "master/reload.h"
#include "master/upgrade.h"
#include "master/worker_table.h"

namespace smooth {

struct MasterView {
    pid_t pid;
    const char* build;               // build_id(): which ./server this master runs
    time_t started_wall;
    const std::string& config_name;  // the config file's path, or "<embedded default>"
    bool stopping;
    uint64_t generation;
    const Config& config;
    const WorkerTable& workers;
    const StatsTable& stats;
    const Reload& reload;
    const Upgrade& upgrade;
};

std::string start_report(const MasterView& m);
std::string status_text(const MasterView& m);
std::string status_json(const MasterView& m);
std::string connections_text(const MasterView& m);

}  // namespace smooth
