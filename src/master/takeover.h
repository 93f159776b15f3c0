// takeover: the new master's side of an upgrade (upgrade.h has the picture
// and the messages on the channel).
//
// A master started by `upgrade` finds its listeners at fds 3.. (LISTEN_FDS,
// taken as systemd's are: core/listener.h) and the channel to the old master
// at $SMOOTH_UPGRADE_FD. It starts like any master, except:
//   - its pid file and control socket are made beside the real ones and
//     renamed over them only once every worker is READY (take_over;
//     pidfile.h says why a rename leaves no gap);
//   - until then a failure is not a stop: its workers drain without shutting
//     the listeners' door, which the old master's workers still use, and it
//     exits 1 (give_up);
//   - it tells the old master each step, and the old master tells the CLI.
//
//   None ── (a start with $SMOOTH_UPGRADE_FD) ──► Pending ──► TakenOver
//                                                    └──────► GaveUp
//
// All of it lives here: the master asks where its files go, and whether it
// is still Pending; the table of workers tells this component its READYs and
// exits directly.
#pragma once

#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "core/channel.h"
#include "core/event_loop.h"
#include "core/listeners.h"

namespace smooth {

class ControlServer;
class Master;
class PidFile;
class WorkerTable;

// Reads and unsets $SMOOTH_UPGRADE_FD: "" with an empty channel when this
// start is not an upgrade's, "" with the channel, or what is wrong with it.
std::string upgrade_channel_from_env(Channel& out);

class Takeover {
public:
    enum class Phase { None, Pending, TakenOver, GaveUp };

    // `stop`: the master's own stop, for an old master's "stop" that crossed
    // our takeover.
    Takeover(EventLoop& loop, WorkerTable& table, PidFile& pid_file, ControlServer& control,
             std::function<void(bool graceful, const std::string& why)> stop);

    // We took over from the old master (its pid): systemd hears MAINPID.
    Listeners<pid_t> taken;
    // What else the two masters tell each other (upgrade.h: the counters):
    // `carried` hears the old master's messages (those it sent before it
    // forked us, at watch()); `carry` gives ours, sent every kCarryEveryMs
    // and once more when our last worker is gone; `old_master_gone` at the
    // channel's end.
    std::function<std::vector<std::string>()> carry;
    Listeners<std::string_view> carried;
    Listeners<> old_master_gone;

    // A start by `upgrade` (an open channel): Pending from now on. Nothing
    // otherwise, and every call below does nothing either.
    void begin(Channel channel);
    // Once the master's loop is open: what the old master says is heard.
    std::string watch();
    // The master's files, made beside the old master's. "" or what failed.
    std::string prepare_pid_file(const std::string& path);
    std::string prepare_control_socket(const std::string& path, int start_timeout_ms, Master& master);
    // The config is read and the workers are about to start; every one of
    // them must be READY within start_timeout.
    void starting(const std::string& config_name, int workers, int start_timeout_ms);
    // The master could not even open its files: the old master hears why.
    void failed_to_start(const std::string& why);
    // Not the master yet, and not going to be: its READY workers drain,
    // the others are killed, and the master exits 1. The door stays open.
    void give_up(const std::string& why);

    Phase phase() const { return phase_; }
    bool pending() const { return phase_ == Phase::Pending; }
    bool by_upgrade() const { return phase_ != Phase::None; }
    bool gave_up() const { return phase_ == Phase::GaveUp; }

private:
    void worker_ready(pid_t pid, int group, int slot);
    void worker_exited(pid_t pid, int group, int slot, const std::string& how, const std::string& failure);
    void take_over();
    void every_worker_ready();
    void pass_end(std::string_view group_and_slot);
    void heard(std::string_view message);  // "" when the old master hung up
    void send(const std::string& message);
    void send_carry();

    EventLoop& loop_;
    WorkerTable& table_;
    PidFile& pid_file_;
    ControlServer& control_;
    std::function<void(bool graceful, const std::string& why)> stop_;
    Phase phase_ = Phase::None;
    // The old master's workers write this hand-over format ($SMOOTH_HANDOVER_FORMAT;
    // 0: it did not say, and hands nothing over). Ours must be the same.
    int old_format_ = 0;
    bool awaiting_handover_ = false;  // "handover" sent: the files wait for "handed"
    Channel channel_;
    uint64_t deadline_timer_ = 0;  // start_timeout: every worker READY by then, or give up
};

}  // namespace smooth
