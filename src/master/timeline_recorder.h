// timeline_recorder: the reload's timeline (reload_timeline.h), drawn from
// what the reload and the table of workers tell. A listener: neither of them
// knows it is there (core/listeners.h).
//
// t = 0 is the moment a reload began (its step 2 done). Each
// ReloadEvent::Slot opens a lane and the events after it fill the lane in.
// Workers that finish after the reload has ended (a rollback's READY, the
// exit of an added slot's worker that an abort retired) are completed from
// the table's READY and exit events, for kSampleAfterMs after the end.
// Meanwhile the requests served by every worker are sampled every
// kSampleEveryMs from the shared stats table; then the timeline is complete,
// and the control socket's `timeline` gets it (`./server reload --timeline`;
// reports.h attaches a recorder to the running master).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "master/reload.h"
#include "master/reload_timeline.h"

namespace smooth {

class TimelineRecorder {
public:
    static constexpr int64_t kSampleEveryMs = 10;   // the requests-per-second resolution
    static constexpr int64_t kSampleAfterMs = 500;  // and how long it goes on after the reload ends
    static constexpr int64_t kLeadMs = 500;         // `reload --timeline`: the rate before the reload, for comparison

    // `reload` for its plan's numbers; `requests_served` counts every
    // worker's requests so far.
    TimelineRecorder(EventLoop& loop, const Reload& reload, std::function<uint64_t()> requests_served);
    TimelineRecorder(const TimelineRecorder&) = delete;
    TimelineRecorder& operator=(const TimelineRecorder&) = delete;

    // What it listens to.
    void on_reload(const ReloadEvent& e);
    void on_worker_ready(pid_t pid);
    void on_worker_exited(pid_t pid);

    // Samples from now on, before a reload is even requested (its lead-in).
    void start_sampling();
    // `ready` gets the last reload's timeline in its text form once its
    // samples are in (at once if they are), or an error line if none has run.
    void when_ready(std::function<void(const std::string& text)> ready);
    // The reload running or last run, as far as it has got.
    const ReloadTimeline& timeline() const { return timeline_; }
    bool complete() const { return complete_; }

private:
    ReloadTimeline::Lane* lane_of(const std::string& slot);  // the slot's latest lane
    int64_t since_start() const { return loop_.now_ms() - start_ms_; }
    void sample();
    void done();  // the samples are in: the timeline is complete

    EventLoop& loop_;
    const Reload& reload_;
    std::function<uint64_t()> requests_served_;
    ReloadTimeline timeline_;
    bool began_ = false;     // the reload now ending began (it was not refused)
    bool complete_ = true;   // no reload under way, nor samples still to take
    int64_t start_ms_ = 0;   // when the reload began (the loop's clock): t = 0
    uint64_t sample_timer_ = 0;
    uint64_t after_timer_ = 0;
    std::vector<ReloadTimeline::Sample> samples_;  // t_ms on the loop's clock until done()
    std::vector<std::function<void(const std::string&)>> waiting_;
};

}  // namespace smooth
