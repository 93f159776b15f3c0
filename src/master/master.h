// master: the process that owns the listeners and the workers.
//
// It reads the config, opens every listener and the stats table *before* it
// forks, forks the workers (worker_table.h), runs the reload (reload.h) and
// answers the control socket (control.h). It never accepts a client
// connection, and it never loads a module unless a group says `preload = true`.
//
// Everything happens in its event loop: SIGCHLD, SIGHUP, SIGQUIT... arrive as
// bytes on the self-pipe; READY arrives on each worker's channel; deadlines
// (SIGKILL after drain_timeout, respawn back-off, start_timeout) are timers.
//
// The master is where the parts meet, not a relay between them: the reload
// asks the master only for the config (ReloadConfig) and the table of
// workers for everything else (ReloadWorkers); READYs and exits go from the
// table straight to those who listen. A binary upgrade is two components of
// its own: Upgrade, this master handing over to a new one (upgrade.h; the
// master's part is UpgradeHost, in master_upgrade.cpp), and Takeover, this
// master taking over from an old one (takeover.h).
//
// Who else listens (the reload's timeline, systemd's STATUS lines) is not
// the master's business: they subscribe to its parts' events (core/listeners.h).
#pragma once

#include <string>
#include <sys/types.h>

#include "config/config.h"
#include "core/event_loop.h"
#include "core/fd.h"
#include "core/listeners.h"
#include "core/self_pipe.h"
#include "core/stats.h"
#include "master/control.h"
#include "master/log_files.h"
#include "master/pidfile.h"
#include "master/reload.h"
#include "master/status.h"
#include "master/takeover.h"
#include "master/upgrade.h"
#include "master/worker_table.h"

namespace smooth {

struct StartOptions {
    bool daemon = false;
    Fd report;         // daemon: where to say "started" or why not, to the waiting CLI
    Channel upgrade;   // started by an upgrade: the channel to the old master (takeover.h)
};

// The running binary's path (/proc/self/exe), read when the master starts,
// before a deploy can put a new file there: where `upgrade` finds the release.
std::string current_executable();

class Master : private ReloadConfig, private UpgradeHost {
public:
    Master(Config config, std::string config_path);
    ~Master() override;

    // Runs the master's whole life; returns the process exit status.
    int run(StartOptions options);

    // What the master itself tells (core/listeners.h).
    Listeners<> began;               // run() has begun: the log speaks as the master
    Listeners<> start_reported;      // the start report went out (every worker READY, or start_timeout passed)
    Listeners<bool> stop_began;      // a stop began (true: graceful); again if a graceful one turns hard

    // Its parts, for those who listen to them.
    EventLoop& loop() { return loop_; }
    WorkerTable& table() { return table_; }
    Reload& reload() { return reload_; }
    Upgrade& upgrade() { return upgrade_; }
    Takeover& takeover() { return takeover_; }
    ControlServer& control() { return control_; }
    StatsTable& stats() { return stats_; }
    bool stopping() const { return stopping_; }
    // A reload, an upgrade or a stop is under way: a reload asked for now
    // would not begin at once.
    bool busy() const;

    // ---- What the control socket asks (control.cpp) ----
    MasterView view() const;  // what `status`, `connections` and the start report show (status.h)
    void request_stop(bool graceful, const char* why);
    void request_reload(Reload::Progress progress, const std::string& source);
    // A binary upgrade (upgrade.h): `binary` "" for the one this master was
    // started from. Refused while a reload or another upgrade runs.
    void request_upgrade(Upgrade::Progress progress, const std::string& binary, const std::string& source);
    // `./server reopen` or SIGRTMIN+1: the log files opened anew (log_files.h);
    // the answer's lines, `ok` false if one kept its old file.
    std::string reopen_logs(const std::string& source, bool& ok);

private:
    std::string open_before_fork();
    void on_signals();
    void report_started();
    void shutdown_files();
    void exit_when_done();  // stopping or retiring: the loop ends once no worker and no new master is left
    bool retiring() const;  // handed over, or gave up taking over: draining out
    std::string upgrade_under_way() const;  // "" or what a reload would wait for
    const std::string& config_name() const { return config_path_.empty() ? config_.source : config_path_; }

    // ReloadConfig: the reload's step 2, and its way back (reload.h).
    std::string read_again(Config& fresh) override;
    std::string plan(const Config& fresh, Prepared& out) override;
    std::string apply(Prepared& run) override;
    void restore(const Prepared& run) override;

    // UpgradeHost: what the old master's side of an upgrade may ask (upgrade.h).
    std::vector<Socket> sockets_to_pass() override;
    std::vector<std::string> new_master_args(const std::string& binary) override;
    void before_exec() override;
    void handed_over(pid_t new_master, bool retire) override;
    void take_files_back() override;
    int start_timeout_ms() override { return config_.server.start_timeout_ms; }
    int drain_timeout_ms() override { return config_.server.drain_timeout_ms; }
    std::vector<Handing> gateway_workers() override;
    bool hand_over_worker(pid_t pid, Fd end) override { return table_.hand_over(pid, std::move(end)); }
    int refill_empty_slots() override { return table_.fill_empty_slots(); }

    Config config_;
    std::string config_path_;  // "" for the embedded default
    StartOptions options_;
    EventLoop loop_;
    SelfPipe signals_;
    StatsTable stats_;
    ControlServer control_;
    PidFile pid_file_;
    SystemProcesses processes_;
    WorkerTable table_;
    LogFiles logs_;
    Reload reload_;
    Upgrade upgrade_;                // this master's upgrade to a new one
    Takeover takeover_;              // this master's start, when an upgrade started it
    uint64_t generation_ = 0;
    time_t started_wall_ = 0;
    bool stopping_ = false;
    bool graceful_ = false;
    bool retiring_ = false;          // handed over to a new master: draining out
    bool reported_ = false;
    uint64_t start_report_timer_ = 0;
    std::string self_exe_;           // the binary it was started from: an upgrade's default
};

}  // namespace smooth
