// reports: see reports.h.
#include "master/reports.h"

#include "master/master.h"

namespace smooth {

Reports::Reports(Master& master)
    : systemd_(master),
      timeline_(
          master.loop(), master.reload(), [&master] { return master.table().requests_served(); },
          [&master](pid_t pid) { return master.table().connections_of(pid); }),
      metrics_(master, master.stats()) {
    master.reload().events.add([this](const ReloadEvent& e) { timeline_.on_reload(e); });
    master.table().ready.add([this](const WorkerProcess& w) { timeline_.on_worker_ready(w.pid); });
    master.table().exited.add([this](const WorkerProcess& w, const std::string&) { timeline_.on_worker_exited(w.pid); });
    master.table().told_to_hand_over.add([this](const WorkerProcess& w) { timeline_.on_handing_over(w.pid); });
    master.table().handed_over.add(
        [this](pid_t pid, bool ok, const std::string&) { timeline_.on_handed_over(pid, ok); });
    answer_timeline_commands(master);
}

void Reports::answer_timeline_commands(Master& master) {
    // Answered once the last reload's samples are in (a moment after it ends).
    master.control().add_command("timeline", [this](const std::shared_ptr<ControlSession>& session) {
        std::weak_ptr<ControlSession> weak = session;
        timeline_.when_ready([weak](const std::string& text) {
            if (auto s = weak.lock()) {
                s->send(text);
                s->finish();
            }
        });
    });
    // A reload whose rate is sampled for a moment before it starts, to show
    // what it started from (unless it would not start at once anyway).
    master.control().add_command("reload --timeline", [this, &master](const std::shared_ptr<ControlSession>& session) {
        Progress progress = progress_to(session);
        if (master.busy()) {
            master.request_reload(std::move(progress), "control socket");
            return;
        }
        timeline_.start_sampling();
        master.loop().add_timer(TimelineRecorder::kLeadMs, [&master, progress = std::move(progress)]() mutable {
            master.request_reload(std::move(progress), "control socket");
            return EventLoop::kNoMore;
        });
    });
}

}  // namespace smooth
