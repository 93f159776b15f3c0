// master: the process that owns the listeners and the workers.
//
// It reads the config, opens every listener and the stats table *before* it
// forks, forks the workers, reaps them, respawns the ones that die, runs the
// reload (reload.cpp) and answers the control socket (control.cpp). It never
// accepts a client connection, and it never loads a module unless a group says
// `preload = true`.
//
// Everything happens in its event loop: SIGCHLD, SIGHUP, SIGQUIT... arrive as
// bytes on the self-pipe; READY arrives on each worker's channel; deadlines
// (SIGKILL after drain_timeout, respawn back-off, start_timeout) are timers.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

#include "config/config.h"
#include "master/control.h"
#include "core/event_loop.h"
#include "core/fd.h"
#include "worker/module_loader.h"
#include "master/pidfile.h"
#include "master/reload.h"
#include "core/self_pipe.h"
#include "core/stats.h"

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
    int group = 0;          // index into Master::groups_
    int slot = 0;
    uint64_t generation = 0;
    std::string module;     // the stored version it runs ("builtin:..." for builtins)
    WorkerState state = WorkerState::Starting;
    Fd channel;             // the master's end of the socketpair
    int stats_row = -1;
    int64_t forked_ms = 0;
    int64_t ready_ms = 0;
    int64_t drain_ms = 0;   // when SIGQUIT was sent
    int drain_timeout_ms = 0; // the one it was forked with: its own deadline
    uint64_t kill_timer = 0;
    std::string failure;    // what the worker said before it gave up starting

    bool told_to_go() const { return state == WorkerState::Draining || state == WorkerState::Stopping; }
};

struct Group {
    GroupConfig config;
    Fd listener;
    std::string good_module;       // the version that last reached READY
    uint64_t good_generation = 0;
    LoadedModule preloaded;        // preload = true: loaded once, before fork
    struct Slot {
        int fast_failures = 0;     // consecutive deaths within a second of starting
        uint64_t respawn_timer = 0;
    };
    std::vector<Slot> slots;
};

// "web#2": how logs, status and the reload name a group's slot.
std::string slot_name(const Group& g, int slot);

struct StartOptions {
    bool daemon = false;
    int report_fd = -1;  // daemon: where to say "started" or why not, to the waiting CLI
};

class Master {
public:
    Master(Config config, std::string config_path);
    ~Master();

    // Runs the master's whole life; returns the process exit status.
    int run(StartOptions options);

    // ---- For reload.cpp ----
    std::vector<Group>& groups() { return groups_; }
    const Config& config() const { return config_; }
    EventLoop& loop() { return loop_; }
    const std::string& config_path() const { return config_path_; }
    void set_config(Config c) { config_ = std::move(c); }
    pid_t spawn(int group, int slot, const std::string& module, uint64_t generation);
    // spawn() the group's last good version; if that fails (fork EAGAIN, a
    // full stats table...), try again later with the crash-loop back-off.
    void fill_slot(int group, int slot);
    void drain_worker(WorkerProcess& w);  // SIGQUIT, with a SIGKILL deadline
    void kill_worker(WorkerProcess& w, const char* why);
    WorkerProcess* process(pid_t pid);
    WorkerProcess* slot_owner(int group, int slot);  // the process serving a slot (not told to go)
    void notify_not_reloadable(int group);
    uint64_t next_generation() { return ++generation_; }
    bool stopping() const { return stopping_; }

    // ---- For control.cpp ----
    std::string status_text() const;
    std::string status_json() const;
    std::string connections_text() const;
    void request_stop(bool graceful, const char* why);
    Reload& reload() { return reload_; }

private:
    std::string open_everything();
    void on_signals();
    void reap();
    void on_exit(pid_t pid, int status);
    void on_channel(pid_t pid);
    void read_channel(WorkerProcess& w);
    void on_ready(WorkerProcess& w);
    void respawn_later(int group, int slot);
    void arm_kill(WorkerProcess& w, int64_t after_ms, std::string why);
    void report_started();
    void shutdown_files();

    Config config_;
    std::string config_path_;  // "" for the embedded default
    StartOptions options_;
    EventLoop loop_;
    SelfPipe signals_;
    StatsTable stats_;
    ControlServer control_;
    PidFile pid_file_;
    Reload reload_;
    std::vector<Group> groups_;
    std::map<pid_t, WorkerProcess> workers_;
    uint64_t generation_ = 0;
    int64_t started_ms_ = 0;
    time_t started_wall_ = 0;
    bool stopping_ = false;
    bool graceful_ = false;
    bool reported_ = false;
    uint64_t start_report_timer_ = 0;
};

}  // namespace smooth
