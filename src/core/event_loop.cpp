#include "core/event_loop.h"

#include <cerrno>
#include <sys/epoll.h>

namespace smooth {

namespace {
// epoll_event.data carries the fd and the watch generation, so an event that
// was already in the batch for an fd closed and reused by an earlier callback
// of the same batch is recognised and dropped.
uint64_t pack(int fd, uint32_t generation) { return (uint64_t(generation) << 32) | uint32_t(fd); }

std::string ctl_failed(const char* op, int fd, int err) {
    return std::string("epoll_ctl(") + op + ") failed for fd " + std::to_string(fd) + ": " + errno_text(err);
}
}  // namespace

std::string EventLoop::open() {
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) return "epoll_create1() failed: " + errno_text(errno);
    return "";
}

std::string EventLoop::watch(int fd, uint32_t events, FdCallback callback) {
    if (fd < 0) return ctl_failed("ADD", fd, EBADF);
    if (size_t(fd) >= watches_.size()) watches_.resize(size_t(fd) + 64);
    Watch& w = watches_[size_t(fd)];
    if (w.active) return ctl_failed("ADD", fd, EEXIST);
    struct epoll_event ev{};
    ev.events = events;
    ev.data.u64 = pack(fd, w.generation + 1);
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == -1) return ctl_failed("ADD", fd, errno);
    w.generation++;
    w.callback = std::move(callback);
    w.active = true;
    return "";
}

std::string EventLoop::change(int fd, uint32_t events) {
    if (!watching(fd)) return ctl_failed("MOD", fd, ENOENT);
    struct epoll_event ev{};
    ev.events = events;
    ev.data.u64 = pack(fd, watches_[size_t(fd)].generation);
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) == -1) return ctl_failed("MOD", fd, errno);
    return "";
}

std::string EventLoop::unwatch(int fd) {
    if (!watching(fd)) return ctl_failed("DEL", fd, ENOENT);
    Watch& w = watches_[size_t(fd)];
    w.active = false;
    w.generation++;
    w.callback = nullptr;  // if it is running, dispatch holds it until it returns
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr) == -1) return ctl_failed("DEL", fd, errno);
    return "";
}

void EventLoop::forget(int fd) {
    if (!watching(fd)) return;
    Watch& w = watches_[size_t(fd)];
    w.active = false;
    w.generation++;  // an event for it already in this batch is dropped
    w.callback = nullptr;
}

void EventLoop::shrink_to_fit() {
    // An fd's generation must survive while events for it can still be in a
    // batch: only entries that were never watched or are long unwatched go,
    // and this runs from a timer, after the batch.
    while (!watches_.empty() && !watches_.back().active) watches_.pop_back();
    watches_.shrink_to_fit();
    if (deferred_.empty()) deferred_.shrink_to_fit();  // a broadcast's sweep held one entry per client
}

bool EventLoop::watching(int fd) const {
    return fd >= 0 && size_t(fd) < watches_.size() && watches_[size_t(fd)].active;
}

uint64_t EventLoop::add_timer(int64_t ms, TimerCallback callback) {
    uint64_t id = next_timer_id_++;
    timers_.emplace(id, std::move(callback));
    due_.push({now_ms() + (ms < 0 ? 0 : ms), id});
    return id;
}

void EventLoop::cancel_timer(uint64_t id) {
    if (id == running_timer_) running_timer_cancelled_ = true;
    timers_.erase(id);  // its entry in due_ goes once it reaches the top
    drop_cancelled();
}

// A cancelled timer's entry stays in the heap (which cannot take one out of
// its middle) until it comes to the top; it goes then, so the top is always
// a timer still waiting, and the loop never wakes up for one that is not.
void EventLoop::drop_cancelled() {
    while (!due_.empty() && !timers_.contains(due_.top().id)) due_.pop();
}

int64_t EventLoop::ms_until_next_timer() const {
    if (due_.empty()) return -1;
    int64_t wait = due_.top().when - now_ms();
    return wait < 0 ? 0 : wait;
}

int EventLoop::next_timeout_ms() const {
    int64_t wait = ms_until_next_timer();
    return wait > 60000 ? 60000 : int(wait);
}

void EventLoop::run_due_timers() {
    int64_t now = now_ms();
    while (!due_.empty() && due_.top().when <= now) {
        Due due = due_.top();
        due_.pop();
        auto it = timers_.find(due.id);
        if (it == timers_.end()) continue;  // cancelled (while an earlier timer of this pass ran)
        TimerCallback callback = std::move(it->second);
        timers_.erase(it);
        running_timer_ = due.id;
        running_timer_cancelled_ = false;
        int64_t again = callback();
        running_timer_ = 0;
        if (again != kNoMore && !running_timer_cancelled_) {
            timers_.emplace(due.id, std::move(callback));
            due_.push({now_ms() + again, due.id});
        }
        drop_cancelled();
    }
}

void EventLoop::defer(Deferred& task) {
    if (task.deferred()) return;  // at most once in the queue: its bound
    task.queued_at_ = uint32_t(deferred_.size());  // at most one entry per task: far below 2^32
    deferred_.push_back(&task);
    deferred_count_++;
}

void EventLoop::undefer(Deferred& task) {
    if (!task.deferred()) return;
    deferred_[task.queued_at_] = nullptr;
    task.queued_at_ = Deferred::kNotQueued;
    deferred_count_--;
}

// By index, not by iterator: a task may queue others (appended, run in this
// same sweep) or undefer one further on (its entry turns null).
void EventLoop::run_deferred() {
    for (size_t i = 0; i < deferred_.size(); i++) {
        Deferred* task = deferred_[i];
        if (!task) continue;
        deferred_[i] = nullptr;
        task->queued_at_ = Deferred::kNotQueued;
        deferred_count_--;
        task->run_deferred();
    }
    deferred_.clear();
}

std::string EventLoop::run() {
    running_ = true;
    struct epoll_event events[256];
    while (running_) {
        int n = epoll_wait(epoll_.get(), events, 256, next_timeout_ms());
        if (n == -1) {
            if (errno == EINTR) continue;  // a signal: its byte is in the self-pipe
            return "epoll_wait() failed: " + errno_text(errno);
        }
        for (int i = 0; i < n; i++) {
            int fd = int(uint32_t(events[i].data.u64));
            uint32_t generation = uint32_t(events[i].data.u64 >> 32);
            if (size_t(fd) >= watches_.size()) continue;
            Watch& w = watches_[size_t(fd)];
            if (!w.active || w.generation != generation) continue;  // unwatched during this batch
            // Out of its entry while it runs: it may unwatch its own fd (which
            // would destroy it mid-call) or watch another (which may move
            // watches_). It goes back unless its fd was unwatched meanwhile.
            FdCallback callback = std::move(w.callback);
            callback(events[i].events);
            if (size_t(fd) < watches_.size()) {
                Watch& now = watches_[size_t(fd)];
                if (now.active && now.generation == generation) now.callback = std::move(callback);
            }
        }
        run_due_timers();
        run_deferred();  // what the pass gathered leaves now, before the next wait
    }
    return "";
}

}  // namespace smooth
