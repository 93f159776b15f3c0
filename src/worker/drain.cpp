// drain: see drain.h; the steps are numbered as there.
#include "worker/drain.h"

#include <cstdio>

#include "core/log.h"

namespace smooth {

void Drain::start() {
    active_ = true;
    started_ms_ = worker_.loop().now_ms();

    starting_ = true;
    // 1. No new wake-ups for us: the kernel now wakes the other workers.
    worker_.stop_accepting();
    // 2. What is already queued may have been announced to us alone.
    size_t taken = worker_.accept_pending(drain::kMaxQueuedAccepts);
    // 3. Our copy of the listener goes; the master's keeps the queue alive.
    worker_.close_listener();
    // 4-6. Each connection finishes what it has (Connection::begin_drain).
    worker_.drain_each_connection();

    log::info("draining: %zu connections open (%zu taken from the queue); deadline %d ms", worker_.connection_count(),
              taken, worker_.drain_timeout_ms());

    // 7. The deadline. The master sends SIGKILL a little after it, in case even
    // this cannot run (a module stuck in a loop).
    deadline_timer_ = worker_.loop().add_timer(worker_.drain_timeout_ms(), [this] {
        log::warn("drain_timeout reached with %zu connections still open; closing them", worker_.connection_count());
        timed_out_ = true;
        worker_.stop_now("drain_timeout reached");
        return EventLoop::kNoMore;
    });
    starting_ = false;
    connection_closed();  // nothing open at all: done already
}

void Drain::connection_closed() {
    if (!active_ || starting_ || timed_out_ || worker_.connection_count() > 0) return;
    worker_.loop().cancel_timer(deadline_timer_);
    char why[64];
    std::snprintf(why, sizeof why, "drained in %lld ms", static_cast<long long>(worker_.loop().now_ms() - started_ms_));
    worker_.finish(why);
}

}  // namespace smooth
