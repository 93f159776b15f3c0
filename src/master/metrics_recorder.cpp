// metrics_recorder: see metrics_recorder.h.
#include "master/metrics_recorder.h"

#include "core/stats.h"
#include "master/master.h"

namespace smooth {

MetricsRecorder::MetricsRecorder(Master& master, StatsTable& stats) : master_(master), stats_(stats) {
    master.reload().events.add([this](const ReloadEvent& e) {
        if (e.kind == ReloadEvent::Kind::Began) {
            reload_began_ms_ = master_.loop().now_ms();
        } else if (e.kind == ReloadEvent::Kind::Finished) {
            Totals t = stats_.totals();
            if (reload_began_ms_ < 0) {
                t.add_server(kReloadsRefused);
                return;
            }
            t.add_server(e.ok ? kReloadsComplete : kReloadsAborted);
            t.observe(Hist::ReloadSeconds, uint64_t(master_.loop().now_ms() - reload_began_ms_) * 1000);
            reload_began_ms_ = -1;
        }
    });
    master.table().handed_over.add([this](pid_t, bool ok, const std::string&) {
        stats_.totals().add_server(ok ? kHandoversComplete : kHandoversFailed);
    });
    master.table().respawning.add([this](const WorkerProcess& w) {
        const GroupConfig& g = master_.view().config.groups[size_t(w.group)];
        Totals t = stats_.totals();
        t.add_group(t.entry(g.name, g.listen.protocol, g.role), kRestarts);
    });

    // The old master's side of an upgrade.
    master.upgrade().carry = [this] { return report(); };
    master.upgrade().carried.add([this](std::string_view m) { heard(m); });
    master.upgrade().new_master_gone.add([this] { stats_.totals().adopt_peer(); });
    // From the new master's fork on, it answers the scrapes (stats_totals.h).
    master.upgrade().began.add([this](const std::string&) { stats_.totals().set_scrape_elsewhere(true); });
    master.upgrade().ended.add([this](bool ok, const std::string&) {
        if (!ok) stats_.totals().set_scrape_elsewhere(false);
        // Complete: the new master counted it when it took over.
        if (!ok) stats_.totals().add_server(kUpgradesFailed);
    });
    // The new master's side.
    master.takeover().carry = [this] { return report(); };
    master.takeover().carried.add([this](std::string_view m) { heard(m); });
    master.takeover().old_master_gone.add([this] { stats_.totals().adopt_peer(); });
    master.takeover().taken.add([this](pid_t) { stats_.totals().add_server(kUpgradesComplete); });
}

// Ours only: the other master already has its own.
// (A torn read is not sent: the other master keeps our last report.)
std::vector<std::string> MetricsRecorder::report() const {
    TotalsSnapshot ours = stats_.read_totals(false);
    if (!ours.consistent) return {};
    return carry_messages(ours);
}

void MetricsRecorder::heard(std::string_view message) {
    if (reader_.feed(message)) stats_.totals().set_peer(reader_.report());
}

}  // namespace smooth
