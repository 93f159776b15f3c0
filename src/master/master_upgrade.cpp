// master_upgrade: the master's part in a binary upgrade, on both sides
// (upgrade.h has the picture). As the old master it passes its listeners,
// and retires once the new one has taken over (UpgradeHost). As the new one
// (takeover.h) it takes the pid file and the control socket over once every
// worker is READY, or gives up without touching what the old master serves with.
#include "master/master.h"

#include <climits>
#include <csignal>
#include <unistd.h>

#include "core/build_id.h"
#include "core/log.h"

namespace smooth {

std::string current_executable() {
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) {
        log::warn("readlink(/proc/self/exe) failed: %s; `upgrade` will need --binary", errno_text(errno).c_str());
        return "";
    }
    return std::string(path, size_t(n));
}

// ---- The old master ----

void Master::request_upgrade(Upgrade::Progress progress, const std::string& binary, const std::string& source) {
    // One thing at a time: never an upgrade interleaved with a reload (the
    // new master would start from a config the reload is half-way through).
    std::string refusal = stopping_             ? "the server is stopping"
                          : retiring_           ? "this master is on its way out"
                          : takeover_.pending() ? "this master is still taking over from the last one"
                          : upgrade_.running()  ? "one is running (" + upgrade_.describe() + ")"
                          : reload_.running()   ? "a reload is running (" + reload_.describe() + ")"
                                                : "";
    if (!refusal.empty()) {
        log::warn("upgrade requested (%s): refused: %s", source.c_str(), refusal.c_str());
        if (progress) progress("upgrade refused: " + refusal, true, false);
        return;
    }
    if (binary.empty() && self_exe_.empty()) {
        if (progress) progress("upgrade refused: the path of this master's binary is unknown; give --binary PATH", true, false);
        return;
    }
    notify_.status("upgrading: starting " + (binary.empty() ? self_exe_ : binary));
    upgrade_.request(std::move(progress), binary.empty() ? self_exe_ : binary, source);
}

// Every listener we hold, named for LISTEN_FDNAMES: the group, and for a
// business group's slots "group#slot". The new master matches them by
// address (listener.h); the names are for its log.
std::vector<UpgradeHost::Socket> Master::sockets_to_pass() {
    std::vector<Socket> sockets;
    for (size_t g = 0; g < workers_.groups().size(); g++) {
        const std::vector<Fd>& listeners = workers_.groups()[g].listeners;
        for (size_t k = 0; k < listeners.size(); k++)
            if (listeners[k])
                sockets.push_back({listeners[k].get(),
                                   config_.groups[g].name + (listeners.size() > 1 ? "#" + std::to_string(k) : "")});
    }
    return sockets;
}

// The new master reads the config file again, as `start` would: an upgrade
// is also how a change a reload cannot make (a new group, a new listen)
// takes effect without a restart.
std::vector<std::string> Master::new_master_args(const std::string& binary) {
    if (config_path_.empty()) return {binary, "start"};
    return {binary, "-c", config_path_, "start"};
}

void Master::before_exec() {
    signals_.close_in_child();
    // We ignore SIGPIPE; a disposition of SIG_IGN survives exec. The new
    // master decides for itself.
    struct sigaction dfl{};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, nullptr);
}

void Master::handed_over(pid_t new_master, bool retire) {
    // The paths are the new master's: we must neither remove them at exit
    // nor answer as the master on a connection that reaches us late.
    pid_file_.handed_over();
    control_.hand_over(new_master);
    // systemd hears from the new master now (MAINPID=): not a word more from
    // us, not even STOPPING=1 at our exit.
    notify_ = SystemdNotify();
    if (!retire) return;
    retiring_ = true;
    log::info("handed over to master pid %d: draining %zu workers, then exiting", int(new_master),
              workers_.processes().size());
    workers_.retire_all();
}

void Master::take_files_back() {
    if (pid_file_.names_us()) return;  // it died before its rename: our files never left
    // It died between renaming its pid file over ours and saying so: the
    // path names a dead master's file. Ours again, the same way it came.
    log::warn("the new master died after taking the pid file: taking the pid file and the control socket back");
    std::string err = pid_file_.prepare_beside(config_.server.pid_file);
    if (err.empty()) err = pid_file_.install();
    if (err.empty()) err = control_.take_back();
    if (!err.empty()) log::error("cannot take the pid file and the control socket back: %s", err.c_str());
}

void Master::upgrade_ended(bool ok, const std::string& summary) {
    if (!ok && !stopping_)
        notify_.status("serving: " + std::to_string(ready_workers()) + " workers ready; " + summary);
    exit_when_done();
}

// ---- Both: when a master may exit ----

void Master::all_workers_gone() {
    upgrade_.old_workers_gone();  // handed over: the upgrade is complete now
    exit_when_done();
}

void Master::other_child_exited(pid_t pid, int status) {
    std::string how = exit_description(status);
    if (!upgrade_.on_exit(pid, how)) log::info("child pid %d exited: %s", int(pid), how.c_str());
}

// Stopping or retiring, the loop ends when no worker is left, and no new
// master of an upgrade we started: it is ours to wait for, so that `stop`
// (which waits for us) never leaves it behind.
void Master::exit_when_done() {
    if (workers_.stopping() && workers_.processes().empty() && !upgrade_.waiting_for_new_master()) loop_.stop();
}

// ---- The new master ----

// Every worker is READY: only now do the pid file and the control socket
// change hands, each by one rename (pidfile.h). The pid file first: from its
// rename on, a check finds our lock; the socket right after, and the proof
// holds again (a check that fell between the two looked again).
void Master::take_over() {
    std::string err = pid_file_.install();
    if (err.empty()) err = control_.install();
    if (!err.empty()) {
        give_up("cannot take the pid file and the control socket over: " + err);
        return;
    }
    pid_t old_master = getppid();
    // Logged before it is said, so the old master's drain comes after this line.
    log::info("took over from master pid %d: the pid file and the control socket are ours", int(old_master));
    takeover_.taken(build_id());
    told_ready_ = true;
    notify_.took_over(getpid(), "serving: " + std::to_string(ready_workers()) + " workers ready (upgraded from master pid " +
                                    std::to_string(old_master) + ")");
    report_started();
}

// Not a stop: the old master serves on from the same listening sockets, so
// their door stays open; our READY workers drain, the others are killed.
void Master::give_up(const std::string& why) {
    if (!takeover_.pending()) return;
    log::error("giving up the upgrade: %s", why.c_str());
    takeover_.gave_up(why);
    failed_ = true;
    retiring_ = true;
    if (start_report_timer_) loop_.cancel_timer(std::exchange(start_report_timer_, 0));
    workers_.retire_all();  // with no worker left, the loop ends at once
}

void Master::heard_from_old_master(const std::string& message) {
    const bool graceful = message == "stop -g";
    if (message == "stop" || graceful) {
        if (takeover_.pending())
            give_up("the old master is stopping");
        else if (takeover_.phase() == Takeover::Phase::TakenOver)
            request_stop(graceful, "the old master's stop, which crossed our takeover");  // a stop has the last word
    } else if (message == "abort") {
        // Taken over already: our "taken" crossed its "abort", and it hands
        // over when it reads it.
        if (takeover_.pending()) give_up("the old master gave up waiting");
    } else if (message.empty()) {
        // Taken over: the old master has drained and exited, as it should.
        if (takeover_.pending()) give_up("the old master went away");
    } else {
        log::warn("unknown message from the old master: %s", message.c_str());
    }
}

}  // namespace smooth
