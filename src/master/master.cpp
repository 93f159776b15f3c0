#include "master/master.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/listener.h"
#include "core/log.h"
#include "master/module_versions.h"
#include "worker/worker.h"

namespace smooth {

namespace {

constexpr int64_t kFastFailureMs = 1000;  // dying sooner than this after fork counts as a crash loop
constexpr int64_t kKillGraceMs = 2000;    // SIGKILL this long after a worker's own drain deadline

}  // namespace

std::string slot_name(const Group& g, int slot) { return g.config.name + "#" + std::to_string(slot); }

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

Master::Master(Config config, std::string config_path)
    : config_(std::move(config)), config_path_(std::move(config_path)), reload_(*this) {}

Master::~Master() = default;

int Master::run(StartOptions options) {
    options_ = options;
    log::set_role("master");
    started_ms_ = EventLoop::now_ms();
    started_wall_ = time(nullptr);
    if (std::string err = open_everything(); !err.empty()) {
        log::error("%s", err.c_str());
        if (options_.report_fd >= 0) {
            std::string msg = "error: " + err + "\n";
            if (::write(options_.report_fd, msg.data(), msg.size()) == -1) {
            }  // the CLI is gone: nobody to tell
        }
        return 1;
    }
    log::info("started: config %s, %zu groups", config_path_.empty() ? config_.source.c_str() : config_path_.c_str(),
              groups_.size());
    for (size_t g = 0; g < groups_.size(); g++)
        for (int slot = 0; slot < groups_[g].config.count; slot++) fill_slot(int(g), slot);
    start_report_timer_ = loop_.add_timer(config_.server.start_timeout_ms, [this] {
        report_started();
        return EventLoop::kNoMore;
    });

    std::string err = loop_.run();
    if (!err.empty()) log::error("%s", err.c_str());
    shutdown_files();
    log::info("exited");
    return err.empty() ? 0 : 1;
}

// Listeners, stats table, module versions and preloads: all before the first
// fork, so every worker inherits them.
std::string Master::open_everything() {
    const ServerConfig& s = config_.server;
    if (mkdir(s.run_dir.c_str(), 0755) == -1 && errno != EEXIST)
        return "mkdir(" + s.run_dir + ") failed: " + errno_text(errno);
    if (std::string err = pid_file_.acquire(s.pid_file); !err.empty()) return err;

    if (std::string err = loop_.open(); !err.empty()) return err;
    // The pipe and handlers before any child exists: a SIGCHLD can only come
    // after a fork, and it must find its handler in place.
    if (std::string err = signals_.open({SIGCHLD, SIGHUP, SIGUSR1, SIGQUIT, SIGTERM, SIGINT}); !err.empty()) return err;
    // A CLI that hangs up is EPIPE on its socket, not our death.
    if (std::string err = ignore_signal(SIGPIPE); !err.empty()) return err;
    if (int rc = loop_.watch(signals_.read_fd(), EPOLLIN, [this](uint32_t) { on_signals(); }); rc < 0)
        return "epoll_ctl(ADD) failed for the self-pipe: " + errno_text(-rc);

    if (std::string err = stats_.create(); !err.empty()) return err;

    for (const GroupConfig& gc : config_.groups) {
        Group g;
        g.config = gc;
        std::string err;
        g.listener = open_listener(gc.listen, err);
        if (!g.listener) return "group " + gc.name + ": " + err;
        g.good_module = store_module_version(gc.module, s.run_dir, err);
        if (g.good_module.empty()) return "group " + gc.name + ": " + err;
        if (gc.preload) {
            // The seed's limitation, on purpose: code loaded here, before fork,
            // is the code every worker of this group runs until a restart.
            g.preloaded = load_module(g.good_module, err);
            if (!g.preloaded.api) return "group " + gc.name + ": preloading " + gc.module + ": " + err;
        }
        g.slots.resize(size_t(gc.count));
        groups_.push_back(std::move(g));
    }

    return control_.open(control_socket_path(s.run_dir), loop_, *this);
}

pid_t Master::spawn(int group, int slot, const std::string& module, uint64_t generation) {
    if (stopping_) return -1;  // a stop forks nothing
    Group& g = groups_[size_t(group)];
    std::string name = slot_name(g, slot);
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
        setup.group = &g.config;
        setup.slot = slot;
        setup.generation = generation;
        setup.module = module;
        setup.preloaded = g.config.preload ? &g.preloaded : nullptr;
        setup.listener_fd = g.listener.get();
        setup.channel_fd = theirs.get();
        setup.log_fd = 2;
        setup.stats = &stats_.row(size_t(row));
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

    WorkerProcess& w = workers_[pid];
    w.pid = pid;
    w.group = group;
    w.slot = slot;
    w.generation = generation;
    w.module = module;
    w.channel = std::move(ours);
    w.stats_row = row;
    w.forked_ms = EventLoop::now_ms();
    w.drain_timeout_ms = config_.server.drain_timeout_ms;
    if (int rc = loop_.watch(w.channel.get(), EPOLLIN, [this, pid](uint32_t) { on_channel(pid); }); rc < 0)
        log::error("epoll_ctl(ADD) failed for worker %s's channel: %s; its READY will not be seen", name.c_str(),
                   errno_text(-rc).c_str());
    log::info("spawned worker %s (pid %d, generation %llu, %s)", name.c_str(), int(pid),
              static_cast<unsigned long long>(generation), module.c_str());
    return pid;
}

void Master::on_channel(pid_t pid) {
    if (WorkerProcess* w = process(pid)) read_channel(*w);
}

void Master::read_channel(WorkerProcess& w) {
    for (;;) {
        char msg[1024];
        ssize_t n = ::recv(w.channel.get(), msg, sizeof msg, 0);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return;  // EAGAIN: nothing more for now
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

void Master::on_ready(WorkerProcess& w) {
    w.state = WorkerState::Ready;
    w.ready_ms = EventLoop::now_ms();
    Group& g = groups_[size_t(w.group)];
    g.good_module = w.module;  // this version starts: a failed reload can come back to it
    g.good_generation = w.generation;
    reload_.on_ready(w);
    if (!reported_) {
        bool all_ready = std::all_of(workers_.begin(), workers_.end(),
                                     [](const auto& kv) { return kv.second.state == WorkerState::Ready; });
        if (all_ready) report_started();
    }
}

void Master::on_signals() {
    for (int sig : signals_.drain()) {
        switch (sig) {
            case SIGCHLD: reap(); break;
            case SIGHUP:
            case SIGUSR1: reload_.request(nullptr, signal_name(sig)); break;
            case SIGQUIT: request_stop(true, "SIGQUIT"); break;
            default: request_stop(false, signal_name(sig).c_str()); break;
        }
    }
}

void Master::reap() {
    // One SIGCHLD may stand for several exits: reap until there is none left.
    for (;;) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid == -1 && errno == EINTR) continue;
        if (pid <= 0) return;  // 0: children left but none exited; ECHILD: none left
        on_exit(pid, status);
    }
}

void Master::on_exit(pid_t pid, int status) {
    auto it = workers_.find(pid);
    if (it == workers_.end()) return;  // not a worker (a `check` child, say)
    read_channel(it->second);  // its last words may still be unread (SIGCHLD can come first)
    WorkerProcess w = std::move(it->second);
    workers_.erase(it);
    if (w.kill_timer) loop_.cancel_timer(w.kill_timer);
    if (loop_.watching(w.channel.get())) loop_.unwatch(w.channel.get());
    stats_.release(w.stats_row);

    Group& g = groups_[size_t(w.group)];
    std::string name = slot_name(g, w.slot);
    std::string how = exit_description(status);
    int64_t lived = EventLoop::now_ms() - w.forked_ms;

    if (stopping_) {
        log::info("worker %s (pid %d) exited: %s", name.c_str(), int(pid), how.c_str());
        if (workers_.empty()) loop_.stop();
        return;
    }
    if (reload_.on_exit(w, status)) return;  // the reload drained or started it: its business
    if (w.told_to_go()) {
        log::info("worker %s (pid %d) exited: %s", name.c_str(), int(pid), how.c_str());
        return;
    }
    if (w.slot >= g.config.count || slot_owner(w.group, w.slot)) {
        log::info("worker %s (pid %d) exited: %s; slot already served", name.c_str(), int(pid), how.c_str());
        return;
    }
    Group::Slot& slot = g.slots[size_t(w.slot)];
    slot.fast_failures = lived < kFastFailureMs ? slot.fast_failures + 1 : 0;
    log::warn("worker %s (pid %d) exited: %s; respawning", name.c_str(), int(pid), how.c_str());
    respawn_later(w.group, w.slot);
}

// A crash is respawned at once; a crash loop (death within a second of
// starting) waits 250 ms, then 500, 1000... up to 10 s, so a module that cannot
// start neither forks as fast as the machine allows nor floods the log.
void Master::respawn_later(int group, int slot) {
    Group::Slot& s = groups_[size_t(group)].slots[size_t(slot)];
    int failures = s.fast_failures;
    int64_t delay = failures == 0 ? 0 : std::min<int64_t>(int64_t(250) << std::min(failures - 1, 10), 10000);
    if (delay > 0)
        log::warn("worker %s keeps dying within %lld ms of starting (%d times in a row); next try in %lld ms",
                  slot_name(groups_[size_t(group)], slot).c_str(), static_cast<long long>(kFastFailureMs), failures,
                  static_cast<long long>(delay));
    if (s.respawn_timer) loop_.cancel_timer(s.respawn_timer);
    s.respawn_timer = loop_.add_timer(delay, [this, group, slot] {
        Group& g = groups_[size_t(group)];
        g.slots[size_t(slot)].respawn_timer = 0;
        if (!stopping_ && slot < g.config.count && !slot_owner(group, slot)) fill_slot(group, slot);
        return EventLoop::kNoMore;
    });
}

void Master::fill_slot(int group, int slot) {
    Group& g = groups_[size_t(group)];
    if (spawn(group, slot, g.good_module, g.good_generation) > 0) return;
    g.slots[size_t(slot)].fast_failures++;
    respawn_later(group, slot);
}

void Master::drain_worker(WorkerProcess& w) {
    pid_t pid = w.pid;
    w.state = WorkerState::Draining;
    w.drain_ms = EventLoop::now_ms();
    if (kill(pid, SIGQUIT) == -1) {
        log::error("kill(%d, SIGQUIT) failed: %s", int(pid), errno_text(errno).c_str());
        return;  // ESRCH: it is exiting anyway; SIGCHLD follows
    }
    int64_t deadline = w.drain_timeout_ms + kKillGraceMs;
    arm_kill(w, deadline, "still draining " + std::to_string(deadline) + " ms after SIGQUIT");
}

// The master's SIGKILL deadline for a worker told to go: a timer in its loop.
void Master::arm_kill(WorkerProcess& w, int64_t after_ms, std::string why) {
    if (w.kill_timer) loop_.cancel_timer(w.kill_timer);
    pid_t pid = w.pid;
    w.kill_timer = loop_.add_timer(after_ms, [this, pid, why = std::move(why)] {
        if (WorkerProcess* p = process(pid)) {
            p->kill_timer = 0;
            kill_worker(*p, why.c_str());
        }
        return EventLoop::kNoMore;
    });
}

void Master::kill_worker(WorkerProcess& w, const char* why) {
    log::warn("sending SIGKILL to worker %s (pid %d): %s", slot_name(groups_[size_t(w.group)], w.slot).c_str(),
              int(w.pid), why);
    if (w.state != WorkerState::Draining) w.state = WorkerState::Stopping;
    if (kill(w.pid, SIGKILL) == -1) log::error("kill(%d, SIGKILL) failed: %s", int(w.pid), errno_text(errno).c_str());
}

WorkerProcess* Master::process(pid_t pid) {
    auto it = workers_.find(pid);
    return it == workers_.end() ? nullptr : &it->second;
}

WorkerProcess* Master::slot_owner(int group, int slot) {
    for (auto& [pid, w] : workers_)
        if (w.group == group && w.slot == slot && !w.told_to_go()) return &w;
    return nullptr;
}

void Master::notify_not_reloadable(int group) {
    for (auto& [pid, w] : workers_) {
        if (w.group != group || w.told_to_go()) continue;
        char msg = kMsgReload;
        if (::send(w.channel.get(), &msg, 1, MSG_NOSIGNAL) != 1)
            log::warn("cannot notify worker pid %d of the reload: %s", int(pid), errno_text(errno).c_str());
    }
}

void Master::request_stop(bool graceful, const char* why) {
    if (stopping_ && (graceful || !graceful_)) return;  // already stopping at least this hard
    bool escalate = stopping_;
    stopping_ = true;
    graceful_ = graceful;
    reload_.cancel("the server is stopping");
    for (Group& g : groups_)
        for (Group::Slot& s : g.slots)
            if (s.respawn_timer) loop_.cancel_timer(std::exchange(s.respawn_timer, 0));
    log::info("%s (%s): %zu workers", escalate ? "stopping now" : graceful ? "stopping gracefully" : "stopping", why,
              workers_.size());
    for (auto& [pid, w] : workers_) {
        if (w.kill_timer) loop_.cancel_timer(std::exchange(w.kill_timer, 0));
        if (graceful) {
            drain_worker(w);
            continue;
        }
        w.state = WorkerState::Stopping;
        if (kill(pid, SIGTERM) == -1) log::error("kill(%d, SIGTERM) failed: %s", int(pid), errno_text(errno).c_str());
        arm_kill(w, config_.server.stop_timeout_ms, "still running after stop_timeout");
    }
    if (workers_.empty()) loop_.stop();
}

// The pid file goes last: `stop` takes its release as "the master is gone",
// so by then the ports must be free for a new start.
void Master::shutdown_files() {
    control_.close();
    for (Group& g : groups_) g.listener.reset();
    pid_file_.release();
}

}  // namespace smooth
