// reload: see reload.h for the seed's steps, the picture and the table. This
// file is the table (handle), then the actions it names, in the order a reload
// meets them; the comments and the log lines number the seed's steps 1 to 5.
#include "master/reload.h"

#include <utility>

#include "core/log.h"

namespace smooth {

namespace {

std::string file_name(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

std::string pid_text(pid_t pid) { return pid ? std::to_string(pid) : "-"; }

}  // namespace

const char* Reload::phase_name(Phase p) {
    switch (p) {
        case Phase::Idle: return "idle";
        case Phase::DrainingOld: return "draining_old";
        case Phase::StartingNew: return "starting_new";
    }
    return "?";
}

// ---- The events ----

// Step 1: a reload is requested.
void Reload::request(Progress progress, const std::string& source) {
    handle({Event::Kind::Request, source, std::move(progress)});
}

bool Reload::on_ready(pid_t pid) {
    if (phase_ != Phase::StartingNew || pid != new_pid_) return false;
    handle({Event::Kind::Ready, ""});
    return true;
}

bool Reload::on_exit(pid_t pid, const std::string& how, const std::string& failure) {
    if (phase_ == Phase::DrainingOld && pid == old_pid_) {
        handle({Event::Kind::OldExited, how});
        return true;
    }
    if (phase_ == Phase::StartingNew && pid == new_pid_) {
        handle({Event::Kind::NewExited, how + (failure.empty() ? "" : ": " + failure)});
        return true;
    }
    return false;
}

bool Reload::on_handover(pid_t pid, bool ok, const std::string& text) {
    if (phase_ != Phase::DrainingOld || pid != old_pid_ || !step_.handover) return false;
    handle({ok ? Event::Kind::HandedOver : Event::Kind::HandoverFailed, text});
    return true;
}

void Reload::on_stop(const std::string& why) { handle({Event::Kind::Stop, why}); }

// ---- The table: every transition starts here ----

void Reload::handle(Event e) {
    using K = Event::Kind;
    if (e.kind == K::Request && refusing_) {
        // A stop has the last word: a reload now would fork workers the stop
        // is not waiting for.
        log::warn("reload requested (%s) while stopping: refused (reload step 1)", e.text.c_str());
        if (e.progress) e.progress("reload refused: the server is stopping", true, false);
        return;
    }
    if (e.kind == K::Stop) {
        refusing_ = true;
        queued_ = false;
        for (Progress& report : queued_progress_) report("reload cancelled: " + e.text, true, false);
        queued_progress_.clear();
        if (phase_ == Phase::Idle) return;
        if (start_timer_) loop_.cancel_timer(std::exchange(start_timer_, 0));
        steps_.clear();
        finish(false, "reload interrupted: " + e.text);
        return;
    }

    switch (phase_) {
        case Phase::Idle:
            if (e.kind == K::Request) {
                std::vector<Progress> reports;
                if (e.progress) reports.push_back(std::move(e.progress));
                begin(std::move(reports), e.text);
            }
            break;  // a READY or an exit while idle is not the reload's business

        case Phase::DrainingOld:
            if (e.kind == K::Request) queue(e);
            if (e.kind == K::OldExited) old_gone();
            if (e.kind == K::HandedOver) handed_over_ = e.text;  // its exit follows
            if (e.kind == K::HandoverFailed)
                abort("the hand-over from pid " + std::to_string(old_pid_) + " to pid " + std::to_string(new_pid_) +
                          " failed: " + e.text,
                      true);
            break;

        case Phase::StartingNew:
            if (e.kind == K::Request) queue(e);
            if (e.kind == K::Ready) {
                loop_.cancel_timer(std::exchange(start_timer_, 0));
                ready_took_ms_ = loop_.now_ms() - forked_ms_;
                tell(ReloadEvent::Kind::Ready, step_name(), new_pid_);
                if (new_first_ && old_pid_)
                    drain_old();  // the new one serves: now the old one may go
                else
                    step_done();
            }
            if (e.kind == K::NewExited)
                abort("replacement pid " + std::to_string(new_pid_) + " exited with " + e.text + " before READY", false);
            if (e.kind == K::StartTimeout)
                abort("not READY within start_timeout (" + std::to_string(run_.plan.next.server.start_timeout_ms) + " ms)",
                      true);
            break;
    }
}

void Reload::enter(Phase next, const std::string& why) {
    log::info("reload: %s -> %s (%s)", phase_name(phase_), phase_name(next), why.c_str());
    phase_ = next;
}

// ---- The actions, in the order a reload meets them ----

void Reload::begin(std::vector<Progress> reports, const std::string& source) {
    progress_ = std::move(reports);
    started_ms_ = loop_.now_ms();
    replaced_ = 0;
    done_.clear();
    log::info("reload requested (%s) (reload step 1)", source.c_str());

    // Step 2: the config file again, the plan, the new versions stored and
    // tried, then applied. Nothing running is touched before all of it has
    // succeeded.
    run_ = ReloadConfig::Prepared();
    Config fresh;
    std::string error = config_.read_again(fresh);
    if (error.empty()) error = config_.plan(fresh, run_);
    if (error.empty()) error = config_.apply(run_);
    if (!error.empty()) {
        finish(false, "reload refused: " + error + "; nothing was changed");
        return;
    }
    const ReloadPlan& plan = run_.plan;
    steps_.assign(plan.steps.begin(), plan.steps.end());
    total_ = plan.workers_to_start();
    tell(ReloadEvent::Kind::Began, "", 0);
    for (const std::string& note : plan.notes) say(2, note);

    // Step 3: they keep their workers and connections; on_worker_reload runs.
    for (int group : plan.told) {
        workers_.tell_not_reloadable(group);
        say(3, "group " + plan.next.groups[size_t(group)].name + " is not reloadable: told its workers, they keep running");
    }

    say(4, "reload: replacing " + std::to_string(total_) + " workers, one at a time (" +
               (plan.start_first ? "start_first" : "stop_first, the first new worker READY before its old one drains") +
               "), generation " + std::to_string(run_.generation));
    next_step();
}

void Reload::queue(Event& e) {
    // Step 1 again: one reload at a time. The next one waits; further requests
    // merge into it (it will read the newest config and modules anyway).
    log::info("reload requested (%s) while one is running: %s (reload step 1)", e.text.c_str(),
              queued_ ? "merged into the queued one" : "queued");
    queued_ = true;
    if (e.progress) {
        e.progress("reload queued: it starts when the one running now ends", false, false);
        queued_progress_.push_back(std::move(e.progress));
    }
}

// Step 4, the seed's loop: take the next (group, slot) off the list.
void Reload::next_step() {
    if (steps_.empty()) {
        finish(true, "reload complete: " + std::to_string(replaced_) + " workers replaced in " +
                         std::to_string(loop_.now_ms() - started_ms_) + " ms");
        return;
    }
    step_ = steps_.front();
    steps_.pop_front();
    old_pid_ = workers_.find_worker(step_.group, step_.slot);
    new_pid_ = 0;
    drain_took_ms_ = ready_took_ms_ = 0;
    handed_over_.clear();
    tell(ReloadEvent::Kind::Slot, step_name(), old_pid_, "", step_kind_name(step_.kind));

    if (step_.kind == ReloadStep::Kind::Retire && !old_pid_) {  // a shrinking group's slot, empty already
        done_.push_back(step_);
        next_step();
        return;
    }
    // The first worker replaced is the canary: its new worker starts, and
    // must be READY, before its old one drains, even in stop_first. A release
    // that loads (the trial, module_trial.h) but whose on_worker_start fails
    // or hangs is so found before any old worker has gone. Then the order is
    // the config's.
    // A hand-over always goes new first: the old worker hands its
    // connections to a successor that is READY to take them.
    new_first_ = run_.plan.start_first || (step_.kind == ReloadStep::Kind::Replace && old_pid_ && replaced_ == 0) ||
                 (step_.handover && old_pid_);
    if (step_.kind == ReloadStep::Kind::Retire || (!new_first_ && old_pid_)) {
        drain_old();
        return;
    }
    start_new();  // start_first, the canary, an added slot, or a slot with no worker to stop
}

// The seed: "a safe-exit signal to one old process"; it finishes its requests
// and exits (worker/drain.h); its exit comes back here as OldExited.
void Reload::drain_old() {
    drain_sent_ms_ = loop_.now_ms();
    tell(ReloadEvent::Kind::Draining, step_name(), old_pid_);
    if (!workers_.drain(old_pid_)) {  // it is gone already (it crashed a moment ago)
        old_gone();
        return;
    }
    enter(Phase::DrainingOld, step_name() + (step_.handover && new_pid_ ? ": old pid " + std::to_string(old_pid_) +
                                                                             " hands its connections to new pid " +
                                                                             std::to_string(new_pid_)
                                                                       : ": SIGQUIT to old pid " + std::to_string(old_pid_)));
}

void Reload::old_gone() {
    drain_took_ms_ = loop_.now_ms() - drain_sent_ms_;
    tell(ReloadEvent::Kind::OldExited, step_name(), old_pid_);
    if (step_.kind == ReloadStep::Kind::Retire) {
        say(4, step_name() + ": pid " + std::to_string(old_pid_) + " retired (count lowered), drain " +
                   std::to_string(drain_took_ms_) + " ms");
        done_.push_back(step_);
        next_step();
    } else if (new_first_) {
        step_done();
    } else {
        start_new();
    }
}

// The seed: "the master creates a new child process (which loads the new code)".
void Reload::start_new() {
    const std::string& version = run_.versions[size_t(step_.group)];
    forked_ms_ = loop_.now_ms();
    pid_t pid = 0;
    std::string error = workers_.spawn(step_.group, step_.slot, version, run_.generation, pid);
    tell(ReloadEvent::Kind::Forked, step_name(), error.empty() ? pid : 0, file_name(version));
    if (!error.empty()) {
        abort("fork failed: " + error, false);
        return;
    }
    new_pid_ = pid;
    enter(Phase::StartingNew, step_name() + ": forked new pid " + std::to_string(pid));
    // The readiness gate has a deadline: a new worker stuck in its
    // on_worker_start must not hold the reload (and the old workers) forever.
    start_timer_ = loop_.add_timer(run_.plan.next.server.start_timeout_ms, [this] {
        start_timer_ = 0;
        handle({Event::Kind::StartTimeout, ""});
        return EventLoop::kNoMore;
    });
}

void Reload::step_done() {
    replaced_++;
    done_.push_back(step_);
    say(4, step_name() + ": pid " + pid_text(old_pid_) + " -> " + std::to_string(new_pid_) +
               (handed_over_.empty() ? ", drain " + std::to_string(drain_took_ms_) + " ms" : ", " + handed_over_) +
               ", ready " + std::to_string(ready_took_ms_) + " ms");
    next_step();
}

// Step 5: the replacement did not start. Stop here: the old workers not yet
// replaced keep running untouched, the config goes back to what it was, and
// every slot this reload touched is put back in shape.
void Reload::abort(const std::string& why, bool new_still_running) {
    if (start_timer_) loop_.cancel_timer(std::exchange(start_timer_, 0));
    if (new_still_running) workers_.kill(new_pid_, "the reload gave up on it");
    const std::string name = step_name();
    tell(ReloadEvent::Kind::GaveUp, name, new_pid_);
    log::warn("%s: %s; rolling back (reload step 5)", name.c_str(), why.c_str());
    const std::deque<ReloadStep> untouched = std::exchange(steps_, {});
    config_.restore(run_);

    std::string rollback;
    if (pid_t serving = workers_.find_worker(step_.group, step_.slot)) {
        rollback = name + " keeps its old worker (pid " + std::to_string(serving) + ")";
    } else if (step_.kind == ReloadStep::Kind::Add) {
        rollback = name + " was a new slot: not refilled";
    } else {
        rollback = name + " refilled with " + refill(step_) + ", the version it ran before";
    }
    // Workers already replaced keep their new version (it started, so it is
    // their group's last good one). Slots this reload added go again; slots it
    // retired come back.
    int retired = 0, restored = 0;
    for (const ReloadStep& d : done_) {
        if (d.kind == ReloadStep::Kind::Add) {
            pid_t extra = workers_.find_worker(d.group, d.slot);
            if (extra && workers_.drain(extra)) {
                tell(ReloadEvent::Kind::Slot, slot_name(d.group, d.slot), extra, "", "retire");
                tell(ReloadEvent::Kind::Draining, slot_name(d.group, d.slot), extra);
                retired++;
            }
        } else if (d.kind == ReloadStep::Kind::Retire && !workers_.find_worker(d.group, d.slot)) {
            refill(d);
            restored++;
        }
    }
    if (retired) rollback += "; " + std::to_string(retired) + " workers of added slots retired";
    if (restored) rollback += "; " + std::to_string(restored) + " retired slots refilled";
    for (const ReloadStep& s : untouched)  // their old workers go on serving
        tell(ReloadEvent::Kind::Slot, slot_name(s.group, s.slot), workers_.find_worker(s.group, s.slot), "", "untouched");
    finish(false, "reload aborted: " + name + ": " + why + "; rolled back: " + rollback + "; " +
                      std::to_string(untouched.size()) + " more workers left untouched");
}

std::string Reload::refill(const ReloadStep& step) {
    ReloadWorkers::Refilled r = workers_.refill(step.group, step.slot);
    const std::string name = slot_name(step.group, step.slot);
    tell(ReloadEvent::Kind::Slot, name, 0, "", "rollback");
    tell(ReloadEvent::Kind::Forked, name, r.pid, file_name(r.version));
    return file_name(r.version);
}

void Reload::finish(bool ok, const std::string& summary) {
    last_result_ = tell_the_end(progress_, ok, summary);
    if (phase_ != Phase::Idle) enter(Phase::Idle, ok ? "complete" : "ended");
    ReloadEvent e{ReloadEvent::Kind::Finished, "", "", 0, summary, ok};
    events.fire(e);
    if (queued_) {
        queued_ = false;
        std::vector<Progress> reports = std::move(queued_progress_);
        queued_progress_.clear();
        begin(std::move(reports), "queued request");
    }
}

void Reload::say(int step, const std::string& line) {
    log::info("%s (reload step %d)", line.c_str(), step);  // the log says which of the seed's steps
    for (Progress& report : progress_) report(line, false, false);
}

void Reload::tell(ReloadEvent::Kind kind, const std::string& slot, pid_t pid, const std::string& text,
                  const char* what) {
    ReloadEvent e{kind, slot, what, pid, text, false};
    events.fire(e);
}

std::string Reload::slot_name(int group, int slot) const {
    return run_.plan.next.groups[size_t(group)].name + "#" + std::to_string(slot);
}

// ---- For `status` ----

std::string Reload::state_name() const {
    if (phase_ == Phase::Idle) return "idle";
    return queued_ ? "running, one queued" : "running";
}

std::string Reload::describe() const {
    if (phase_ == Phase::Idle) return last_result_.empty() ? "idle" : "idle; last: " + last_result_;
    std::string what = phase_ != Phase::DrainingOld ? "waiting for new pid " + std::to_string(new_pid_) + " to be READY"
                       : step_.handover && new_pid_ && handed_over_.empty()
                           ? "old pid " + std::to_string(old_pid_) + " handing its connections to new pid " +
                                 std::to_string(new_pid_)
                           : "draining old pid " + std::to_string(old_pid_);
    return state_name() + ": " + std::to_string(replaced_) + " of " + std::to_string(total_) + " replaced; " +
           step_name() + " " + what;
}

}  // namespace smooth
