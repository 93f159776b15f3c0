// takeover: the new master's side of an upgrade (upgrade.h has the picture
// and the messages on the channel).
//
// A master started by `upgrade` finds its listeners at fds 3.. (LISTEN_FDS,
// taken as systemd's are: core/listener.h) and the channel to the old master
// at $SMOOTH_UPGRADE_FD. It starts like any master, except:
//   - its pid file and control socket are made beside the real ones and
//     renamed over them only once every worker is READY (Master::take_over;
//     pidfile.h says why a rename leaves no gap);
//   - until then a failure is not a stop: its workers drain without shutting
//     the listeners' door, which the old master's workers still use, and it
//     exits 1 (Master::give_up);
//   - it tells the old master each step, and the old master tells the CLI.
//
//   None ── (a start with $SMOOTH_UPGRADE_FD) ──► Pending ──► TakenOver
//                                                    └──────► GaveUp
#pragma once

#include <functional>
#include <string>

#include "core/event_loop.h"
#include "core/fd.h"

namespace smooth {

// Reads and unsets $SMOOTH_UPGRADE_FD. An empty Fd (and "") when this start
// is not an upgrade's; otherwise the channel, or what is wrong with it.
Fd upgrade_channel_from_env(std::string& error);

// One message to the old master (a failure before any Master exists: the
// config did not parse). Returns false if it could not be sent.
bool tell_old_master(int channel, const std::string& message);

class Takeover {
public:
    enum class Phase { None, Pending, TakenOver, GaveUp };

    // What the old master says: "stop", "stop -g", "abort", or "" when it
    // hangs up (it exited, or died).
    using Heard = std::function<void(const std::string& message)>;

    // A start by `upgrade`: from now on Pending. Then, once the master's
    // loop exists, watch() the channel.
    void begin(Fd channel) {
        channel_ = std::move(channel);
        phase_ = Phase::Pending;
    }
    std::string watch(EventLoop& loop, Heard heard);

    Phase phase() const { return phase_; }
    bool pending() const { return phase_ == Phase::Pending; }
    bool by_upgrade() const { return phase_ != Phase::None; }

    void say(const std::string& line);
    void deadline(int ms);                    // our start_timeout: how long the old master should wait
    void temp(const std::string& path);       // a file made beside the real ones
    void taken(const std::string& build);     // Pending -> TakenOver
    void gave_up(const std::string& why);     // Pending -> GaveUp

private:
    void on_channel();
    void send(const std::string& message);
    void close();

    Phase phase_ = Phase::None;
    EventLoop* loop_ = nullptr;
    Fd channel_;
    Heard heard_;
};

}  // namespace smooth
