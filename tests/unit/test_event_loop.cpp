// test_event_loop: the epoll loop with real pipes and real time. File events
// (watch, change, unwatch, and callbacks that unwatch and close fds in the
// middle of a batch), then timers (order, repeating, cancelling, stopping).
// Every run() has a watchdog timer, so a broken loop fails a check instead of
// hanging the test. Last, timers on a fake clock: the loop's time is its
// Clock's, which a test moves by hand.
#include "core/event_loop.h"

#include "check.h"

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <fcntl.h>
#include <functional>
#include <memory>
#include <utility>
#include <string>
#include <sys/epoll.h>
#include <unistd.h>
#include <vector>

using namespace smooth;

namespace {

// A pipe whose two ends close themselves; non-blocking like a server socket.
struct Pipe {
    Fd r;
    Fd w;
    Pipe() {
        int fds[2];
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
            r.reset(fds[0]);
            w.reset(fds[1]);
        }
    }
    bool put(const char* s = "x") { return ::write(w.get(), s, 1) == 1; }
};

// A loop, opened, with a watchdog that stops it after `ms` and says so.
struct Loop {
    EventLoop loop;
    bool timed_out = false;
    explicit Loop(int64_t watchdog_ms = 2000) {
        EXPECT_EQ(loop.open(), "");
        loop.add_timer(watchdog_ms, [this] {
            timed_out = true;
            loop.stop();
            return EventLoop::kNoMore;
        });
    }
    // Runs until something calls stop(); expects no error.
    void run() { EXPECT_EQ(loop.run(), ""); }
    // A timer that ends run() after ms: for tests that check what did NOT happen.
    void stop_after(int64_t ms) {
        loop.add_timer(ms, [this] {
            loop.stop();
            return EventLoop::kNoMore;
        });
    }
};

int64_t elapsed_ms(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count();
}

// ---- file events ------------------------------------------------------------

void test_watch_fires_with_epollin() {
    Loop l;
    Pipe p;
    EXPECT(p.put());
    uint32_t seen = 0;
    int calls = 0;
    EXPECT_EQ(l.loop.watch(p.r.get(), EPOLLIN, [&](uint32_t events) {
        seen = events;
        ++calls;
        char c;
        EXPECT_EQ(::read(p.r.get(), &c, 1), ssize_t(1));
        l.loop.stop();
    }), "");
    EXPECT(l.loop.watching(p.r.get()));
    l.run();
    EXPECT(!l.timed_out);
    EXPECT_EQ(calls, 1);
    EXPECT((seen & EPOLLIN) != 0);
    EXPECT((seen & EPOLLOUT) == 0);
}

void test_watch_errors() {
    EventLoop loop;
    EXPECT_EQ(loop.open(), "");
    Pipe p;
    auto nothing = [](uint32_t) {};

    // What failed, named as errno names it: the error's text holds the name.
    struct Case {
        const char* name;
        std::string got;
        const char* want;
    };
    EXPECT_EQ(loop.watch(p.r.get(), EPOLLIN, nothing), "");
    Fd file(::open("/proc/self/stat", O_RDONLY | O_CLOEXEC));  // epoll refuses regular files
    const std::vector<Case> cases = {
        {"watch twice", loop.watch(p.r.get(), EPOLLIN, nothing), "EEXIST"},
        {"watch -1", loop.watch(-1, EPOLLIN, nothing), "EBADF"},
        {"watch a closed fd number", loop.watch(999, EPOLLIN, nothing), "EBADF"},
        {"watch a regular file", loop.watch(file.get(), EPOLLIN, nothing), "EPERM"},
        {"change an unwatched fd", loop.change(p.w.get(), EPOLLOUT), "ENOENT"},
        {"change -1", loop.change(-1, EPOLLOUT), "ENOENT"},
        {"unwatch an unwatched fd", loop.unwatch(p.w.get()), "ENOENT"},
        {"unwatch a huge fd", loop.unwatch(1 << 20), "ENOENT"},
    };
    for (const Case& c : cases) EXPECT_EQ_AT(c.got.find(std::string(": ") + c.want + " ") != std::string::npos, true, c.name + (": " + c.got));
    // A refused watch leaves nothing behind.
    EXPECT(!loop.watching(999));
    EXPECT(!loop.watching(file.get()));
    EXPECT(loop.watching(p.r.get()));
    EXPECT_EQ(loop.unwatch(p.r.get()), "");
    EXPECT(!loop.watching(p.r.get()));
    EXPECT(loop.unwatch(p.r.get()).find("ENOENT") != std::string::npos);
    // Watchable again after unwatch.
    EXPECT_EQ(loop.watch(p.r.get(), EPOLLIN, nothing), "");
}

void test_change_to_epollout() {
    // The write end of an empty pipe is writable, never readable: watched for
    // EPOLLIN nothing comes; changed to EPOLLOUT it fires at once.
    Loop l;
    Pipe p;
    int in_calls = 0;
    int out_calls = 0;
    uint32_t seen = 0;
    EXPECT_EQ(l.loop.watch(p.w.get(), EPOLLIN, [&](uint32_t events) {
        seen = events;
        if (events & EPOLLOUT) {
            ++out_calls;
            l.loop.stop();
        } else {
            ++in_calls;
        }
    }), "");
    l.loop.add_timer(20, [&] {
        EXPECT_EQ(in_calls + out_calls, 0);  // 20 ms of EPOLLIN interest: silence
        EXPECT_EQ(l.loop.change(p.w.get(), EPOLLOUT), "");
        return EventLoop::kNoMore;
    });
    l.run();
    EXPECT(!l.timed_out);
    EXPECT_EQ(in_calls, 0);
    EXPECT_EQ(out_calls, 1);
    EXPECT((seen & EPOLLOUT) != 0);
}

void test_unwatch_stops_events() {
    // Level-triggered: an unread byte fires on every turn of the loop until
    // the callback unwatches; after that, nothing.
    Loop l;
    Pipe p;
    EXPECT(p.put());
    int calls = 0;
    EXPECT_EQ(l.loop.watch(p.r.get(), EPOLLIN, [&](uint32_t) {
        if (++calls == 3) EXPECT_EQ(l.loop.unwatch(p.r.get()), "");
    }), "");
    l.stop_after(30);
    l.run();
    EXPECT(!l.timed_out);
    EXPECT_EQ(calls, 3);
    EXPECT(!l.loop.watching(p.r.get()));
}

void test_callback_unwatches_and_closes_itself() {
    Loop l;
    Pipe p;
    Pipe other;  // keeps the loop's fd table honest: another fd still works after
    EXPECT(p.put());
    const int fd = p.r.get();
    int calls = 0;
    int other_calls = 0;
    EXPECT_EQ(l.loop.watch(fd, EPOLLIN, [&](uint32_t) {
        ++calls;
        EXPECT_EQ(l.loop.unwatch(fd), "");
        p.r.reset();  // the callback's own fd, closed while the callback runs
        EXPECT(other.put());
    }), "");
    EXPECT_EQ(l.loop.watch(other.r.get(), EPOLLIN, [&](uint32_t) {
        ++other_calls;
        l.loop.stop();
    }), "");
    l.run();
    EXPECT(!l.timed_out);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(other_calls, 1);
    EXPECT(!l.loop.watching(fd));
}

void test_callback_survives_its_table_moving() {
    // A callback that watches fds far above its own (the table of watches
    // grows, and moves, while it runs) is still there for its next event;
    // one that unwatches itself and watches its fd again keeps the new one.
    Loop l;
    Pipe p, q;
    std::vector<Pipe> many(300);  // fds well past the table's first size
    int runs = 0;
    EXPECT_EQ(l.loop.watch(p.r.get(), EPOLLIN, [&](uint32_t) {
        char c;
        EXPECT_EQ(::read(p.r.get(), &c, 1), ssize_t(1));
        if (++runs == 1) {
            for (Pipe& m : many) EXPECT_EQ(l.loop.watch(m.r.get(), EPOLLIN, [](uint32_t) {}), "");
            EXPECT(p.put());  // and once more
        } else {
            l.loop.stop();
        }
    }), "");
    EXPECT(p.put());
    l.run();
    EXPECT(!l.timed_out);
    EXPECT_EQ(runs, 2);

    Loop l2;
    std::string ran;
    EXPECT_EQ(l2.loop.watch(q.r.get(), EPOLLIN, [&](uint32_t) {
        ran += "old ";
        EXPECT_EQ(l2.loop.unwatch(q.r.get()), "");
        EXPECT_EQ(l2.loop.watch(q.r.get(), EPOLLIN, [&](uint32_t) {
            ran += "new";
            l2.loop.stop();
        }), "");
    }), "");
    EXPECT(q.put());
    l2.run();
    EXPECT(!l2.timed_out);
    EXPECT_EQ(ran, std::string("old new"));
}

void test_callback_unwatches_another_pending_fd() {
    // Both pipes are readable before run(), so both events come in the same
    // epoll_wait batch. Whichever callback runs first unwatches the other;
    // the other's event is still in the batch and must be dropped.
    Loop l;
    Pipe a;
    Pipe b;
    EXPECT(a.put());
    EXPECT(b.put());
    int calls_a = 0;
    int calls_b = 0;
    auto callback = [&l](Pipe& self, Pipe& peer, int& calls) {
        return [&l, fd = self.r.get(), peer_fd = peer.r.get(), calls = &calls](uint32_t) {
            ++*calls;
            char c;
            EXPECT_EQ(::read(fd, &c, 1), ssize_t(1));
            if (l.loop.watching(peer_fd)) EXPECT_EQ(l.loop.unwatch(peer_fd), "");
        };
    };
    EXPECT_EQ(l.loop.watch(a.r.get(), EPOLLIN, callback(a, b, calls_a)), "");
    EXPECT_EQ(l.loop.watch(b.r.get(), EPOLLIN, callback(b, a, calls_b)), "");
    l.stop_after(30);
    l.run();
    EXPECT(!l.timed_out);
    EXPECT_EQ(calls_a + calls_b, 1);
}

void test_stale_event_for_a_reused_fd() {
    // The same batch, harder: the first callback unwatches and closes the
    // other fd, then a new pipe takes over that fd number (dup2) and is
    // watched. The batch still holds the old fd's EPOLLIN; it must not reach
    // the new callback, whose pipe is empty.
    Loop l;
    Pipe a;
    Pipe b;
    Pipe fresh;  // never written: its callback must never run
    EXPECT(a.put());
    EXPECT(b.put());
    int first_calls = 0;
    int fresh_calls = 0;
    int reused_fd = -1;
    auto first = [&](Pipe& self, Pipe& peer) {
        return [&, self_fd = self.r.get(), peer_fd = peer.r.get()](uint32_t) {
            ++first_calls;
            char c;
            EXPECT_EQ(::read(self_fd, &c, 1), ssize_t(1));
            if (reused_fd != -1) return;  // the takeover happens once
            reused_fd = peer_fd;
            EXPECT_EQ(l.loop.unwatch(reused_fd), "");
            // dup2 closes the old pipe end and puts the fresh one in its place.
            EXPECT_EQ(::dup2(fresh.r.get(), reused_fd), reused_fd);
            EXPECT_EQ(l.loop.watch(reused_fd, EPOLLIN, [&](uint32_t) { ++fresh_calls; }), "");
        };
    };
    EXPECT_EQ(l.loop.watch(a.r.get(), EPOLLIN, first(a, b)), "");
    EXPECT_EQ(l.loop.watch(b.r.get(), EPOLLIN, first(b, a)), "");
    l.stop_after(30);
    l.run();
    EXPECT(!l.timed_out);
    EXPECT_EQ(first_calls, 1);
    EXPECT_EQ(fresh_calls, 0);
    EXPECT(reused_fd != -1 && l.loop.watching(reused_fd));

    // And the new watch does work once its pipe has something.
    if (reused_fd == -1) return;
    Loop again;
    int fired = 0;
    EXPECT_EQ(again.loop.watch(reused_fd, EPOLLIN, [&](uint32_t) {
        ++fired;
        again.loop.stop();
    }), "");
    EXPECT(fresh.put());
    again.run();
    EXPECT_EQ(fired, 1);
}

// ---- timers -------------------------------------------------------------------

void test_timers_fire_in_deadline_order() {
    Loop l;
    std::vector<int> order;
    auto record = [&](int tag) {
        return [&, tag] {
            order.push_back(tag);
            if (order.size() == 6) l.loop.stop();
            return EventLoop::kNoMore;
        };
    };
    // Added out of order; two pairs share a delay and keep the order added.
    l.loop.add_timer(30, record(30));
    l.loop.add_timer(10, record(10));
    l.loop.add_timer(20, record(20));
    l.loop.add_timer(0, record(0));
    l.loop.add_timer(10, record(11));
    l.loop.add_timer(-5, record(-5));  // negative: due now, after the 0 added before it
    l.run();
    EXPECT(!l.timed_out);
    const std::vector<int> want = {0, -5, 10, 11, 20, 30};
    EXPECT_EQ(order.size(), want.size());
    for (size_t i = 0; i < want.size() && i < order.size(); ++i)
        EXPECT_EQ_AT(order[i], want[i], "position " + std::to_string(i));
}

void test_repeating_timer() {
    Loop l;
    std::vector<int64_t> at;
    l.loop.add_timer(5, [&]() -> int64_t {
        at.push_back(l.loop.now_ms());
        return at.size() < 4 ? 10 : EventLoop::kNoMore;
    });
    l.stop_after(100);
    l.run();
    EXPECT(!l.timed_out);
    EXPECT_EQ(at.size(), size_t(4));
    for (size_t i = 1; i < at.size(); ++i)
        EXPECT_EQ_AT(at[i] - at[i - 1] >= 10, true, "interval " + std::to_string(i));
}

void test_cancel_before_it_fires() {
    Loop l;
    bool fired = false;
    const uint64_t id = l.loop.add_timer(10, [&] {
        fired = true;
        return EventLoop::kNoMore;
    });
    EXPECT(id != 0);
    l.loop.cancel_timer(id);
    l.loop.cancel_timer(id);          // twice: harmless
    l.loop.cancel_timer(id + 12345);  // an id never given: harmless
    l.stop_after(40);
    l.run();
    EXPECT(!l.timed_out);
    EXPECT(!fired);
}

void test_timer_cancels_itself() {
    // It asks to run again every ms, and cancels itself on its second run:
    // the cancel wins over the returned interval.
    Loop l;
    int runs = 0;
    uint64_t id = 0;
    id = l.loop.add_timer(1, [&]() -> int64_t {
        if (++runs == 2) l.loop.cancel_timer(id);
        return 1;
    });
    l.stop_after(40);
    l.run();
    EXPECT(!l.timed_out);
    EXPECT_EQ(runs, 2);
}

void test_timer_cancels_another_due_now() {
    // Two timers due in the same pass: the first cancels the second.
    Loop l;
    bool second_ran = false;
    uint64_t second = 0;
    l.loop.add_timer(5, [&] {
        l.loop.cancel_timer(second);
        return EventLoop::kNoMore;
    });
    second = l.loop.add_timer(5, [&] {
        second_ran = true;
        return EventLoop::kNoMore;
    });
    l.stop_after(30);
    l.run();
    EXPECT(!l.timed_out);
    EXPECT(!second_ran);
}

void test_stop_from_a_timer() {
    Loop l;
    bool ran = false;
    l.loop.add_timer(0, [&] {
        ran = true;
        l.loop.stop();
        return EventLoop::kNoMore;
    });
    const auto start = std::chrono::steady_clock::now();
    l.run();  // returns: the watchdog is 2 s away
    EXPECT(ran);
    EXPECT(!l.timed_out);
    EXPECT(elapsed_ms(start) < 500);
}

void test_timer_timing() {
    // A 50 ms timer fires no earlier than 50 ms on the loop's own clock, and
    // not much later.
    Loop l;
    int64_t added = l.loop.now_ms();
    int64_t fired = -1;
    const auto start = std::chrono::steady_clock::now();
    l.loop.add_timer(50, [&] {
        fired = l.loop.now_ms();
        l.loop.stop();
        return EventLoop::kNoMore;
    });
    l.run();
    const int64_t wall = elapsed_ms(start);
    EXPECT(!l.timed_out);
    EXPECT(fired - added >= 50);
    EXPECT(wall >= 49);  // now_ms() truncates to the ms, so allow one
    EXPECT(wall < 500);
}

void test_fd_callback_adds_a_timer() {
    // Work started by an fd event: a timer added from its callback runs.
    Loop l;
    Pipe p;
    EXPECT(p.put());
    bool timer_ran = false;
    EXPECT_EQ(l.loop.watch(p.r.get(), EPOLLIN, [&](uint32_t) {
        EXPECT_EQ(l.loop.unwatch(p.r.get()), "");
        l.loop.add_timer(5, [&] {
            timer_ran = true;
            l.loop.stop();
            return EventLoop::kNoMore;
        });
    }), "");
    l.run();
    EXPECT(!l.timed_out);
    EXPECT(timer_ran);
}

// ---- work deferred to the end of the pass ----------------------------------

// A task that records its runs, and may do something more when it runs.
struct Task : EventLoop::Deferred {
    std::vector<std::string>* log;
    std::string name;
    std::function<void()> also;
    Task(std::vector<std::string>& l, std::string n) : log(&l), name(std::move(n)) {}
    void run_deferred() override {
        log->push_back(name);
        if (also) also();
    }
};

void test_deferred_runs_once_per_sweep_in_order() {
    EventLoop loop;
    std::vector<std::string> ran;
    Task a(ran, "a"), b(ran, "b");
    loop.defer(a);
    loop.defer(b);
    loop.defer(a);  // queued already: still once, in its first place
    EXPECT(a.deferred());
    EXPECT_EQ(loop.deferred_tasks(), size_t(2));
    loop.run_deferred();
    EXPECT_EQ(ran.size(), size_t(2));
    EXPECT_EQ(ran[0] + ran[1], std::string("ab"));
    EXPECT(!a.deferred());
    EXPECT_EQ(loop.deferred_tasks(), size_t(0));
    loop.run_deferred();  // nothing queued: nothing runs
    EXPECT_EQ(ran.size(), size_t(2));
}

void test_deferred_queue_is_bounded_by_its_tasks() {
    // Deferred again and again within a pass (a link gets one event per
    // client): the queue holds each task once.
    EventLoop loop;
    std::vector<std::string> ran;
    std::vector<std::unique_ptr<Task>> tasks;
    for (int i = 0; i < 10; i++) tasks.push_back(std::make_unique<Task>(ran, std::to_string(i)));
    for (int round = 0; round < 1000; round++)
        for (auto& t : tasks) loop.defer(*t);
    EXPECT_EQ(loop.deferred_tasks(), size_t(10));
    loop.run_deferred();
    EXPECT_EQ(ran.size(), size_t(10));
}

void test_deferred_undefer_and_queue_while_running() {
    EventLoop loop;
    std::vector<std::string> ran;
    Task a(ran, "a"), b(ran, "b"), c(ran, "c"), d(ran, "d");
    // a undefers c (queued after it: it never runs) and queues d (runs in
    // this same sweep, after the others); d queues a again (a ran already in
    // this sweep, so it runs once more: nothing waits for the next pass).
    bool first = true;
    a.also = [&] {
        if (!std::exchange(first, false)) return;
        loop.undefer(c);
        loop.defer(d);
    };
    d.also = [&] { loop.defer(a); };
    loop.defer(a);
    loop.defer(b);
    loop.defer(c);
    loop.undefer(b);
    loop.undefer(b);  // twice: harmless
    EXPECT_EQ(loop.deferred_tasks(), size_t(2));
    loop.defer(b);    // queued again after its undefer: at the end
    loop.run_deferred();
    std::string order;
    for (auto& r : ran) order += r;
    EXPECT_EQ(order, std::string("abda"));
    EXPECT_EQ(loop.deferred_tasks(), size_t(0));
    EXPECT(!c.deferred());
}

void test_deferred_runs_at_the_end_of_the_pass() {
    // Two fds ready in one pass: each callback queues the same task; it
    // runs once, after both callbacks and the due timer, before the next wait.
    Loop l;
    Pipe p1, p2;
    EXPECT(p1.put());
    EXPECT(p2.put());
    std::vector<std::string> ran;
    Task flush(ran, "flush");
    auto on = [&](Pipe& p, const char* name) {
        return [&, fd = p.r.get(), name](uint32_t) {
            char c;
            EXPECT_EQ(::read(fd, &c, 1), ssize_t(1));
            ran.push_back(name);
            l.loop.defer(flush);
        };
    };
    EXPECT_EQ(l.loop.watch(p1.r.get(), EPOLLIN, on(p1, "one")), "");
    EXPECT_EQ(l.loop.watch(p2.r.get(), EPOLLIN, on(p2, "two")), "");
    l.loop.add_timer(0, [&] {
        ran.push_back("timer");
        return EventLoop::kNoMore;
    });
    flush.also = [&] { l.loop.stop(); };
    l.run();
    EXPECT(!l.timed_out);
    std::string order;
    for (auto& r : ran) order += r + " ";
    // (the two pipes in either order: epoll's)
    EXPECT(order == "one two timer flush " || order == "two one timer flush ");
}

// ---- timers on a fake clock -------------------------------------------------

void test_fake_clock_moves_only_when_told() {
    FakeClock clock(5000);
    EventLoop loop(clock);
    EXPECT_EQ(loop.now_ms(), int64_t(5000));
    std::vector<std::string> fired;
    loop.add_timer(250, [&] {
        fired.push_back("a at " + std::to_string(loop.now_ms()));
        return EventLoop::kNoMore;
    });
    int b_runs = 0;
    loop.add_timer(100, [&]() -> int64_t {
        fired.push_back("b at " + std::to_string(loop.now_ms()));
        return ++b_runs < 2 ? 100 : EventLoop::kNoMore;  // twice
    });
    EXPECT_EQ(loop.timers(), size_t(2));
    EXPECT_EQ(loop.ms_until_next_timer(), int64_t(100));
    clock.advance(99);
    loop.run_due_timers();
    EXPECT(fired.empty());  // not a millisecond early
    EXPECT_EQ(loop.ms_until_next_timer(), int64_t(1));
    clock.advance(1);
    loop.run_due_timers();
    EXPECT_EQ(fired.size(), size_t(1));
    EXPECT_EQ(loop.ms_until_next_timer(), int64_t(100));  // b again at 5200, before a at 5250
    clock.advance(150);  // 5250: b's second turn (due at 5200) and a
    loop.run_due_timers();
    const std::vector<std::string> want = {"b at 5100", "b at 5250", "a at 5250"};
    EXPECT_EQ(fired.size(), want.size());
    for (size_t i = 0; i < want.size() && i < fired.size(); ++i) EXPECT_EQ_AT(fired[i], want[i], std::to_string(i));
    EXPECT_EQ(loop.timers(), size_t(0));
    EXPECT_EQ(loop.ms_until_next_timer(), int64_t(-1));
}

void test_a_cancelled_timer_is_not_the_next() {
    // The next deadline is always one still waiting: the loop never wakes up
    // for a timer that was cancelled.
    FakeClock clock;
    EventLoop loop(clock);
    uint64_t soon = loop.add_timer(10, [] { return EventLoop::kNoMore; });
    uint64_t later = loop.add_timer(20, [] { return EventLoop::kNoMore; });
    loop.add_timer(30, [] { return EventLoop::kNoMore; });
    loop.cancel_timer(later);
    EXPECT_EQ(loop.ms_until_next_timer(), int64_t(10));
    loop.cancel_timer(soon);
    EXPECT_EQ(loop.ms_until_next_timer(), int64_t(30));
    EXPECT_EQ(loop.timers(), size_t(1));
}

}  // namespace

int main() {
    const auto start = std::chrono::steady_clock::now();
    test_watch_fires_with_epollin();
    test_watch_errors();
    test_change_to_epollout();
    test_unwatch_stops_events();
    test_callback_unwatches_and_closes_itself();
    test_callback_unwatches_another_pending_fd();
    test_callback_survives_its_table_moving();
    test_stale_event_for_a_reused_fd();
    test_timers_fire_in_deadline_order();
    test_repeating_timer();
    test_cancel_before_it_fires();
    test_timer_cancels_itself();
    test_timer_cancels_another_due_now();
    test_stop_from_a_timer();
    test_timer_timing();
    test_fd_callback_adds_a_timer();
    test_deferred_runs_once_per_sweep_in_order();
    test_deferred_queue_is_bounded_by_its_tasks();
    test_deferred_undefer_and_queue_while_running();
    test_deferred_runs_at_the_end_of_the_pass();
    test_fake_clock_moves_only_when_told();
    test_a_cancelled_timer_is_not_the_next();
    // Every test waits on timers of tens of ms: the whole run stays short.
    EXPECT(elapsed_ms(start) < 1500);
    return check::summary("event_loop");
}
