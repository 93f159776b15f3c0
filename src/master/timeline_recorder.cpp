// timeline_recorder: see timeline_recorder.h.
#include "master/timeline_recorder.h"

#include <utility>

namespace smooth {

namespace {

constexpr size_t kMaxSamples = 60000;  // ten minutes of samples at most

// A lane has settled when its old worker has gone (or it had none) and its
// new one is READY or given up on (or it gets none: a retired slot).
bool settled(const ReloadTimeline::Lane& l) {
    const bool old_gone = l.old_pid == 0 || l.exit_ms >= 0;
    const bool new_settled = l.kind == "retire" || l.ready_ms >= 0 || l.failed_ms >= 0;
    return old_gone && new_settled;
}

// Every other sample, the first kept: the same span at half the resolution.
void halve(std::vector<ReloadTimeline::Lane::Connections>& v) {
    size_t kept = 0;
    for (size_t i = 0; i < v.size(); i += 2) v[kept++] = v[i];
    v.resize(kept);
}

}  // namespace

TimelineRecorder::TimelineRecorder(EventLoop& loop, const Reload& reload, std::function<uint64_t()> requests_served,
                                   std::function<int64_t(pid_t)> connections_of)
    : loop_(loop),
      reload_(reload),
      requests_served_(std::move(requests_served)),
      connections_of_(std::move(connections_of)) {}

void TimelineRecorder::on_reload(const ReloadEvent& e) {
    using K = ReloadEvent::Kind;
    if (e.kind == K::Began) {
        if (!complete_) done();  // the last reload's after-window is cut short
        start_sampling();
        start_ms_ = loop_.now_ms();
        complete_ = false;
        began_ = true;
        timeline_ = ReloadTimeline();
        watched_.clear();
        timeline_.generation = reload_.generation();
        timeline_.start_first = reload_.start_first();
        return;
    }
    if (e.kind == K::Finished) {
        if (!began_) {  // refused before it began: there is nothing to wait for
            if (!complete_) done();
            timeline_ = ReloadTimeline();
            watched_.clear();
            start_ms_ = loop_.now_ms();
        }
        timeline_.ok = e.ok;
        timeline_.summary = e.text;
        timeline_.finished_ms = since_start();
        timeline_.after_ms = began_ ? kSampleAfterMs : 0;
        if (!std::exchange(began_, false)) {
            done();
            return;
        }
        if (after_timer_) loop_.cancel_timer(after_timer_);
        after_timer_ = loop_.add_timer(kSampleAfterMs, [this] {
            after_timer_ = 0;
            done();
            return EventLoop::kNoMore;
        });
        return;
    }
    if (e.kind == K::Slot) {
        ReloadTimeline::Lane l;
        l.slot = e.slot;
        l.kind = e.what;
        l.old_pid = e.pid;
        timeline_.lanes.push_back(l);
        // A slot an abort left untouched keeps its worker: nothing moves there.
        if (l.kind != "untouched") watched_.push_back({timeline_.lanes.size() - 1});
        sample_lane(&timeline_.lanes.back());
        return;
    }
    ReloadTimeline::Lane* l = lane_of(e.slot);
    if (!l) return;
    int64_t t = since_start();
    switch (e.kind) {
        case K::Draining: l->drain_ms = t; break;
        case K::OldExited: l->exit_ms = t; break;
        case K::Forked:
            l->fork_ms = t;
            l->new_pid = e.pid;
            l->version = e.text;
            break;
        case K::Ready: l->ready_ms = t; break;
        case K::GaveUp: l->failed_ms = t; break;
        default: break;
    }
    sample_lane(l);
}

// After the reload has ended, the lanes of workers it left starting or
// draining (a rollback's refill, a retired slot) are completed from here.
void TimelineRecorder::on_worker_ready(pid_t pid) {
    if (complete_) return;
    if (ReloadTimeline::Lane* l = timeline_.lane_of_new(pid); l && l->ready_ms < 0) {
        l->ready_ms = since_start();
        sample_lane(l);
    }
}

void TimelineRecorder::on_worker_exited(pid_t pid) {
    if (complete_) return;
    int64_t t = since_start();
    if (ReloadTimeline::Lane* l = timeline_.lane_of_old(pid); l && l->exit_ms < 0) {
        l->exit_ms = t;
        sample_lane(l);
    }
    if (ReloadTimeline::Lane* l = timeline_.lane_of_new(pid); l && l->ready_ms < 0 && l->failed_ms < 0) {
        l->failed_ms = t;
        sample_lane(l);
    }
}

void TimelineRecorder::on_handing_over(pid_t old_pid) {
    if (complete_) return;  // an upgrade's hand-over, or one long after the reload
    ReloadTimeline::Lane* l = timeline_.lane_of_old(old_pid);
    if (!l || l->handover_ms >= 0) return;
    l->handover_ms = since_start();
    sample_lane(l);
}

void TimelineRecorder::on_handed_over(pid_t old_pid, bool ok) {
    if (complete_) return;
    ReloadTimeline::Lane* l = timeline_.lane_of_old(old_pid);
    if (!l || l->handover_ms < 0 || l->handover_end_ms >= 0) return;
    l->handover_end_ms = since_start();
    l->handover_ok = ok;
    sample_lane(l);  // the word comes once every connection has moved: the counts as they end
}

ReloadTimeline::Lane* TimelineRecorder::lane_of(const std::string& slot) {
    for (auto it = timeline_.lanes.rbegin(); it != timeline_.lanes.rend(); ++it)
        if (it->slot == slot) return &*it;
    return nullptr;
}

void TimelineRecorder::start_sampling() {
    if (sample_timer_) return;
    samples_.clear();
    sample();
    sample_timer_ = loop_.add_timer(kSampleEveryMs, [this] {
        sample();
        return samples_.size() < kMaxSamples ? kSampleEveryMs : EventLoop::kNoMore;
    });
}

void TimelineRecorder::sample() {
    ticks_++;
    samples_.push_back({loop_.now_ms(), requests_served_()});
    if (!complete_) sample_connections();
}

// At a tick: every watched lane whose turn it is.
void TimelineRecorder::sample_connections() {
    const int64_t t = since_start();
    for (Watch& w : watched_) {
        if (w.until_ms < 0 && settled(timeline_.lanes[w.lane])) w.until_ms = t + kSampleAfterMs;
        if (ticks_ % w.every == 0) count_connections(w);
    }
}

// At one of a lane's own events: the counts at the very moment it stands
// for, which a tick every kSampleEveryMs could miss (a hand-over of 50
// connections takes a few milliseconds).
void TimelineRecorder::sample_lane(const ReloadTimeline::Lane* l) {
    if (!l || complete_) return;
    const size_t lane = size_t(l - timeline_.lanes.data());
    for (Watch& w : watched_)
        if (w.lane == lane) count_connections(w);
}

// The old worker's count is read before the new one's. During a hand-over
// the old count only falls and the new one only rises (the new worker counts
// a connection when it installs it, before the old one lets it go), so read
// in this order a sample does not show a connection in neither process (as
// far as two relaxed loads keep their order, which x86 guarantees).
void TimelineRecorder::count_connections(Watch& w) {
    const int64_t t = since_start();
    if (w.until_ms >= 0 && t > w.until_ms) return;
    ReloadTimeline::Lane& l = timeline_.lanes[w.lane];
    int64_t old_count = l.old_pid ? connections_of_(l.old_pid) : -1;
    int64_t new_count = l.new_pid ? connections_of_(l.new_pid) : -1;
    // At the moment a worker exits it holds none (the table has given its
    // row back already): the line ends at 0, not at its last tick's count.
    if (old_count < 0 && l.old_pid && l.exit_ms == t) old_count = 0;
    if (new_count < 0 && l.new_pid && l.failed_ms == t) new_count = 0;
    l.connections.push_back({t, int32_t(old_count), int32_t(new_count)});
    if (l.connections.size() >= kMaxLaneSamples) {
        halve(l.connections);
        w.every *= 2;
    }
}

void TimelineRecorder::done() {
    if (sample_timer_) loop_.cancel_timer(std::exchange(sample_timer_, 0));
    if (after_timer_) loop_.cancel_timer(std::exchange(after_timer_, 0));
    timeline_.rate.clear();
    for (const ReloadTimeline::Sample& s : samples_) timeline_.rate.push_back({s.t_ms - start_ms_, s.requests});
    samples_.clear();
    complete_ = true;
    std::string text = timeline_.to_text();
    for (auto& ready : std::exchange(waiting_, {})) ready(text);
}

void TimelineRecorder::when_ready(std::function<void(const std::string& text)> ready) {
    if (complete_) {
        ready(timeline_.lanes.empty() && timeline_.summary.empty() ? "error: no reload has run yet\n" : timeline_.to_text());
        return;
    }
    waiting_.push_back(std::move(ready));
}

}  // namespace smooth
