// workers: see workers.h. Forking, the channel, reaping, and the deadlines.
#include "master/workers.h"

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
#include "worker/worker.h"

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

std::string Workers::slot_name(int group, int slot) const {
    return config_.groups[size_t(group)].name + "#" + std::to_string(slot);
}

Group::Slot& Workers::slot_state(int group, int slot) {
    std::vector<Group::Slot>& slots = groups_[size_t(group)].slots;
    if (slots.size() <= size_t(slot)) slots.resize(size_t(slot) + 1);  // a reload raised the count
    return slots[size_t(slot)];
}

// ---- Forking ----

pid_t Workers::spawn(int group, int slot, const std::string& version, uint64_t generation) {
    if (stopping_) return -1;  // a stop forks nothing
    Group& g = groups_[size_t(group)];
    std::string name = slot_name(group, slot);
    int row = stats_.allocate();
    if (row < 0) {
        log::error("cannot spawn worker %s: the stats table is full (%zu rows)", name.c_str(), kStatsRows);
        return -1;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == -1) {
        log::error("socketpair() failed while spawning worker %s: %s", name.c_str(), errno_text(errno).c_str());
        stats_.release(row);
        return -1;
    }
    Fd ours(sv[0]), theirs(sv[1]);

    // Block every signal across fork: until the child has its own handlers, a
    // signal sent to it would run ours and write to *our* self-pipe.
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);  // cannot fail with a valid how and set
    pid_t master_pid = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        signals_.close_in_child();
        WorkerSetup setup;
        setup.config = &config_;
        setup.group = &config_.groups[size_t(group)];
        setup.slot = slot;
        setup.generation = generation;
        setup.module = version;
        setup.preloaded = setup.group->preload ? &g.preloaded : nullptr;
        setup.listener_fd = g.listeners[g.listeners.size() == 1 ? 0 : size_t(slot)].get();
        setup.channel_fd = theirs.get();
        setup.stats = &stats_.row(size_t(row));
        setup.stats_table = &stats_;
        setup.master_pid = master_pid;
        setup.signal_mask = old;
        Worker worker(std::move(setup));
        _exit(worker.run());  // never back into the master's code
    }
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, nullptr);
    if (pid == -1) {
        log::error("fork() failed while spawning worker %s: %s", name.c_str(), errno_text(fork_errno).c_str());
        stats_.release(row);
        return -1;
    }

    WorkerProcess& w = processes_[pid];
    w.pid = pid;
    w.group = group;
    w.slot = slot;
    w.generation = generation;
    w.version = version;
    w.channel = std::move(ours);
    w.stats_row = row;
    w.forked_ms = EventLoop::now_ms();
    w.drain_timeout_ms = config_.server.drain_timeout_ms;
    if (int rc = loop_.watch(w.channel.get(), EPOLLIN, [this, pid](uint32_t) { on_channel(pid); }); rc < 0)
        log::error("epoll_ctl(ADD) failed for worker %s's channel: %s; its READY will not be seen", name.c_str(),
                   errno_text(-rc).c_str());
    log::info("spawned worker %s (pid %d, generation %llu, %s)", name.c_str(), int(pid),
              static_cast<unsigned long long>(generation), version.c_str());
    return pid;
}

pid_t Workers::fill_slot(int group, int slot) {
    const Group& g = groups_[size_t(group)];
    pid_t pid = spawn(group, slot, g.good_version, g.good_generation);
    if (pid > 0) return pid;
    slot_state(group, slot).fast_failures++;
    respawn_later(group, slot);
    return 0;
}

void Workers::set_good_version(int group, const std::string& version, uint64_t generation) {
    Group& g = groups_[size_t(group)];
    g.good_version = version;
    g.good_generation = generation;
}

// A crash is respawned at once; a crash loop (death within a second of
// starting) waits 250 ms, then 500, 1000... up to 10 s, so a module that cannot
// start neither forks as fast as the machine allows nor floods the log.
void Workers::respawn_later(int group, int slot) {
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

void Workers::on_channel(pid_t pid) {
    auto it = processes_.find(pid);
    if (it != processes_.end()) read_channel(it->second);
}

void Workers::read_channel(WorkerProcess& w) {
    for (;;) {
        char msg[1024];
        ssize_t n = ::recv(w.channel.get(), msg, sizeof msg, 0);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) {
            if (errno != EAGAIN)
                log::warn("recv() failed on worker %s's channel: %s", slot_name(w.group, w.slot).c_str(),
                          errno_text(errno).c_str());
            return;
        }
        if (n == 0) {
            // The worker is exiting; SIGCHLD tells the rest.
            if (loop_.watching(w.channel.get())) loop_.unwatch(w.channel.get());
            return;
        }
        if (msg[0] == kMsgFailed) w.failure.assign(msg + 1, size_t(n - 1));
        // A READY from a worker already given up on (killed at start_timeout)
        // must not make its version the good one.
        if (msg[0] == kMsgReady && w.state == WorkerState::Starting) on_ready(w);
    }
}

void Workers::on_ready(WorkerProcess& w) {
    w.state = WorkerState::Ready;
    Group& g = groups_[size_t(w.group)];
    g.good_version = w.version;  // this version starts: a failed reload can come back to it
    g.good_generation = w.generation;
    events_.worker_ready(w);
}

// ---- Reaping ----

void Workers::reap() {
    // One SIGCHLD may stand for several exits: reap until there is none left.
    for (;;) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid == -1 && errno == EINTR) continue;
        if (pid == -1 && errno != ECHILD) log::error("waitpid() failed: %s", errno_text(errno).c_str());
        if (pid <= 0) return;  // 0: children left but none exited; ECHILD: none left
        on_exit(pid, status);
    }
}

void Workers::on_exit(pid_t pid, int status) {
    auto it = processes_.find(pid);
    if (it == processes_.end()) {  // not a worker: an upgrade's new master
        events_.other_child_exited(pid, status);
        return;
    }
    read_channel(it->second);  // its last words may still be unread (SIGCHLD can come first)
    WorkerProcess w = std::move(it->second);
    processes_.erase(it);
    if (w.kill_timer) loop_.cancel_timer(w.kill_timer);
    if (loop_.watching(w.channel.get())) loop_.unwatch(w.channel.get());
    requests_of_reaped_ += stats_.row(size_t(w.stats_row)).requests.load(std::memory_order_relaxed);
    stats_.release(w.stats_row);

    std::string name = slot_name(w.group, w.slot);
    std::string how = exit_description(status);
    if (stopping_) {
        log::info("worker %s (pid %d) exited: %s", name.c_str(), int(pid), how.c_str());
        if (processes_.empty()) events_.all_workers_gone();
        return;
    }
    if (events_.worker_exited(w, how)) return;  // a reload drained it or gave up on it
    if (w.told_to_go()) {
        log::info("worker %s (pid %d) exited: %s", name.c_str(), int(pid), how.c_str());
        return;
    }
    if (w.slot >= config_.groups[size_t(w.group)].count || find_worker(w.group, w.slot)) {
        log::info("worker %s (pid %d) exited: %s; slot already served", name.c_str(), int(pid), how.c_str());
        return;
    }
    Group::Slot& slot = slot_state(w.group, w.slot);
    bool fast = EventLoop::now_ms() - w.forked_ms < kFastFailureMs;
    slot.fast_failures = fast ? slot.fast_failures + 1 : 0;
    log::warn("worker %s (pid %d) exited: %s; respawning", name.c_str(), int(pid), how.c_str());
    respawn_later(w.group, w.slot);
}

// ---- Telling workers to go ----

bool Workers::drain(pid_t pid) {
    auto it = processes_.find(pid);
    if (it == processes_.end()) return false;
    WorkerProcess& w = it->second;
    w.state = WorkerState::Draining;
    if (::kill(pid, SIGQUIT) == -1) {
        log::error("kill(%d, SIGQUIT) failed: %s", int(pid), errno_text(errno).c_str());
        return true;  // ESRCH: it is exiting anyway; SIGCHLD follows
    }
    int64_t deadline = w.drain_timeout_ms + drain::kKillGraceMs;
    arm_kill(w, deadline, "still draining " + std::to_string(deadline) + " ms after SIGQUIT");
    return true;
}

// The master's SIGKILL deadline for a worker told to go: a timer in its loop.
void Workers::arm_kill(WorkerProcess& w, int64_t after_ms, std::string why) {
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

void Workers::kill(pid_t pid, const std::string& why) {
    auto it = processes_.find(pid);
    if (it == processes_.end()) return;
    WorkerProcess& w = it->second;
    log::warn("sending SIGKILL to worker %s (pid %d): %s", slot_name(w.group, w.slot).c_str(), int(pid), why.c_str());
    if (w.state != WorkerState::Draining) w.state = WorkerState::Stopping;
    if (::kill(pid, SIGKILL) == -1) log::error("kill(%d, SIGKILL) failed: %s", int(pid), errno_text(errno).c_str());
}

void Workers::stop_all(bool graceful) {
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
        events_.all_workers_gone();
        return;
    }
    if (!graceful) {
        for (auto& [pid, w] : processes_) {
            if (w.kill_timer) loop_.cancel_timer(std::exchange(w.kill_timer, 0));
            w.state = WorkerState::Stopping;
            if (::kill(pid, SIGTERM) == -1) log::error("kill(%d, SIGTERM) failed: %s", int(pid), errno_text(errno).c_str());
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
    int64_t give_up_at = EventLoop::now_ms() + kStopSettleMaxMs;
    settle_timer_ = loop_.add_timer(kStopSettleCheckMs, [this, give_up_at]() -> int64_t {
        if (handshakes_arriving() && EventLoop::now_ms() < give_up_at) return kStopSettleCheckMs;
        settle_timer_ = 0;
        for (auto& [pid, w] : processes_)
            if (w.state != WorkerState::Stopping) drain(pid);  // (a killed one keeps its SIGKILL deadline)
        return EventLoop::kNoMore;
    });
}

bool Workers::handshakes_arriving() {
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

void Workers::retire_all() {
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
    if (processes_.empty()) events_.all_workers_gone();
}

void Workers::tell_not_reloadable(int group) {
    for (auto& [pid, w] : processes_) {
        if (w.group != group || w.told_to_go()) continue;
        char msg = kMsgReload;
        if (::send(w.channel.get(), &msg, 1, MSG_NOSIGNAL) != 1)
            log::warn("cannot tell worker pid %d of the reload: %s", int(pid), errno_text(errno).c_str());
    }
}

void Workers::close_listeners() {
    for (Group& g : groups_) g.listeners.clear();
}

std::string Workers::fit_slot_listeners(int group, int count) {
    const GroupConfig& gc = config_.groups[size_t(group)];
    std::vector<Fd>& fds = groups_[size_t(group)].listeners;
    if (gc.role != Role::Business) return "";
    while (fds.size() < size_t(count)) {
        ListenAddress at = gc.listen;
        at.port = uint16_t(at.port + fds.size());
        std::string err;
        Fd fd = open_listener(at, err);
        if (!fd) return "group " + gc.name + ", slot " + std::to_string(fds.size()) + ": " + err;
        fds.push_back(std::move(fd));
    }
    fds.resize(size_t(count));  // a retired slot's worker still holds its own copy until it exits
    return "";
}

// ---- Looking things up ----

pid_t Workers::find_worker(int group, int slot) const {
    for (const auto& [pid, w] : processes_)
        if (w.group == group && w.slot == slot && !w.told_to_go()) return pid;
    return 0;
}

int Workers::ready_count(int group) const {
    return int(std::count_if(processes_.begin(), processes_.end(), [group](const auto& kv) {
        return kv.second.group == group && kv.second.state == WorkerState::Ready;
    }));
}

bool Workers::all_ready() const {
    return std::all_of(processes_.begin(), processes_.end(),
                       [](const auto& kv) { return kv.second.state == WorkerState::Ready; });
}

uint64_t Workers::requests_served() const {
    uint64_t total = requests_of_reaped_;
    for (const auto& [pid, w] : processes_) total += stats_.row(size_t(w.stats_row)).requests.load(std::memory_order_relaxed);
    return total;
}

}  // namespace smooth
