// upgrade: replacing the running master, and with it the ./server binary,
// without refusing or resetting a connection and without a moment where no
// master answers the command line. This is the old master's side; the new
// master's is takeover.h. nginx's binary upgrade (SIGUSR2), gated on READY.
//
//   old master A (this file)                         new master B (takeover.h)
//   ─────────────────────────                        ───────────────────────────
//   `upgrade` (control socket) or SIGUSR2
//   fork; in the child: the listeners to fds 3..,
//   the channel after them, LISTEN_* set; exec ──────► reads the config (as it is now),
//                                                       takes each inherited listener
//                                                       (binds none), prepares its pid
//                                                       file and control socket BESIDE
//                                                       the real ones, forks its workers
//        ◄──── say "web#0 ready (pid 5123)" ...         (A's and B's workers both accept)
//                                                       every worker READY:
//        ◄──── handover                                   (when A writes a hand-over format
//   per gateway worker: a socketpair; "end GROUP SLOT"    B reads: else B gave up at start)
//   + one end ───────────────────────────────────────►  the end to its worker of that slot
//   'H' + the other to ours: it hands its connections     ('T'); it takes them over
//   over (worker/handover.h); all of them done:
//        handed ─────────────────────────────────────►  (one failed: abort; B gives up)
//                                                         rename its pid file over smooth.pid
//                                                         rename its socket over smooth.sock
//        ◄──── taken                                    the master from now on (MAINPID=)
//   retire: close its copies of the listeners,
//   drain its workers (SIGQUIT, as a reload does),
//   answer "moved" on its control socket
//   its last worker gone: "upgrade complete", exit
//
// Why there is no gap:
//   - the listening sockets are never closed or bound again: B's are A's,
//     inherited, and each queue lives as long as either master holds it;
//     from B's first READY worker to A's last one, both sets accept;
//   - the pid file and the control socket change hands by rename(), atomic:
//     a reader finds the old file or the new one, never none, and its lock
//     held (pidfile.h); B renames only once it serves, and A drains only
//     after that;
//   - a CLI that reached A just before a rename gets "moved" (or nothing, if
//     A exited first) and proves again: cli.cpp, master_call.
//
// Failure: B exits, a worker of B is not READY within start_timeout, B
// refuses the config, or B says nothing in time. B retires its own workers
// (draining the READY ones) and exits 1; A's workers were never touched; A
// reaps B before it reports, so once `upgrade` says "failed" there is one
// master. If B died after renaming its pid file but before saying so, A puts
// its own files back (take_files_back).
//
// One at a time: an upgrade while one runs, or during a reload, is refused,
// and so is a reload during an upgrade (Master::request_upgrade/_reload). A
// stop has the last word, as with a reload: A tells B "stop" (B gives up;
// if it had just taken over, it stops), and A exits only after B has.
//
// The channel (a SOCK_SEQPACKET socketpair: one message per packet):
//   B -> A   say TEXT        a line for the CLI
//            deadline MS     B's own start_timeout: how long A should wait
//            temp PATH       a file B made beside the real ones (A removes
//                            it if B dies)
//            error TEXT      why B gives up (then it exits)
//            handover        every worker READY: A's gateway workers may hand over now
//            taken BUILD     B holds the pid file and the control socket
//   A -> B   end GROUP SLOT  + a descriptor: B's end of a hand-over, for its worker of that slot
//            handed          every hand-over is done: take the files
//            stop | stop -g  the server is stopping
//            abort           A gives up on B (its deadline passed)
//   both     carry ...       what each has counted (totals_carry.h): A's first
//                            report waits in the channel before B exists
//
//   phase \ event  say      error     taken               B exits           deadline         A stops      A's workers gone
//   Idle           -        -         -                   -                 -                -            -
//   Starting       forward  keep why  hand over: retire   failed: why,      "abort" to B     "stop" to B  -
//                                     -> HandedOver       -> Idle           -> Abandoning    -> Abandoning
//   Abandoning     -        keep why  after "abort": it   failed (or        SIGKILL B        "stop" to B  -
//                                     made it: hand over; cancelled),
//                                     after "stop": the   -> Idle
//                                     paths are B's
//   HandedOver     -        -         -                   its own business  -                -            complete -> Idle
//
// (The channel's EOF only closes it: B's exit, reaped, is the event.)
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "core/channel.h"
#include "core/event_loop.h"
#include "core/fd.h"
#include "core/listeners.h"
#include "master/progress.h"

namespace smooth {

// What the upgrade may ask of the master, and nothing more.
class UpgradeHost {
public:
    struct Socket {
        int fd;            // a listening socket of ours; the new master gets a copy
        std::string name;  // for LISTEN_FDNAMES: "web", or "chat#1" for a business slot
    };
    virtual ~UpgradeHost() = default;
    virtual std::vector<Socket> sockets_to_pass() = 0;
    // The new master's argv: the binary, the config it was started with, "start".
    virtual std::vector<std::string> new_master_args(const std::string& binary) = 0;
    // In the child, after fork, before exec: our signal handlers go (self_pipe.h).
    virtual void before_exec() = 0;
    // The new master holds the pid file and the control socket now. `retire`:
    // drain our workers and exit once they are gone; otherwise (we are
    // stopping anyway) only let go of the two paths.
    virtual void handed_over(pid_t new_master, bool retire) = 0;
    // The new master died after renaming its pid file over ours: take the
    // pid file and the control socket back.
    virtual void take_files_back() = 0;
    virtual int start_timeout_ms() = 0;
    virtual int drain_timeout_ms() = 0;

    // The hand-over (worker/handover.h): the gateway workers whose
    // connections the new master's take over, each by its group's name and slot.
    struct Handing {
        pid_t pid;
        std::string group;
        int slot;
    };
    virtual std::vector<Handing> gateway_workers() = 0;
    // Tells one to hand its connections over on `end` ('H'). False if it cannot be told.
    virtual bool hand_over_worker(pid_t pid, Fd end) = 0;
    // A failed upgrade that moved connections: the slots whose workers
    // handed over are served again. How many were refilled.
    virtual int refill_empty_slots() = 0;
};

class Upgrade {
public:
    // Each line of the upgrade's story (progress.h); `ok` on the last one for "complete".
    using Progress = smooth::Progress;
    enum class Phase { Idle, Starting, Abandoning, HandedOver };

    Upgrade(EventLoop& loop, UpgradeHost& host) : loop_(loop), host_(host) {}

    // What it tells (core/listeners.h), for those who report it: systemd
    // hears "upgrading" at `began`, nothing more from us after `handed_over`,
    // and how it went at `ended`.
    Listeners<const std::string&> began;        // the binary it starts
    Listeners<pid_t> handed_over;               // the new master holds the paths now
    Listeners<bool, const std::string&> ended;  // ok, and the summary
    // What else the two masters tell each other (the counters:
    // totals_carry.h), without this component knowing what it is: `carry`
    // gives the messages to send, asked before the fork (they wait in the
    // channel for the new master), every kCarryEveryMs while it is open, and
    // once more before it closes; `carried` hears the new master's; and
    // `new_master_gone` when it has exited.
    std::function<std::vector<std::string>()> carry;
    Listeners<std::string_view> carried;
    Listeners<> new_master_gone;

    // The events.
    void request(Progress progress, const std::string& binary, const std::string& source);
    bool on_exit(pid_t pid, const std::string& how);  // SIGCHLD: true if it was the new master
    // A gateway worker told to hand over says how it went (WorkerTable::handed_over).
    void on_handover(pid_t pid, bool ok, const std::string& text);
    void on_stop(bool graceful);          // the old master is stopping
    void old_workers_gone();              // HandedOver: our last worker has exited

    Phase phase() const { return phase_; }
    bool running() const { return phase_ != Phase::Idle; }
    // The new master is still ours to wait for (the master must not exit before it).
    bool waiting_for_new_master() const { return phase_ == Phase::Starting || phase_ == Phase::Abandoning; }
    pid_t new_pid() const { return new_pid_; }
    std::string describe() const;  // for status: what it is doing, or the last result
    static const char* phase_name(Phase p);

private:
    void begin(const std::string& binary, const std::string& source);
    void on_message(std::string_view message);
    void hand_over();
    void hand_connections_over();
    void give_paths_away(bool retire);
    void abandon(const std::string& why, const char* message_to_new);
    void failed(const std::string& why);
    void finish(bool ok, const std::string& summary);
    void enter(Phase next, const std::string& why);  // every phase change, logged
    void say(const std::string& line);
    void arm_deadline(int64_t ms);
    void tell_new(const std::string& message);
    void send_carry(Channel& to);

    EventLoop& loop_;
    UpgradeHost& host_;
    Phase phase_ = Phase::Idle;
    std::vector<Progress> progress_;
    std::string binary_;
    pid_t new_pid_ = 0;
    Channel channel_;
    uint64_t deadline_timer_ = 0;
    uint64_t carry_timer_ = 0;
    int64_t started_ms_ = 0;
    bool stopping_ = false;           // the old master is stopping: never take files back
    std::string abandon_why_;
    std::string why_;                 // the new master's own words, when it gives up
    std::vector<pid_t> handing_;      // gateway workers handing their connections over, not yet heard
    std::string handover_failed_;     // why one could not
    bool connections_moved_ = false;  // one did: a failure now refills its slot
    std::vector<std::string> temps_;  // files it made beside ours
    std::string new_build_;
    std::string last_result_;
};

// The new master's environment: ours, minus any LISTEN_* and
// SMOOTH_UPGRADE_FD, plus LISTEN_FDS, LISTEN_FDNAMES, SMOOTH_UPGRADE_FD and
// a LISTEN_PID entry with room for a pid, at index `*listen_pid_at` (the
// child fills it in after fork, once it knows its pid). Public for the unit test.
std::vector<std::string> new_master_environment(const char* const* ours, const std::vector<std::string>& names,
                                                int channel_fd, size_t* listen_pid_at);

// The environment variable naming the channel's fd in the new master.
inline constexpr const char* kUpgradeChannelEnv = "SMOOTH_UPGRADE_FD";
// The hand-over format the old master's workers write (core/build_id.h).
inline constexpr const char* kHandoverFormatEnv = "SMOOTH_HANDOVER_FORMAT";

}  // namespace smooth
