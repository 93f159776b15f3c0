// drain: what a worker does between SIGQUIT and its exit.
//
// The seed's rule is that the old process "finishes the current request before
// it exits". Done carefully, that is:
//
//   1. stop watching the listener, so the kernel wakes other workers for new
//      connections (with EPOLLEXCLUSIVE it wakes only some of them);
//   2. accept, in one bounded pass, what is already queued: a wake-up this
//      worker took may be the only one the kernel sends for those connections;
//   3. close our copy of the listener: the master's copy keeps the queue alive;
//   4. let every request in flight finish; every response sent from now on says
//      "Connection: close" (unless the client already pipelined another
//      request, which is answered too);
//   5. give an idle keep-alive connection a short grace for one more request,
//      then close it;
//   6. close with a half-close and a bounded read to EOF (lingering close), so
//      no response is cut off by a reset (skipped only where the client said
//      it sends nothing more, or has already closed its side);
//   7. exit when no connection is left, or at drain_timeout, whichever first.
//
// The per-connection parts (4 to 6) are in Connection::begin_drain(); this
// file is the sequence and the deadline.
#pragma once

#include <cstdint>

namespace smooth {

class Worker;

class Drain {
public:
    explicit Drain(Worker& worker) : worker_(worker) {}

    void start();                  // on SIGQUIT
    void connection_closed();      // exit when it was the last one
    bool active() const { return active_; }

private:
    Worker& worker_;
    bool active_ = false;
    bool timed_out_ = false;
    int64_t started_ms_ = 0;
    uint64_t deadline_timer_ = 0;
};

}  // namespace smooth
