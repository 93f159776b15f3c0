// upgrade: see upgrade.h for the picture, the messages and the table. The
// events first, then the actions they name, in the order an upgrade meets them.
#include "master/upgrade.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/build_id.h"
#include "core/fork.h"
#include "core/log.h"
#include "master/totals_carry.h"

namespace smooth {

namespace {

// How long the old master waits for the new one to take over, beyond the
// new one's start_timeout: the exec, reading the config, storing modules.
constexpr int64_t kTakeoverGraceMs = 5000;
// Told to go, the new master drains the workers it has READY; past this
// (beyond the drain_timeout) it is killed.
constexpr int64_t kExitGraceMs = 4000;
constexpr size_t kListenPidRoom = 20;  // digits enough for any pid
constexpr const char* kCarry = "carry";  // (totals_carry.h: the counters)

const char* const kHandedVariables[] = {"LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=", "SMOOTH_UPGRADE_FD=",
                                        "SMOOTH_HANDOVER_FORMAT="};

// In the child, between fork and exec: says why on the channel, and exits.
[[noreturn]] void exec_failed(int report, const char* what) {
    char msg[512];
    int len = std::snprintf(msg, sizeof msg, "error %s failed in the new master's process: %s", what, std::strerror(errno));
    if (len > 0 && ::send(report, msg, size_t(std::min(len, int(sizeof msg) - 1)), MSG_NOSIGNAL) == -1) {
    }  // nobody to tell: the old master sees the exit status anyway
    _exit(127);
}

// In the child, between fork and exec: only descriptor moves, the pid filled
// in, execve. Everything it uses was made before the fork.
[[noreturn]] void exec_new_master(const std::vector<int>& pass, int channel, std::vector<int>& lifted,
                                  char* const* argv, char* const* envp, char* listen_pid, size_t listen_pid_size) {
    const size_t n = pass.size();
    // 1. Lift every descriptor above the range first: one of them may sit
    //    where another one has to go (ours at 4 must become 3 while 3 must
    //    become 4).
    const int top = 3 + int(n) + 1;
    for (size_t i = 0; i <= n; i++) {
        lifted[i] = fcntl(i < n ? pass[i] : channel, F_DUPFD_CLOEXEC, top);
        if (lifted[i] == -1) exec_failed(channel, "fcntl(F_DUPFD_CLOEXEC)");
    }
    // 2. Down into place: the listeners at 3.., the channel right after them.
    //    dup2() leaves close-on-exec off on the copy, so exactly these cross
    //    the exec; every other descriptor of ours is close-on-exec.
    for (size_t i = 0; i <= n; i++)
        if (dup2(lifted[i], 3 + int(i)) == -1) exec_failed(lifted[n], "dup2()");
    // 3. sd_listen_fds(3): LISTEN_PID names the process meant to take them,
    //    which is this one, and exec keeps the pid.
    std::snprintf(listen_pid, listen_pid_size, "LISTEN_PID=%d", int(getpid()));
    execve(argv[0], argv, envp);
    exec_failed(lifted[n], "execve()");
}

}  // namespace

const char* Upgrade::phase_name(Phase p) {
    switch (p) {
        case Phase::Idle: return "idle";
        case Phase::Starting: return "starting";
        case Phase::Abandoning: return "abandoning";
        case Phase::HandedOver: return "handed_over";
    }
    return "?";
}

std::vector<std::string> new_master_environment(const char* const* ours, const std::vector<std::string>& names,
                                                int channel_fd, size_t* listen_pid_at) {
    std::vector<std::string> env;
    for (const char* const* e = ours; e && *e; e++) {
        bool handed = false;  // one of the variables we set: never two of them
        for (const char* prefix : kHandedVariables) handed = handed || std::strncmp(*e, prefix, std::strlen(prefix)) == 0;
        if (!handed) env.emplace_back(*e);
    }
    std::string joined;
    for (const std::string& name : names) joined += (joined.empty() ? "" : ":") + name;
    env.push_back("LISTEN_FDS=" + std::to_string(names.size()));
    env.push_back("LISTEN_FDNAMES=" + joined);
    env.push_back(std::string(kUpgradeChannelEnv) + "=" + std::to_string(channel_fd));
    // The hand-over format we write: a new master that cannot read it gives
    // up before any connection moves (takeover.h).
    env.push_back(std::string(kHandoverFormatEnv) + "=" + std::to_string(handover_format()));
    *listen_pid_at = env.size();
    env.push_back("LISTEN_PID=" + std::string(kListenPidRoom, '0'));  // the child writes its pid over this
    return env;
}

// ---- The events ----

void Upgrade::request(Progress progress, const std::string& binary, const std::string& source) {
    if (phase_ != Phase::Idle) {
        std::string line = "upgrade refused: one is running (" + describe() + ")";
        log::warn("upgrade requested (%s): %s", source.c_str(), line.c_str());
        if (progress) progress(line, true, false);
        return;
    }
    if (progress) progress_.push_back(std::move(progress));
    begin(binary, source);
}

bool Upgrade::on_exit(pid_t pid, const std::string& how) {
    if (new_pid_ == 0 || pid != new_pid_) return false;
    channel_.read_waiting();  // its last words may still be unread (SIGCHLD can come first)
    channel_.close();
    new_master_gone.fire();
    switch (phase_) {
        case Phase::Idle: break;
        case Phase::HandedOver:
            // It is the master now; when it exits is its own business.
            log::info("upgrade: new master pid %d exited: %s", int(pid), how.c_str());
            break;
        case Phase::Starting:
        case Phase::Abandoning:
            failed("the new master (pid " + std::to_string(pid) + ") exited with " + how + " before it took over" +
                   (why_.empty() ? "" : ": " + why_));
            break;
    }
    return true;
}

void Upgrade::on_stop(bool graceful) {
    stopping_ = true;
    // A stop has the last word. HandedOver: the new master is the server now;
    // this stop is about our own draining workers only.
    if (phase_ == Phase::Starting || phase_ == Phase::Abandoning)
        abandon("the server is stopping", graceful ? "stop -g" : "stop");
}

void Upgrade::old_workers_gone() {
    if (phase_ != Phase::HandedOver) return;
    finish(true, "upgrade complete: master pid " + std::to_string(getpid()) + " -> " + std::to_string(new_pid_) +
                     " (build " + build_id() + " -> " + new_build_ + ") in " +
                     std::to_string(loop_.now_ms() - started_ms_) + " ms");
}

void Upgrade::on_message(std::string_view message) {
    size_t space = message.find(' ');
    const std::string kind(message.substr(0, space));
    const std::string text(space == std::string_view::npos ? "" : message.substr(space + 1));
    if (kind == "say") {
        if (phase_ == Phase::Starting) say(text);
    } else if (kind == "deadline") {
        // Its own start_timeout, read from the config as it is now.
        if (phase_ == Phase::Starting) arm_deadline(std::atoll(text.c_str()) + kTakeoverGraceMs);
    } else if (kind == "temp") {
        temps_.push_back(text);
    } else if (kind == "error") {
        why_ = text;
        log::warn("upgrade: the new master pid %d gives up: %s", int(new_pid_), text.c_str());
    } else if (kind == kCarry) {
        carried.fire(message);
    } else if (kind == "handover") {
        // Every worker of the new master is READY: our gateway workers hand
        // their connections to its, and it takes our files only after that.
        if (phase_ == Phase::Starting) hand_connections_over();
    } else if (kind == "taken") {
        new_build_ = text;
        temps_.clear();  // renamed into place: they are its files now
        if (phase_ == Phase::Starting || (phase_ == Phase::Abandoning && !stopping_)) {
            hand_over();  // our deadline passed, but it made it: it serves, let it
        } else if (phase_ == Phase::Abandoning) {
            // Our "stop" crossed its "taken": it stops, and the paths are its.
            give_paths_away(false);
        }
    } else {
        log::warn("upgrade: unknown message from the new master: %s %s", kind.c_str(), text.c_str());
    }
}

// ---- The actions, in the order an upgrade meets them ----

void Upgrade::begin(const std::string& binary, const std::string& source) {
    log::info("upgrade requested (%s): %s", source.c_str(), binary.c_str());
    began.fire(binary);
    started_ms_ = loop_.now_ms();
    binary_ = binary;
    new_pid_ = 0;
    why_.clear();
    temps_.clear();
    new_build_ = "?";
    stopping_ = false;
    handing_.clear();
    handover_failed_.clear();
    connections_moved_ = false;
    if (access(binary.c_str(), X_OK) == -1) {
        finish(false, "upgrade refused: cannot execute " + binary + ": " + errno_text(errno) + "; nothing was changed");
        return;
    }

    // Everything the child needs is made here, before the fork: between fork
    // and exec it only moves descriptors and writes its pid.
    std::vector<UpgradeHost::Socket> sockets = host_.sockets_to_pass();
    std::vector<int> pass;
    std::vector<std::string> names;
    for (const UpgradeHost::Socket& s : sockets) {
        pass.push_back(s.fd);
        names.push_back(s.name);
    }
    size_t pid_at = 0;
    std::vector<std::string> env = new_master_environment(environ, names, 3 + int(pass.size()), &pid_at);
    std::vector<std::string> args = host_.new_master_args(binary);
    std::vector<char*> argv, envp;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<int> lifted(pass.size() + 1);

    Channel ours;
    Fd theirs;
    if (std::string err = Channel::pair(ours, theirs); !err.empty()) {
        finish(false, "upgrade failed: " + err + "; nothing was changed");
        return;
    }
    // Sent before the child exists: the new master reads it before it forks
    // a worker of its own.
    send_carry(ours);
    // Signals blocked across the fork, as for a worker (core/fork.h); the
    // child puts our handlers away, then its mask back, right before exec.
    pid_t pid = 0;
    std::string err = fork_child(
        [&](const sigset_t& parent_mask) {
            host_.before_exec();
            sigprocmask(SIG_SETMASK, &parent_mask, nullptr);
            exec_new_master(pass, theirs.get(), lifted, argv.data(), envp.data(), env[pid_at].data(),
                            env[pid_at].size() + 1);
        },
        pid);
    if (!err.empty()) {
        finish(false, "upgrade failed: " + err + "; nothing was changed");
        return;
    }
    theirs.reset();  // the child's copy is the only one: EOF when it exits
    channel_ = std::move(ours);
    new_pid_ = pid;
    // Its EOF only closes the channel: its exit, reaped, is the event.
    if (std::string e = channel_.watch(
            loop_, "the new master's channel", [this](std::string_view m) { on_message(m); },
            [](const std::string& error) {
                if (!error.empty()) log::warn("upgrade: %s", error.c_str());
            });
        !e.empty())
        log::error("upgrade: %s", e.c_str());
    enter(Phase::Starting, "forked pid " + std::to_string(pid));
    if (carry && !carry_timer_)
        carry_timer_ = loop_.add_timer(kCarryEveryMs, [this] {
            if (!channel_) {
                carry_timer_ = 0;
                return EventLoop::kNoMore;
            }
            send_carry(channel_);
            return kCarryEveryMs;
        });
    say("upgrade: started " + binary + " as the new master, pid " + std::to_string(pid) + ", with " +
        std::to_string(pass.size()) + (pass.size() == 1 ? " listening socket" : " listening sockets") +
        " inherited (old master pid " + std::to_string(getpid()) + ", build " + build_id() + ")");
    arm_deadline(host_.start_timeout_ms() + kTakeoverGraceMs);  // until it says its own
}

// "taken": the pid file and the control socket are the new master's, and its
// workers serve. Only now do ours go, as in a reload: drained, not cut.
// One socketpair per gateway worker: the new master's end goes to it on the
// channel ("end GROUP SLOT", for its worker of that slot), ours to our worker
// with 'H'. Nothing else can reach either end.
void Upgrade::hand_connections_over() {
    handing_.clear();
    handover_failed_.clear();
    for (const UpgradeHost::Handing& h : host_.gateway_workers()) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == -1) {
            handover_failed_ = "socketpair() failed: " + errno_text(errno);
            break;
        }
        Fd ours(sv[0]), theirs(sv[1]);
        if (std::string err = channel_.send("end " + h.group + " " + std::to_string(h.slot), {theirs.get()});
            !err.empty()) {
            handover_failed_ = "cannot pass the new master its end: " + err;
            break;
        }
        if (host_.hand_over_worker(h.pid, std::move(ours))) handing_.push_back(h.pid);
    }
    if (handing_.empty()) {
        if (!handover_failed_.empty()) return abandon("the hand-over failed: " + handover_failed_, "abort");
        tell_new("handed");
        return;
    }
    say("old master pid " + std::to_string(getpid()) + ": " + std::to_string(handing_.size()) +
        " gateway workers hand their connections to the new master's");
}

void Upgrade::on_handover(pid_t pid, bool ok, const std::string& text) {
    auto it = std::find(handing_.begin(), handing_.end(), pid);
    if (it == handing_.end()) return;
    handing_.erase(it);
    if (ok) connections_moved_ = true;
    if (!ok && handover_failed_.empty()) handover_failed_ = "pid " + std::to_string(pid) + ": " + text;
    say("old worker pid " + std::to_string(pid) + ": " + (ok ? text : "hand-over failed: " + text));
    if (!handing_.empty() || phase_ != Phase::Starting) return;
    if (handover_failed_.empty())
        tell_new("handed");
    else
        abandon("the hand-over failed: " + handover_failed_, "abort");
}

void Upgrade::hand_over() {
    if (deadline_timer_) loop_.cancel_timer(std::exchange(deadline_timer_, 0));
    enter(Phase::HandedOver, "new master pid " + std::to_string(new_pid_) + " took over");
    say("new master pid " + std::to_string(new_pid_) + " (build " + new_build_ +
        ") holds the pid file and the control socket; old master pid " + std::to_string(getpid()) +
        ": draining its workers");
    give_paths_away(true);  // last: with no worker left it finishes the upgrade at once
}

void Upgrade::give_paths_away(bool retire) {
    handed_over.fire(new_pid_);
    host_.handed_over(new_pid_, retire);
}

void Upgrade::abandon(const std::string& why, const char* message) {
    abandon_why_ = why;
    tell_new(message);
    if (phase_ != Phase::Abandoning) enter(Phase::Abandoning, why);
    // It drains whatever workers it has READY and exits; if it does not, SIGKILL.
    arm_deadline(host_.drain_timeout_ms() + kExitGraceMs);
}

void Upgrade::failed(const std::string& why) {
    if (deadline_timer_) loop_.cancel_timer(std::exchange(deadline_timer_, 0));
    for (const std::string& path : temps_)  // what it made beside our files and could not remove
        if (unlink(path.c_str()) == 0) log::info("upgrade: removed %s, left by the new master", path.c_str());
    temps_.clear();
    if (stopping_) {
        finish(false, "upgrade cancelled: the server is stopping (" + why + ")");
        return;
    }
    host_.take_files_back();  // in case it died between its rename and its "taken"
    handing_.clear();
    if (std::exchange(connections_moved_, false)) {
        // Connections the new master confirmed went with it; the slots of
        // the workers that gave them are filled again.
        const int refilled = host_.refill_empty_slots();
        finish(false, "upgrade failed: " + why + "; master pid " + std::to_string(getpid()) + " serves on, " +
                          std::to_string(refilled) + " gateway slots refilled");
        return;
    }
    finish(false, "upgrade failed: " + why + "; master pid " + std::to_string(getpid()) + " serves on, untouched");
}

void Upgrade::finish(bool ok, const std::string& summary) {
    last_result_ = tell_the_end(progress_, ok, summary);
    if (deadline_timer_) loop_.cancel_timer(std::exchange(deadline_timer_, 0));
    if (carry_timer_) loop_.cancel_timer(std::exchange(carry_timer_, 0));
    if (ok) send_carry(channel_);  // our workers are all gone: the last of what they counted
    channel_.close();
    if (phase_ != Phase::Idle) enter(Phase::Idle, ok ? "complete" : "ended");
    ended.fire(ok, summary);
}

void Upgrade::enter(Phase next, const std::string& why) {
    log::info("upgrade: %s -> %s (%s)", phase_name(phase_), phase_name(next), why.c_str());
    phase_ = next;
}

void Upgrade::say(const std::string& line) {
    log::info("%s", line.c_str());
    for (Progress& report : progress_) report(line, false, false);
}

void Upgrade::arm_deadline(int64_t ms) {
    if (deadline_timer_) loop_.cancel_timer(deadline_timer_);
    deadline_timer_ = loop_.add_timer(ms, [this, ms] {
        deadline_timer_ = 0;
        if (phase_ == Phase::Starting) {
            abandon("it did not take over within " + std::to_string(ms) + " ms", "abort");
        } else if (phase_ == Phase::Abandoning) {
            log::warn("upgrade: new master pid %d still running %lld ms after it was told to go: SIGKILL", int(new_pid_),
                      static_cast<long long>(ms));
            if (::kill(new_pid_, SIGKILL) == -1)
                log::error("kill(%d, SIGKILL) failed: %s", int(new_pid_), errno_text(errno).c_str());
        }
        return EventLoop::kNoMore;
    });
}

void Upgrade::tell_new(const std::string& message) {
    if (!channel_) return;  // it hung up: it is exiting anyway
    if (std::string err = channel_.send(message); !err.empty())
        log::warn("upgrade: cannot tell the new master \"%s\": %s", message.c_str(), err.c_str());
}

void Upgrade::send_carry(Channel& to) {
    if (!carry || !to) return;
    for (const std::string& m : carry())
        if (!to.send(m).empty()) return;  // it is gone: its exit tells the rest
}

// ---- For `status` ----

std::string Upgrade::describe() const {
    const std::string pid = std::to_string(new_pid_);
    switch (phase_) {
        case Phase::Idle: return last_result_.empty() ? "idle" : "idle; last: " + last_result_;
        case Phase::Starting: return "starting new master pid " + pid + " (" + binary_ + "): waiting for its workers";
        case Phase::Abandoning: return "giving up on new master pid " + pid + ": " + abandon_why_;
        case Phase::HandedOver: return "handed over to master pid " + pid + "; draining the old workers";
    }
    return "?";
}

}  // namespace smooth
