#include "master/reload.h"

#include <ctime>

#include "core/log.h"
#include "master/master.h"
#include "master/module_versions.h"

namespace smooth {

namespace {

std::string clock_text() {
    time_t now = time(nullptr);
    struct tm tm;
    localtime_r(&now, &tm);
    char text[16];
    std::strftime(text, sizeof text, "%H:%M:%S", &tm);
    return text;
}

}  // namespace

// ---- Requests and the queue ----

void Reload::request(Progress progress, const std::string& source) {
    if (master_.stopping()) {
        // A stop has the last word: a reload now would fork workers the stop
        // is not waiting for.
        log::warn("reload requested (%s) while stopping: refused", source.c_str());
        if (progress) progress("reload refused: the server is stopping", true, false);
        return;
    }
    if (phase_ != Phase::Idle) {
        // One reload at a time. The next one waits; further requests merge into
        // it (it will read the newest config and modules anyway).
        log::info("reload requested (%s) while one is running: %s", source.c_str(),
                  queued_ ? "merged into the queued one" : "queued");
        queued_ = true;
        if (progress) {
            progress("reload queued: it starts when the one running now ends", false, false);
            queued_progress_.push_back(std::move(progress));
        }
        return;
    }
    std::vector<Progress> reports;
    if (progress) reports.push_back(std::move(progress));
    begin(std::move(reports), source);
}

void Reload::begin(std::vector<Progress> progress, const std::string& source) {
    progress_ = std::move(progress);
    started_ms_ = EventLoop::now_ms();
    replaced_ = 0;
    log::info("reload requested (%s)", source.c_str());

    std::vector<std::string> notes;
    std::string error;
    if (!prepare(notes, error)) {
        finish(false, "reload refused: " + error + "; nothing was changed");
        return;
    }
    for (const std::string& note : notes) say(note);
    say("reload: replacing " + std::to_string(total_) + " workers, one at a time (" +
        (start_first_ ? "start_first" : "stop_first") + "), generation " + std::to_string(generation_));
    advance();
}

// Steps 2 and 3 of the reload: read the config again, store the new module
// versions, tell the groups that are not reloadable, and make the plan. Nothing
// running is touched until the config has parsed and every module is stored.
bool Reload::prepare(std::vector<std::string>& notes, std::string& error) {
    Config fresh = master_.config();  // the embedded default: nothing to read again
    if (!master_.config_path().empty()) {
        std::optional<Config> parsed = load_config_file(master_.config_path(), error);
        if (!parsed) return false;
        fresh = std::move(*parsed);
    }
    std::vector<const GroupConfig*> next;
    note_restart_only_changes(fresh, notes);
    if (!store_new_versions(fresh, next, error)) return false;
    apply_and_plan(fresh, next, notes);
    return true;
}

// What a reload cannot change, said out loud rather than ignored.
void Reload::note_restart_only_changes(const Config& fresh, std::vector<std::string>& notes) const {
    const Config& running = master_.config();
    for (const GroupConfig& g : fresh.groups)
        if (!running.find_group(g.name)) notes.push_back("group " + g.name + " is new: it needs a restart to start");
    for (const Group& g : master_.groups()) {
        const GroupConfig* f = fresh.find_group(g.config.name);
        if (!f) {
            notes.push_back("group " + g.config.name + " was removed: it needs a restart to stop");
        } else if (!g.config.reloadable) {
            if (!(*f == g.config)) notes.push_back("group " + f->name + " is not reloadable: its changes need a restart");
        } else {
            if (!(f->listen == g.config.listen))
                notes.push_back("group " + f->name + ": listen changed (" + g.config.listen.text() + " -> " +
                                f->listen.text() + "): that needs a restart; the rest of the group reloads");
            if (f->preload != g.config.preload) notes.push_back("group " + f->name + ": preload changed: that needs a restart");
            if (g.config.preload && f->module != g.config.module)
                notes.push_back("group " + f->name + ": module changed, but it is preloaded by the master: that needs a restart");
        }
    }
    const ServerConfig &a = fresh.server, &b = running.server;
    if (a.run_dir != b.run_dir || a.pid_file != b.pid_file || a.log_file != b.log_file || a.user != b.user ||
        a.group != b.group)
        notes.push_back("[server] paths or user changed: that needs a restart");
}

// Copies each reloadable group's module into run_dir under its content's name
// (module_versions.h). `next[i]` is group i's new config, or null if it stays.
bool Reload::store_new_versions(const Config& fresh, std::vector<const GroupConfig*>& next, std::string& error) {
    std::vector<Group>& groups = master_.groups();
    new_modules_.assign(groups.size(), "");
    next.assign(groups.size(), nullptr);
    for (size_t i = 0; i < groups.size(); i++) {
        const GroupConfig* g = fresh.find_group(groups[i].config.name);
        if (!g || !groups[i].config.reloadable) continue;
        // A preloaded group's workers run what the master loaded before fork,
        // whatever we do here: that is the seed's limitation.
        new_modules_[i] = groups[i].config.preload
                              ? groups[i].good_module
                              : store_module_version(g->module, master_.config().server.run_dir, error);
        if (new_modules_[i].empty()) {
            error = "group " + g->name + ": " + error;
            return false;
        }
        next[i] = g;
    }
    return true;
}

// Applies what a reload can change (timeouts and order from [server]; count,
// module and limits of reloadable groups) and writes the plan: the seed's
// list of workers to replace, one (group, slot) at a time.
void Reload::apply_and_plan(const Config& fresh, const std::vector<const GroupConfig*>& next,
                            std::vector<std::string>& notes) {
    Config applied = master_.config();
    applied.server.stop_timeout_ms = fresh.server.stop_timeout_ms;
    applied.server.drain_timeout_ms = fresh.server.drain_timeout_ms;
    applied.server.start_timeout_ms = fresh.server.start_timeout_ms;
    applied.server.reload_order = fresh.server.reload_order;
    master_.set_config(std::move(applied));
    start_first_ = master_.config().server.reload_order == ReloadOrder::StartFirst;
    generation_ = master_.next_generation();

    std::vector<Group>& groups = master_.groups();
    old_configs_.clear();
    plan_.clear();
    total_ = 0;
    for (size_t i = 0; i < groups.size(); i++) {
        old_configs_.push_back(groups[i].config);
        if (!groups[i].config.reloadable) {
            // Step 3: they keep their connections; their on_worker_reload runs.
            master_.notify_not_reloadable(int(i));
            notes.push_back("group " + groups[i].config.name + " is not reloadable: told its workers, they keep running");
            continue;
        }
        if (!next[i]) continue;
        int old_count = groups[i].config.count;
        GroupConfig updated = *next[i];
        updated.listen = groups[i].config.listen;  // these three need a restart
        updated.preload = groups[i].config.preload;
        if (updated.preload) updated.module = groups[i].config.module;
        groups[i].config = updated;
        if (groups[i].slots.size() < size_t(updated.count)) groups[i].slots.resize(size_t(updated.count));
        for (int slot = 0; slot < std::max(old_count, updated.count); slot++) {
            plan_.push_back({int(i), slot, slot >= updated.count});
            if (slot < updated.count) total_++;
        }
    }
}

// ---- The loop: one worker at a time ----

void Reload::advance() {
    if (plan_.empty()) {
        finish(true, "reload complete: " + std::to_string(replaced_) + " workers replaced in " +
                         std::to_string(EventLoop::now_ms() - started_ms_) + " ms");
        return;
    }
    step_ = plan_.front();
    plan_.pop_front();
    old_pid_ = new_pid_ = 0;
    drain_ms_ = ready_ms_ = 0;
    WorkerProcess* old = master_.slot_owner(step_.group, step_.slot);
    old_pid_ = old ? old->pid : 0;

    if (step_.retire_only || (!start_first_ && old)) {
        if (!old) {  // a shrinking group's slot that is empty already
            advance();
            return;
        }
        // The seed: a safe-exit signal to one old process; it finishes its
        // requests and exits (drain.cpp); its exit brings us back in on_exit().
        master_.drain_worker(*old);
        phase_ = Phase::StoppingOld;
        return;
    }
    start_new();  // start_first, or a slot with no worker to stop
}

void Reload::start_new() {
    // The seed: "the master creates a new child process (which loads the new code)".
    pid_t pid = master_.spawn(step_.group, step_.slot, new_modules_[size_t(step_.group)], generation_);
    if (pid < 0) {
        abort("fork failed (see the log)");
        return;
    }
    new_pid_ = pid;
    phase_ = Phase::StartingNew;
    int timeout = master_.config().server.start_timeout_ms;
    start_timer_ = master_.loop().add_timer(timeout, [this, timeout] {
        start_timer_ = 0;
        abort("not READY within start_timeout (" + std::to_string(timeout) + " ms)");
        return EventLoop::kNoMore;
    });
}

void Reload::on_ready(const WorkerProcess& w) {
    if (phase_ != Phase::StartingNew || w.pid != new_pid_) return;
    master_.loop().cancel_timer(start_timer_);
    start_timer_ = 0;
    ready_ms_ = w.ready_ms - w.forked_ms;
    WorkerProcess* old = old_pid_ ? master_.process(old_pid_) : nullptr;
    if (start_first_ && old) {
        master_.drain_worker(*old);  // the new one serves: now the old one may go
        phase_ = Phase::StoppingOld;
        return;
    }
    step_done();
}

bool Reload::on_exit(const WorkerProcess& w, int status) {
    if (phase_ == Phase::StoppingOld && w.pid == old_pid_) {
        drain_ms_ = EventLoop::now_ms() - w.drain_ms;
        if (step_.retire_only) {
            say(step_name() + ": pid " + std::to_string(old_pid_) + " retired (count lowered), drain " +
                std::to_string(drain_ms_) + " ms");
            advance();
        } else if (start_first_) {
            step_done();
        } else {
            start_new();
        }
        return true;
    }
    if (phase_ == Phase::StartingNew && w.pid == new_pid_) {
        abort("replacement pid " + std::to_string(w.pid) + " exited with " + exit_description(status) + " before READY" +
              (w.failure.empty() ? "" : ": " + w.failure));
        return true;
    }
    return false;
}

void Reload::step_done() {
    replaced_++;
    say(step_name() + ": pid " + (old_pid_ ? std::to_string(old_pid_) : "-") + " -> " +
        std::to_string(new_pid_) + ", drain " + std::to_string(drain_ms_) + " ms, ready " + std::to_string(ready_ms_) + " ms");
    advance();
}

// Step 5: the replacement did not start. Stop here: the old workers not yet
// replaced keep running untouched, and the slot gets the last version that
// started (with stop_first its old worker is already gone).
void Reload::abort(const std::string& why) {
    if (start_timer_) master_.loop().cancel_timer(std::exchange(start_timer_, 0));
    std::string name = step_name();
    if (WorkerProcess* failed = master_.process(new_pid_); failed && failed->state == WorkerState::Starting)
        master_.kill_worker(*failed, "the reload gave up on it");
    int left = int(plan_.size());
    plan_.clear();

    // Groups go back to the config they had; workers already replaced keep
    // their new version (it started, so it is the group's last good one).
    std::vector<Group>& groups = master_.groups();
    for (size_t i = 0; i < groups.size() && i < old_configs_.size(); i++) groups[i].config = old_configs_[i];

    // Slots this reload added (the count grew) go again with it.
    int retired = 0;
    for (size_t i = 0; i < groups.size(); i++)
        for (int slot = groups[i].config.count; slot < int(groups[i].slots.size()); slot++)
            if (WorkerProcess* extra = master_.slot_owner(int(i), slot)) {
                master_.drain_worker(*extra);
                retired++;
            }

    Group& g = groups[size_t(step_.group)];
    std::string rollback;
    if (master_.slot_owner(step_.group, step_.slot)) {
        rollback = name + " keeps its old worker (pid " + std::to_string(old_pid_) + ")";
    } else if (step_.slot < g.config.count) {
        master_.fill_slot(step_.group, step_.slot);
        rollback = name + " refilled with " + g.good_module.substr(g.good_module.find_last_of('/') + 1) +
                   ", the last version that started";
    } else {
        rollback = name + " was a new slot: not refilled";
    }
    if (retired) rollback += "; " + std::to_string(retired) + " workers of added slots retired";
    finish(false, "reload aborted: " + name + ": " + why + "; rolled back: " + rollback + "; " + std::to_string(left) +
                      " more workers left untouched");
}

void Reload::cancel(const std::string& why) {
    queued_ = false;
    for (Progress& report : queued_progress_) report("reload cancelled: " + why, true, false);
    queued_progress_.clear();
    if (phase_ == Phase::Idle) return;
    if (start_timer_) master_.loop().cancel_timer(std::exchange(start_timer_, 0));
    plan_.clear();
    finish(false, "reload interrupted: " + why);
}

void Reload::finish(bool ok, const std::string& summary) {
    if (ok)
        log::info("%s", summary.c_str());
    else
        log::warn("%s", summary.c_str());
    for (Progress& report : progress_) report(summary, true, ok);
    progress_.clear();
    last_result_ = summary + " (at " + clock_text() + ")";
    phase_ = Phase::Idle;
    if (queued_) {
        queued_ = false;
        begin(std::move(queued_progress_), "queued request");
        queued_progress_.clear();
    }
}

void Reload::say(const std::string& line) {
    log::info("%s", line.c_str());
    for (Progress& report : progress_) report(line, false, false);
}

std::string Reload::step_name() const { return slot_name(master_.groups()[size_t(step_.group)], step_.slot); }

// ---- For `status` ----

std::string Reload::state_name() const {
    if (phase_ == Phase::Idle) return "idle";
    return queued_ ? "running, one queued" : "running";
}

std::string Reload::describe() const {
    if (phase_ == Phase::Idle) return last_result_.empty() ? "idle" : "idle; last: " + last_result_;
    std::string what = phase_ == Phase::StoppingOld ? "draining old pid " + std::to_string(old_pid_)
                                                     : "waiting for new pid " + std::to_string(new_pid_) + " to be READY";
    return state_name() + ": " + std::to_string(replaced_) + " of " + std::to_string(total_) + " replaced; " +
           step_name() + " " + what;
}

}  // namespace smooth
