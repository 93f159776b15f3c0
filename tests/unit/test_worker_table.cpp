// test_worker_table: the master's table of workers (master/worker_table.h)
// with a fake operating system and a fake clock. The fake ProcessControl
// forks nothing: it hands out pids, writes down every signal, and reports
// the exits a test makes up; each worker's channel is a real socketpair, so
// READY travels as it does in the server. The clock moves only when a test
// moves it, so the crash loop's back-off (250 ms, 500 ms... up to 10 s) and
// the SIGKILL deadlines are checked to the millisecond, without waiting.
#include "master/worker_table.h"

#include "check.h"
#include "core/log.h"
#include "worker/drain.h"

#include <csignal>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <map>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

using namespace smooth;

namespace {

Config config(int count, const std::string& server = "") {
    Config c;
    std::string error = parse_config("[server]\nrun_dir = /tmp\ndrain_timeout = 1s\nstop_timeout = 5s\n" + server +
                                               "[group web]\nlisten = http://127.0.0.1:1\nmodule = builtin:hello\n"
                                               "count = " + std::to_string(count) + "\n",
                                           ConfigContext{"test.conf", "/tmp", 2}, c);
    if (!error.empty()) {
        std::fprintf(stderr, "test config does not parse: %s\n", error.c_str());
        std::exit(2);
    }
    return c;
}

// A listening socket on a free loopback port: what the master opens before fork.
Fd listener() {
    Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!fd || bind(fd.get(), reinterpret_cast<sockaddr*>(&at), sizeof at) == -1 || listen(fd.get(), 8) == -1) {
        std::fprintf(stderr, "cannot listen on the loopback: %s\n", errno_text(errno).c_str());
        std::exit(2);
    }
    return fd;
}

class FakeOs : public ProcessControl {
public:
    std::vector<std::string> calls;  // "fork web#0", "SIGQUIT 1001", ...
    std::map<pid_t, Fd> worker_end;  // each worker's end of its channel
    std::map<pid_t, Fd> handover_end;  // a hand-over successor's end of its socketpair

    std::string fork_worker(WorkerSetup setup, pid_t& pid) override {
        calls.push_back("fork " + setup.group->name + "#" + std::to_string(setup.slot));
        if (fail_forks) return "fork() failed: EAGAIN (the test says so)";
        pid = next_pid_++;
        worker_end[pid] = Fd(fcntl(setup.channel_fd, F_DUPFD_CLOEXEC, 3));
        if (setup.handover_fd >= 0) handover_end[pid] = Fd(fcntl(setup.handover_fd, F_DUPFD_CLOEXEC, 3));
        return "";
    }
    std::string send_signal(pid_t pid, int sig) override {
        calls.push_back(signal_name(sig) + " " + std::to_string(pid));
        return "";
    }
    std::string reap_one(pid_t& pid, int& status) override {
        pid = 0;
        if (exits_.empty()) return "";
        std::tie(pid, status) = exits_.front();
        exits_.pop_front();
        return "";
    }

    // What the worker does: a message on its channel, or its exit.
    void say(pid_t pid, const std::string& message) {
        if (::send(worker_end[pid].get(), message.data(), message.size(), MSG_NOSIGNAL) != ssize_t(message.size()))
            std::fprintf(stderr, "cannot send on the channel of %d\n", int(pid));
    }
    // What the master sent a worker: the message, and the descriptor with it (or an invalid Fd).
    std::string heard(pid_t pid, Fd& fd) {
        char buf[64];
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
        iovec iov{buf, sizeof buf};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = recvmsg(worker_end[pid].get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n <= 0) return "";
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                int got;
                std::memcpy(&got, CMSG_DATA(c), sizeof got);
                fd = Fd(got);
            }
        return std::string(buf, size_t(n));
    }
    void exit(pid_t pid, int status = 3 << 8) {  // exit status 3: the module failed to load
        worker_end.erase(pid);
        exits_.emplace_back(pid, status);
    }
    std::string take_calls() {
        std::string out;
        for (const std::string& c : calls) out += (out.empty() ? "" : ", ") + c;
        calls.clear();
        return out;
    }
    pid_t last_pid() const { return next_pid_ - 1; }

    bool fail_forks = false;

private:
    pid_t next_pid_ = 1001;
    std::deque<std::pair<pid_t, int>> exits_;
};

// The table with everything around it, as the master holds it.
struct Setup {
    Config running;
    FakeClock clock{1000};
    EventLoop loop{clock};
    StatsTable stats;
    FakeOs os;
    WorkerTable table{running, loop, stats, os};
    std::vector<std::string> heard;  // what its listeners were told

    explicit Setup(int count, const std::string& server = "") : running(config(count, server)) {
        EXPECT_EQ(loop.open(), std::string(""));
        EXPECT_EQ(stats.create(), std::string(""));
        Group g;
        g.listeners.push_back(listener());
        g.good_version = "builtin:hello";
        g.slots.resize(size_t(count));
        table.add_group(std::move(g));
        table.ready.add([this](const WorkerProcess& w) {
            heard.push_back("ready " + std::to_string(w.pid));
            loop.stop();
        });
        table.exited.add([this](const WorkerProcess& w, const std::string& how) {
            heard.push_back("exited " + std::to_string(w.pid) + ": " + how + (w.failure.empty() ? "" : ": " + w.failure));
        });
        table.all_gone.add([this] { heard.push_back("all gone"); });
    }

    // The loop runs until a READY arrives (the channel is real).
    void ready(pid_t pid) {
        os.say(pid, std::string(1, kMsgReady));
        EXPECT_EQ(loop.run(), std::string(""));
    }
    // Time passes: the timers due by then run.
    void wait(int64_t ms) {
        clock.advance(ms);
        loop.run_due_timers();
    }
    int64_t next_timer() const { return loop.ms_until_next_timer(); }
};

// A module that cannot start dies at once, again and again: the slot is
// refilled after 250 ms, then 500, 1000... and never more than 10 s apart.
void test_the_crash_loop_backs_off() {
    Setup t(1);
    t.table.fill_slot(0, 0);
    EXPECT_EQ(t.os.take_calls(), std::string("fork web#0"));
    const int64_t want[] = {250, 500, 1000, 2000, 4000, 8000, 10000, 10000, 10000};
    for (int64_t backoff : want) {
        pid_t pid = t.os.last_pid();
        t.clock.advance(5);  // it dies within a second of its fork
        t.os.exit(pid);
        t.table.reap();
        EXPECT_EQ_AT(t.next_timer(), backoff, "after pid " + std::to_string(pid));
        t.wait(backoff - 1);
        EXPECT_EQ_AT(t.os.take_calls(), std::string(""), "1 ms before the back-off of " + std::to_string(backoff));
        t.wait(1);
        EXPECT_EQ_AT(t.os.take_calls(), std::string("fork web#0"), "at the back-off of " + std::to_string(backoff));
    }
    // One that lived longer than a second was no crash loop: at once, and
    // the count starts again.
    t.clock.advance(1000);
    t.os.exit(t.os.last_pid(), SIGSEGV);
    t.table.reap();
    EXPECT_EQ(t.next_timer(), int64_t(0));
    t.wait(0);
    EXPECT_EQ(t.os.take_calls(), std::string("fork web#0"));
    t.clock.advance(5);
    t.os.exit(t.os.last_pid());
    t.table.reap();
    EXPECT_EQ(t.next_timer(), int64_t(250));
}

// A fork that fails is a fast failure too: the slot waits its back-off.
void test_a_fork_that_fails_is_tried_again_later() {
    Setup t(1);
    t.os.fail_forks = true;
    EXPECT_EQ(t.table.fill_slot(0, 0), 0);
    EXPECT_EQ(t.next_timer(), int64_t(250));
    t.os.take_calls();
    t.os.fail_forks = false;
    t.wait(250);
    EXPECT_EQ(t.os.take_calls(), std::string("fork web#0"));
    EXPECT_EQ(t.table.processes().size(), size_t(1));
}

// READY on the channel: the listeners hear it, and the version is the group's good one.
void test_ready_comes_through_the_channel() {
    Setup t(2);
    pid_t a = t.table.fill_slot(0, 0), b = t.table.fill_slot(0, 1);
    EXPECT(!t.table.all_ready());
    t.ready(a);
    EXPECT_EQ(t.heard.size(), size_t(1));
    EXPECT_EQ(t.table.ready_workers(), 1);
    EXPECT(!t.table.every_slot_ready());
    t.ready(b);
    EXPECT(t.table.every_slot_ready() && t.table.all_ready());
    EXPECT_EQ(t.table.find_worker(0, 1), b);
    ReloadWorkers::Refilled r = t.table.refill(0, 1);  // (a second worker for the slot)
    EXPECT_EQ(r.version, std::string("builtin:hello"));
}

// Why a worker could not start comes before its exit, and reaches the listeners with it.
void test_a_failure_is_told_with_the_exit() {
    Setup t(1);
    pid_t pid = t.table.fill_slot(0, 0);
    t.os.say(pid, std::string(1, kMsgFailed) + "dlopen() failed: invalid ELF header");
    t.os.exit(pid);
    t.table.reap();  // SIGCHLD before the loop read the channel: the last words are read at the reap
    EXPECT_EQ(t.heard.size(), size_t(1));
    if (!t.heard.empty())
        EXPECT_EQ(t.heard[0], "exited " + std::to_string(pid) +
                                  ": status 3 (module failed to load): dlopen() failed: invalid ELF header");
}

// The master's SIGKILL deadline for a draining worker: drain_timeout plus
// drain::kKillGraceMs after its SIGQUIT, to the millisecond. A drained worker
// is not respawned.
void test_a_drain_has_a_kill_deadline() {
    Setup t(1);
    pid_t pid = t.table.fill_slot(0, 0);
    t.ready(pid);
    t.os.take_calls();
    EXPECT(t.table.drain(pid));
    EXPECT_EQ(t.os.take_calls(), "SIGQUIT " + std::to_string(pid));
    const int64_t deadline = 1000 + drain::kKillGraceMs;  // drain_timeout = 1s
    EXPECT_EQ(t.next_timer(), deadline);
    t.wait(deadline - 1);
    EXPECT_EQ(t.os.take_calls(), std::string(""));
    t.wait(1);
    EXPECT_EQ(t.os.take_calls(), "SIGKILL " + std::to_string(pid));
    EXPECT_EQ(t.table.find_worker(0, 0), 0);  // told to go: no longer the slot's
    t.os.exit(pid, SIGKILL);
    t.table.reap();
    EXPECT_EQ(t.os.take_calls(), std::string(""));  // not respawned: a reload forks its replacement
    EXPECT_EQ(t.next_timer(), int64_t(-1));
    EXPECT(!t.table.drain(pid));  // gone
}

// A worker that exits before its deadline takes the deadline with it.
void test_an_exit_cancels_the_kill_deadline() {
    Setup t(1);
    pid_t pid = t.table.fill_slot(0, 0);
    t.ready(pid);
    t.table.drain(pid);
    t.clock.advance(40);
    t.os.exit(pid, 0);
    t.table.reap();
    EXPECT_EQ(t.next_timer(), int64_t(-1));
}

// A stop: SIGTERM to every worker, SIGKILL at stop_timeout to those left;
// nothing respawned; the listeners hear when the last one is gone.
void test_a_stop_kills_at_stop_timeout() {
    Setup t(2);
    pid_t a = t.table.fill_slot(0, 0), b = t.table.fill_slot(0, 1);
    t.os.take_calls();
    t.table.stop_all(false);
    EXPECT_EQ(t.os.take_calls(), "SIGTERM " + std::to_string(a) + ", SIGTERM " + std::to_string(b));
    t.os.exit(a, 0);
    t.table.reap();
    EXPECT_EQ(t.next_timer(), int64_t(5000));  // stop_timeout = 5s, for b
    t.wait(5000);
    EXPECT_EQ(t.os.take_calls(), "SIGKILL " + std::to_string(b));
    t.os.exit(b, SIGKILL);
    t.table.reap();
    EXPECT_EQ(t.heard.back(), std::string("all gone"));
    EXPECT_EQ(t.os.take_calls(), std::string(""));
    pid_t none = 0;
    EXPECT(!t.table.spawn(0, 0, "builtin:hello", 1, none).empty());  // a stop forks nothing
}

// A slot served again (a reload refilled it) or gone (the count went down)
// is not respawned when its old worker dies.
void test_no_respawn_for_a_slot_served_or_gone() {
    Setup t(1);
    pid_t old = t.table.fill_slot(0, 0);
    pid_t again = t.table.fill_slot(0, 0);  // a second worker for the same slot
    t.os.take_calls();
    t.os.exit(old, SIGSEGV);
    t.table.reap();
    EXPECT_EQ(t.os.take_calls(), std::string(""));
    EXPECT_EQ(t.next_timer(), int64_t(-1));
    EXPECT_EQ(t.table.find_worker(0, 0), again);

    Setup u(1);
    pid_t extra = 0;
    EXPECT_EQ(u.table.spawn(0, 1, "builtin:hello", 1, extra), std::string(""));  // slot 1 of a group of 1
    u.os.take_calls();
    u.os.exit(extra, SIGSEGV);
    u.table.reap();
    EXPECT_EQ(u.os.take_calls(), std::string(""));
    EXPECT_EQ(u.next_timer(), int64_t(-1));
}

}  // namespace

// reloadable = handover: a new worker forked while its slot's old one
// serves gets one end of a socketpair; drain() gives the old one the other
// end with 'H', not SIGQUIT. Its word comes back to the listeners: handed
// over (the kill deadline stands: it drains and exits), or failed (Ready
// again, no deadline, the slot's worker once more).
void test_a_handover_slot_drains_by_hand_over() {
    for (bool ok : {true, false}) {
        Setup t(1);
        t.running.groups[0].handover = true;
        std::vector<std::string> words;
        t.table.handed_over.add([&](pid_t pid, bool good, const std::string& text) {
            words.push_back(std::to_string(pid) + (good ? " ok: " : " failed: ") + text);
            t.loop.stop();
        });
        pid_t old = t.table.fill_slot(0, 0);
        t.ready(old);
        EXPECT(!t.os.handover_end.count(old));  // nobody to take over from
        pid_t next = 0;
        EXPECT_EQ(t.table.spawn(0, 0, "builtin:hello", 2, next), std::string(""));
        EXPECT(t.os.handover_end.count(next));
        t.ready(next);
        t.os.take_calls();
        EXPECT(t.table.drain(old));
        EXPECT_EQ(t.os.take_calls(), std::string(""));  // no SIGQUIT
        Fd given;
        EXPECT_EQ(t.os.heard(old, given), std::string(1, kMsgHandOver));
        EXPECT(bool(given));
        // The two ends are one socketpair: what the old worker writes, the new one reads.
        char c = 0;
        EXPECT(given && write(given.get(), "x", 1) == 1);
        EXPECT(read(t.os.handover_end[next].get(), &c, 1) == 1 && c == 'x');
        EXPECT_EQ(t.next_timer(), 1000 + drain::kKillGraceMs);
        t.os.say(old, std::string(1, ok ? kMsgHandedOver : kMsgHandOverFailed) + "12 connections");
        EXPECT_EQ(t.loop.run(), std::string(""));
        EXPECT_EQ(words.size(), size_t(1));
        if (!words.empty()) EXPECT_EQ(words[0], std::to_string(old) + (ok ? " ok: " : " failed: ") + "12 connections");
        EXPECT_EQ(t.next_timer(), ok ? 1000 + drain::kKillGraceMs : int64_t(-1));
        EXPECT_EQ(t.table.processes().at(old).state, ok ? WorkerState::Draining : WorkerState::Ready);
    }
}

int main() {
    log::set_role("test");
    int quiet = open("/dev/null", O_WRONLY | O_CLOEXEC);  // the table's log lines are not the test's output
    log::set_output(quiet);
    alarm(20);  // a READY that never comes must fail the test, not hang it
    test_the_crash_loop_backs_off();
    test_a_fork_that_fails_is_tried_again_later();
    test_ready_comes_through_the_channel();
    test_a_failure_is_told_with_the_exit();
    test_a_drain_has_a_kill_deadline();
    test_an_exit_cancels_the_kill_deadline();
    test_a_stop_kills_at_stop_timeout();
    test_no_respawn_for_a_slot_served_or_gone();
    test_a_handover_slot_drains_by_hand_over();
    return check::summary("worker_table");
}
