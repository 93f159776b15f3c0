// reload: the seed's smooth restart, as a small state machine.
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
//                        │
//   Idle ──request──► next step ──────────────────────────────► Idle (complete)
//                        │ stop_first                ▲
//                        ▼                           │
//                  StoppingOld ── old exited ──► StartingNew ── READY ──┘
//                  (SIGQUIT sent,                (forked, new code,
//                   it drains)                    start_timeout running)
//                                                    │ exited / timed out
//                                                    ▼
//                                     abort: refill the slot with the last
//                                     version that started; the rest of the
//                                     old workers are left untouched
//
// start_first swaps the two: StartingNew first, then StoppingOld once the new
// worker is READY, so the group never has fewer workers than `count`.
//
// A request that arrives during a reload is queued (at most one: more merge
// into it) and runs when the current one ends. None is dropped.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "config/config.h"

namespace smooth {

class Master;
struct WorkerProcess;

class Reload {
public:
    // Receives each line of the reload's story; `done` on the last one, with
    // `ok` telling complete from aborted or refused.
    using Progress = std::function<void(const std::string& line, bool done, bool ok)>;

    explicit Reload(Master& master) : master_(master) {}

    void request(Progress progress, const std::string& source);
    void on_ready(const WorkerProcess& w);
    // True when this exit was the reload's own business (an old worker it
    // drained, or a replacement that failed): the master must not respawn it.
    bool on_exit(const WorkerProcess& w, int status);
    void cancel(const std::string& why);  // the server is stopping

    bool running() const { return phase_ != Phase::Idle; }
    std::string describe() const;         // for `status`: what it is doing, or the last result
    std::string state_name() const;       // idle, running, queued

private:
    enum class Phase { Idle, StoppingOld, StartingNew };
    struct Step {
        int group;
        int slot;
        bool retire_only;  // the group shrank: drain this slot, start nothing
    };

    void begin(std::vector<Progress> progress, const std::string& source);
    bool prepare(std::vector<std::string>& notes, std::string& error);
    void note_restart_only_changes(const Config& fresh, std::vector<std::string>& notes) const;
    bool store_new_versions(const Config& fresh, std::vector<const GroupConfig*>& next, std::string& error);
    void apply_and_plan(const Config& fresh, const std::vector<const GroupConfig*>& next,
                        std::vector<std::string>& notes);
    void advance();
    void start_new();
    void step_done();
    void abort(const std::string& why);
    void finish(bool ok, const std::string& summary);
    void say(const std::string& line);
    std::string step_name() const;  // "web#2" for the slot being replaced

    Master& master_;
    Phase phase_ = Phase::Idle;
    std::vector<Progress> progress_;
    std::vector<Progress> queued_progress_;
    bool queued_ = false;

    // The run in progress.
    std::deque<Step> plan_;
    std::vector<std::string> new_modules_;      // per group: the stored version to start
    std::vector<GroupConfig> old_configs_;      // per group: to go back to on abort
    uint64_t generation_ = 0;
    bool start_first_ = false;
    int64_t started_ms_ = 0;
    int replaced_ = 0;
    int total_ = 0;
    Step step_{0, 0, false};
    pid_t old_pid_ = 0;
    pid_t new_pid_ = 0;
    int64_t drain_ms_ = 0;   // how long the old worker took to drain
    int64_t ready_ms_ = 0;   // fork to READY of the new one
    uint64_t start_timer_ = 0;
    std::string last_result_;
};

}  // namespace smooth
