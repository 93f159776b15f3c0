// takeover: see takeover.h.
#include "master/takeover.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/build_id.h"
#include "core/log.h"
#include "master/control.h"
#include "master/pidfile.h"
#include "master/totals_carry.h"
#include "master/upgrade.h"
#include "master/worker_table.h"

namespace smooth {

std::string upgrade_channel_from_env(Channel& out) {
    const char* value = std::getenv(kUpgradeChannelEnv);
    std::string text = value ? value : "";
    unsetenv(kUpgradeChannelEnv);  // nothing we fork or exec may take it for its own
    if (text.empty()) return "";
    int fd = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), fd);
    int type = 0;
    socklen_t len = sizeof type;
    if (ec != std::errc() || end != text.data() + text.size() || fd < 3 ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 || type != SOCK_SEQPACKET)
        return std::string(kUpgradeChannelEnv) + "=" + text + ": not the channel of an upgrade";
    // It came across exec without our flags: nothing we fork or exec keeps it.
    int flags = fcntl(fd, F_GETFL);
    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 || fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
        return "fcntl() failed on the upgrade's channel: " + errno_text(errno);
    out = Channel(Fd(fd));
    return "";
}

Takeover::Takeover(EventLoop& loop, WorkerTable& table, PidFile& pid_file, ControlServer& control,
                   std::function<void(bool graceful, const std::string& why)> stop)
    : loop_(loop), table_(table), pid_file_(pid_file), control_(control), stop_(std::move(stop)) {
    table_.ready.add([this](const WorkerProcess& w) { worker_ready(w.pid, w.group, w.slot); });
    table_.exited.add([this](const WorkerProcess& w, const std::string& how) {
        worker_exited(w.pid, w.group, w.slot, how, w.failure);
    });
    table_.all_gone.add([this] { send_carry(); });  // giving up: the last of what ours counted
}

void Takeover::begin(Channel channel) {
    if (!channel) return;
    channel_ = std::move(channel);
    phase_ = Phase::Pending;
    if (const char* format = std::getenv(kHandoverFormatEnv)) old_format_ = std::atoi(format);
    unsetenv(kHandoverFormatEnv);
}

std::string Takeover::watch() {
    if (!channel_) return "";
    if (std::string err = channel_.watch(
            loop_, "the upgrade's channel", [this](std::string_view m) { heard(m); },
            [this](const std::string& error) {
                if (!error.empty()) log::warn("%s", error.c_str());
                heard("");  // the old master hung up
            });
        !err.empty())
        return err;
    // What the old master said before it forked us is waiting: heard now,
    // before a worker of ours can answer anyone.
    channel_.read_waiting();
    if (carry)
        loop_.add_timer(kCarryEveryMs, [this] {
            if (!channel_) return EventLoop::kNoMore;
            send_carry();
            return kCarryEveryMs;
        });
    return "";
}

std::string Takeover::prepare_pid_file(const std::string& path) {
    if (std::string err = pid_file_.prepare_beside(path); !err.empty()) return err;
    send("temp " + pid_file_.prepared_path());
    return "";
}

std::string Takeover::prepare_control_socket(const std::string& path, int start_timeout_ms, Master& master) {
    if (std::string err = control_.open_beside(path, loop_, master); !err.empty()) return err;
    send("temp " + control_.prepared_path());
    send("deadline " + std::to_string(start_timeout_ms));  // our start_timeout: how long the old master should wait
    return "";
}

void Takeover::starting(const std::string& config_name, int workers, int start_timeout_ms) {
    if (!pending()) return;
    // Checked before a worker is forked: a release that cannot read what the
    // old gateway workers write is refused before any connection moves.
    if (old_format_ != 0 && old_format_ != handover_format()) {
        give_up("this binary reads hand-over format " + std::to_string(handover_format()) +
                ", the running one writes " + std::to_string(old_format_) +
                ": its gateway connections could not be taken over");
        return;
    }
    send("say new master pid " + std::to_string(getpid()) + " (build " + build_id() + "): config " + config_name +
         " read, " + std::to_string(workers) + " workers starting");
    // Not every worker READY within start_timeout: the new release does not
    // start, and the old master serves on.
    deadline_timer_ = loop_.add_timer(start_timeout_ms, [this, workers, start_timeout_ms] {
        deadline_timer_ = 0;
        give_up(std::to_string(workers - table_.ready_workers()) + " workers not READY within start_timeout (" +
                std::to_string(start_timeout_ms) + " ms)");
        return EventLoop::kNoMore;
    });
}

void Takeover::failed_to_start(const std::string& why) {
    if (!pending()) return;
    send("error " + why);
    phase_ = Phase::GaveUp;
}

// ---- What the table of workers tells ----

void Takeover::worker_ready(pid_t pid, int group, int slot) {
    if (!pending()) return;
    send("say new master pid " + std::to_string(getpid()) + ": " + table_.slot_name(group, slot) + " ready (pid " +
         std::to_string(pid) + ")");
    if (table_.every_slot_ready()) every_worker_ready();
}

// An old master that hands connections over hears it first; the files
// change hands once its gateway workers have given theirs ("handed").
void Takeover::every_worker_ready() {
    if (old_format_ == 0) return take_over();
    if (awaiting_handover_) return;
    awaiting_handover_ = true;
    send("handover");
}

void Takeover::worker_exited(pid_t pid, int group, int slot, const std::string& how, const std::string& failure) {
    if (!pending()) return;
    // The new release does not start: the upgrade fails now, rather than
    // after a crash loop's back-off.
    give_up("worker " + table_.slot_name(group, slot) + " (pid " + std::to_string(pid) + ") exited with " + how +
            (failure.empty() ? "" : ": " + failure));
}

// ---- Taking over, or giving up ----

// Every worker is READY: only now do the pid file and the control socket
// change hands, each by one rename (pidfile.h). The pid file first: from its
// rename on, a check finds our lock; the socket right after, and the proof
// holds again (a check that fell between the two looked again).
void Takeover::take_over() {
    std::string err = pid_file_.install();
    if (err.empty()) err = control_.install();
    if (!err.empty()) {
        give_up("cannot take the pid file and the control socket over: " + err);
        return;
    }
    if (deadline_timer_) loop_.cancel_timer(std::exchange(deadline_timer_, 0));
    pid_t old_master = getppid();
    // Logged before it is said, so the old master's drain comes after this line.
    log::info("took over from master pid %d: the pid file and the control socket are ours", int(old_master));
    send("taken " + std::string(build_id()));
    phase_ = Phase::TakenOver;
    taken.fire(old_master);
    // Nobody waits for a start report: the old master told the CLI, and our
    // stdout is the old master's.
    log::info("serving: %d of %d workers ready", table_.ready_workers(), int(table_.processes().size()));
}

// Not a stop: the old master serves on from the same listening sockets, so
// their door stays open; our READY workers drain, the others are killed.
void Takeover::give_up(const std::string& why) {
    if (!pending()) return;
    log::error("giving up the upgrade: %s", why.c_str());
    send("error " + why);
    phase_ = Phase::GaveUp;
    if (deadline_timer_) loop_.cancel_timer(std::exchange(deadline_timer_, 0));
    table_.retire_all();  // with no worker left, the master's loop ends at once
}

void Takeover::heard(std::string_view message) {
    if (message.starts_with("carry ")) {
        carried.fire(message);
        return;
    }
    if (message.empty()) old_master_gone.fire();
    const bool graceful = message == "stop -g";
    if (message == "stop" || graceful) {
        if (pending())
            give_up("the old master is stopping");
        else if (phase_ == Phase::TakenOver)
            stop_(graceful, "the old master's stop, which crossed our takeover");  // a stop has the last word
    } else if (message.starts_with("end ")) {
        pass_end(message.substr(4));
    } else if (message.starts_with("handed")) {
        if (pending() && awaiting_handover_) take_over();
    } else if (message == "abort") {
        // Taken over already: our "taken" crossed its "abort", and it hands
        // over when it reads it.
        give_up("the old master gave up waiting");
    } else if (message.empty()) {
        // Taken over: the old master has drained and exited, as it should.
        give_up("the old master went away");
    } else {
        log::warn("unknown message from the old master: %.*s", int(message.size()), message.data());
    }
}

// "end GROUP SLOT" and a descriptor: our worker of that slot takes the old
// one's connections over on it. Without such a worker the end just closes:
// the old worker sees EOF, keeps its connections, and the upgrade fails.
void Takeover::pass_end(std::string_view group_and_slot) {
    std::vector<Fd> fds = channel_.take_fds();
    const size_t space = group_and_slot.rfind(' ');
    const std::string group(group_and_slot.substr(0, space));
    const int slot = space == std::string_view::npos ? -1 : std::atoi(std::string(group_and_slot.substr(space + 1)).c_str());
    const pid_t pid = fds.size() == 1 && slot >= 0 ? table_.find_worker(group, slot) : 0;
    if (!pid) {
        log::warn("upgrade: no worker of ours for the hand-over of %s#%d", group.c_str(), slot);
        return;
    }
    if (std::string err = table_.tell(pid, std::string_view(&kMsgTakeOver, 1), {fds[0].get()}); !err.empty())
        log::warn("upgrade: cannot pass the hand-over of %s#%d to pid %d: %s", group.c_str(), slot, int(pid), err.c_str());
}

void Takeover::send_carry() {
    if (!carry || !channel_) return;
    for (const std::string& m : carry())
        if (!channel_.send(m).empty()) return;  // it is gone
}

void Takeover::send(const std::string& message) {
    if (!channel_) return;  // the old master is gone: nobody to tell
    if (std::string err = channel_.send(message); !err.empty())
        log::warn("cannot tell the old master \"%s\": %s", message.substr(0, 60).c_str(), err.c_str());
}

}  // namespace smooth
