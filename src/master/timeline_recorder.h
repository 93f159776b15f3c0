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
//
// At the same ticks, and at each of its own events, each lane of a slot
// being touched (not one an abort left untouched) samples its old and its
// new worker's open connections, from its Slot event until kSampleAfterMs
// after it has settled (the old worker gone, the new one READY or given up
// on), so the picture shows the clients leaving one process and arriving
// at the other. A lane keeps at most kMaxLaneSamples: one that would keep
// more drops every other sample and is sampled half as often from then on,
// so a long drain still fits, at a coarser step. The table's hand-over
// events (told_to_hand_over, handed_over) mark when a hand-over began and
// ended.
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
    static constexpr size_t kMaxLaneSamples = 512;  // a lane's connection samples, at most

    // `reload` for its plan's numbers; `requests_served` counts every
    // worker's requests so far; `connections_of` is a living worker's open
    // connections, -1 for a pid that is not (or no longer) a worker.
    TimelineRecorder(EventLoop& loop, const Reload& reload, std::function<uint64_t()> requests_served,
                     std::function<int64_t(pid_t)> connections_of);
    TimelineRecorder(const TimelineRecorder&) = delete;
    TimelineRecorder& operator=(const TimelineRecorder&) = delete;

    // What it listens to.
    void on_reload(const ReloadEvent& e);
    void on_worker_ready(pid_t pid);
    void on_worker_exited(pid_t pid);
    void on_handing_over(pid_t old_pid);           // 'H' sent to it
    void on_handed_over(pid_t old_pid, bool ok);   // ...and its word

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

    // A lane whose connections are sampled, and how.
    struct Watch {
        size_t lane;             // index into timeline_.lanes
        int64_t until_ms = -1;   // since the reload began; -1 until the lane has settled
        uint64_t every = 1;      // sampled at every `every`th tick (doubled each time it is thinned)
    };
    void sample_connections();                        // at a tick
    void sample_lane(const ReloadTimeline::Lane* l);  // at one of its events
    void count_connections(Watch& w);

    EventLoop& loop_;
    const Reload& reload_;
    std::function<uint64_t()> requests_served_;
    std::function<int64_t(pid_t)> connections_of_;
    ReloadTimeline timeline_;
    std::vector<Watch> watched_;  // the lanes of timeline_ being sampled
    uint64_t ticks_ = 0;          // samples taken since sampling began
    bool began_ = false;     // the reload now ending began (it was not refused)
    bool complete_ = true;   // no reload under way, nor samples still to take
    int64_t start_ms_ = 0;   // when the reload began (the loop's clock): t = 0
    uint64_t sample_timer_ = 0;
    uint64_t after_timer_ = 0;
    std::vector<ReloadTimeline::Sample> samples_;  // t_ms on the loop's clock until done()
    std::vector<std::function<void(const std::string&)>> waiting_;
};

}  // namespace smooth
