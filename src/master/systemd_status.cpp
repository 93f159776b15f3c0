// systemd_status: see systemd_status.h.
#include "master/systemd_status.h"

#include <unistd.h>

#include "core/log.h"
#include "master/master.h"

namespace smooth {

SystemdStatus::SystemdStatus(Master& master) : master_(master) {
    master.began.add([this] {
        if (std::string err = notify_.open_from_env(); !err.empty()) log::warn("%s; not notifying systemd", err.c_str());
    });
    master.table().ready.add([this](const WorkerProcess&) { worker_ready(); });
    master.start_reported.add([this] {
        const WorkerTable& table = master_.table();
        if (!table.every_slot_ready())
            notify_.status("starting: " + std::to_string(table.ready_workers()) + " of " +
                           std::to_string(table.slot_count()) + " workers ready after start_timeout; see the log");
    });
    master.stop_began.add([this](bool graceful) {
        notify_.stopping(std::string(graceful ? "stopping gracefully: " : "stopping: ") +
                         std::to_string(master_.table().processes().size()) + " workers " +
                         (graceful ? "draining" : "going"));
    });

    master.reload().events.add([this](const ReloadEvent& e) {
        const Reload& reload = master_.reload();
        switch (e.kind) {
            case ReloadEvent::Kind::Began:
                told_reloading_ = true;
                told_replaced_ = 0;
                notify_.reloading("reloading: 0 of " + std::to_string(reload.total()) + " replaced");
                break;
            case ReloadEvent::Kind::Finished:
                // Complete or aborted, READY=1 again; a stop that interrupted
                // it said STOPPING=1 instead.
                if (std::exchange(told_reloading_, false) && !master_.stopping()) notify_.ready(e.text);
                break;
            default:
                // A slot is done when the next one begins: at its READY
                // (stop_first), or at its old worker's exit (start_first, the canary).
                if (reload.running() && reload.replaced() != told_replaced_) {
                    told_replaced_ = reload.replaced();
                    notify_.status("reloading: " + std::to_string(told_replaced_) + " of " +
                                   std::to_string(reload.total()) + " replaced");
                }
                break;
        }
    });

    master.upgrade().began.add([this](const std::string& binary) { notify_.status("upgrading: starting " + binary); });
    // systemd hears from the new master now (MAINPID=): not a word more from
    // us, not even STOPPING=1 at our exit.
    master.upgrade().handed_over.add([this](pid_t) { notify_ = SystemdNotify(); });
    master.upgrade().ended.add([this](bool ok, const std::string& summary) {
        if (!ok && !master_.stopping()) notify_.status(serving() + "; " + summary);
    });
    master.takeover().taken.add([this](pid_t old_master) {
        told_ready_ = true;
        notify_.took_over(getpid(), serving() + " (upgraded from master pid " + std::to_string(old_master) + ")");
    });
}

// READY=1 once every worker is READY, not at start_timeout with some
// missing: a unit that never gets there fails its start, as it should.
void SystemdStatus::worker_ready() {
    if (told_ready_ || master_.stopping() || master_.takeover().pending() || !master_.table().every_slot_ready()) return;
    told_ready_ = true;
    notify_.ready(serving());
}

std::string SystemdStatus::serving() const {
    return "serving: " + std::to_string(master_.table().ready_workers()) + " workers ready";
}

}  // namespace smooth
