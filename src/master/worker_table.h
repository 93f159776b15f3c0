// worker_table: the master's table of worker processes.
//
// One entry per living worker process (WorkerProcess), and per group what its
// processes share (Group): the listener the master opened before fork, the
// version that last started, a preloaded module, and each slot's back-off.
// The table forks workers, reads their channels (READY, or why one could not
// start), reaps them, drains or kills them, and respawns one that died on its
// own, waiting longer each time it dies again at once.
//
// What a READY or an exit means beyond the table (a reload's next step, the
// start report, an upgrade's takeover, a line in the timeline) is for its
// listeners: the table fires `ready` and `exited`, and does not know who
// hears. It decides alone whether to respawn: never a worker told to go
// (drained, killed), nor a slot that is served again or no longer exists.
//
// The table reaches the operating system (fork, kill, waitpid) only through
// ProcessControl, so its unit test (tests/unit/test_worker_table.cpp) runs
// the back-off and the deadlines with a fake one and a fake clock.
//
// Ownership: the table owns the processes' channels and the groups'
// listeners. It reads the running Config through a reference to the master's
// copy, so a reload that applies a new config is seen at the next spawn.
#pragma once

#include <map>
#include <netinet/in.h>
#include <string>
#include <sys/types.h>
#include <vector>

#include "config/config.h"
#include "core/channel.h"
#include "core/event_loop.h"
#include "core/fd.h"
#include "core/listeners.h"
#include "core/stats.h"
#include "master/process_control.h"
#include "master/reload.h"
#include "worker/module_loader.h"

namespace smooth {

// One state per worker process, the whole story of its life:
//   Starting -> Ready -> Draining (SIGQUIT: finishing its requests)
//            \        \-> Stopping (SIGTERM or SIGKILL: going now)
// Draining and Stopping workers were told to go: they are never respawned.
enum class WorkerState { Starting, Ready, Draining, Stopping };
const char* worker_state_name(WorkerState s);

// "status 3 (module failed to load)", "signal 9 (Killed)": a waitpid() status in words.
std::string exit_description(int status);

struct WorkerProcess {
    pid_t pid = 0;
    int group = 0;           // index into Config::groups
    int slot = 0;
    uint64_t generation = 0;
    std::string version;     // the stored module file it runs ("builtin:..." for builtins)
    WorkerState state = WorkerState::Starting;
    Channel channel;         // the master's end
    int stats_row = -1;
    int64_t forked_ms = 0;
    int drain_timeout_ms = 0; // the one it was forked with: its own deadline
    uint64_t kill_timer = 0;
    std::string failure;     // what the worker said before it gave up starting
    // reloadable = handover: a new worker forked while its slot's old worker
    // serves keeps, here, the other end of its hand-over socketpair, until
    // drain() gives it to the old worker with 'H' (worker/handover.h).
    Fd successor_end;
    bool handing_over = false;  // told 'H', not yet heard how it went

    bool told_to_go() const { return state == WorkerState::Draining || state == WorkerState::Stopping; }
};

struct Group {
    // The group's listener; for a business group one per worker slot (slot k
    // on port + k), so a gateway reaches each business worker by its address.
    std::vector<Fd> listeners;
    std::string good_version;      // the version that last reached READY
    uint64_t good_generation = 0;
    LoadedModule preloaded;        // preload = true: loaded once, before fork
    Fd access_log;                 // its access_log, opened by the master (log_files.h); none: off
    std::string access_log_path;   // ...where it was opened
    struct Slot {
        int fast_failures = 0;     // consecutive deaths within a second of starting
        uint64_t respawn_timer = 0;
    };
    std::vector<Slot> slots;
};

class WorkerTable : public ReloadWorkers {
public:
    WorkerTable(const Config& config, EventLoop& loop, StatsTable& stats, ProcessControl& os)
        : config_(config), loop_(loop), stats_(stats), os_(os) {}
    WorkerTable(const WorkerTable&) = delete;
    WorkerTable& operator=(const WorkerTable&) = delete;

    // What the table tells (core/listeners.h), in the order it happens.
    Listeners<const WorkerProcess&> ready;                       // it sent READY
    Listeners<const WorkerProcess&, const std::string&> exited;  // it was reaped; how it ended
    Listeners<> all_gone;                                        // stopping or retiring: no worker is left
    Listeners<pid_t, int> other_child_exited;                    // not a worker (an upgrade's new master); its status
    Listeners<const WorkerProcess&> respawning;                  // it exited on its own, and its slot is refilled
    // An old worker was told to hand over ('H' sent: its connections move
    // now); then it says how it went: handed over (it drains what stays and
    // exits), or failed (it serves on: Ready again).
    Listeners<const WorkerProcess&> told_to_hand_over;
    Listeners<pid_t, bool, const std::string&> handed_over;

    // Before the first fork: one per Config::groups entry, in the same order.
    void add_group(Group g) { groups_.push_back(std::move(g)); }

    // ReloadWorkers: what a reload asks (reload.h).
    pid_t find_worker(int group, int slot) override;
    pid_t find_worker(const std::string& group, int slot);  // by the group's name
    // A message, with descriptors, to one worker. "" or what failed.
    std::string tell(pid_t pid, std::string_view message, const std::vector<int>& fds);
    // 'H' and `end`: the worker hands its connections over on it, then drains
    // (the kill deadline as drain()'s). False if it cannot be told.
    bool hand_over(pid_t pid, Fd end);
    // Every slot of every group with no worker serving it is filled. How many.
    int fill_empty_slots();
    std::string spawn(int group, int slot, const std::string& version, uint64_t generation, pid_t& pid) override;
    // SIGQUIT, with a SIGKILL deadline a little after its drain_timeout. In a
    // reloadable = handover group whose slot has a new worker waiting to take
    // over, 'H' instead: the old worker hands its connections over, then drains.
    bool drain(pid_t pid) override;
    void kill(pid_t pid, const std::string& why) override;
    Refilled refill(int group, int slot) override;
    void tell_not_reloadable(int group) override;
    // A message to every living worker of a group (those draining too), with
    // descriptors (SCM_RIGHTS). How many were told.
    int tell_group(int group, std::string_view message, const std::vector<int>& fds);
    void set_access_log(int group, Fd fd, const std::string& path);

    // spawn() the group's last good version; if that fails (fork EAGAIN, a
    // full stats table...), try again later with the crash-loop back-off.
    // The pid, or 0 when it will try again.
    pid_t fill_slot(int group, int slot);
    // What fill_slot() forks from now on: an aborted reload goes back to the
    // version the group ran before it.
    void set_good_version(int group, const std::string& version, uint64_t generation);
    // SIGCHLD: reap every exited child.
    void reap();
    // New connections are refused and the master's listener copies closed;
    // then every worker drains (graceful: after a moment for the handshakes
    // under way) or gets SIGTERM, then SIGKILL after stop_timeout; nothing is
    // forked any more.
    void stop_all(bool graceful);
    // An upgrade's end for this master's workers (the old master's once the
    // new one has taken over; the new master's when it gives up): each READY
    // worker drains as in a reload, one not READY yet is killed (as a reload
    // kills a replacement it gave up on), nothing is respawned. The master's
    // copies of the listeners close, but the door stays open: no
    // refuse_new_connections, for the other master's workers accept from
    // the very same sockets.
    void retire_all();
    void close_listeners();
    // A business group's listeners follow its count at a reload: the ones a
    // new slot needs are opened (before its worker is forked), the ones of
    // retired slots closed. Returns "" or what failed.
    std::string fit_slot_listeners(int group, int count);

    const std::map<pid_t, WorkerProcess>& processes() const { return processes_; }
    const std::vector<Group>& groups() const { return groups_; }
    int ready_count(int group) const;
    int ready_workers() const;      // READY, over every group
    bool all_ready() const;         // every living worker is READY
    bool every_slot_ready() const;  // each slot of each group has a READY worker
    int slot_count() const;         // the slots of every group (total_workers of the running config)
    bool stopping() const { return stopping_; }
    // Requests served so far by every worker, the reaped ones included.
    uint64_t requests_served() const;
    // A living worker's open connections, from its stats row; -1 if `pid`
    // is not in the table (not forked yet, or reaped).
    int64_t connections_of(pid_t pid) const;
    std::string slot_name(int group, int slot) const;  // "web#2"

private:
    void on_message(pid_t pid, std::string_view message);
    void on_ready(WorkerProcess& w);
    void on_handover_word(WorkerProcess& w, bool ok, std::string_view text);
    WorkerProcess* successor_of(const WorkerProcess& old);
    void on_exit(pid_t pid, int status);
    void respawn_later(int group, int slot);
    void arm_kill(WorkerProcess& w, int64_t after_ms, std::string why);
    void signal_worker(pid_t pid, int sig);
    Group::Slot& slot_state(int group, int slot);
    bool handshakes_arriving();  // on a listener we are stopping (settling_)

    const Config& config_;
    EventLoop& loop_;
    StatsTable& stats_;
    ProcessControl& os_;
    std::vector<Group> groups_;
    std::map<pid_t, WorkerProcess> processes_;
    uint64_t requests_of_reaped_ = 0;
    bool stopping_ = false;
    uint64_t settle_timer_ = 0;  // a graceful stop's moment before the drain
    std::vector<sockaddr_in> settling_;  // ...waiting for the handshakes under way on these
    bool settle_blind_ = false;          // ...or for its whole limit, the kernel not saying
};

}  // namespace smooth
