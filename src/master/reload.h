// reload: the seed's smooth restart, as one small state machine.
//
// The seed: "When the master receives the reload signal, it sends a safe-exit
// signal to one of the child processes (so that it finishes its current
// request before exiting). When that process has exited, the master creates a
// new child process (which loads the new code). Then it sends the stop signal
// to another old process, and so on, until all old processes are replaced."
//
// Here the same loop, with a readiness gate and a way back:
//
//                   plan: the list of (group, slot) to replace, in order
//                        │                                (reload_plan.h)
//   Idle ──request──► next step ──────────────────────────────► Idle (complete)
//                        │ stop_first                ▲
//                        ▼                           │
//                  DrainingOld ── old exited ──► StartingNew ── READY ──┘
//                  (SIGQUIT sent,                (forked, new code,
//                   it drains)                    start_timeout running)
//                                                    │ exited / timed out
//                                                    ▼
//                                     abort: refill the slot with the
//                                     version it ran before; the rest of the
//                                     old workers are left untouched
//
// start_first swaps the two: StartingNew first, then DrainingOld once the new
// worker is READY, so the group never has fewer workers than `count`. The
// first slot a reload replaces always goes that way (the canary): a release
// whose on_worker_start fails is stopped at the READY gate before a single old
// worker has drained. "new first" below means start_first or the canary.
//
// Every transition goes through Reload::handle(), which reads as this table
// (phase × event → action); tests/unit/test_reload.cpp drives each cell with
// a fake master:
//
//   phase \ event   request        READY of the new  exit of the old     exit of the new  start_timeout  stop
//   ─────────────   ─────────────  ────────────────  ──────────────────  ───────────────  ─────────────  ──────
//   Idle            begin (or      -                 -                   -                -              refuse
//                   refuse)                                                                              later ones
//   DrainingOld     queue / merge  -                 retire: next step;  -                -              cancel
//                                                    new first: done;
//                                                    else start new
//   StartingNew     queue / merge  new first: drain  (new first: it      abort            abort          cancel
//                                  the old; else done crashed: nothing)
//
//   begin      read the config again and store the new versions (the host's
//              prepare); if that fails the reload is refused, nothing changed
//   next step  plan empty: finish (a queued request begins now); otherwise the
//              next (group, slot): drain its old worker (stop_first, retire)
//              or start its new one (new first, add, an empty slot)
//   abort      give up on the new worker, put the config back, refill the
//              slot with the version it ran before, retire slots this
//              reload added, refill slots it retired; finish with failure
//
// At most one request waits while a reload runs; more merge into it (it reads
// the newest config and modules anyway). None is dropped.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "master/progress.h"
#include "master/reload_plan.h"
#include "master/reload_timeline.h"

namespace smooth {

// Everything the reload may ask of the master, and nothing more: the link
// ae.c has to ae_epoll.c. Master implements it; the unit test fakes it.
class ReloadHost {
public:
    // A plan the master has made ready: config read again, plan made, module
    // versions stored, plan.next applied, non-reloadable groups told.
    struct Prepared {
        ReloadPlan plan;
        std::vector<std::string> versions;  // per group: the version its new workers load
        uint64_t generation = 0;
        Config previous;                     // to go back to on abort
    };
    struct Refilled {
        pid_t pid = 0;        // 0: could not fork now; the master retries with back-off
        std::string version;  // the version it runs
    };

    virtual ~ReloadHost() = default;
    // Steps 2 and 3 of the seed's reload. False (with why) changes nothing.
    virtual bool prepare(Prepared& out, std::string& error) = 0;
    // An aborted reload: the groups go back to the config they had.
    virtual void restore(const Config& previous) = 0;
    // The worker serving a slot (not told to go), or 0.
    virtual pid_t find_worker(int group, int slot) = 0;
    // Forks a worker for a slot with a version. The pid, or -1 (logged).
    virtual pid_t spawn(int group, int slot, const std::string& version, uint64_t generation) = 0;
    // SIGQUIT, with the master's SIGKILL deadline. False if no such worker is left.
    virtual bool drain(pid_t pid) = 0;
    virtual void kill(pid_t pid, const std::string& why) = 0;
    // Forks the group's good version into a slot (after restore(): the one it
    // ran before the reload).
    virtual Refilled refill(int group, int slot) = 0;
    virtual uint64_t add_timer(int64_t ms, std::function<void()> fire) = 0;
    virtual void cancel_timer(uint64_t id) = 0;
    virtual int64_t now_ms() = 0;
    // The reload has ended (complete, aborted, refused or cancelled).
    virtual void finished(const ReloadTimeline& timeline) = 0;
};

class Reload {
public:
    // Receives each line of the reload's story (progress.h); `ok` on the last
    // one tells complete from aborted or refused.
    using Progress = smooth::Progress;
    enum class Phase { Idle, DrainingOld, StartingNew };

    explicit Reload(ReloadHost& host) : host_(host) {}

    // The events. on_ready/on_exit return true when the worker was the
    // reload's business (an old worker it drained, a new one it started).
    void request(Progress progress, const std::string& source);
    bool on_ready(pid_t pid);
    bool on_exit(pid_t pid, const std::string& how, const std::string& failure);
    void on_stop(const std::string& why);  // the server is stopping: cancel, refuse from now on

    Phase phase() const { return phase_; }
    bool running() const { return phase_ != Phase::Idle; }
    bool queued() const { return queued_; }
    int replaced() const { return replaced_; }  // in the run in progress (or the last one)
    int total() const { return total_; }
    std::string state_name() const;  // "idle", "running", "running, one queued"
    std::string describe() const;    // for `status`: what it is doing, or the last result

    static const char* phase_name(Phase p);  // "idle", "draining_old", "starting_new"

private:
    struct Event {
        enum class Kind { Request, Ready, OldExited, NewExited, StartTimeout, Stop } kind;
        std::string text;  // Request: the source; NewExited: how; Stop: why
        Progress progress = nullptr;
    };

    void handle(Event e);
    void enter(Phase next, const std::string& why);  // every phase change, logged

    // The actions the table names.
    void begin(std::vector<Progress> reports, const std::string& source);
    void queue(Event& e);
    void next_step();
    void drain_old();
    void old_gone();
    void start_new();
    void step_done();
    void abort(const std::string& why, bool new_still_running);
    std::string refill(const ReloadStep& step);  // the slot gets the version it ran before; its name
    void finish(bool ok, const std::string& summary);
    void say(const std::string& line);

    std::string slot_name(int group, int slot) const;
    std::string step_name() const { return slot_name(step_.group, step_.slot); }
    ReloadTimeline::Lane& lane() { return timeline_.lanes.back(); }
    int64_t since_start() { return host_.now_ms() - started_ms_; }

    ReloadHost& host_;
    Phase phase_ = Phase::Idle;
    bool refusing_ = false;  // the server is stopping
    std::vector<Progress> progress_;
    std::vector<Progress> queued_progress_;
    bool queued_ = false;

    // The run in progress.
    ReloadHost::Prepared run_;
    std::deque<ReloadStep> steps_;        // still to do
    std::vector<ReloadStep> done_;        // done, in order
    ReloadStep step_{0, 0, ReloadStep::Kind::Replace};
    pid_t old_pid_ = 0;
    pid_t new_pid_ = 0;
    bool new_first_ = false;  // this step starts its new worker before draining the old
    int64_t started_ms_ = 0;
    int64_t drain_sent_ms_ = 0;
    int64_t forked_ms_ = 0;
    int64_t drain_took_ms_ = 0;
    int64_t ready_took_ms_ = 0;
    int replaced_ = 0;
    int total_ = 0;
    uint64_t start_timer_ = 0;
    ReloadTimeline timeline_;
    std::string last_result_;
};

}  // namespace smooth
