// master_upgrade: the master's part in a binary upgrade as the old master
// (upgrade.h has the picture; the new master's side is takeover.h): it
// passes its listeners, and retires once the new one has taken over
// (UpgradeHost).
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
                          : retiring()          ? "this master is on its way out"
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
    upgrade_.request(std::move(progress), binary.empty() ? self_exe_ : binary, source);
}

// Every listener we hold, named for LISTEN_FDNAMES: the group, and for a
// business group's slots "group#slot". The new master matches them by
// address (listener.h); the names are for its log.
std::vector<UpgradeHost::Socket> Master::sockets_to_pass() {
    std::vector<Socket> sockets;
    for (size_t g = 0; g < table_.groups().size(); g++) {
        const std::vector<Fd>& listeners = table_.groups()[g].listeners;
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
    if (!retire) return;
    retiring_ = true;
    log::info("handed over to master pid %d: draining %zu workers, then exiting", int(new_master),
              table_.processes().size());
    table_.retire_all();
}

// Every READY gateway worker hands its connections to the new master's
// worker of the same slot, whatever its group's reloadable says: an upgrade
// replaces the binary under every group.
std::vector<UpgradeHost::Handing> Master::gateway_workers() {
    std::vector<Handing> out;
    for (const auto& [pid, w] : table_.processes())
        if (w.state == WorkerState::Ready && config_.groups[size_t(w.group)].role == Role::Gateway)
            out.push_back({pid, config_.groups[size_t(w.group)].name, w.slot});
    return out;
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

}  // namespace smooth
