// master: see master.h. Its life from top to bottom: where its parts meet,
// open what the workers inherit, fork them, run the loop, close the files;
// then the control socket's requests, and the config for a reload.
#include "master/master.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <set>
#include <sys/epoll.h>
#include <unistd.h>

#include "config/secret_file.h"
#include "core/build_id.h"
#include "core/listener.h"
#include "core/log.h"
#include "master/module_trial.h"
#include "master/module_versions.h"
#include "master/run_dir.h"

namespace smooth {

namespace {

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
    if (std::string err = make_or_read_secret_file(path, made, s.link_secret); !err.empty())
        return "the instance's link secret: " + err;
    if (made) log::info("links: made this instance's link secret %s (for its own gateway and business groups)", path.c_str());
    return "";
}

}  // namespace

Master::Master(Config config, std::string config_path)
    : config_(std::move(config)),
      config_path_(std::move(config_path)),
      processes_(signals_),
      table_(config_, loop_, stats_, processes_),
      logs_(config_, table_),
      reload_(loop_, *this, table_),
      upgrade_(loop_, *this),
      takeover_(loop_, table_, pid_file_, control_,
                [this](bool graceful, const std::string& why) { request_stop(graceful, why.c_str()); }) {
    // READY and exits go from the table of workers straight to the reload.
    table_.ready.add([this](const WorkerProcess& w) { reload_.on_ready(w.pid); });
    table_.exited.add([this](const WorkerProcess& w, const std::string& how) { reload_.on_exit(w.pid, how, w.failure); });
    table_.handed_over.add([this](pid_t pid, bool ok, const std::string& text) {
        reload_.on_handover(pid, ok, text);
        upgrade_.on_handover(pid, ok, text);
    });
    // Stopping or retiring, the master's life ends with its last worker, and
    // with the new master of an upgrade it started.
    table_.all_gone.add([this] {
        upgrade_.old_workers_gone();  // handed over: the upgrade is complete now
        exit_when_done();
    });
    table_.other_child_exited.add([this](pid_t pid, int status) {
        std::string how = exit_description(status);
        if (!upgrade_.on_exit(pid, how)) log::info("child pid %d exited: %s", int(pid), how.c_str());
    });
    upgrade_.ended.add([this](bool, const std::string&) { exit_when_done(); });
}

Master::~Master() = default;

int Master::run(StartOptions options) {
    options_ = std::move(options);
    log::set_role("master");
    started_wall_ = time(nullptr);
    self_exe_ = current_executable();
    began.fire();
    takeover_.begin(std::move(options_.upgrade));  // nothing, unless an upgrade started us
    if (std::string err = open_before_fork(); !err.empty()) {
        log::error("%s", err.c_str());
        takeover_.failed_to_start(err);
        if (options_.report) {
            std::string msg = "error: " + err + "\n";
            if (::write(options_.report.get(), msg.data(), msg.size()) == -1)
                log::warn("cannot tell the waiting command line: %s", errno_text(errno).c_str());
        }
        return 1;
    }
    log::info("started: config %s, %zu groups, build %s", config_name().c_str(), config_.groups.size(), build_id());
    takeover_.starting(config_name(), total_workers(config_), config_.server.start_timeout_ms);
    for (size_t g = 0; g < config_.groups.size(); g++)
        for (int slot = 0; slot < config_.groups[g].count; slot++) table_.fill_slot(int(g), slot);
    // The start report: once every worker is READY, or at start_timeout with
    // what there is. (A master an upgrade started reports by taking over.)
    if (!takeover_.by_upgrade()) {
        table_.ready.add([this](const WorkerProcess&) {
            if (!reported_ && table_.all_ready()) report_started();
        });
        start_report_timer_ = loop_.add_timer(config_.server.start_timeout_ms, [this] {
            start_report_timer_ = 0;
            report_started();
            return EventLoop::kNoMore;
        });
    }

    std::string err = loop_.run();
    if (!err.empty()) log::error("%s", err.c_str());
    shutdown_files();
    log::info("exited");
    return err.empty() && !takeover_.gave_up() ? 0 : 1;
}

// Listeners, stats table, module versions and preloads: all before the first
// fork, so every worker inherits them, and a worker that exits takes only its
// own copy of a listener with it (the queue stays, with the master's copy).
std::string Master::open_before_fork() {
    const ServerConfig& s = config_.server;
    // Sockets handed to us at exec (listener.h): by a service manager's
    // socket activation, or by the master before us in an upgrade (upgrade.h). Taken
    // first, so LISTEN_* are out of the environment before anything forks.
    InheritedListeners inherited;
    if (std::string err = inherited.take_from_env(); !err.empty()) return err;
    if (std::string err = prepare_private_dir(s.run_dir, "run_dir"); !err.empty()) return err;
    // Before the first fork: every worker inherits the secret's bytes.
    if (std::string err = take_instance_link_secret(config_.server, config_.groups); !err.empty()) return err;
    // Started by an upgrade, the old master holds both files: ours are made
    // beside them and renamed over them once every worker is READY (takeover.h).
    if (std::string err = takeover_.pending() ? takeover_.prepare_pid_file(s.pid_file) : pid_file_.acquire(s.pid_file);
        !err.empty())
        return err;

    if (std::string err = loop_.open(); !err.empty()) return err;
    // The pipe and handlers before any child exists: a SIGCHLD can only come
    // after a fork, and it must find its handler in place.
    if (std::string err = signals_.open({SIGCHLD, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT, SIGTERM, SIGINT, kReopenSignal});
        !err.empty())
        return err;
    // A CLI that hangs up is EPIPE on its socket, not our death.
    if (std::string err = ignore_signal(SIGPIPE); !err.empty()) return err;
    if (std::string err = loop_.watch(signals_.read_fd(), EPOLLIN, [this](uint32_t) { on_signals(); }); !err.empty())
        return "watching the self-pipe: " + err;
    // The stats table before the upgrade's channel is heard: what the old
    // master counted is waiting there, for our table (takeover.h).
    if (std::string err = stats_.create(); !err.empty()) return err;
    if (std::string err = takeover_.watch(); !err.empty()) return err;

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
            g.listeners.emplace_back();
            if (err = open_listener(at, g.listeners.back()); !err.empty()) return "group " + gc.name + ": " + err;
            if (gc.listen.protocol == Protocol::Http || gc.listen.protocol == Protocol::Ws)
                if (std::string e = defer_accept_until_data(g.listeners.back().get(), kDeferAcceptSeconds); !e.empty())
                    log::warn("group %s: %s; accepting without it", gc.name.c_str(), e.c_str());
        }
        if (err = store_module_version(gc.module, s.run_dir, g.good_version); !err.empty())
            return "group " + gc.name + ": " + err;
        if (gc.preload) {
            // The seed's limitation, on purpose: code loaded here, before fork,
            // is the code every worker of this group runs until a restart.
            if (err = load_module(g.good_version, g.preloaded); !err.empty())
                return "group " + gc.name + ": preloading " + gc.module + ": " + err;
        }
        g.slots.resize(size_t(gc.count));
        table_.add_group(std::move(g));
    }
    if (std::string err = logs_.start(options_.daemon); !err.empty()) return err;
    for (const std::string& name : inherited.close_leftovers())
        log::warn("inherited socket %s: no group listens there; closed it", name.c_str());
    const std::string socket = control_socket_path(s.run_dir);
    return takeover_.pending() ? takeover_.prepare_control_socket(socket, s.start_timeout_ms, *this)
                               : control_.open(socket, loop_, *this);
}

void Master::on_signals() {
    for (int sig : signals_.read_signals()) {
        if (sig == kReopenSignal) {
            bool ok;
            reopen_logs("SIGRTMIN+1", ok);
            continue;
        }
        switch (sig) {
            case SIGCHLD: table_.reap(); break;
            case SIGHUP:
            case SIGUSR1: request_reload(nullptr, signal_name(sig)); break;
            case SIGUSR2: request_upgrade(nullptr, "", "SIGUSR2"); break;
            case SIGQUIT: request_stop(true, "SIGQUIT"); break;
            default: request_stop(false, signal_name(sig).c_str()); break;
        }
    }
}

void Master::report_started() {
    if (reported_) return;
    reported_ = true;
    if (start_report_timer_) loop_.cancel_timer(std::exchange(start_report_timer_, 0));
    start_reported.fire();
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
    table_.close_listeners();
    pid_file_.release();
}

// Stopping or retiring, the loop ends when no worker is left, and no new
// master of an upgrade we started: it is ours to wait for, so that `stop`
// (which waits for us) never leaves it behind.
void Master::exit_when_done() {
    if (table_.stopping() && table_.processes().empty() && !upgrade_.waiting_for_new_master()) loop_.stop();
}

bool Master::retiring() const { return retiring_ || takeover_.gave_up(); }

bool Master::busy() const {
    return stopping_ || reload_.running() || !upgrade_under_way().empty();
}

std::string Master::upgrade_under_way() const {
    if (takeover_.pending()) return "this master is taking over";
    if (upgrade_.running() || retiring()) return upgrade_.describe();
    return "";
}

// ---- What the control socket asks ----

MasterView Master::view() const {
    return {getpid(), build_id(), started_wall_, config_name(), stopping_, generation_, config_, table_, stats_, reload_,
            upgrade_};
}

void Master::request_stop(bool graceful, const char* why) {
    // Not the master yet: giving up is not a stop. The listeners' door must
    // stay open for the old master's workers (takeover.h).
    if (takeover_.pending()) {
        takeover_.give_up(std::string("told to stop (") + why + ") before it took over");
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
              table_.processes().size());
    stop_began.fire(graceful);
    table_.stop_all(graceful);
}

std::string Master::reopen_logs(const std::string& source, bool& ok) {
    log::info("reopening the log files (%s)", source.c_str());
    std::string answer = logs_.reopen(ok);
    if (!ok) log::warn("%s", answer.c_str());
    return answer;
}

void Master::request_reload(Reload::Progress progress, const std::string& source) {
    // Never interleaved with an upgrade: the new master starts its workers
    // from the config as it reads it, and ours are the ones it replaces.
    if (std::string upgrade = upgrade_under_way(); !upgrade.empty()) {
        std::string line = "reload refused: an upgrade is in progress (" + upgrade + ")";
        log::warn("reload requested (%s): %s", source.c_str(), line.c_str());
        if (progress) progress(line, true, false);
        return;
    }
    reload_.request(std::move(progress), source);
}

// ---- ReloadConfig: the master's part in step 2 of the reload, and step 5's way back ----

std::string Master::read_again(Config& fresh) {
    if (config_path_.empty()) {  // the embedded default: nothing to read again
        fresh = config_;
        return "";
    }
    return load_config_file(config_path_, fresh);
}

std::string Master::plan(const Config& fresh, Prepared& out) {
    out.plan = plan_reload(config_, fresh);
    // The file passed the reader's limit, but a group removed from it keeps
    // running (that needs a restart): what runs after the reload must fit too.
    if (int total = total_workers(out.plan.next); total > kMaxWorkers)
        return "after this reload the running groups would have " + std::to_string(total) +
               " workers (groups removed from the file keep theirs until a restart); this server runs at most " +
               std::to_string(kMaxWorkers);

    const std::vector<Group>& groups = table_.groups();
    out.previous = config_;
    out.good_before.clear();
    for (const Group& g : groups) out.good_before.emplace_back(g.good_version, g.good_generation);
    out.versions.assign(groups.size(), "");
    for (size_t i = 0; i < groups.size(); i++) {
        const GroupConfig& next = out.plan.next.groups[i];
        // A preloaded group's workers run what the master loaded before fork,
        // whatever is stored: that is the seed's limitation.
        out.versions[i] = next.preload ? groups[i].good_version : next.module;
    }
    for (const ModuleToStore& m : out.plan.store) {
        std::string& version = out.versions[size_t(m.group)];
        if (std::string err = store_module_version(m.path, config_.server.run_dir, version); !err.empty())
            return "group " + out.plan.next.groups[size_t(m.group)].name + ": " + err;
    }
    // Before a single worker is drained: does each new version load at all?
    // Tried in a child we can lose (module_trial.h), once per version; the
    // version a group already runs has loaded already.
    std::set<std::string> tried;
    for (const ModuleToStore& m : out.plan.store) {
        const std::string& version = out.versions[size_t(m.group)];
        if (version == groups[size_t(m.group)].good_version || !tried.insert(version).second) continue;
        const std::string& name = out.plan.next.groups[size_t(m.group)].name;
        std::string loaded;
        if (std::string err = try_loading_module(version, out.plan.next.server.start_timeout_ms, loaded); !err.empty())
            return "group " + name + ": the new module " + m.path + " failed to load in a trial process: " + err;
        log::info("group %s: the new module %s loads in a trial process (%s) (reload step 2)", name.c_str(),
                  m.path.c_str(), loaded.c_str());
    }
    return "";
}

std::string Master::apply(Prepared& run) {
    config_ = run.plan.next;
    for (size_t i = 0; i < config_.groups.size(); i++)
        if (std::string err = table_.fit_slot_listeners(int(i), config_.groups[i].count); !err.empty()) {
            config_ = run.previous;
            return err;
        }
    if (std::string err = logs_.follow_config(); !err.empty()) {
        config_ = run.previous;
        return err;
    }
    run.generation = ++generation_;
    return "";
}

// Workers already replaced keep the new version they started with; an empty
// slot gets the version its group ran before the reload.
void Master::restore(const Prepared& run) {
    config_ = run.previous;
    for (size_t i = 0; i < run.good_before.size(); i++)
        table_.set_good_version(int(i), run.good_before[i].first, run.good_before[i].second);
}

}  // namespace smooth
