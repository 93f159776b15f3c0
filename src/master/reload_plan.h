// reload_plan: what a reload will do, worked out before anything is touched.
//
// A pure function: the config the master runs and the one just read from the
// file go in, the plan comes out. No process, file or clock is looked at, so
// every case is a table row in tests/unit/test_reload_plan.cpp.
//
//   notes     what the new config asks for that a reload cannot do (a new
//             group, a changed listener, a preloaded module...): said out
//             loud in the reload's report rather than silently ignored
//   next      the config the master runs once the plan is applied: what a
//             reload may change (counts, modules, limits, timeouts) taken from
//             the file, the rest kept as it runs
//   store     the module files to store as new versions before any worker is
//             touched (module_versions.h): one per replaced group that loads
//             its module after fork
//   told      groups that are not reloadable: their workers stay, and run
//             their on_worker_reload
//   steps     the seed's list: every (group, slot) whose worker is replaced,
//             added or retired, in the order the reload visits them
//
// What `reloadable` means here: the value in the file just read decides. A
// group switched to `reloadable = false` is left running from this reload on;
// a group switched to true is replaced by this reload.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace smooth {

struct ReloadStep {
    enum class Kind {
        Replace,  // the slot exists before and after: a new worker for the old one
        Add,      // the count grew: a new worker, no old one to drain
        Retire,   // the count shrank: drain the old worker, start nothing
    };
    int group;  // index into Config::groups (running and next list groups in the same order)
    int slot;
    Kind kind;
    // reloadable = handover: the new worker starts first, and the old one
    // hands it its connections instead of draining them (worker/handover.h).
    bool handover = false;

    bool operator==(const ReloadStep&) const = default;
};

struct ModuleToStore {
    int group;
    std::string path;  // the module file as the config names it

    bool operator==(const ModuleToStore&) const = default;
};

struct ReloadPlan {
    std::vector<std::string> notes;
    Config next;
    std::vector<ModuleToStore> store;
    std::vector<int> told;
    std::vector<ReloadStep> steps;
    bool start_first = false;  // next.server.reload_order, for the reader's convenience

    // How many workers the plan starts (Replace and Add steps).
    int workers_to_start() const;
};

ReloadPlan plan_reload(const Config& running, const Config& fresh);

const char* step_kind_name(ReloadStep::Kind kind);  // "replace", "add", "retire"

}  // namespace smooth
