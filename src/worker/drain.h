// drain: what a worker does between SIGQUIT and its exit, and the rules it
// keeps while it does.
//
// The seed's rule is that the old process "finishes the current request before
// it exits". Done carefully, that is:
//
//   1. stop watching the listener, so the kernel wakes other workers for new
//      connections (with EPOLLEXCLUSIVE it wakes only some of them);
//   2. accept, in one bounded pass, what is already queued: a wake-up this
//      worker took may be the only one the kernel sends for those connections;
//   3. close our copy of the listener: the master's copy keeps the queue alive
//      (on a reload; on a stop the master has refused new connections and
//      closed its copy first, so the last worker's pass leaves nothing queued
//      to be reset: WorkerTable::stop_all);
//   4. let every request in flight finish; every response sent from now on says
//      "Connection: close" (unless the client already pipelined another
//      request, which is answered too);
//   5. give an idle keep-alive connection a short grace for one more request,
//      then close it;
//   6. close with a half-close and a bounded read to EOF (lingering close), so
//      no response is cut off by a reset (skipped only where the client said
//      it sends nothing more, or has already closed its side);
//   7. exit when no connection is left, or at drain_timeout, whichever first;
//      the master sends SIGKILL a little after that.
//
// The numbers and yes/no rules of steps 4 to 7 are below, and nowhere else;
// a Connection asks the worker's Drain for them (Connection::begin_drain does
// steps 4 to 6 for one connection). The sequence and the deadline are Drain,
// which reaches its worker only through DrainedWorker: the unit test
// (tests/unit/test_drain.cpp) gives it a fake one, with fake connections and
// a fake clock.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "core/event_loop.h"
#include "core/listener.h"

namespace smooth {

namespace drain {

// Step 2: the queue holds at most kMaxQueued connections; take no more than that.
inline constexpr size_t kMaxQueuedAccepts = kMaxQueued;
// Step 5: an idle keep-alive connection waits this long for one more request
// (or keepalive_timeout, if that is shorter), then it is closed.
inline constexpr int kIdleGraceMs = 500;
// Step 6: after our FIN, read and drop what the client still sends for at
// most this long. The same lingering close ends every connection whose last
// response was sent, draining or not.
inline constexpr int kLingerMs = 2000;
// Step 6 for a WebSocket: after our Close frame (1001, going away), wait this
// long for the client's Close before closing the TCP connection anyway.
inline constexpr int kWsCloseWaitMs = 2000;
// Step 7: the master's SIGKILL comes this long after a worker's drain_timeout,
// for a worker so stuck that its own deadline cannot run.
inline constexpr int kKillGraceMs = 2000;

constexpr int idle_grace_ms(int keepalive_timeout_ms) { return std::min(keepalive_timeout_ms, kIdleGraceMs); }

}  // namespace drain

// What the drain asks of its worker, and nothing more. Worker implements it.
class DrainedWorker {
public:
    virtual ~DrainedWorker() = default;
    virtual EventLoop& loop() = 0;                      // the deadline's timer, and the clock
    virtual void stop_accepting() = 0;                  // step 1
    virtual size_t accept_pending(size_t at_most) = 0;  // step 2: how many it took
    virtual void close_listener() = 0;                  // step 3
    virtual void drain_each_connection() = 0;           // steps 4 to 6: Connection::begin_drain, each
    virtual size_t connection_count() const = 0;
    virtual int drain_timeout_ms() const = 0;
    virtual void finish(const char* why) = 0;           // step 7: on_worker_stop, then leave the loop
    virtual void stop_now(const char* why) = 0;         // step 7 at the deadline: close every connection now
};

class Drain {
public:
    explicit Drain(DrainedWorker& worker) : worker_(worker) {}

    void start();                  // on SIGQUIT: steps 1 to 3, then 4 to 6 for each connection
    void connection_closed();      // step 7: exit when it was the last one
    bool active() const { return active_; }

    // Step 4: whether a response is the connection's last. While draining it
    // is, unless the client has already sent another request behind it.
    bool last_response(bool another_request_buffered) const { return active_ && !another_request_buffered; }
    // Step 5: how long an idle keep-alive connection waits for its next request.
    int idle_wait_ms(int keepalive_timeout_ms) const {
        return active_ ? drain::idle_grace_ms(keepalive_timeout_ms) : keepalive_timeout_ms;
    }

private:
    DrainedWorker& worker_;
    bool active_ = false;
    // Inside start(): a connection taken in step 2 may be answered and closed
    // at once, leaving none open for a moment while more are still queued.
    // "None open" means done only once start() has taken them all.
    bool starting_ = false;
    bool timed_out_ = false;
    int64_t started_ms_ = 0;
    uint64_t deadline_timer_ = 0;
};

}  // namespace smooth
