// workers: the master's table of worker processes.
//
// One entry per living worker process (WorkerProcess), and per group what its
// processes share (Group): the listener the master opened before fork, the
// version that last started, a preloaded module, and each slot's back-off.
// This class forks workers, reads their channels (READY, or why one could not
// start), reaps them, drains or kills them, and respawns one that died on its
// own, waiting longer each time it dies again at once.
//
// What an exit or a READY means beyond this table (a reload's next step, the
// report that the server has started) is the master's business: it is told
// through WorkerEvents, and it answers whether an exit was expected.
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
#include "core/event_loop.h"
#include "core/fd.h"
#include "core/self_pipe.h"
#include "core/stats.h"
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
    Fd channel;              // the master's end of the socketpair
    int stats_row = -1;
    int64_t forked_ms = 0;
    int drain_timeout_ms = 0; // the one it was forked with: its own deadline
    uint64_t kill_timer = 0;
    std::string failure;     // what the worker said before it gave up starting

    bool told_to_go() const { return state == WorkerState::Draining || state == WorkerState::Stopping; }
};

struct Group {
    // The group's listener; for a business group one per worker slot (slot k
    // on port + k), so a gateway reaches each business worker by its address.
    std::vector<Fd> listeners;
    std::string good_version;      // the version that last reached READY
    uint64_t good_generation = 0;
    LoadedModule preloaded;        // preload = true: loaded once, before fork
    struct Slot {
        int fast_failures = 0;     // consecutive deaths within a second of starting
        uint64_t respawn_timer = 0;
    };
    std::vector<Slot> slots;
};

class WorkerEvents {
public:
    virtual ~WorkerEvents() = default;
    virtual void worker_ready(const WorkerProcess& w) = 0;
    // True when the exit was expected (a reload drained or gave up on it):
    // then the table does not respawn the slot.
    virtual bool worker_exited(const WorkerProcess& w, const std::string& how) = 0;
    virtual void all_workers_gone() = 0;  // only while stopping (or retiring)
    // A child that is not a worker exited (an upgrade's new master).
    virtual void other_child_exited(pid_t pid, int status) = 0;
};

class Workers {
public:
    Workers(const Config& config, EventLoop& loop, StatsTable& stats, SelfPipe& signals, WorkerEvents& events)
        : config_(config), loop_(loop), stats_(stats), signals_(signals), events_(events) {}
    Workers(const Workers&) = delete;
    Workers& operator=(const Workers&) = delete;

    // Before the first fork: one per Config::groups entry, in the same order.
    void add_group(Group g) { groups_.push_back(std::move(g)); }

    // Forks a worker for a slot running `version`. The pid, or -1 (logged).
    pid_t spawn(int group, int slot, const std::string& version, uint64_t generation);
    // spawn() the group's last good version; if that fails (fork EAGAIN, a
    // full stats table...), try again later with the crash-loop back-off.
    pid_t fill_slot(int group, int slot);
    // What fill_slot() forks from now on: an aborted reload goes back to the
    // version the group ran before it.
    void set_good_version(int group, const std::string& version, uint64_t generation);
    // SIGQUIT, with a SIGKILL deadline a little after its drain_timeout.
    bool drain(pid_t pid);
    void kill(pid_t pid, const std::string& why);
    // The process serving a slot: the one not told to go. 0 if none.
    pid_t find_worker(int group, int slot) const;
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
    // Non-reloadable groups during a reload: their on_worker_reload runs.
    void tell_not_reloadable(int group);
    void close_listeners();
    // A business group's listeners follow its count at a reload: the ones a
    // new slot needs are opened (before its worker is forked), the ones of
    // retired slots closed. Returns "" or what failed.
    std::string fit_slot_listeners(int group, int count);

    const std::map<pid_t, WorkerProcess>& processes() const { return processes_; }
    const std::vector<Group>& groups() const { return groups_; }
    int ready_count(int group) const;
    bool all_ready() const;
    bool stopping() const { return stopping_; }
    // Requests served so far by every worker, the reaped ones included.
    uint64_t requests_served() const;
    std::string slot_name(int group, int slot) const;  // "web#2"

private:
    void on_channel(pid_t pid);
    void read_channel(WorkerProcess& w);
    void on_ready(WorkerProcess& w);
    void on_exit(pid_t pid, int status);
    void respawn_later(int group, int slot);
    void arm_kill(WorkerProcess& w, int64_t after_ms, std::string why);
    Group::Slot& slot_state(int group, int slot);
    bool handshakes_arriving();  // on a listener we are stopping (settling_)

    const Config& config_;
    EventLoop& loop_;
    StatsTable& stats_;
    SelfPipe& signals_;
    WorkerEvents& events_;
    std::vector<Group> groups_;
    std::map<pid_t, WorkerProcess> processes_;
    uint64_t requests_of_reaped_ = 0;
    bool stopping_ = false;
    uint64_t settle_timer_ = 0;  // a graceful stop's moment before the drain
    std::vector<sockaddr_in> settling_;  // ...waiting for the handshakes under way on these
    bool settle_blind_ = false;          // ...or for its whole limit, the kernel not saying
};

}  // namespace smooth
