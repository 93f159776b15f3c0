// reload: the seed's smooth restart, as one small state machine.
//
// The seed: "When the master receives the reload signal, it sends a safe-exit
// signal to one of the child processes (so that it finishes its current
// request before exiting). When that process has exited, the master creates a
// new child process (which loads the new code). Then it sends the stop signal
// to another old process, and so on, until all old processes are replaced."
//
// Its steps, numbered as SPEC.md numbers them; the comments and the log
// lines of reload.cpp use the same numbers:
//
//   1. a reload is requested (SIGHUP, or `./server reload`); if one is
//      running, at most one more waits (further requests merge into it);
//   2. the config file is read again, the reload planned, each new module
//      version stored and tried; if any of that fails the reload is refused
//      and nothing changes;
//   3. the groups that are not reloadable are told (their on_worker_reload
//      runs); they keep their workers and their connections;
//   4. one slot at a time: the old worker drains and exits, its replacement
//      is forked, loads the new code and must be READY; then the next slot;
//   5. a replacement that exits, or is not READY within start_timeout, aborts
//      the reload: the slots not reached yet are left untouched, and the
//      failed slot is refilled with the version it ran before.
//
// Step 4 with a readiness gate and a way back:
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
//                                     step 5, abort: refill the slot with the
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
// a fake master and a fake table of workers:
//
//   phase \ event   request        READY of the new  exit of the old     exit of the new  start_timeout  stop
//   ─────────────   ─────────────  ────────────────  ──────────────────  ───────────────  ─────────────  ──────
//   Idle            begin (or      -                 -                   -                -              refuse
//                   refuse)                                                                              later ones
//   DrainingOld     queue / merge  -                 retire: next step;  -                -              cancel
//                                                    new first: done;
//                                                    else start new
//   (a hand-over step's old worker, in DrainingOld: handed over -> its exit
//    follows; hand-over failed -> abort, the old worker serves on)
//   StartingNew     queue / merge  new first: drain  (new first: it      abort            abort          cancel
//                                  the old; else done crashed: nothing)
//
//   begin      steps 2 and 3, then the first step of 4
//   next step  plan empty: finish (a queued request begins now); otherwise the
//              next (group, slot): drain its old worker (stop_first, retire)
//              or start its new one (new first, add, an empty slot)
//   abort      step 5: give up on the new worker, put the config back, refill
//              the slot with the version it ran before, retire slots this
//              reload added, refill slots it retired; finish with failure
//
// Whom it talks to, and who listens:
//
//        the master (ReloadConfig)           the table of workers (ReloadWorkers)
//        read again, plan, apply, restore    find, spawn, drain, kill, refill, tell
//                       ▲                                  ▲        │ READY, exits
//                       └────────────── Reload ────────────┘◄───────┘ (on_ready, on_exit)
//                                         │
//                       progress lines ◄──┴──► events (ReloadEvent)
//                       to each waiting        to whoever listens: the reload's
//                       command (progress.h)   timeline, systemd's STATUS lines
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

#include "core/event_loop.h"
#include "core/listeners.h"
#include "master/progress.h"
#include "master/reload_plan.h"

namespace smooth {

// What the reload asks of the master: the config, and nothing else. Master
// implements it; the unit test fakes it.
class ReloadConfig {
public:
    // What step 2 has made ready.
    struct Prepared {
        ReloadPlan plan;
        std::vector<std::string> versions;  // per group: the version its new workers load
        uint64_t generation = 0;            // set by apply()
        Config previous;                     // to go back to on abort
        std::vector<std::pair<std::string, uint64_t>> good_before;  // per group: the version (and its generation) an empty slot got
    };

    virtual ~ReloadConfig() = default;
    // Step 2, in three parts; each returns "" or why the reload is refused.
    // Until apply() has succeeded, nothing running has changed.
    // The config file, read again (the embedded default: the running config).
    virtual std::string read_again(Config& fresh) = 0;
    // The plan (reload_plan.h) from the running config to `fresh`; each new
    // module version stored (module_versions.h) and loaded once in a
    // throw-away process (module_trial.h).
    virtual std::string plan(const Config& fresh, Prepared& out) = 0;
    // The planned config becomes the running one (the next worker forked
    // reads it); `run.generation` is set.
    virtual std::string apply(Prepared& run) = 0;
    // Step 5: the config, and the version each group forks into an empty
    // slot, go back to what they were before the reload.
    virtual void restore(const Prepared& run) = 0;
};

// What the reload asks of the table of workers: process work. WorkerTable
// (worker_table.h) implements it; the unit test fakes it.
class ReloadWorkers {
public:
    struct Refilled {
        pid_t pid = 0;        // 0: could not fork now; the table retries with back-off
        std::string version;  // the version it runs
    };

    virtual ~ReloadWorkers() = default;
    // The worker serving a slot (not told to go), or 0.
    virtual pid_t find_worker(int group, int slot) = 0;
    // Forks a worker for a slot with a version: "" with its pid, or what failed.
    virtual std::string spawn(int group, int slot, const std::string& version, uint64_t generation, pid_t& pid) = 0;
    // SIGQUIT, with the SIGKILL deadline. False if no such worker is left.
    virtual bool drain(pid_t pid) = 0;
    virtual void kill(pid_t pid, const std::string& why) = 0;
    // Forks the group's last good version into a slot (after restore(): the
    // one it ran before the reload).
    virtual Refilled refill(int group, int slot) = 0;
    // Step 3: the group's workers run their on_worker_reload and stay.
    virtual void tell_not_reloadable(int group) = 0;
};

// One thing a reload did, for whoever listens (Reload::events). Times are
// the listener's to take: every event is fired as it happens.
struct ReloadEvent {
    enum class Kind {
        Began,      // step 2 succeeded: workers are about to be touched
        Slot,       // the reload turns to `slot`, whose old worker is `pid` (0:
                    // none), to do `what` there: replace, add, retire; after an
                    // abort: rollback, untouched
        Draining,   // `pid`, the slot's old worker, was sent SIGQUIT
        OldExited,  // ...and has exited
        Forked,     // `pid`, the slot's new worker, was forked to load `text`
        Ready,      // ...and is READY: from here the slot runs the new version
        GaveUp,     // the slot's new worker (`pid`; 0 if the fork failed) exited
                    // or was not READY in time: step 5 follows
        Finished,   // the reload ended, `ok` or not, with `text` its summary
    };
    Kind kind;
    std::string slot;       // "web#0"; "" for Began and Finished
    const char* what = "";  // Slot only
    pid_t pid = 0;
    std::string text;       // Forked: the version's file name; Finished: the summary
    bool ok = false;        // Finished only
};

class Reload {
public:
    // Receives each line of the reload's story (progress.h); `ok` on the last
    // one tells complete from aborted or refused.
    using Progress = smooth::Progress;
    enum class Phase { Idle, DrainingOld, StartingNew };

    // `loop` is for the start_timeout timer and the clock.
    Reload(EventLoop& loop, ReloadConfig& config, ReloadWorkers& workers)
        : loop_(loop), config_(config), workers_(workers) {}

    Listeners<const ReloadEvent&> events;

    // The events coming in. on_ready/on_exit return true when the worker was
    // the reload's business (an old worker it drained, a new one it started).
    void request(Progress progress, const std::string& source);
    bool on_ready(pid_t pid);
    bool on_exit(pid_t pid, const std::string& how, const std::string& failure);
    // The old worker of a hand-over step (worker/handover.h) says how it
    // went: handed over (`text`: how many, how long; it exits next), or
    // failed (its successor went away: it serves on, and step 5 follows).
    bool on_handover(pid_t pid, bool ok, const std::string& text);
    void on_stop(const std::string& why);  // the server is stopping: cancel, refuse from now on

    Phase phase() const { return phase_; }
    bool running() const { return phase_ != Phase::Idle; }
    bool queued() const { return queued_; }
    // Of the run in progress (or the last one).
    int replaced() const { return replaced_; }
    int total() const { return total_; }
    uint64_t generation() const { return run_.generation; }
    bool start_first() const { return run_.plan.start_first; }
    std::string state_name() const;  // "idle", "running", "running, one queued"
    std::string describe() const;    // for `status`: what it is doing, or the last result

    static const char* phase_name(Phase p);  // "idle", "draining_old", "starting_new"

private:
    struct Event {
        enum class Kind { Request, Ready, OldExited, NewExited, StartTimeout, Stop, HandedOver, HandoverFailed } kind;
        std::string text;  // Request: the source; NewExited: how; Stop: why; Handed*: the old worker's words
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
    void say(int step, const std::string& line);  // to every waiting command, and the log (with the step's number)
    void tell(ReloadEvent::Kind kind, const std::string& slot, pid_t pid, const std::string& text = "",
              const char* what = "");

    std::string slot_name(int group, int slot) const;
    std::string step_name() const { return slot_name(step_.group, step_.slot); }

    EventLoop& loop_;
    ReloadConfig& config_;
    ReloadWorkers& workers_;
    Phase phase_ = Phase::Idle;
    bool refusing_ = false;  // the server is stopping
    std::vector<Progress> progress_;
    std::vector<Progress> queued_progress_;
    bool queued_ = false;

    // The run in progress.
    ReloadConfig::Prepared run_;
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
    std::string handed_over_;  // a hand-over step: what the old worker handed over, and how long it took
    int64_t ready_took_ms_ = 0;
    int replaced_ = 0;
    int total_ = 0;
    uint64_t start_timer_ = 0;
    std::string last_result_;
};

}  // namespace smooth
