// clock: where time comes from, so that code that waits can be tested
// without waiting.
//
// Every deadline in this server is a timer in an event loop, and the loop
// reads the time from its Clock. The real one is the monotonic clock; a unit
// test gives the loop a FakeClock and moves it by hand, then runs the timers
// that are due (EventLoop::run_due_timers): a respawn back-off of 10 s or a
// drain_timeout of 30 s is checked to the millisecond in no time.
//
// Dates (when a connection opened, for `connections`) are not time in this
// sense: wall_clock_ms() reads the real-time clock, and nothing waits on it.
#pragma once

#include <cstdint>

namespace smooth {

// Milliseconds on the monotonic clock: for deadlines, never for dates.
int64_t monotonic_ms();
// Milliseconds since the epoch: for showing when something happened.
int64_t wall_clock_ms();

class Clock {
public:
    virtual ~Clock() = default;
    virtual int64_t now_ms() const = 0;  // monotonic: never goes back
};

// The monotonic clock (the default of every EventLoop).
Clock& real_clock();

// A clock that moves only when told to.
class FakeClock : public Clock {
public:
    explicit FakeClock(int64_t start_ms = 1000) : now_(start_ms) {}
    int64_t now_ms() const override { return now_; }
    void advance(int64_t ms) { now_ += ms; }

private:
    int64_t now_;
};

}  // namespace smooth
