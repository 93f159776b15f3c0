// worker_table: see worker_table.h. Forking, the channel, reaping, and the
// deadlines.
#include "master/worker_table.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/listener.h"
#include "core/log.h"
#include "worker/drain.h"

namespace smooth {

namespace {

constexpr int64_t kFastFailureMs = 1000;      // dying sooner than this after fork counts as a crash loop
constexpr int64_t kFirstBackoffMs = 250;      // the crash loop's first wait, doubled each time...
constexpr int64_t kMaxBackoffMs = 10000;      // ...up to this
// A graceful stop waits for the handshakes under way to reach the queue, then
// drains. Looked at this often, and waited for at most as long as a silent
// client's handshake is held back (kDeferAcceptSeconds), plus room for its ACK.
constexpr int64_t kStopSettleCheckMs = 10;
constexpr int64_t kStopSettleMaxMs = kDeferAcceptSeconds * 1000 + 500;

}  // namespace

const char* worker_state_name(WorkerState s) {
    switch (s) {
        case WorkerState::Starting: return "starting";
        case WorkerState::Ready: return "ready";
        case WorkerState::Draining: return "draining";
        case WorkerState::Stopping: return "stopping";
    }
    return "?";
}

std::string exit_description(int status) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        return "signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
    }
    int code = WEXITSTATUS(status);
    std::string text = "status " + std::to_string(code);
    if (code == SMOOTH_EXIT_MODULE_LOAD_FAILED) text += " (module failed to load)";
    if (code == SMOOTH_EXIT_START_FAILED) text += " (on_worker_start failed)";
    if (code == SMOOTH_EXIT_SETUP_FAILED) text += " (worker setup failed)";
    return text;
}

std::string WorkerTable::slot_name(int group, int slot) const {
    return config_.groups[size_t(group)].name + "#" + std::to_string(slot);
}

Group::Slot& WorkerTable::slot_state(int group, int slot) {
    std::vector<Group::Slot>& slots = groups_[size_t(group)].slots;
    if (slots.size() <= size_t(slot)) slots.resize(size_t(slot) + 1);  // a reload raised the count
    return slots[size_t(slot)];
}

// ---- Forking ----

std::string WorkerTable::spawn(int group, int slot, const std::string& version, uint64_t generation, pid_t& pid) {
    std::string name = slot_name(group, slot);
    std::string err = stopping_ ? "the server is stopping" : "";  // a stop forks nothing
    int row = err.empty() ? stats_.allocate(&config_.groups[size_t(group)]) : -1;
    if (err.empty() && row < 0) err = "the stats table is full (" + std::to_string(kStatsRows) + " rows)";
    Channel ours;
    Fd theirs;
    if (err.empty()) err = Channel::pair(ours, theirs);
    // A hand-over group's slot whose old worker serves: the two workers get a
    // socketpair of their own for the hand-over (worker/handover.h). The new
    // one has its end from birth; the old one gets the other with 'H'
    // (drain()). No path, no port: nothing else can connect to it.
    Fd successor_end, handover_end;
    if (err.empty() && config_.groups[size_t(group)].handover && find_worker(group, slot)) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == -1)
            err = std::string("socketpair() for the hand-over failed: ") + std::strerror(errno);
        else
            successor_end = Fd(sv[0]), handover_end = Fd(sv[1]);
    }
    if (err.empty()) {
        const Group& g = groups_[size_t(group)];
        WorkerSetup setup;
        setup.config = &config_;
        setup.group = &config_.groups[size_t(group)];
        setup.slot = slot;
        setup.generation = generation;
        setup.module = version;
        setup.preloaded = setup.group->preload ? &g.preloaded : nullptr;
        setup.listener_fd = g.listeners[g.listeners.size() == 1 ? 0 : size_t(slot)].get();
        setup.channel_fd = theirs.get();
        setup.access_log_fd = g.access_log ? g.access_log.get() : -1;
        setup.handover_fd = handover_end ? handover_end.get() : -1;
        setup.stats = &stats_.row(size_t(row));
        setup.stats_table = &stats_;
        setup.master_pid = getpid();
        err = os_.fork_worker(std::move(setup), pid);
    }
    if (!err.empty()) {
        if (!stopping_) log::error("cannot spawn worker %s: %s", name.c_str(), err.c_str());
        if (row >= 0) stats_.release(row);
        return err;
    }

    WorkerProcess& w = processes_[pid];
    w.pid = pid;
    w.group = group;
    w.slot = slot;
    w.generation = generation;
    w.version = version;
    w.channel = std::move(ours);
    w.stats_row = row;
    w.forked_ms = loop_.now_ms();
    w.drain_timeout_ms = config_.server.drain_timeout_ms;
    w.successor_end = std::move(successor_end);
    // The channel's EOF only closes it: the worker is exiting, and SIGCHLD tells the rest.
    const pid_t child = pid;
    if (std::string e = w.channel.watch(loop_, "worker " + name + "'s channel",
                                        [this, child](std::string_view m) { on_message(child, m); });
        !e.empty())
        log::error("%s; its READY will not be seen", e.c_str());
    log::info("spawned worker %s (pid %d, generation %llu, %s)", name.c_str(), int(pid),
              static_cast<unsigned long long>(generation), version.c_str());
    return "";
}

pid_t WorkerTable::fill_slot(int group, int slot) {
    const Group& g = groups_[size_t(group)];
    pid_t pid = 0;
    if (spawn(group, slot, g.good_version, g.good_generation, pid).empty()) return pid;
    slot_state(group, slot).fast_failures++;
    respawn_later(group, slot);
    return 0;
}

ReloadWorkers::Refilled WorkerTable::refill(int group, int slot) {
    Refilled r;
    r.pid = fill_slot(group, slot);
    r.version = groups_[size_t(group)].good_version;
    return r;
}

void WorkerTable::set_good_version(int group, const std::string& version, uint64_t generation) {
    Group& g = groups_[size_t(group)];
    g.good_version = version;
    g.good_generation = generation;
}

// A crash is respawned at once; a crash loop (death within a second of
// starting) waits 250 ms, then 500, 1000... up to 10 s, so a module that cannot
// start neither forks as fast as the machine allows nor floods the log.
void WorkerTable::respawn_later(int group, int slot) {
    Group::Slot& s = slot_state(group, slot);
    int failures = s.fast_failures;
    int64_t delay = failures == 0 ? 0 : std::min(kFirstBackoffMs << std::min(failures - 1, 10), kMaxBackoffMs);
    if (delay > 0)
        log::warn("worker %s keeps dying within %lld ms of starting (%d times in a row); next try in %lld ms",
                  slot_name(group, slot).c_str(), static_cast<long long>(kFastFailureMs), failures,
                  static_cast<long long>(delay));
    if (s.respawn_timer) loop_.cancel_timer(s.respawn_timer);
    s.respawn_timer = loop_.add_timer(delay, [this, group, slot] {
        slot_state(group, slot).respawn_timer = 0;
        if (!stopping_ && slot < config_.groups[size_t(group)].count && !find_worker(group, slot)) fill_slot(group, slot);
        return EventLoop::kNoMore;
    });
}

// ---- The channel: READY, or the reason a worker could not start ----

void WorkerTable::on_message(pid_t pid, std::string_view message) {
    auto it = processes_.find(pid);
    if (it == processes_.end() || message.empty()) return;
    WorkerProcess& w = it->second;
    if (message[0] == kMsgFailed) w.failure.assign(message.substr(1));
    if ((message[0] == kMsgHandedOver || message[0] == kMsgHandOverFailed) && w.handing_over)
        on_handover_word(w, message[0] == kMsgHandedOver, message.substr(1));
    // A READY from a worker already given up on (killed at start_timeout)
    // must not make its version the good one.
    if (message[0] == kMsgReady && w.state == WorkerState::Starting) on_ready(w);
}

void WorkerTable::on_ready(WorkerProcess& w) {
    w.state = WorkerState::Ready;
    Group& g = groups_[size_t(w.group)];
    g.good_version = w.version;  // this version starts: a failed reload can come back to it
    g.good_generation = w.generation;
    ready.fire(w);
}

// The old worker's word on its hand-over. Handed over: it drains what stays
// and exits, under the deadline drain() armed. Failed: it never stopped
// serving what it holds, so it is a worker like any other again, Ready, and
// respawned if it dies; the reload hears it and rolls back.
void WorkerTable::on_handover_word(WorkerProcess& w, bool ok, std::string_view text) {
    w.handing_over = false;
    if (!ok) {
        w.state = WorkerState::Ready;
        if (w.kill_timer) loop_.cancel_timer(std::exchange(w.kill_timer, 0));
    }
    log::info("worker %s (pid %d): %s%.*s", slot_name(w.group, w.slot).c_str(), int(w.pid),
              ok ? "" : "hand-over failed: ", int(text.size()), text.data());
    handed_over.fire(w.pid, ok, std::string(text));
}

// The new worker of `old`'s slot that waits to take its connections over.
WorkerProcess* WorkerTable::successor_of(const WorkerProcess& old) {
    for (auto& [pid, w] : processes_)
        if (w.group == old.group && w.slot == old.slot && w.pid != old.pid && w.successor_end &&
            w.state == WorkerState::Ready)
            return &w;
    return nullptr;
}

// ---- Reaping ----

void WorkerTable::reap() {
    // One SIGCHLD may stand for several exits: reap until there is none left.
    for (;;) {
        int status = 0;
        pid_t pid = 0;
        if (std::string err = os_.reap_one(pid, status); !err.empty()) log::error("%s", err.c_str());
        if (pid <= 0) return;
        on_exit(pid, status);
    }
}

void WorkerTable::on_exit(pid_t pid, int status) {
    auto it = processes_.find(pid);
    if (it == processes_.end()) {  // not a worker: an upgrade's new master
        other_child_exited.fire(pid, status);
        return;
    }
    it->second.channel.read_waiting();  // its last words may still be unread (SIGCHLD can come first)
    it->second.channel.close();         // (a watched channel must not move)
    WorkerProcess w = std::move(it->second);
    processes_.erase(it);
    if (w.kill_timer) loop_.cancel_timer(w.kill_timer);
    // A successor waiting for this worker's connections waits no more: our
    // end of its socketpair closes, and it sees EOF.
    for (auto& [other, s] : processes_)
        if (s.group == w.group && s.slot == w.slot) s.successor_end = Fd();
    requests_of_reaped_ += stats_.row(size_t(w.stats_row)).requests.load(std::memory_order_relaxed);
    stats_.release(w.stats_row);

    std::string name = slot_name(w.group, w.slot);
    std::string how = exit_description(status);
    if (stopping_) {
        log::info("worker %s (pid %d) exited: %s", name.c_str(), int(pid), how.c_str());
        if (processes_.empty()) all_gone.fire();
        return;
    }
    // Its listeners first: a reload may refill the slot (an abort), an
    // upgrade's new master may give up and retire every worker.
    exited.fire(w, how);
    if (stopping_) return;
    if (w.told_to_go()) {
        log::info("worker %s (pid %d) exited: %s", name.c_str(), int(pid), how.c_str());
        return;
    }
    Group::Slot& slot = slot_state(w.group, w.slot);
    if (w.slot >= config_.groups[size_t(w.group)].count || find_worker(w.group, w.slot) || slot.respawn_timer) {
        log::info("worker %s (pid %d) exited: %s; slot already served", name.c_str(), int(pid), how.c_str());
        return;
    }
    bool fast = loop_.now_ms() - w.forked_ms < kFastFailureMs;
    slot.fast_failures = fast ? slot.fast_failures + 1 : 0;
    log::warn("worker %s (pid %d) exited: %s; respawning", name.c_str(), int(pid), how.c_str());
    respawning.fire(w);
    respawn_later(w.group, w.slot);
}

// ---- Telling workers to go ----

bool WorkerTable::drain(pid_t pid) {
    auto it = processes_.find(pid);
    if (it == processes_.end()) return false;
    WorkerProcess& w = it->second;
    w.state = WorkerState::Draining;
    if (WorkerProcess* next = successor_of(w)) {
        const pid_t to = next->pid;
        if (hand_over(pid, std::move(next->successor_end))) {
            log::info("worker %s (pid %d): hand over to pid %d", slot_name(w.group, w.slot).c_str(), int(pid), int(to));
            return true;
        }
    }
    if (std::string err = os_.send_signal(pid, SIGQUIT); !err.empty()) {
        log::error("%s", err.c_str());
        return true;  // ESRCH: it is exiting anyway; SIGCHLD follows
    }
    int64_t deadline = w.drain_timeout_ms + drain::kKillGraceMs;
    arm_kill(w, deadline, "still draining " + std::to_string(deadline) + " ms after SIGQUIT");
    return true;
}

// The hand-over's end goes to the old worker; ours closes once sent (the
// worker has its copy), so either worker's exit is an EOF to the other.
bool WorkerTable::hand_over(pid_t pid, Fd end) {
    auto it = processes_.find(pid);
    if (it == processes_.end()) return false;
    WorkerProcess& w = it->second;
    if (std::string err = w.channel.send(std::string_view(&kMsgHandOver, 1), {end.get()}); !err.empty()) {
        log::error("cannot tell worker %s (pid %d) to hand over: %s", slot_name(w.group, w.slot).c_str(), int(pid),
                   err.c_str());
        return false;
    }
    w.state = WorkerState::Draining;
    w.handing_over = true;
    int64_t deadline = w.drain_timeout_ms + drain::kKillGraceMs;
    arm_kill(w, deadline, "still handing over or draining " + std::to_string(deadline) + " ms after 'H'");
    told_to_hand_over.fire(w);
    return true;
}

std::string WorkerTable::tell(pid_t pid, std::string_view message, const std::vector<int>& fds) {
    auto it = processes_.find(pid);
    if (it == processes_.end()) return "no such worker";
    return it->second.channel.send(message, fds);
}

int WorkerTable::fill_empty_slots() {
    int filled = 0;
    for (size_t g = 0; g < config_.groups.size() && g < groups_.size(); g++)
        for (int slot = 0; slot < config_.groups[g].count; slot++)
            if (!find_worker(int(g), slot) && !slot_state(int(g), slot).respawn_timer && fill_slot(int(g), slot)) filled++;
    return filled;
}

// The master's SIGKILL deadline for a worker told to go: a timer in its loop.
void WorkerTable::arm_kill(WorkerProcess& w, int64_t after_ms, std::string why) {
    if (w.kill_timer) loop_.cancel_timer(w.kill_timer);
    pid_t pid = w.pid;
    w.kill_timer = loop_.add_timer(after_ms, [this, pid, why = std::move(why)] {
        auto it = processes_.find(pid);
        if (it != processes_.end()) {
            it->second.kill_timer = 0;
            kill(pid, why);
        }
        return EventLoop::kNoMore;
    });
}

void WorkerTable::signal_worker(pid_t pid, int sig) {
    if (std::string err = os_.send_signal(pid, sig); !err.empty()) log::error("%s", err.c_str());
}

void WorkerTable::kill(pid_t pid, const std::string& why) {
    auto it = processes_.find(pid);
    if (it == processes_.end()) return;
    WorkerProcess& w = it->second;
    log::warn("sending SIGKILL to worker %s (pid %d): %s", slot_name(w.group, w.slot).c_str(), int(pid), why.c_str());
    if (w.state != WorkerState::Draining) w.state = WorkerState::Stopping;
    signal_worker(pid, SIGKILL);
}

void WorkerTable::stop_all(bool graceful) {
    stopping_ = true;
    // The master never accepts, and after a stop no worker will for long: its
    // copy of a listener would only go on completing handshakes into a queue
    // no one takes from, all reset when the master exits. So each door is
    // shut first (no new connection enters the queue; a client arriving now
    // is refused), then the master's copy closes. The queue then lives as long
    // as a worker holds it, and a draining worker's last pass (drain.h, step
    // 2) takes what it holds: on a graceful stop no queued connection is reset.
    settling_.clear();
    settle_blind_ = false;
    for (size_t i = 0; i < groups_.size(); i++) {
        for (Fd& listener : groups_[i].listeners) {
            if (!listener) continue;
            if (std::string err = refuse_new_connections(listener.get()); !err.empty())
                log::error("group %s: cannot refuse new connections before the stop: %s", config_.groups[i].name.c_str(),
                           err.c_str());
            sockaddr_in local{};
            socklen_t len = sizeof local;
            if (getsockname(listener.get(), reinterpret_cast<sockaddr*>(&local), &len) == 0) settling_.push_back(local);
            listener.reset();
        }
    }
    for (Group& g : groups_)
        for (Group::Slot& s : g.slots)
            if (s.respawn_timer) loop_.cancel_timer(std::exchange(s.respawn_timer, 0));
    if (settle_timer_) loop_.cancel_timer(std::exchange(settle_timer_, 0));
    if (processes_.empty()) {
        all_gone.fire();
        return;
    }
    if (!graceful) {
        for (auto& [pid, w] : processes_) {
            if (w.kill_timer) loop_.cancel_timer(std::exchange(w.kill_timer, 0));
            w.state = WorkerState::Stopping;
            signal_worker(pid, SIGTERM);
            arm_kill(w, config_.server.stop_timeout_ms, "still running after stop_timeout");
        }
        return;
    }
    // The door is shut, but handshakes already under way still arrive: an
    // HTTP listener hands a connection over only once its request has come,
    // or after kDeferAcceptSeconds of silence (core/listener.h). The workers
    // go on serving until the kernel holds no handshake for our listeners any
    // more (every one is in a queue, or given up), then they drain; their last
    // passes leave nothing in the queue to be reset.
    int64_t give_up_at = loop_.now_ms() + kStopSettleMaxMs;
    settle_timer_ = loop_.add_timer(kStopSettleCheckMs, [this, give_up_at]() -> int64_t {
        if (handshakes_arriving() && loop_.now_ms() < give_up_at) return kStopSettleCheckMs;
        settle_timer_ = 0;
        for (auto& [pid, w] : processes_)
            if (w.state != WorkerState::Stopping) drain(pid);  // (a killed one keeps its SIGKILL deadline)
        return EventLoop::kNoMore;
    });
}

bool WorkerTable::handshakes_arriving() {
    for (const sockaddr_in& local : settling_) {
        int n = handshakes_under_way(local);
        if (n < 0) {  // the kernel cannot tell us: wait the whole time, to be safe
            log::warn("cannot count the handshakes under way (sock_diag): draining in %lld ms",
                      static_cast<long long>(kStopSettleMaxMs));
            settling_.clear();  // (said once; the timer's limit ends the wait)
            settle_blind_ = true;
            return true;
        }
        if (n > 0) return true;
    }
    return settle_blind_;
}

void WorkerTable::retire_all() {
    stopping_ = true;
    close_listeners();
    for (Group& g : groups_)
        for (Group::Slot& s : g.slots)
            if (s.respawn_timer) loop_.cancel_timer(std::exchange(s.respawn_timer, 0));
    std::vector<pid_t> pids;
    for (const auto& [pid, w] : processes_) pids.push_back(pid);
    for (pid_t pid : pids) {
        WorkerProcess& w = processes_.at(pid);
        if (w.state == WorkerState::Starting)
            kill(pid, "retiring: it was not READY yet");
        else if (!w.told_to_go())
            drain(pid);
    }
    if (processes_.empty()) all_gone.fire();
}

void WorkerTable::tell_not_reloadable(int group) {
    for (auto& [pid, w] : processes_) {
        if (w.group != group || w.told_to_go()) continue;
        if (std::string err = w.channel.send(std::string_view(&kMsgReload, 1)); !err.empty())
            log::warn("cannot tell worker pid %d of the reload: %s", int(pid), err.c_str());
    }
}

int WorkerTable::tell_group(int group, std::string_view message, const std::vector<int>& fds) {
    int told = 0;
    for (auto& [pid, w] : processes_) {
        if (w.group != group) continue;
        if (std::string err = w.channel.send(message, fds); !err.empty())
            log::warn("cannot tell worker pid %d: %s", int(pid), err.c_str());
        else
            told++;
    }
    return told;
}

void WorkerTable::set_access_log(int group, Fd fd, const std::string& path) {
    groups_[size_t(group)].access_log = std::move(fd);
    groups_[size_t(group)].access_log_path = path;
}

void WorkerTable::close_listeners() {
    for (Group& g : groups_) g.listeners.clear();
}

std::string WorkerTable::fit_slot_listeners(int group, int count) {
    const GroupConfig& gc = config_.groups[size_t(group)];
    std::vector<Fd>& fds = groups_[size_t(group)].listeners;
    if (gc.role != Role::Business) return "";
    while (fds.size() < size_t(count)) {
        ListenAddress at = gc.listen;
        at.port = uint16_t(at.port + fds.size());
        Fd fd;
        if (std::string err = open_listener(at, fd); !err.empty())
            return "group " + gc.name + ", slot " + std::to_string(fds.size()) + ": " + err;
        fds.push_back(std::move(fd));
    }
    fds.resize(size_t(count));  // a retired slot's worker still holds its own copy until it exits
    return "";
}

// ---- Looking things up ----

pid_t WorkerTable::find_worker(int group, int slot) {
    for (const auto& [pid, w] : processes_)
        if (w.group == group && w.slot == slot && !w.told_to_go()) return pid;
    return 0;
}

pid_t WorkerTable::find_worker(const std::string& group, int slot) {
    for (size_t g = 0; g < config_.groups.size(); g++)
        if (config_.groups[g].name == group) return find_worker(int(g), slot);
    return 0;
}

int WorkerTable::ready_count(int group) const {
    return int(std::count_if(processes_.begin(), processes_.end(), [group](const auto& kv) {
        return kv.second.group == group && kv.second.state == WorkerState::Ready;
    }));
}

int WorkerTable::ready_workers() const {
    int ready = 0;
    for (size_t g = 0; g < config_.groups.size(); g++) ready += ready_count(int(g));
    return ready;
}

int WorkerTable::slot_count() const { return total_workers(config_); }

bool WorkerTable::every_slot_ready() const { return ready_workers() == slot_count(); }

bool WorkerTable::all_ready() const {
    return std::all_of(processes_.begin(), processes_.end(),
                       [](const auto& kv) { return kv.second.state == WorkerState::Ready; });
}

uint64_t WorkerTable::requests_served() const {
    uint64_t total = requests_of_reaped_;
    for (const auto& [pid, w] : processes_) total += stats_.row(size_t(w.stats_row)).requests.load(std::memory_order_relaxed);
    return total;
}

int64_t WorkerTable::connections_of(pid_t pid) const {
    auto it = processes_.find(pid);
    if (it == processes_.end() || it->second.stats_row < 0) return -1;
    return stats_.row(size_t(it->second.stats_row)).connections.load(std::memory_order_relaxed);
}

}  // namespace smooth
