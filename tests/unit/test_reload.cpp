// test_reload: the reload's transition table (master/reload.h), cell by cell,
// with fakes in place of the master (ReloadConfig) and of the table of
// workers (ReloadWorkers), and a loop on a fake clock. The fake keeps a little
// table of worker processes (pid, slot, told to go) and writes down every
// call the reload makes; a test feeds events (READY, an exit, the start
// timeout, a stop, more requests) and compares the calls, the start timer,
// the story told to the operator, and the timeline a listener drew.
#include "master/reload.h"

#include "check.h"
#include "core/log.h"
#include "master/timeline_recorder.h"

#include <algorithm>
#include <cstdio>
#include <fcntl.h>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

using namespace smooth;

namespace {

const ConfigContext kCtx{"server.conf", "/srv/app", 2};
int quiet_ = 2;  // where log lines go between tests

Config config(const std::string& groups, const std::string& server = "") {
    Config c;
    std::string error = parse_config("[server]\nrun_dir = /srv/app/run\n" + server + groups, kCtx, c);
    if (!error.empty()) {
        std::fprintf(stderr, "test config does not parse: %s\n", error.c_str());
        std::exit(2);
    }
    return c;
}

std::string group(const char* name, int count, int port, const std::string& more = "") {
    return "[group " + std::string(name) + "]\nlisten = http://127.0.0.1:" + std::to_string(port) +
           "\nmodule = modules/app.so\ncount = " + std::to_string(count) + "\n" + more;
}

class FakeMaster : public ReloadConfig, public ReloadWorkers {
public:
    struct Proc {
        int group, slot;
        bool told = false;
    };

    FakeMaster(Config running, Config fresh) : running_(std::move(running)), fresh_(std::move(fresh)) {
        // The old workers: pids 101, 102... in slot order, group after group.
        pid_t pid = 101;
        for (size_t g = 0; g < running_.groups.size(); g++)
            for (int s = 0; s < running_.groups[g].count; s++) procs[pid++] = {int(g), s};
        // Listened to as the running master's listeners do.
        reload.events.add([this](const ReloadEvent& e) {
            if (e.kind == ReloadEvent::Kind::Finished) finished++;
        });
        reload.events.add([this](const ReloadEvent& e) { timeline.on_reload(e); });
    }

    // The calls, as "drain 101", "spawn web#0 -> 201", ...
    std::vector<std::string> calls;
    std::map<pid_t, Proc> procs;
    std::map<pid_t, int64_t> open;  // each worker's open connections, as its stats row would say
    bool refuse = false;
    int prepared = 0;
    int finished = 0;  // Finished events heard
    FakeClock clock{1000};
    EventLoop loop{clock};

    // ReloadConfig
    std::string read_again(Config& fresh) override {
        prepared++;
        calls.push_back("read again");
        if (refuse) return "server.conf:3: bad";
        fresh = fresh_;
        return "";
    }
    std::string plan(const Config& fresh, Prepared& out) override {
        out.plan = plan_reload(running_, fresh);
        out.versions.assign(out.plan.next.groups.size(), "/run/modules/app-v" + std::to_string(prepared) + ".so");
        out.previous = running_;
        return "";
    }
    std::string apply(Prepared& run) override {
        run.generation = uint64_t(prepared);
        return "";
    }
    void restore(const Prepared&) override { calls.push_back("restore"); }

    // ReloadWorkers
    pid_t find_worker(int group, int slot) override {
        for (auto& [pid, p] : procs)
            if (p.group == group && p.slot == slot && !p.told) return pid;
        return 0;
    }
    std::string spawn(int group, int slot, const std::string&, uint64_t, pid_t& pid) override {
        pid = next_pid_++;
        calls.push_back("spawn " + name(group, slot) + " -> " + std::to_string(pid));
        if (fail_spawns) return "fork() failed: EAGAIN (the test says so)";
        procs[pid] = {group, slot};
        return "";
    }
    bool drain(pid_t pid) override {
        calls.push_back("drain " + std::to_string(pid));
        auto it = procs.find(pid);
        if (it == procs.end()) return false;
        it->second.told = true;
        return true;
    }
    void kill(pid_t pid, const std::string&) override {
        calls.push_back("kill " + std::to_string(pid));
        procs[pid].told = true;
    }
    Refilled refill(int group, int slot) override {
        pid_t pid = next_pid_++;
        calls.push_back("refill " + name(group, slot) + " -> " + std::to_string(pid));
        procs[pid] = {group, slot};
        return {pid, "/run/modules/app-good.so"};
    }
    void tell_not_reloadable(int group) override { calls.push_back("tell " + running_.groups[size_t(group)].name); }

    // The process table's side of an exit: the fake forgets the process.
    void exited(Reload& r, pid_t pid, const std::string& how = "status 0") {
        procs.erase(pid);
        r.on_exit(pid, how, "");
    }
    // The start timer: how long until it fires, -1 if none is armed.
    int64_t start_timer() const { return loop.ms_until_next_timer(); }
    // Time passes for the timeline alone: its sampling ticks run, the start timer does not.
    void sample_for(int64_t ms) {
        for (int64_t left = ms; left > 0; left -= TimelineRecorder::kSampleEveryMs) {
            clock.advance(std::min(left, TimelineRecorder::kSampleEveryMs));
            timeline_loop_.run_due_timers();
        }
    }
    void fire_timer() {
        clock.advance(loop.ms_until_next_timer());
        loop.run_due_timers();
    }
    std::string take_calls() {
        std::string out;
        for (const std::string& c : calls) out += (out.empty() ? "" : ", ") + c;
        calls.clear();
        return out;
    }

    bool fail_spawns = false;

private:
    std::string name(int group, int slot) { return running_.groups[size_t(group)].name + "#" + std::to_string(slot); }

    Config running_, fresh_;
    pid_t next_pid_ = 201;
    EventLoop timeline_loop_{clock};  // the timeline's sampling timers, apart from the start timer

public:
    Reload reload{loop, *this, *this};
    // The reload's timeline, as the running master draws it (timeline_recorder.h).
    TimelineRecorder timeline{timeline_loop_, reload, [] { return uint64_t(0); }, [this](pid_t pid) {
                                  auto it = open.find(pid);
                                  return it == open.end() ? int64_t(-1) : it->second;
                              }};
};

// What the operator's `./server reload` receives.
struct Story {
    std::vector<std::string> lines;
    int done = 0;
    bool ok = false;
    Reload::Progress progress() {
        return [this](const std::string& line, bool d, bool o) {
            lines.push_back(line);
            if (d) {
                done++;
                ok = o;
            }
        };
    }
    std::string last() const { return lines.empty() ? "" : lines.back(); }
    bool says(const std::string& part) const {
        for (const std::string& l : lines)
            if (l.find(part) != std::string::npos) return true;
        return false;
    }
};

void test_stop_first() {
    FakeMaster m(config(group("web", 2, 8080)), config(group("web", 2, 8080)));
    Reload& r = m.reload;
    Story s;
    r.request(s.progress(), "test");
    // The canary: the first slot's new worker starts, and must be READY,
    // before any old worker is told to go...
    EXPECT_EQ(m.take_calls(), std::string("read again, spawn web#0 -> 201"));
    EXPECT_EQ(m.start_timer(), int64_t(10000));
    EXPECT_EQ(r.phase(), Reload::Phase::StartingNew);
    m.clock.advance(2);
    EXPECT(r.on_ready(201));
    EXPECT_EQ(m.take_calls(), std::string("drain 101"));
    EXPECT_EQ(m.start_timer(), int64_t(-1));  // cancelled
    EXPECT_EQ(r.phase(), Reload::Phase::DrainingOld);
    m.clock.advance(3);
    m.exited(r, 101);
    EXPECT(s.says("web#0: pid 101 -> 201, drain 3 ms, ready 2 ms"));
    // ...then the seed's order: one old worker is told to go first...
    EXPECT_EQ(m.take_calls(), std::string("drain 102"));
    EXPECT_EQ(r.phase(), Reload::Phase::DrainingOld);
    EXPECT(!r.on_ready(102));  // not a READY it waits for
    // ...and once it has exited, its replacement is forked.
    m.exited(r, 102);
    EXPECT_EQ(m.take_calls(), std::string("spawn web#1 -> 202"));
    EXPECT_EQ(m.start_timer(), int64_t(10000));
    EXPECT_EQ(r.phase(), Reload::Phase::StartingNew);
    EXPECT(r.on_ready(202));
    EXPECT_EQ(m.take_calls(), std::string(""));
    EXPECT_EQ(m.start_timer(), int64_t(-1));  // cancelled
    EXPECT_EQ(r.phase(), Reload::Phase::Idle);
    EXPECT_EQ(s.done, 1);
    EXPECT(s.ok);
    EXPECT_EQ(s.last().rfind("reload complete: 2 workers replaced in", 0), size_t(0));
    EXPECT_EQ(m.finished, 1);
    EXPECT_EQ(m.timeline.timeline().lanes.size(), size_t(2));
    EXPECT_EQ(m.timeline.timeline().lanes[0].ready_ms, int64_t(2));
}

void test_start_first() {
    FakeMaster m(config(group("web", 2, 8080)), config(group("web", 2, 8080), "reload_order = start_first\n"));
    Reload& r = m.reload;
    Story s;
    r.request(s.progress(), "test");
    // The new worker first; the old one drains only once the new one is READY.
    EXPECT_EQ(m.take_calls(), std::string("read again, spawn web#0 -> 201"));
    EXPECT_EQ(m.start_timer(), int64_t(10000));
    EXPECT(r.on_ready(201));
    EXPECT_EQ(m.take_calls(), std::string("drain 101"));
    EXPECT_EQ(m.start_timer(), int64_t(-1));
    EXPECT_EQ(r.phase(), Reload::Phase::DrainingOld);
    m.exited(r, 101);
    EXPECT_EQ(m.take_calls(), std::string("spawn web#1 -> 202"));
    EXPECT_EQ(m.start_timer(), int64_t(10000));
    EXPECT(s.says("web#0: pid 101 -> 201"));
    // The old worker of slot 1 crashes while its replacement starts: the reload
    // does not wait for an exit that has already happened.
    m.procs.erase(102);
    EXPECT(!r.on_exit(102, "signal 11 (Segmentation fault)", ""));
    EXPECT(r.on_ready(202));
    EXPECT_EQ(m.take_calls(), std::string("drain 102"));
    EXPECT_EQ(m.start_timer(), int64_t(-1));
    EXPECT_EQ(r.phase(), Reload::Phase::Idle);
    EXPECT(s.ok);
}

// A release that loads but cannot start (its on_worker_start fails): the
// canary's replacement dies before READY, and not one old worker has gone.
void test_a_release_that_cannot_start_costs_no_old_worker() {
    FakeMaster m(config(group("web", 3, 8080)), config(group("web", 3, 8080)));
    Reload& r = m.reload;
    Story s;
    r.request(s.progress(), "test");
    m.take_calls();
    m.procs.erase(201);
    EXPECT(r.on_exit(201, "status 4 (on_worker_start failed)", "on_worker_start of module app failed"));
    EXPECT_EQ(m.take_calls(), std::string("restore"));
    EXPECT_EQ(m.start_timer(), int64_t(-1));
    EXPECT_EQ(r.phase(), Reload::Phase::Idle);
    EXPECT(!s.ok);
    EXPECT(s.says("reload aborted: web#0: replacement pid 201 exited with status 4 (on_worker_start failed): "
                  "on_worker_start of module app failed before READY"));
    EXPECT(s.says("web#0 keeps its old worker (pid 101)"));
    EXPECT(s.says("2 more workers left untouched"));
    EXPECT(!m.procs[101].told && !m.procs[102].told && !m.procs[103].told);
    EXPECT_EQ(m.timeline.timeline().lanes.size(), size_t(3));  // one lane per slot, no rollback
}

// Past the canary (stop_first), a replacement that dies before READY leaves
// its slot empty: it is refilled with the version it ran before.
void test_abort_when_a_later_new_worker_exits() {
    FakeMaster m(config(group("web", 3, 8080)), config(group("web", 3, 8080)));
    Reload& r = m.reload;
    Story s;
    r.request(s.progress(), "test");
    r.on_ready(201);
    m.exited(r, 101);  // web#0 replaced
    m.exited(r, 102);  // web#1 drained
    m.take_calls();
    m.procs.erase(202);
    EXPECT(r.on_exit(202, "signal 11 (Segmentation fault)", ""));
    EXPECT_EQ(m.take_calls(), std::string("restore, refill web#1 -> 203"));
    EXPECT_EQ(m.start_timer(), int64_t(-1));
    EXPECT(!s.ok);
    EXPECT(s.says("web#1 refilled with app-good.so, the version it ran before"));
    EXPECT(s.says("1 more workers left untouched"));
    EXPECT(!m.procs[103].told);  // never told anything
    // The picture shows them: one lane per slot, plus the rollback.
    EXPECT_EQ(m.timeline.timeline().lanes.size(), size_t(4));
}

void test_abort_at_the_start_timeout() {
    FakeMaster m(config(group("web", 2, 8080)), config(group("web", 2, 8080)));
    Reload& r = m.reload;
    Story s;
    r.request(s.progress(), "test");
    r.on_ready(201);
    m.exited(r, 101);  // web#0 replaced (the canary)
    m.exited(r, 102);  // web#1 drained
    m.take_calls();
    m.fire_timer();
    // A new worker stuck in on_worker_start is given up on (killed).
    EXPECT_EQ(m.take_calls(), std::string("kill 202, restore, refill web#1 -> 203"));
    EXPECT(s.says("not READY within start_timeout (10000 ms)"));
    EXPECT(!s.ok);
    // Its READY, should it come late, is not the reload's business any more.
    EXPECT(!r.on_ready(202));
}

void test_abort_in_start_first_keeps_the_old_worker() {
    FakeMaster m(config(group("web", 2, 8080)), config(group("web", 2, 8080), "reload_order = start_first\n"));
    Reload& r = m.reload;
    Story s;
    r.request(s.progress(), "test");
    EXPECT_EQ(m.start_timer(), int64_t(10000));
    m.procs.erase(201);
    r.on_exit(201, "status 3 (module failed to load)", "dlopen() failed: bad ELF");
    EXPECT_EQ(m.take_calls(), std::string("read again, spawn web#0 -> 201, restore"));
    EXPECT_EQ(m.start_timer(), int64_t(-1));
    EXPECT(s.says("web#0 keeps its old worker (pid 101)"));
    EXPECT(s.says("dlopen() failed: bad ELF"));
}

void test_abort_puts_added_and_retired_slots_back() {
    // web grows 1 -> 2 (slot 1 added), then api's replacement fails: the
    // added worker is retired again.
    FakeMaster m(config(group("web", 1, 8080) + group("api", 2, 8081)),
                 config(group("web", 2, 8080) + group("api", 1, 8081)));
    Reload& r = m.reload;
    Story s;
    r.request(s.progress(), "test");
    r.on_ready(201);       // web#0's new worker READY (the canary)...
    m.exited(r, 101);      // ...and its old one gone
    r.on_ready(202);       // web#1 added
    m.exited(r, 102);      // api#0 drained
    m.take_calls();
    m.procs.erase(203);
    r.on_exit(203, "signal 11 (Segmentation fault)", "");  // api#0's replacement crashes
    EXPECT_EQ(m.take_calls(), std::string("restore, refill api#0 -> 204, drain 202"));
    EXPECT_EQ(m.start_timer(), int64_t(-1));
    EXPECT(s.says("1 workers of added slots retired"));
    EXPECT(s.says("1 more workers left untouched"));  // api#1 was never retired

    // The same, with the retirement done before the failure.
    FakeMaster m2(config(group("api", 2, 8081) + group("web", 1, 8080)),
                  config(group("api", 1, 8081) + group("web", 1, 8080)));
    Reload& r2 = m2.reload;
    Story s2;
    r2.request(s2.progress(), "test");
    r2.on_ready(201);    // api#0's new worker READY (the canary)...
    m2.exited(r2, 101);  // ...and its old one gone
    m2.exited(r2, 102);  // api#1 retired
    m2.exited(r2, 103);  // web#0 drained
    m2.take_calls();
    m2.fire_timer();     // web#0's replacement never gets ready
    EXPECT_EQ(m2.take_calls(), std::string("kill 202, restore, refill web#0 -> 203, refill api#1 -> 204"));
    EXPECT(s2.says("1 retired slots refilled"));
}

void test_an_added_slot_that_fails_is_not_refilled() {
    FakeMaster m(config(group("web", 1, 8080)), config(group("web", 2, 8080)));
    Reload& r = m.reload;
    Story s;
    r.request(s.progress(), "test");
    r.on_ready(201);
    m.exited(r, 101);
    m.take_calls();
    m.procs.erase(202);
    r.on_exit(202, "status 4 (on_worker_start failed)", "");
    EXPECT_EQ(m.take_calls(), std::string("restore"));
    EXPECT_EQ(m.start_timer(), int64_t(-1));
    EXPECT(s.says("web#1 was a new slot: not refilled"));
}

void test_a_fork_that_fails_aborts() {
    FakeMaster m(config(group("web", 1, 8080)), config(group("web", 1, 8080)));
    Reload& r = m.reload;
    Story s;
    m.fail_spawns = true;
    r.request(s.progress(), "test");
    EXPECT_EQ(m.take_calls(), std::string("read again, spawn web#0 -> 201, restore"));
    EXPECT(s.says("fork failed"));
    EXPECT(s.says("web#0 keeps its old worker (pid 101)"));
    EXPECT(!s.ok && r.phase() == Reload::Phase::Idle);
}

void test_queued_and_merged_requests() {
    FakeMaster m(config(group("web", 1, 8080)), config(group("web", 1, 8080)));
    Reload& r = m.reload;
    Story first, second, third;
    r.request(first.progress(), "test");
    r.request(second.progress(), "test");  // queued
    r.request(third.progress(), "test");   // merged into the queued one
    EXPECT(r.queued());
    EXPECT(second.says("reload queued") && third.says("reload queued"));
    EXPECT_EQ(m.prepared, 1);
    r.on_ready(201);
    m.exited(r, 101);
    // The first ends; the queued one begins at once, and only one.
    EXPECT(first.ok && first.done == 1);
    EXPECT_EQ(m.prepared, 2);
    EXPECT_EQ(r.phase(), Reload::Phase::StartingNew);
    r.on_ready(202);
    m.exited(r, 201);
    EXPECT_EQ(m.prepared, 2);
    EXPECT(second.ok && second.done == 1 && third.ok && third.done == 1);
    EXPECT(second.says("web#0: pid 201 -> 202"));
    EXPECT_EQ(r.phase(), Reload::Phase::Idle);
}

void test_a_refused_reload_changes_nothing() {
    FakeMaster m(config(group("web", 2, 8080)), config(group("web", 2, 8080)));
    m.refuse = true;
    Reload& r = m.reload;
    Story s;
    r.request(s.progress(), "test");
    EXPECT_EQ(m.take_calls(), std::string("read again"));
    EXPECT_EQ(s.last(), std::string("reload refused: server.conf:3: bad; nothing was changed"));
    EXPECT(!s.ok && s.done == 1);
    EXPECT_EQ(r.phase(), Reload::Phase::Idle);
}

void test_a_stop_wins() {
    FakeMaster m(config(group("web", 2, 8080)), config(group("web", 2, 8080)));
    Reload& r = m.reload;
    Story running, queued, later;
    r.request(running.progress(), "test");
    r.request(queued.progress(), "test");
    m.take_calls();
    // While a new worker starts:
    EXPECT_EQ(m.start_timer(), int64_t(10000));
    r.on_stop("the server is stopping");
    EXPECT_EQ(m.take_calls(), std::string(""));  // no drain, spawn or kill: the stop does that
    EXPECT_EQ(m.start_timer(), int64_t(-1));  // the start timer is cancelled
    EXPECT(running.says("reload interrupted: the server is stopping") && !running.ok);
    EXPECT(queued.says("reload cancelled: the server is stopping") && !queued.ok);
    EXPECT_EQ(r.phase(), Reload::Phase::Idle);
    EXPECT(!r.on_ready(201));
    // From now on every request is refused.
    r.request(later.progress(), "SIGHUP");
    EXPECT_EQ(later.last(), std::string("reload refused: the server is stopping"));
    EXPECT_EQ(m.prepared, 1);

    // While an old worker drains:
    FakeMaster m2(config(group("web", 2, 8080)), config(group("web", 2, 8080)));
    Reload& r2 = m2.reload;
    Story running2;
    r2.request(running2.progress(), "test");
    r2.on_ready(201);
    EXPECT_EQ(r2.phase(), Reload::Phase::DrainingOld);
    m2.take_calls();
    r2.on_stop("the server is stopping");
    EXPECT_EQ(m2.take_calls(), std::string(""));  // the drain under way goes on; the stop drains the rest
    EXPECT(running2.says("reload interrupted: the server is stopping") && !running2.ok);
    EXPECT_EQ(r2.phase(), Reload::Phase::Idle);
    EXPECT(!r2.on_exit(101, "status 0", ""));  // its exit is the stop's business now
}

void test_shrinking_skips_empty_slots() {
    FakeMaster m(config(group("web", 3, 8080)), config(group("web", 1, 8080)));
    m.procs.erase(103);  // slot 2 is empty (its worker crashed, the respawn waits)
    Reload& r = m.reload;
    Story s;
    r.request(s.progress(), "test");
    EXPECT_EQ(m.start_timer(), int64_t(10000));
    r.on_ready(201);
    EXPECT_EQ(m.start_timer(), int64_t(-1));
    m.exited(r, 101);
    EXPECT_EQ(m.take_calls(), std::string("read again, spawn web#0 -> 201, drain 101, drain 102"));
    m.exited(r, 102);
    EXPECT(s.says("web#1: pid 102 retired (count lowered)"));
    EXPECT(s.ok && s.says("reload complete: 1 workers replaced"));
}

// Step 3: a group that is not reloadable is told, keeps its workers, and
// is not in the list of slots to replace.
void test_a_group_that_is_not_reloadable_is_told() {
    FakeMaster m(config(group("keep", 1, 8081, "reloadable = false\n") + group("web", 1, 8080)),
                 config(group("keep", 1, 8081, "reloadable = false\n") + group("web", 1, 8080)));
    Reload& r = m.reload;
    Story s;
    r.request(s.progress(), "test");
    EXPECT_EQ(m.take_calls(), std::string("read again, tell keep, spawn web#0 -> 201"));
    EXPECT(s.says("group keep is not reloadable: told its workers, they keep running"));
    EXPECT(r.on_ready(201));
    m.exited(r, 102);
    EXPECT(s.ok && s.says("reload complete: 1 workers replaced"));
    EXPECT(!m.procs[101].told);
    EXPECT_EQ(m.timeline.timeline().lanes.size(), size_t(1));
}

// What the listeners hear: one lane per step, its moments on the reload's
// clock from the moment it began.
void test_the_timeline_listens() {
    FakeMaster m(config(group("web", 2, 8080)), config(group("web", 2, 8080)));
    Reload& r = m.reload;
    r.request(nullptr, "test");
    m.clock.advance(5);
    r.on_ready(201);           // t = 5: the canary READY, its old worker told to drain
    m.clock.advance(10);
    m.exited(r, 101);          // t = 15: gone; web#1's old worker told to drain
    m.clock.advance(20);
    m.exited(r, 102);          // t = 35: gone, its replacement forked
    m.clock.advance(1);
    r.on_ready(202);           // t = 36
    const ReloadTimeline& t = m.timeline.timeline();
    EXPECT(t.ok && t.generation == 1 && !t.start_first);
    EXPECT_EQ(t.finished_ms, int64_t(36));
    EXPECT_EQ(t.lanes.size(), size_t(2));
    if (t.lanes.size() == 2) {
        const ReloadTimeline::Lane& a = t.lanes[0];
        EXPECT_EQ(a.slot, std::string("web#0"));
        EXPECT_EQ(a.kind, std::string("replace"));
        EXPECT_EQ(a.old_pid, 101);
        EXPECT_EQ(a.new_pid, 201);
        EXPECT_EQ(a.fork_ms, int64_t(0));
        EXPECT_EQ(a.ready_ms, int64_t(5));
        EXPECT_EQ(a.drain_ms, int64_t(5));
        EXPECT_EQ(a.exit_ms, int64_t(15));
        EXPECT_EQ(a.version, std::string("app-v1.so"));
        const ReloadTimeline::Lane& b = t.lanes[1];
        EXPECT_EQ(b.drain_ms, int64_t(15));
        EXPECT_EQ(b.exit_ms, int64_t(35));
        EXPECT_EQ(b.fork_ms, int64_t(35));
        EXPECT_EQ(b.ready_ms, int64_t(36));
        EXPECT_EQ(b.failed_ms, int64_t(-1));
    }
    // Complete once the samples after the end are in.
    EXPECT(!m.timeline.complete());
}

// Every phase change goes through one place, and that place logs it.
void test_every_transition_is_logged() {
    char path[] = "/tmp/smooth-test-reload-XXXXXX";
    int fd = mkstemp(path);
    log::set_output(fd);
    FakeMaster m(config(group("web", 2, 8080)), config(group("web", 2, 8080)));
    Reload& r = m.reload;
    r.request(nullptr, "test");
    r.on_ready(201);
    m.exited(r, 101);
    m.exited(r, 102);
    r.on_ready(202);
    log::set_output(quiet_);
    std::string text(8192, '\0');
    text.resize(size_t(pread(fd, text.data(), text.size(), 0)));
    close(fd);
    unlink(path);
    EXPECT(text.find("reload: idle -> starting_new (web#0: forked new pid 201)") != std::string::npos);
    EXPECT(text.find("reload: starting_new -> draining_old (web#0: SIGQUIT to old pid 101)") != std::string::npos);
    EXPECT(text.find("reload: draining_old -> draining_old (web#1: SIGQUIT to old pid 102)") != std::string::npos);
    EXPECT(text.find("reload: draining_old -> starting_new (web#1: forked new pid 202)") != std::string::npos);
    EXPECT(text.find("reload: starting_new -> idle (complete)") != std::string::npos);
}

std::string gateway(int count, const char* reloadable) {
    return "[group gw]\nlisten = ws://127.0.0.1:9000\nrole = gateway\nbackend = tcp://127.0.0.1:9100\n"
           "module = modules/app.so\ncount = " +
           std::to_string(count) + "\nreloadable = " + reloadable + "\n";
}

// reloadable = handover: each slot new first, and the old worker hands its
// connections over instead of draining them; its word comes before its exit.
void test_a_handover_group_is_replaced_new_first_slot_by_slot() {
    FakeMaster m(config(gateway(2, "handover")), config(gateway(2, "handover")));
    Reload& r = m.reload;
    Story s;
    r.request(s.progress(), "test");
    EXPECT_EQ(m.take_calls(), std::string("read again, spawn gw#0 -> 201"));
    EXPECT(r.on_ready(201));
    EXPECT_EQ(m.take_calls(), std::string("drain 101"));  // the table hands over where it can
    EXPECT(r.on_handover(101, true, "handed over 7 connections and 2 links in 4 ms"));
    m.exited(r, 101);
    EXPECT(s.says("gw#0: pid 101 -> 201, handed over 7 connections and 2 links in 4 ms, ready"));
    // The second slot goes new first too, although the order is stop_first.
    EXPECT_EQ(m.take_calls(), std::string("spawn gw#1 -> 202"));
    EXPECT(r.on_ready(202));
    EXPECT_EQ(m.take_calls(), std::string("drain 102"));
    EXPECT(!r.on_handover(101, true, "late"));  // not the slot's old worker now
    EXPECT(r.on_handover(102, true, "handed over 0 connections and 2 links in 1 ms"));
    m.exited(r, 102);
    EXPECT_EQ(r.phase(), Reload::Phase::Idle);
    EXPECT(s.ok);
}

// The successor goes away before it has taken everything: the old worker
// serves on (the table marks it so), and the reload goes back.
void test_a_failed_handover_aborts_and_the_old_worker_keeps_its_clients() {
    FakeMaster m(config(gateway(2, "handover")), config(gateway(2, "handover")));
    Reload& r = m.reload;
    Story s;
    r.request(s.progress(), "test");
    r.on_ready(201);
    m.take_calls();
    m.exited(r, 201, "signal 9 (Killed)");  // not the reload's business yet: the old worker's word decides
    m.procs[101].told = false;             // the table: it serves again
    EXPECT(r.on_handover(101, false, "the other side closed the hand-over socket"));
    EXPECT_EQ(m.take_calls(), std::string("kill 201, restore"));
    EXPECT_EQ(r.phase(), Reload::Phase::Idle);
    EXPECT_EQ(s.done, 1);
    EXPECT(!s.ok);
    EXPECT(s.says("the hand-over from pid 101 to pid 201 failed: the other side closed the hand-over socket"));
    EXPECT(s.says("gw#0 keeps its old worker (pid 101)"));
    EXPECT(s.says("1 more workers left untouched"));
}

// A gateway's count cannot change by hand-over: a note, and the count stays.
void test_a_handover_group_keeps_its_count() {
    FakeMaster m(config(gateway(2, "handover")), config(gateway(3, "handover")));
    Reload& r = m.reload;
    Story s;
    r.request(s.progress(), "test");
    EXPECT(s.says("group gw: count changed (2 -> 3), but its workers hand their connections over"));
    EXPECT_EQ(m.take_calls(), std::string("read again, spawn gw#0 -> 201"));
    r.on_ready(201);
    r.on_handover(101, true, "x");
    m.exited(r, 101);
    r.on_ready(202);
    r.on_handover(102, true, "x");
    m.exited(r, 102);
    EXPECT_EQ(r.phase(), Reload::Phase::Idle);
    EXPECT_EQ(r.total(), 2);
}

// The timeline draws a hand-over from the table's events (when 'H' went,
// when the word came) and each worker's connections sampled meanwhile.
void test_the_timeline_draws_a_hand_over() {
    FakeMaster m(config(gateway(1, "handover")), config(gateway(1, "handover")));
    Reload& r = m.reload;
    m.open[101] = 50;
    r.request(nullptr, "test");  // t = 0: gw#0's new worker forked
    m.open[201] = 0;
    m.sample_for(20);
    r.on_ready(201);  // t = 20: READY, and the old worker told to hand over...
    EXPECT_EQ(m.take_calls(), std::string("read again, spawn gw#0 -> 201, drain 101"));
    m.timeline.on_handing_over(101);  // ...as the table tells it
    m.sample_for(10);
    m.open[101] = 0;  // t = 30: every connection moved
    m.open[201] = 50;
    m.timeline.on_handed_over(101, true);
    r.on_handover(101, true, "handed over 50 connections and 2 links in 10 ms");
    m.sample_for(10);
    m.clock.advance(5);  // between two ticks
    m.open.erase(101);
    m.exited(r, 101);  // t = 45: the reload is complete
    EXPECT(!m.timeline.complete());
    m.sample_for(TimelineRecorder::kSampleAfterMs);
    EXPECT(m.timeline.complete());

    const ReloadTimeline& t = m.timeline.timeline();
    EXPECT_EQ(t.lanes.size(), size_t(1));
    if (t.lanes.size() != 1) return;
    const ReloadTimeline::Lane& l = t.lanes[0];
    EXPECT_EQ(l.handover_ms, int64_t(20));
    EXPECT_EQ(l.handover_end_ms, int64_t(30));
    EXPECT(l.handover_ok);
    EXPECT(l.connections.size() > 40);
    bool before = false, after = false, at_word = false;
    for (const ReloadTimeline::Lane::Connections& c : l.connections) {
        if (c.t_ms < 30) {  // until the word: all 50 with the old worker (the new one not forked at the Slot)
            EXPECT_EQ(c.old_count, 50);
            EXPECT(c.new_count == 0 || (c.t_ms == 0 && c.new_count == -1));
            before = true;
        } else if (c.t_ms > 30) {  // then all with the new one, the old one at 0 and then gone
            EXPECT(c.old_count == 0 || c.old_count == -1);
            EXPECT_EQ(c.new_count, 50);
            after = true;
        } else {  // the tick before the word, then the word's own sample
            at_word = c.old_count == 0 && c.new_count == 50;
        }
    }
    EXPECT(before && after && at_word);
    // Sampled at the lane's events too: the Slot, 'H', the exit (0 then,
    // and not there after).
    EXPECT(l.connections.front().t_ms == 0 && l.connections.front().new_count == -1);
    bool at_exit = false;
    for (const ReloadTimeline::Lane::Connections& c : l.connections)
        if (c.t_ms == 45 && c.old_count == 0) at_exit = true;
    EXPECT(at_exit);
    EXPECT_EQ(l.connections.back().old_count, -1);
    // Sampled until kSampleAfterMs after the lane settled (t = 45), no longer.
    EXPECT(l.connections.back().t_ms <= 45 + TimelineRecorder::kSampleAfterMs + TimelineRecorder::kSampleEveryMs);
}

// A drain of a minute still fits a lane: fewer samples, the whole span.
void test_a_long_drain_keeps_its_lane_bounded() {
    FakeMaster m(config(group("web", 1, 8080)), config(group("web", 1, 8080)));
    Reload& r = m.reload;
    m.open[101] = 7;
    r.request(nullptr, "test");
    m.open[201] = 0;
    m.sample_for(20);
    r.on_ready(201);  // the old worker drains, for a minute
    m.sample_for(60000);
    m.open.erase(101);
    m.exited(r, 101);
    m.sample_for(TimelineRecorder::kSampleAfterMs);
    const std::vector<ReloadTimeline::Lane::Connections>& c = m.timeline.timeline().lanes.at(0).connections;
    EXPECT(c.size() <= TimelineRecorder::kMaxLaneSamples);
    EXPECT(c.size() >= TimelineRecorder::kMaxLaneSamples / 2);
    EXPECT_EQ(c.front().t_ms, int64_t(0));
    EXPECT(c.back().t_ms >= 60000);  // the exit, and a moment after, still in
    EXPECT_EQ(c.back().old_count, -1);
}

}  // namespace

int main() {
    log::set_role("test");
    quiet_ = open("/dev/null", O_WRONLY | O_CLOEXEC);  // the reload's story goes to the Story, not the terminal
    log::set_output(quiet_);
    test_stop_first();
    test_start_first();
    test_a_release_that_cannot_start_costs_no_old_worker();
    test_abort_when_a_later_new_worker_exits();
    test_abort_at_the_start_timeout();
    test_abort_in_start_first_keeps_the_old_worker();
    test_abort_puts_added_and_retired_slots_back();
    test_an_added_slot_that_fails_is_not_refilled();
    test_a_fork_that_fails_aborts();
    test_queued_and_merged_requests();
    test_a_refused_reload_changes_nothing();
    test_a_stop_wins();
    test_shrinking_skips_empty_slots();
    test_a_group_that_is_not_reloadable_is_told();
    test_the_timeline_listens();
    test_every_transition_is_logged();
    test_a_handover_group_is_replaced_new_first_slot_by_slot();
    test_a_failed_handover_aborts_and_the_old_worker_keeps_its_clients();
    test_a_handover_group_keeps_its_count();
    test_the_timeline_draws_a_hand_over();
    test_a_long_drain_keeps_its_lane_bounded();
    return check::summary("reload");
}
