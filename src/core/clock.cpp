// clock: see clock.h.
#include "core/clock.h"

#include <ctime>

namespace smooth {

namespace {

int64_t read_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

class MonotonicClock : public Clock {
public:
    int64_t now_ms() const override { return monotonic_ms(); }
};

}  // namespace

int64_t monotonic_ms() { return read_ms(CLOCK_MONOTONIC); }
int64_t wall_clock_ms() { return read_ms(CLOCK_REALTIME); }

Clock& real_clock() {
    static MonotonicClock clock;  // no state: built on first use, never destroyed before its users
    return clock;
}

}  // namespace smooth
