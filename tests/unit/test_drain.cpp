// test_drain: the drain's numbered steps (worker/drain.h) with a fake worker:
// fake connections that open and close when a test says so, a listener
// queue of a given length, and a fake clock. Each call the drain makes is
// written down with the number of its step, so a test compares the sequence
// with drain.h's list, the deadline to the millisecond, and when (and how
// often) the worker is told to finish.
#include "worker/drain.h"

#include "check.h"
#include "core/log.h"

#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

using namespace smooth;

namespace {

constexpr int kDrainTimeoutMs = 30000;

class FakeWorker : public DrainedWorker {
public:
    FakeClock clock{1000};
    EventLoop events{clock};
    Drain drain{*this};
    std::vector<std::string> calls;
    size_t open = 0;            // connections open
    size_t queued = 0;          // connections waiting in the listener's queue
    size_t answered_at_once = 0;  // of those step 2 takes, how many are answered and closed at once
    int finished = 0;

    EventLoop& loop() override { return events; }
    void stop_accepting() override { calls.push_back("1 stop accepting"); }
    size_t accept_pending(size_t at_most) override {
        calls.push_back("2 accept at most " + std::to_string(at_most));
        size_t taken = std::min(queued, at_most);
        queued -= taken;
        for (size_t i = 0; i < taken; i++) {
            open++;
            // A short request already in: answered and closed inside this pass,
            // while more of the queue is still to be taken.
            if (i < answered_at_once) close_one();
        }
        return taken;
    }
    void close_listener() override { calls.push_back("3 close the listener"); }
    void drain_each_connection() override { calls.push_back("4-6 drain " + std::to_string(open) + " connections"); }
    size_t connection_count() const override { return open; }
    int drain_timeout_ms() const override { return kDrainTimeoutMs; }
    void finish(const char* why) override {
        calls.push_back(std::string("7 finish: ") + why);
        finished++;
    }
    // As Worker::stop_now: every connection closed now (each close tells the drain), then finish.
    void stop_now(const char* why) override {
        calls.push_back(std::string("7 stop now: ") + why);
        while (open > 0) close_one();
        finish(why);
    }

    // A connection finished its last response and closed (Worker::on_connection_closed).
    void close_one() {
        open--;
        drain.connection_closed();
    }
    std::string take_calls() {
        std::string out;
        for (const std::string& c : calls) out += (out.empty() ? "" : "; ") + c;
        calls.clear();
        return out;
    }
};

const std::string kSteps1To3 =
    "1 stop accepting; 2 accept at most " + std::to_string(drain::kMaxQueuedAccepts) + "; 3 close the listener";

// Steps 1 to 6 in drain.h's order, then the deadline armed (step 7).
void test_the_steps_in_order() {
    FakeWorker w;
    w.open = 3;
    w.queued = 2;
    EXPECT(!w.drain.active());
    w.drain.start();
    EXPECT(w.drain.active());
    EXPECT_EQ(w.take_calls(), kSteps1To3 + "; 4-6 drain 5 connections");
    EXPECT_EQ(w.events.ms_until_next_timer(), int64_t(kDrainTimeoutMs));
    EXPECT_EQ(w.finished, 0);
}

// Step 7: the worker finishes when its last connection closes, not before,
// and the deadline goes with it.
void test_it_ends_with_the_last_connection() {
    FakeWorker w;
    w.open = 2;
    w.drain.start();
    w.take_calls();
    w.clock.advance(40);
    w.close_one();
    EXPECT_EQ(w.take_calls(), std::string(""));
    w.clock.advance(80);
    w.close_one();
    EXPECT_EQ(w.take_calls(), std::string("7 finish: drained in 120 ms"));
    EXPECT_EQ(w.events.timers(), size_t(0));
}

// Nothing open and nothing queued: done at once.
void test_nothing_open_is_done_at_once() {
    FakeWorker w;
    w.drain.start();
    EXPECT_EQ(w.take_calls(), kSteps1To3 + "; 4-6 drain 0 connections; 7 finish: drained in 0 ms");
    EXPECT_EQ(w.finished, 1);
    EXPECT_EQ(w.events.timers(), size_t(0));
}

// A connection taken in step 2 and answered at once leaves none open for a
// moment while the queue still holds another: that moment is not the end.
void test_none_open_during_step_2_is_not_the_end() {
    FakeWorker w;
    w.queued = 2;
    w.answered_at_once = 1;
    w.drain.start();
    EXPECT_EQ(w.take_calls(), kSteps1To3 + "; 4-6 drain 1 connections");
    EXPECT_EQ(w.finished, 0);
    w.close_one();
    EXPECT_EQ(w.take_calls(), std::string("7 finish: drained in 0 ms"));

    FakeWorker all;  // every one answered at once: done when start() is
    all.queued = 3;
    all.answered_at_once = 3;
    all.drain.start();
    EXPECT_EQ(all.take_calls(), kSteps1To3 + "; 4-6 drain 0 connections; 7 finish: drained in 0 ms");
    EXPECT_EQ(all.finished, 1);
}

// Step 7's deadline: at drain_timeout, not a millisecond before, every
// connection still open is closed and the worker finishes, once.
void test_the_deadline() {
    FakeWorker w;
    w.open = 2;
    w.drain.start();
    w.take_calls();
    w.clock.advance(kDrainTimeoutMs - 1);
    w.events.run_due_timers();
    EXPECT_EQ(w.take_calls(), std::string(""));
    w.clock.advance(1);
    w.events.run_due_timers();
    EXPECT_EQ(w.take_calls(), std::string("7 stop now: drain_timeout reached; 7 finish: drain_timeout reached"));
    EXPECT_EQ(w.finished, 1);
    // The master's SIGKILL comes later still, for a worker too stuck to run this.
    EXPECT(drain::kKillGraceMs > 0);
}

// Steps 4 and 5's rules, as a connection asks for them.
void test_the_rules_a_connection_asks_for() {
    FakeWorker w;
    w.open = 1;
    // Before the drain: keep-alive as configured.
    EXPECT(!w.drain.last_response(false));
    EXPECT_EQ(w.drain.idle_wait_ms(5000), 5000);
    w.drain.start();
    // Step 4: the response is the last, unless the client already sent the next request.
    EXPECT(w.drain.last_response(false));
    EXPECT(!w.drain.last_response(true));
    // Step 5: an idle keep-alive connection gets a short grace, or its own
    // keepalive_timeout if that is shorter.
    EXPECT_EQ(w.drain.idle_wait_ms(5000), drain::kIdleGraceMs);
    EXPECT_EQ(w.drain.idle_wait_ms(200), 200);
}

}  // namespace

int main() {
    log::set_role("test");
    int quiet = open("/dev/null", O_WRONLY | O_CLOEXEC);  // the drain's log lines are not the test's output
    log::set_output(quiet);
    test_the_steps_in_order();
    test_it_ends_with_the_last_connection();
    test_nothing_open_is_done_at_once();
    test_none_open_during_step_2_is_not_the_end();
    test_the_deadline();
    test_the_rules_a_connection_asks_for();
    return check::summary("drain");
}
