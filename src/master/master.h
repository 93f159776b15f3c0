// master: the process that owns the listeners and the workers.
//
// It reads the config, opens every listener and the stats table *before* it
// forks, forks the workers (workers.h), runs the reload (reload.h) and answers
// the control socket (control.h). It never accepts a client connection, and it
// never loads a module unless a group says `preload = true`.
//
// Everything happens in its event loop: SIGCHLD, SIGHUP, SIGQUIT... arrive as
// bytes on the self-pipe; READY arrives on each worker's channel; deadlines
// (SIGKILL after drain_timeout, respawn back-off, start_timeout) are timers.
//
// The reload reaches the master only through ReloadHost, the table of
// workers through WorkerEvents, a binary upgrade through UpgradeHost (the
// old master's side; the new master's is Takeover): Master is where they
// meet. What it does for an upgrade is in master_upgrade.cpp.
#pragma once

#include <string>
#include <sys/types.h>

#include "config/config.h"
#include "core/event_loop.h"
#include "core/fd.h"
#include "core/self_pipe.h"
#include "core/stats.h"
#include "master/control.h"
#include "master/pidfile.h"
#include "master/reload.h"
#include "master/reload_timeline.h"
#include "master/status.h"
#include "master/systemd_notify.h"
#include "master/takeover.h"
#include "master/upgrade.h"
#include "master/workers.h"

namespace smooth {

struct StartOptions {
    bool daemon = false;
    Fd report;           // daemon: where to say "started" or why not, to the waiting CLI
    Fd upgrade_channel;  // started by an upgrade: the channel to the old master (takeover.h)
};

// The running binary's path (/proc/self/exe), read when the master starts,
// before a deploy can put a new file there: where `upgrade` finds the release.
std::string current_executable();

class Master : private ReloadHost, private WorkerEvents, private UpgradeHost {
public:
    Master(Config config, std::string config_path);
    ~Master() override;

    // Runs the master's whole life; returns the process exit status.
    int run(StartOptions options);

    // ---- What the control socket asks (control.cpp) ----
    std::string status_text() const;
    std::string status_json() const;
    std::string connections_text() const;
    void request_stop(bool graceful, const char* why);
    // With `lead_ms` > 0 the requests served are sampled that long before the
    // reload starts, so its timeline shows the rate it started from.
    void request_reload(Reload::Progress progress, const std::string& source, int64_t lead_ms = 0);
    // The last reload's timeline (reload_timeline.h), once its samples are in;
    // `ready` is called with it then.
    void when_timeline_ready(std::function<void(const std::string& text)> ready);
    // A binary upgrade (upgrade.h): `binary` "" for the one this master was
    // started from. Refused while a reload or another upgrade runs.
    void request_upgrade(Upgrade::Progress progress, const std::string& binary, const std::string& source);

private:
    std::string open_before_fork();
    void on_signals();
    void report_started();
    void tell_reload_progress();
    void shutdown_files();
    const std::string& config_name() const { return config_path_.empty() ? config_.source : config_path_; }
    MasterView view() const;  // what status.h formats
    int ready_workers() const;
    bool every_slot_ready() const;  // each slot of each group has a READY worker

    // ReloadHost: what the reload may ask (reload.h).
    bool prepare(Prepared& out, std::string& error) override;
    void restore(const Config& previous) override;
    pid_t find_worker(int group, int slot) override { return workers_.find_worker(group, slot); }
    pid_t spawn(int group, int slot, const std::string& version, uint64_t generation) override;
    bool drain(pid_t pid) override { return workers_.drain(pid); }
    void kill(pid_t pid, const std::string& why) override { workers_.kill(pid, why); }
    Refilled refill(int group, int slot) override;
    uint64_t add_timer(int64_t ms, std::function<void()> fire) override;
    void cancel_timer(uint64_t id) override { loop_.cancel_timer(id); }
    int64_t now_ms() override { return EventLoop::now_ms(); }
    void finished(const ReloadTimeline& timeline) override;

    // WorkerEvents: what the table of workers tells (workers.h).
    void worker_ready(const WorkerProcess& w) override;
    bool worker_exited(const WorkerProcess& w, const std::string& how) override;
    void all_workers_gone() override;
    void other_child_exited(pid_t pid, int status) override;

    // UpgradeHost: what the old master's side of an upgrade may ask (upgrade.h).
    std::vector<Socket> sockets_to_pass() override;
    std::vector<std::string> new_master_args(const std::string& binary) override;
    void before_exec() override;
    void handed_over(pid_t new_master, bool retire) override;
    void take_files_back() override;
    void upgrade_ended(bool ok, const std::string& summary) override;
    int start_timeout_ms() override { return config_.server.start_timeout_ms; }
    int drain_timeout_ms() override { return config_.server.drain_timeout_ms; }

    // The new master's side (takeover.h), in master_upgrade.cpp.
    void take_over();
    void give_up(const std::string& why);
    void heard_from_old_master(const std::string& message);
    void exit_when_done();  // the loop ends once no worker and no new master is left

    // Requests served, sampled for the reload's timeline.
    void start_sampling();
    void sample();
    void timeline_done();

    Config config_;
    std::string config_path_;  // "" for the embedded default
    StartOptions options_;
    EventLoop loop_;
    SelfPipe signals_;
    StatsTable stats_;
    ControlServer control_;
    PidFile pid_file_;
    Workers workers_;
    Reload reload_;
    uint64_t generation_ = 0;
    time_t started_wall_ = 0;
    bool stopping_ = false;
    bool graceful_ = false;
    bool reported_ = false;
    uint64_t start_report_timer_ = 0;
    Upgrade upgrade_;                // this master's upgrade to a new one
    Takeover takeover_;              // this master's start, when an upgrade started it
    std::string self_exe_;           // the binary it was started from: an upgrade's default
    bool retiring_ = false;          // handed over, or gave up on taking over: draining out
    bool failed_ = false;            // exit status 1 (a takeover that gave up)
    SystemdNotify notify_;           // does nothing without $NOTIFY_SOCKET
    bool told_ready_ = false;        // READY=1 sent for the start
    bool told_reloading_ = false;    // RELOADING=1 sent, READY=1 owed at the reload's end
    int told_replaced_ = 0;
    std::vector<std::pair<std::string, uint64_t>> good_before_;  // each group's good version as a reload began          // ...and the last "reloading: N of M replaced" sent

    // The timeline of the reload running or last run, and its rate samples.
    ReloadTimeline timeline_;
    int64_t timeline_start_ms_ = 0;   // when the reload began (monotonic): t = 0
    bool timeline_complete_ = true;   // samples after the end are in
    uint64_t sample_timer_ = 0;
    uint64_t after_timer_ = 0;
    std::vector<ReloadTimeline::Sample> samples_;  // t_ms on the monotonic clock until timeline_done()
    std::vector<std::function<void(const std::string&)>> timeline_waiters_;
};

}  // namespace smooth
