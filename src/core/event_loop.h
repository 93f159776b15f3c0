// event_loop: one epoll instance, its file events and its timers.
//
// The whole API, after redis's ae.c:
//   watch(fd, events, callback)   change(fd, events)   unwatch(fd)
//   add_timer(ms, callback) -> id   cancel_timer(id)
//   defer(task)   undefer(task)
//   run()   stop()
//
// A file event is an fd, an epoll event mask and a callback that receives the
// mask that fired. A timer callback returns the milliseconds until it should
// run again, or EventLoop::kNoMore.
//
// Each process builds its own loop after fork (an epoll instance shared across
// fork would deliver one process's events to another). One loop, one thread:
// nothing here locks.
//
// Time comes from the loop's Clock (clock.h): now_ms() for whoever measures,
// and every timer's deadline. A unit test gives the loop a FakeClock, moves
// it, and calls run_due_timers(): what a deadline does is tested without
// waiting for it.
//
// Callbacks may watch and unwatch any fd, including their own (unwatch before
// closing), and add or cancel any timer, including their own. The loop does
// not own the fds.
//
// One pass of the loop: wait, handle the batch of file events, run the timers
// that are due, then run the deferred tasks. A deferred task is work gathered
// while the pass's events were handled that should be done once for all of
// them, at the end: output to a socket, so that what every event of the pass
// had ready for one peer leaves in one write (SPEC, "Speed"), and nothing
// waits past the pass that made it. A task is queued at most once until it
// runs, so the queue never holds more entries than there are tasks (one per
// connection or link at most); the tasks that running ones queue run in the
// same sweep, before the loop waits again. The loop does not own the tasks: a
// task undefers itself before it is destroyed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/fd.h"

namespace smooth {

class EventLoop {
public:
    using FdCallback = std::function<void(uint32_t events)>;
    using TimerCallback = std::function<int64_t()>;
    static constexpr int64_t kNoMore = -1;

    // Work for the end of the pass (see above). Each owner implements
    // run_deferred(); queued_at_ is the loop's bookkeeping.
    class Deferred {
    public:
        virtual void run_deferred() = 0;
        bool deferred() const { return queued_at_ != kNotQueued; }

    protected:
        Deferred() = default;
        ~Deferred() = default;  // not deleted through this type: the owner undefers first

    private:
        friend class EventLoop;
        static constexpr uint32_t kNotQueued = ~uint32_t(0);
        uint32_t queued_at_ = kNotQueued;  // (4 bytes: a derived class's first field fills the rest)
    };

    explicit EventLoop(Clock& clock = real_clock()) : clock_(clock) {}
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // Creates the epoll instance. Returns "" or what failed.
    std::string open();

    // Each returns "" or what failed (core/error.h): epoll_ctl()'s error, or
    // the one it would give (an fd watched twice, or not watched at all).
    std::string watch(int fd, uint32_t events, FdCallback callback);
    std::string change(int fd, uint32_t events);
    std::string unwatch(int fd);
    // For an fd about to be closed, with no duplicate anywhere: closing it
    // takes it out of the epoll set by itself, so only our record of it goes
    // (no epoll_ctl(DEL), one syscall saved per connection).
    void forget(int fd);
    bool watching(int fd) const;
    // Drops the table's entries past the highest fd watched, and the room the
    // deferred queue grew to (after a burst).
    void shrink_to_fit();

    uint64_t add_timer(int64_t ms, TimerCallback callback);
    void cancel_timer(uint64_t id);

    // Queues `task` for the end of this pass; nothing if it is queued already.
    void defer(Deferred& task);
    // Takes it out of the queue (a task about to be destroyed, or closed).
    void undefer(Deferred& task);
    // Runs every queued task, and those they queue, until none is left. run()
    // calls it at the end of each pass; a test, when it wants the pass over.
    void run_deferred();
    size_t deferred_tasks() const { return deferred_count_; }

    // Dispatches events until stop(). Returns "" or what failed (epoll_wait).
    std::string run();
    void stop() { running_ = false; }
    // Runs every timer whose deadline has come, by the loop's clock. run()
    // calls it after each wait; a test with a FakeClock, after moving it.
    void run_due_timers();

    // Milliseconds by the loop's clock (monotonic): for deadlines, never for dates.
    int64_t now_ms() const { return clock_.now_ms(); }
    // The timers waiting, and how long until the first of them is due (-1: none).
    size_t timers() const { return timers_.size(); }
    int64_t ms_until_next_timer() const;

private:
    struct Watch {
        // Held here, not on the heap (a connection's callback is [this]: it
        // fits in the std::function). While it runs, dispatch holds it (see
        // run()), so it may unwatch itself or a watch() may move watches_.
        FdCallback callback;
        uint32_t generation = 0;  // tells a stale event from a reused fd's
        bool active = false;
    };
    struct Due {
        int64_t when;
        uint64_t id;
        bool operator>(const Due& o) const { return when > o.when || (when == o.when && id > o.id); }
    };

    int next_timeout_ms() const;
    void drop_cancelled();  // keeps due_.top() a timer that is still waiting

    Clock& clock_;
    Fd epoll_;
    std::vector<Watch> watches_;  // indexed by fd
    std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
    std::unordered_map<uint64_t, TimerCallback> timers_;
    // The tasks queued for the end of the pass, in the order queued; an entry
    // whose task was undeferred is null until the sweep clears the queue.
    std::vector<Deferred*> deferred_;
    size_t deferred_count_ = 0;  // the non-null entries
    uint64_t next_timer_id_ = 1;
    uint64_t running_timer_ = 0;
    bool running_timer_cancelled_ = false;
    bool running_ = false;
};

}  // namespace smooth
