// master: see master.h. Its life from top to bottom: open what the workers
// inherit, fork them, run the loop, close the files; then what the reload
// and the table of workers ask of it.
#include "master/master.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <optional>
#include <set>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/build_id.h"
#include "core/listener.h"
#include "config/secret_file.h"
#include "core/log.h"
#include "master/module_trial.h"
#include "master/module_versions.h"
#include "master/run_dir.h"
#include "master/status.h"
#include "master/upgrade.h"

namespace smooth {

namespace {

constexpr int64_t kSampleEveryMs = 10;      // the timeline's requests-per-second resolution
constexpr int64_t kSampleAfterMs = 500;     // and how long it goes on after the reload ends
constexpr size_t kMaxSamples = 60000;       // ten minutes of samples at most

// The secret the gateway links are proven with (docs/links.md), when the
// config names no link_secret_file: this instance's own, made in run_dir at
// its first start and read again at every later one (an upgrade's new master
// included), so its gateway and business workers always agree. Only where
// some group links: a plain HTTP instance has no use for one.
std::string take_instance_link_secret(ServerConfig& s, const std::vector<GroupConfig>& groups) {
    if (!s.link_secret_file.empty()) return "";  // read with the config
    if (std::none_of(groups.begin(), groups.end(), [](const GroupConfig& g) { return g.role != Role::Plain; })) return "";
    const std::string path = s.run_dir + "/link.secret";
    bool made = false;
    std::string error;
    std::optional<std::string> secret = make_or_read_secret_file(path, made, error);
    if (!secret) return "the instance's link secret: " + error;
    if (made) log::info("links: made this instance's link secret %s (for its own gateway and business groups)", path.c_str());
    s.link_secret = std::move(*secret);
    return "";
}

}  // namespace

Master::Master(Config config, std::string config_path)
    : config_(std::move(config)),
      config_path_(std::move(config_path)),
      workers_(config_, loop_, stats_, signals_, *this),
      reload_(*this),
      upgrade_(loop_, *this) {}

Master::~Master() = default;

int Master::run(StartOptions options) {
    options_ = std::move(options);
    log::set_role("master");
    started_wall_ = time(nullptr);
    self_exe_ = current_executable();
    if (std::string err = notify_.open_from_env(); !err.empty()) log::warn("%s; not notifying systemd", err.c_str());
    if (options_.upgrade_channel) takeover_.begin(std::move(options_.upgrade_channel));
    if (std::string err = open_before_fork(); !err.empty()) {
        log::error("%s", err.c_str());
        takeover_.gave_up(err);
        if (options_.report) {
            std::string msg = "error: " + err + "\n";
            if (::write(options_.report.get(), msg.data(), msg.size()) == -1)
                log::warn("cannot tell the waiting command line: %s", errno_text(errno).c_str());
        }
        return 1;
    }
    log::info("started: config %s, %zu groups, build %s", config_name().c_str(), config_.groups.size(), build_id());
    if (takeover_.pending())
        takeover_.say("new master pid " + std::to_string(getpid()) + " (build " + build_id() + "): config " +
                      config_name() + " read, " + std::to_string(total_workers(config_)) + " workers starting");
    for (size_t g = 0; g < config_.groups.size(); g++)
        for (int slot = 0; slot < config_.groups[g].count; slot++) workers_.fill_slot(int(g), slot);
    start_report_timer_ = loop_.add_timer(config_.server.start_timeout_ms, [this] {
        start_report_timer_ = 0;
        if (takeover_.pending())
            give_up(std::to_string(total_workers(config_) - ready_workers()) + " workers not READY within start_timeout (" +
                    std::to_string(config_.server.start_timeout_ms) + " ms)");
        else
            report_started();
        return EventLoop::kNoMore;
    });

    std::string err = loop_.run();
    if (!err.empty()) log::error("%s", err.c_str());
    shutdown_files();
    log::info("exited");
    return err.empty() && !failed_ ? 0 : 1;
}

// Listeners, stats table, module versions and preloads: all before the first
// fork, so every worker inherits them, and a worker that exits takes only its
// own copy of a listener with it (the queue stays, with the master's copy).
std::string Master::open_before_fork() {
    const ServerConfig& s = config_.server;
    // Sockets handed to us at exec (listener.h): by systemd's socket
    // activation, or by the master before us in an upgrade (upgrade.h). Taken
    // first, so LISTEN_* are out of the environment before anything forks.
    InheritedListeners inherited;
    if (std::string err = inherited.take_from_env(); !err.empty()) return err;
    if (std::string err = prepare_private_dir(s.run_dir, "run_dir"); !err.empty()) return err;
    // Before the first fork: every worker inherits the secret's bytes.
    if (std::string err = take_instance_link_secret(config_.server, config_.groups); !err.empty()) return err;
    // Started by an upgrade: the old master holds both files; ours are made
    // beside them and renamed over them once we serve (take_over).
    if (std::string err = takeover_.pending() ? pid_file_.prepare_beside(s.pid_file) : pid_file_.acquire(s.pid_file);
        !err.empty())
        return err;
    if (takeover_.pending()) takeover_.temp(pid_file_.prepared_path());

    if (std::string err = loop_.open(); !err.empty()) return err;
    // The pipe and handlers before any child exists: a SIGCHLD can only come
    // after a fork, and it must find its handler in place.
    if (std::string err = signals_.open({SIGCHLD, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT, SIGTERM, SIGINT}); !err.empty())
        return err;
    // A CLI that hangs up is EPIPE on its socket, not our death.
    if (std::string err = ignore_signal(SIGPIPE); !err.empty()) return err;
    if (int rc = loop_.watch(signals_.read_fd(), EPOLLIN, [this](uint32_t) { on_signals(); }); rc < 0)
        return "epoll_ctl(ADD) failed for the self-pipe: " + errno_text(-rc);
    if (std::string err = takeover_.watch(loop_, [this](const std::string& m) { heard_from_old_master(m); });
        !err.empty())
        return err;

    if (std::string err = stats_.create(); !err.empty()) return err;

    for (const GroupConfig& gc : config_.groups) {
        Group g;
        std::string err;
        for (int port = 0; port < gc.ports(); port++) {  // a business group: one per worker slot
            ListenAddress at = gc.listen;
            at.port = uint16_t(at.port + port);
            // An inherited socket is already listening, its queue already
            // holding whatever arrived before us: use it, bind nothing.
            if (Fd fd = inherited.take(at)) {
                log::info("group %s: listening on the inherited socket for %s", gc.name.c_str(), at.text().c_str());
                g.listeners.push_back(std::move(fd));
                continue;
            }
            g.listeners.push_back(open_listener(at, err));
            if (!g.listeners.back()) return "group " + gc.name + ": " + err;
            if (gc.listen.protocol == Protocol::Http || gc.listen.protocol == Protocol::Ws)
                if (std::string e = defer_accept_until_data(g.listeners.back().get(), kDeferAcceptSeconds); !e.empty())
                    log::warn("group %s: %s; accepting without it", gc.name.c_str(), e.c_str());
        }
        g.good_version = store_module_version(gc.module, s.run_dir, err);
        if (g.good_version.empty()) return "group " + gc.name + ": " + err;
        if (gc.preload) {
            // The seed's limitation, on purpose: code loaded here, before fork,
            // is the code every worker of this group runs until a restart.
            g.preloaded = load_module(g.good_version, err);
            if (!g.preloaded.api) return "group " + gc.name + ": preloading " + gc.module + ": " + err;
        }
        g.slots.resize(size_t(gc.count));
        workers_.add_group(std::move(g));
    }
    for (const std::string& name : inherited.close_leftovers())
        log::warn("inherited socket %s: no group listens there; closed it", name.c_str());
    if (!takeover_.pending()) return control_.open(control_socket_path(s.run_dir), loop_, *this);
    if (std::string err = control_.open_beside(control_socket_path(s.run_dir), loop_, *this); !err.empty()) return err;
    takeover_.temp(control_.prepared_path());
    takeover_.deadline(s.start_timeout_ms);
    return "";
}

void Master::on_signals() {
    for (int sig : signals_.drain()) {
        switch (sig) {
            case SIGCHLD: workers_.reap(); break;
            case SIGHUP:
            case SIGUSR1: request_reload(nullptr, signal_name(sig)); break;
            case SIGUSR2: request_upgrade(nullptr, "", "SIGUSR2"); break;
            case SIGQUIT: request_stop(true, "SIGQUIT"); break;
            default: request_stop(false, signal_name(sig).c_str()); break;
        }
    }
}

void Master::request_stop(bool graceful, const char* why) {
    // Not the master yet: giving up is not a stop. The listeners' door must
    // stay open for the old master's workers (takeover.h).
    if (takeover_.pending()) {
        give_up(std::string("told to stop (") + why + ") before it took over");
        return;
    }
    if (stopping_ && (graceful || !graceful_)) return;  // already stopping at least this hard
    bool escalate = stopping_;
    stopping_ = true;
    graceful_ = graceful;
    // A stop has the last word: it interrupts a reload or an upgrade (whose
    // new master goes too), and refuses new ones.
    reload_.on_stop("the server is stopping");
    upgrade_.on_stop(graceful);
    log::info("%s (%s): %zu workers", escalate ? "stopping now" : graceful ? "stopping gracefully" : "stopping", why,
              workers_.processes().size());
    notify_.stopping(std::string(graceful ? "stopping gracefully: " : "stopping: ") +
                     std::to_string(workers_.processes().size()) + " workers " + (graceful ? "draining" : "going"));
    workers_.stop_all(graceful);
}

void Master::report_started() {
    if (reported_) return;
    reported_ = true;
    if (start_report_timer_) loop_.cancel_timer(std::exchange(start_report_timer_, 0));
    if (takeover_.by_upgrade()) {
        // Nobody waits for a table: the old master told the CLI, and our
        // stdout is the old master's.
        log::info("serving: %d of %d workers ready", ready_workers(), total_workers(config_));
        return;
    }
    if (!every_slot_ready())
        notify_.status("starting: " + std::to_string(ready_workers()) + " of " + std::to_string(total_workers(config_)) +
                       " workers ready after start_timeout; see the log");
    std::string text = start_report(view());
    int fd = options_.report ? options_.report.get() : 1;
    if (::write(fd, text.data(), text.size()) == -1)
        log::warn("cannot print the start report: %s", errno_text(errno).c_str());
    options_.report.reset();  // the waiting `start -d` sees EOF and exits
}

// The pid file goes last: `stop` takes its release as "the master is gone",
// so by then the ports must be free for a new start.
void Master::shutdown_files() {
    control_.close();
    workers_.close_listeners();
    pid_file_.release();
}

// ---- The control socket's questions ----

MasterView Master::view() const {
    return {getpid(), build_id(), started_wall_, config_name(), stopping_, generation_, config_, workers_, stats_, reload_,
            upgrade_};
}

std::string Master::status_text() const { return smooth::status_text(view()); }
std::string Master::status_json() const { return smooth::status_json(view()); }
std::string Master::connections_text() const { return smooth::connections_text(view()); }

void Master::request_reload(Reload::Progress progress, const std::string& source, int64_t lead_ms) {
    // Never interleaved with an upgrade: the new master starts its workers
    // from the config as it reads it, and ours are the ones it replaces.
    if (upgrade_.running() || takeover_.pending() || retiring_) {
        std::string line = "reload refused: an upgrade is in progress (" +
                           (takeover_.pending() ? std::string("this master is taking over") : upgrade_.describe()) + ")";
        log::warn("reload requested (%s): %s", source.c_str(), line.c_str());
        if (progress) progress(line, true, false);
        return;
    }
    if (lead_ms <= 0 || reload_.running() || stopping_) {
        reload_.request(std::move(progress), source);
        return;
    }
    start_sampling();
    loop_.add_timer(lead_ms, [this, progress = std::move(progress), source]() mutable {
        reload_.request(std::move(progress), source);
        return EventLoop::kNoMore;
    });
}

// ---- ReloadHost ----

// Steps 2 and 3 of the seed's reload: read the config again, work out the
// plan (reload_plan.h), store every new module version, then apply. Nothing
// running is touched unless all of it succeeded.
bool Master::prepare(Prepared& out, std::string& error) {
    Config fresh = config_;  // the embedded default: nothing to read again
    if (!config_path_.empty()) {
        std::optional<Config> parsed = load_config_file(config_path_, error);
        if (!parsed) return false;
        fresh = std::move(*parsed);
    }
    out.plan = plan_reload(config_, fresh);
    // The file passed the reader's limit, but a group removed from it keeps
    // running (that needs a restart): what runs after the reload must fit too.
    if (int total = total_workers(out.plan.next); total > kMaxWorkers) {
        error = "after this reload the running groups would have " + std::to_string(total) +
                " workers (groups removed from the file keep theirs until a restart); this server runs at most " +
                std::to_string(kMaxWorkers);
        return false;
    }

    const std::vector<Group>& groups = workers_.groups();
    good_before_.clear();
    for (const Group& g : groups) good_before_.emplace_back(g.good_version, g.good_generation);
    out.versions.assign(groups.size(), "");
    for (size_t i = 0; i < groups.size(); i++) {
        const GroupConfig& next = out.plan.next.groups[i];
        // A preloaded group's workers run what the master loaded before fork,
        // whatever is stored: that is the seed's limitation.
        out.versions[i] = next.preload ? groups[i].good_version : next.module;
    }
    for (const ModuleToStore& m : out.plan.store) {
        std::string version = store_module_version(m.path, config_.server.run_dir, error);
        if (version.empty()) {
            error = "group " + out.plan.next.groups[size_t(m.group)].name + ": " + error;
            return false;
        }
        out.versions[size_t(m.group)] = version;
    }
    // Before a single worker is drained: does each new version load at all?
    // Tried in a child we can lose (module_trial.h), once per version; the
    // version a group already runs has loaded already.
    std::set<std::string> tried;
    for (const ModuleToStore& m : out.plan.store) {
        const std::string& version = out.versions[size_t(m.group)];
        if (version == groups[size_t(m.group)].good_version || !tried.insert(version).second) continue;
        const std::string& name = out.plan.next.groups[size_t(m.group)].name;
        ModuleTrial trial = try_loading_module(version, out.plan.next.server.start_timeout_ms);
        if (!trial.ok) {
            error = "group " + name + ": the new module " + m.path + " failed to load in a trial process: " + trial.text;
            return false;
        }
        log::info("group %s: the new module %s loads in a trial process (%s)", name.c_str(), m.path.c_str(),
                  trial.text.c_str());
    }

    out.previous = config_;
    out.generation = ++generation_;
    config_ = out.plan.next;
    for (size_t i = 0; i < config_.groups.size(); i++)
        if (std::string err = workers_.fit_slot_listeners(int(i), config_.groups[i].count); !err.empty()) {
            config_ = out.previous;
            generation_--;
            error = err;
            return false;
        }
    for (int group : out.plan.told) {
        // Step 3: they keep their connections; their on_worker_reload runs.
        workers_.tell_not_reloadable(group);
        out.plan.notes.push_back("group " + config_.groups[size_t(group)].name +
                                 " is not reloadable: told its workers, they keep running");
    }

    if (!timeline_complete_) timeline_done();  // the last reload's after-window is cut short
    start_sampling();
    timeline_start_ms_ = EventLoop::now_ms();
    timeline_complete_ = false;
    told_reloading_ = true;
    told_replaced_ = 0;
    notify_.reloading("reloading: 0 of " + std::to_string(out.plan.workers_to_start()) + " replaced");
    return true;
}

// An abort: the config, and the version each group forks into an empty slot,
// go back to what they were before the reload. Workers already replaced keep
// the new version they started with.
void Master::restore(const Config& previous) {
    config_ = previous;
    for (size_t i = 0; i < good_before_.size(); i++)
        workers_.set_good_version(int(i), good_before_[i].first, good_before_[i].second);
}

pid_t Master::spawn(int group, int slot, const std::string& version, uint64_t generation) {
    return workers_.spawn(group, slot, version, generation);
}

ReloadHost::Refilled Master::refill(int group, int slot) {
    Refilled r;
    r.pid = workers_.fill_slot(group, slot);
    r.version = workers_.groups()[size_t(group)].good_version;
    return r;
}

uint64_t Master::add_timer(int64_t ms, std::function<void()> fire) {
    return loop_.add_timer(ms, [fire = std::move(fire)] {
        fire();
        return EventLoop::kNoMore;
    });
}

void Master::finished(const ReloadTimeline& timeline) {
    // The reload's end, complete or aborted: systemd's READY=1 again (a stop
    // that interrupted it said STOPPING=1 instead).
    if (std::exchange(told_reloading_, false) && !stopping_) notify_.ready(timeline.summary);
    timeline_ = timeline;
    timeline_.after_ms = kSampleAfterMs;
    if (timeline_complete_) {  // refused before it began: there is nothing to wait for
        timeline_start_ms_ = EventLoop::now_ms();
        timeline_.after_ms = 0;
        timeline_done();
        return;
    }
    if (after_timer_) loop_.cancel_timer(after_timer_);
    after_timer_ = loop_.add_timer(kSampleAfterMs, [this] {
        after_timer_ = 0;
        timeline_done();
        return EventLoop::kNoMore;
    });
}

// ---- WorkerEvents ----

void Master::worker_ready(const WorkerProcess& w) {
    if (takeover_.pending()) {
        takeover_.say("new master pid " + std::to_string(getpid()) + ": " + workers_.slot_name(w.group, w.slot) +
                      " ready (pid " + std::to_string(w.pid) + ")");
        if (every_slot_ready()) take_over();
        return;
    }
    if (!timeline_complete_)
        if (ReloadTimeline::Lane* l = timeline_.lane_of_new(w.pid); l && l->ready_ms < 0)
            l->ready_ms = EventLoop::now_ms() - timeline_start_ms_;
    if (reload_.on_ready(w.pid)) tell_reload_progress();
    if (!reported_ && workers_.all_ready()) report_started();
    // systemd's READY=1 once every worker is READY, not at start_timeout with
    // some missing: a unit that never gets there fails its start, as it should.
    if (!told_ready_ && !stopping_ && every_slot_ready()) {
        told_ready_ = true;
        notify_.ready("serving: " + std::to_string(ready_workers()) + " workers ready");
    }
}

int Master::ready_workers() const {
    int ready = 0;
    for (size_t g = 0; g < config_.groups.size(); g++) ready += workers_.ready_count(int(g));
    return ready;
}

bool Master::every_slot_ready() const { return ready_workers() == total_workers(config_); }

bool Master::worker_exited(const WorkerProcess& w, const std::string& how) {
    if (takeover_.pending()) {
        // The new release does not start: the upgrade fails now, rather
        // than after a crash loop's back-off.
        give_up("worker " + workers_.slot_name(w.group, w.slot) + " (pid " + std::to_string(w.pid) + ") exited with " +
                how + (w.failure.empty() ? "" : ": " + w.failure));
        return true;  // no respawn
    }
    int64_t t = EventLoop::now_ms() - timeline_start_ms_;
    if (!timeline_complete_) {
        if (ReloadTimeline::Lane* l = timeline_.lane_of_old(w.pid); l && l->exit_ms < 0) l->exit_ms = t;
        if (ReloadTimeline::Lane* l = timeline_.lane_of_new(w.pid); l && l->ready_ms < 0 && l->failed_ms < 0)
            l->failed_ms = t;
    }
    bool the_reloads = reload_.on_exit(w.pid, how, w.failure);
    if (the_reloads) tell_reload_progress();
    return the_reloads;
}

// systemd's STATUS= line as each slot is done: at a READY (stop_first), or at
// the old worker's exit (start_first and the canary).
void Master::tell_reload_progress() {
    if (!reload_.running() || reload_.replaced() == told_replaced_) return;
    told_replaced_ = reload_.replaced();
    notify_.status("reloading: " + std::to_string(told_replaced_) + " of " + std::to_string(reload_.total()) +
                   " replaced");
}

// ---- The timeline's samples ----

void Master::start_sampling() {
    if (sample_timer_) return;
    samples_.clear();
    sample();
    sample_timer_ = loop_.add_timer(kSampleEveryMs, [this] {
        sample();
        return samples_.size() < kMaxSamples ? kSampleEveryMs : EventLoop::kNoMore;
    });
}

void Master::sample() { samples_.push_back({EventLoop::now_ms(), workers_.requests_served()}); }

void Master::timeline_done() {
    if (sample_timer_) loop_.cancel_timer(std::exchange(sample_timer_, 0));
    if (after_timer_) loop_.cancel_timer(std::exchange(after_timer_, 0));
    timeline_.rate.clear();
    for (const ReloadTimeline::Sample& s : samples_) timeline_.rate.push_back({s.t_ms - timeline_start_ms_, s.requests});
    samples_.clear();
    timeline_complete_ = true;
    std::string text = timeline_.to_text();
    for (auto& ready : std::exchange(timeline_waiters_, {})) ready(text);
}

void Master::when_timeline_ready(std::function<void(const std::string& text)> ready) {
    if (timeline_complete_) {
        ready(timeline_.lanes.empty() && timeline_.summary.empty() ? "error: no reload has run yet\n" : timeline_.to_text());
        return;
    }
    timeline_waiters_.push_back(std::move(ready));
}

}  // namespace smooth
