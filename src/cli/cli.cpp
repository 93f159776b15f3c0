#include "cli/cli.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "config/config.h"
#include "config/secret_file.h"
#include "cli/control_client.h"
#include "cli/timeline_svg.h"
#include "master/control.h"
#include "core/build_id.h"
#include "core/log.h"
#include "master/log_files.h"
#include "master/master.h"
#include "master/module_trial.h"
#include "master/pidfile.h"
#include "master/reload_timeline.h"
#include "master/run_dir.h"
#include "master/reports.h"
#include "master/takeover.h"

namespace smooth {

namespace {

const char kUsage[] =
    "usage: ./server [-c FILE] COMMAND\n"
    "\n"
    "  start [-d]          start in the foreground (Ctrl-C stops), or as a daemon with -d\n"
    "  stop [-g]           stop now (workers get SIGTERM), or gracefully with -g (workers drain)\n"
    "  restart [-d]        stop, then start\n"
    "  reload [--no-wait]  replace the workers one at a time with the new code; waits and reports\n"
    "  reload --timeline FILE.svg   the same, then draws what happened, one lane per worker slot\n"
    "  upgrade [--binary PATH]      replace the master itself with the ./server now at its path\n"
    "                      (or PATH): listeners inherited, READY-gated; waits and reports\n"
    "  status [--json]     the master, the reload, and every worker with its counters\n"
    "  connections         every open client connection\n"
    "  check               check the config and load every module in a throw-away process\n"
    "  reopen              the master and every worker reopen their log files (after logrotate)\n"
    "  --version           which build of ./server this is\n"
    "\n"
    "Signals to the master: SIGHUP/SIGUSR1 reload, SIGUSR2 upgrade, SIGQUIT graceful stop,\n"
    "SIGTERM/SIGINT stop, SIGRTMIN+1 reopen.\n"
    "\n"
    "Without -c: ./server.conf if it exists, else the embedded default\n"
    "(http://127.0.0.1:8080, one worker per core, the demo hello module).\n";

struct Invocation {
    std::string config_path;  // "" for the embedded default
    Config config;
    std::string socket_path() const { return control_socket_path(config.server.run_dir); }
};

std::string binary_dir() {
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return ".";
    std::string p(path, size_t(n));
    return p.substr(0, p.find_last_of('/'));
}

// The config the command works with: -c FILE, ./server.conf, or the
// embedded default. "" or why it cannot be read.
std::string load_config(const std::string& given, Invocation& inv) {
    std::string path = given;
    if (path.empty() && access("server.conf", F_OK) == 0) path = "server.conf";
    if (path.empty()) {
        inv.config = default_config(binary_dir());
        return "";
    }
    if (std::string err = load_config_file(path, inv.config); !err.empty()) return err;
    char abs[4096];
    inv.config_path = realpath(path.c_str(), abs) ? abs : path;
    return "";
}

MasterCheck prove_master(const Invocation& inv) {
    return check_master(inv.config.server.pid_file, inv.socket_path());
}

// The pid of the running master, proved; 0 (with the reason printed) if none.
pid_t running_master(const Invocation& inv, bool quiet = false) {
    MasterCheck check = prove_master(inv);
    if (check.running) return check.pid;
    if (!quiet) std::fprintf(stderr, "not running: %s\n", check.why_not.c_str());
    return 0;
}

// How many times a command is sent again when the master it reached did not
// carry it out (see master_call).
constexpr int kCallAttempts = 5;

struct Reached {
    pid_t pid = 0;      // the proved master that answered; 0: none (not running)
    bool answered = false;
    std::string error;  // "" or what went wrong
};

// Sends `command` to the running master over a proved connection and hands
// on each line of its answer. An upgrade (upgrade.h) hands the pid file and
// the control socket to a new master while the old one still answers the
// connections it already had: its answer is then "moved: ..." instead, or
// nothing at all if it exited first. Either way it did not carry the command
// out, so prove again and send it to the master the files name now.
Reached master_call(const Invocation& inv, const std::string& command,
                    const std::function<void(const std::string& line)>& on_line) {
    Reached r;
    for (int attempt = 1; attempt <= kCallAttempts; attempt++) {
        MasterCheck check = prove_master(inv);
        if (!check.running) {
            r = Reached();
            r.error = "not running: " + check.why_not;
            return r;
        }
        r.pid = check.pid;
        bool moved = false;
        int lines = 0;
        r.error = control_call(check.control.get(), command, [&](const std::string& line) {
            if (lines++ == 0 && line.rfind("moved: ", 0) == 0) moved = true;
            if (!moved) on_line(line);
        });
        r.answered = lines > 0 && !moved;
        if (r.answered) return r;
        if (r.error.empty())
            r.error = moved ? "master pid " + std::to_string(r.pid) + " has handed over, and the next one too"
                            : "master pid " + std::to_string(r.pid) + " closed the control connection without an answer";
    }
    return r;
}

// The master, and those who listen to it (reports.h): systemd's STATUS
// lines and the reload's timeline. Neither the master nor its reload knows them.
int run_master(const Invocation& inv, StartOptions options) {
    Master master(inv.config, inv.config_path);
    Reports reports(master);
    return master.run(std::move(options));
}

// Waits until the master process is gone (it releases its listeners first).
bool wait_gone(pid_t pid, int timeout_ms) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < until) {
        if (process_gone(pid)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

// A new master that gives up before it runs: its last word to the old one.
// What the old master sent first (its counts: totals_carry.h) is read before
// we exit: a socket closed with messages unread resets its peer, whose next
// read fails with ECONNRESET, and this word would be lost with the rest.
void tell_old_master_and_go(Channel& channel, const std::string& word) {
    channel.send("error " + word);
    channel.read_waiting();
}

// A start by an upgrade (takeover.h): the old master holds the pid file, so
// no "already running"; no daemonizing either: we are the old master's
// child, in its session, with its stdout and stderr (its log).
int cmd_takeover(const Invocation& inv, Channel channel) {
    if (std::string err = prepare_private_dir(inv.config.server.run_dir, "run_dir"); !err.empty()) {
        tell_old_master_and_go(channel, err);
        std::fprintf(stderr, "error: %s\n", err.c_str());
        return 1;
    }
    StartOptions options;
    options.upgrade = std::move(channel);
    return run_master(inv, std::move(options));
}

int cmd_start(const Invocation& inv, bool daemon) {
    MasterCheck check = prove_master(inv);
    if (check.running) {
        std::fprintf(stderr, "already running: master pid %d (%s)\n", int(check.pid), inv.config.server.pid_file.c_str());
        return 1;
    }
    if (check.pid > 0) std::fprintf(stderr, "note: %s; it is not signalled, and will be replaced\n", check.why_not.c_str());
    // Before anything is written there (the log file, below): run_dir.h.
    if (std::string err = prepare_private_dir(inv.config.server.run_dir, "run_dir"); !err.empty()) {
        std::fprintf(stderr, "error: %s\n", err.c_str());
        return 1;
    }
    if (!daemon) return run_master(inv, StartOptions());

    // Daemon: fork, setsid, fork again (so the master can never reacquire a
    // terminal). The master reports "started" or why not through a pipe, and
    // this process prints it and exits with the matching status.
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) == -1) {
        std::fprintf(stderr, "pipe2() failed: %s\n", errno_text(errno).c_str());
        return 1;
    }
    Fd report_read(ends[0]), report_write(ends[1]);
    // Sockets from socket activation are passed to one pid (LISTEN_PID): this
    // process's. The master will be our grandchild, so they are passed on to it.
    const char* listen_pid = std::getenv("LISTEN_PID");
    bool pass_listeners_on = listen_pid && std::to_string(getpid()) == listen_pid;
    pid_t child = fork();
    if (child == -1) {
        std::fprintf(stderr, "fork() failed: %s\n", errno_text(errno).c_str());
        return 1;
    }
    if (child == 0) {
        report_read.reset();
        auto give_up = [&](const std::string& why) {
            std::string msg = "error: " + why + "\n";
            if (::write(report_write.get(), msg.data(), msg.size()) == -1) {
            }  // the waiting CLI is gone: nobody left to tell
            _exit(1);
        };
        if (setsid() == -1) give_up("setsid() failed: " + errno_text(errno));
        pid_t grandchild = fork();
        if (grandchild == -1) give_up("fork() failed: " + errno_text(errno));
        if (grandchild != 0) _exit(0);
        if (pass_listeners_on && setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1) == -1)
            give_up("setenv(LISTEN_PID) failed: " + errno_text(errno));
        Fd log_fd;
        // The same checks as every reopen (log_files.h).
        if (std::string err = open_log_file(inv.config.server.log_file, "log file", log_fd); !err.empty())
            give_up(err);
        Fd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
        if (!null_fd) give_up("cannot open /dev/null: " + errno_text(errno));
        // dup2 clears close-on-exec on the copies: stdin, stdout, stderr stay.
        if (dup2(null_fd.get(), 0) == -1 || dup2(log_fd.get(), 1) == -1 || dup2(log_fd.get(), 2) == -1)
            give_up("dup2() failed: " + errno_text(errno));
        log_fd.reset();
        null_fd.reset();
        umask(022);
        // Every path in the config is absolute; "/" keeps no directory busy.
        if (chdir("/") == -1) give_up("chdir(\"/\") failed: " + errno_text(errno));
        StartOptions options;
        options.daemon = true;
        options.report = std::move(report_write);
        _exit(run_master(inv, std::move(options)));
    }
    report_write.reset();  // only the master holds it now: EOF means it has spoken
    if (waitpid(child, nullptr, 0) == -1)  // the intermediate child exits at once
        std::fprintf(stderr, "waitpid() failed: %s\n", errno_text(errno).c_str());
    std::string text;
    char chunk[4096];
    for (ssize_t n; (n = ::read(report_read.get(), chunk, sizeof chunk)) != 0;) {
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) {
            std::fprintf(stderr, "reading the daemon's report failed: %s\n", errno_text(errno).c_str());
            break;
        }
        text.append(chunk, size_t(n));
    }
    if (text.empty()) text = "error: the daemon exited before it said anything; see " + inv.config.server.log_file + "\n";
    bool started = text.rfind("smooth started", 0) == 0;
    std::fputs(text.c_str(), started ? stdout : stderr);
    return started ? 0 : 1;
}

int cmd_stop(const Invocation& inv, bool graceful) {
    auto t0 = std::chrono::steady_clock::now();
    Reached r = master_call(inv, graceful ? "stop -g" : "stop", [](const std::string& line) { std::printf("%s\n", line.c_str()); });
    if (!r.pid) {
        std::fprintf(stderr, "%s\n", r.error.c_str());
        return 1;
    }
    if (!r.answered) {
        // Its pid was proved a moment ago (pidfile.h), so a signal is safe
        // where the socket failed us.
        std::fprintf(stderr, "%s; sending %s to pid %d instead\n", r.error.c_str(), graceful ? "SIGQUIT" : "SIGTERM",
                     int(r.pid));
        if (kill(r.pid, graceful ? SIGQUIT : SIGTERM) == -1) {
            std::fprintf(stderr, "kill(%d) failed: %s\n", int(r.pid), errno_text(errno).c_str());
            return 1;
        }
    }
    const ServerConfig& s = inv.config.server;
    int limit = (graceful ? s.drain_timeout_ms : s.stop_timeout_ms) + 5000;
    if (!wait_gone(r.pid, limit)) {
        std::fprintf(stderr, "master pid %d still running after %d ms\n", int(r.pid), limit);
        return 1;
    }
    long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    std::printf("stopped: master pid %d in %lld ms\n", int(r.pid), ms);
    return 0;
}

bool draw_timeline(const Invocation& inv, const std::string& file);

// master_call() printing each line of the answer as it comes (flushed: a
// reload's or an upgrade's lines are its progress), the last one kept in `last`.
Reached call_printing(const Invocation& inv, const std::string& command, std::string& last) {
    return master_call(inv, command, [&](const std::string& line) {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
        last = line;
    });
}

int cmd_reload(const Invocation& inv, bool wait, const std::string& timeline_file) {
    std::string command = !wait ? "reload --no-wait" : timeline_file.empty() ? "reload" : "reload --timeline";
    std::string last;
    Reached r = call_printing(inv, command, last);
    if (!r.error.empty()) {
        std::fprintf(stderr, "%s\n", r.error.c_str());
        return 1;
    }
    bool ok = last.rfind(wait ? "reload complete" : "reload requested", 0) == 0;
    if (!timeline_file.empty() && !draw_timeline(inv, timeline_file)) return 1;
    return ok ? 0 : 1;
}

// The last reload's timeline, from the master, drawn into `file` (SVG).
bool draw_timeline(const Invocation& inv, const std::string& file) {
    std::string text;
    std::string err = master_call(inv, "timeline", [&](const std::string& line) { text += line + "\n"; }).error;
    ReloadTimeline timeline;
    if (err.empty()) err = ReloadTimeline::from_text(text, timeline);
    if (!err.empty()) {
        std::fprintf(stderr, "cannot draw the timeline: %s\n", err.c_str());
        return false;
    }
    std::string svg = timeline_svg(timeline);
    std::string tmp = file + ".tmp";
    Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    bool written = out && ::write(out.get(), svg.data(), svg.size()) == ssize_t(svg.size());
    if (!written || ::close(out.release()) == -1 || rename(tmp.c_str(), file.c_str()) == -1) {
        std::fprintf(stderr, "cannot write %s: %s\n", file.c_str(), errno_text(errno).c_str());
        unlink(tmp.c_str());
        return false;
    }
    std::printf("timeline: %zu lanes drawn in %s\n", timeline.lanes.size(), file.c_str());
    return true;
}

int cmd_upgrade(const Invocation& inv, const std::string& binary) {
    std::string command = "upgrade";
    if (!binary.empty()) {
        // The master's working directory is not ours (a daemon's is /).
        char cwd[4096];
        std::string path = binary[0] == '/' || !getcwd(cwd, sizeof cwd) ? binary : std::string(cwd) + "/" + binary;
        if (path.find('\n') != std::string::npos) {
            std::fprintf(stderr, "--binary: a path with a newline cannot be sent to the master\n");
            return 2;
        }
        command += " --binary " + path;
    }
    std::string last;
    Reached r = call_printing(inv, command, last);
    if (!r.error.empty()) {
        std::fprintf(stderr, "%s\n", r.error.c_str());
        return 1;
    }
    if (last.rfind("upgrade complete", 0) != 0) {
        if (last.rfind("upgrade ", 0) != 0)
            std::printf("upgrade failed: master pid %d closed the connection before the end (see its log)\n", int(r.pid));
        return 1;
    }
    // It says "complete" just before it exits: return once it has, so that
    // what follows (a status, the next upgrade) finds one master.
    int limit = inv.config.server.drain_timeout_ms + 5000;
    if (!wait_gone(r.pid, limit)) {
        std::fprintf(stderr, "old master pid %d still running after %d ms\n", int(r.pid), limit);
        return 1;
    }
    return 0;
}

int cmd_query(const Invocation& inv, const std::string& command) {
    Reached r = master_call(inv, command, [](const std::string& line) { std::printf("%s\n", line.c_str()); });
    if (!r.error.empty()) {
        std::fprintf(stderr, "%s\n", r.error.c_str());
        return 1;
    }
    return 0;
}

// Exit 0 when every file was reopened, 1 when one kept its old self (the
// master's answer says which and why) or the master could not be reached.
int cmd_reopen(const Invocation& inv) {
    bool failed = false;
    Reached r = master_call(inv, "reopen", [&](const std::string& line) {
        std::printf("%s\n", line.c_str());
        failed = failed || (line.rfind("reopened: ", 0) != 0 && line.rfind("reopen: the log goes", 0) != 0);
    });
    if (!r.error.empty()) {
        std::fprintf(stderr, "%s\n", r.error.c_str());
        return 1;
    }
    return failed ? 1 : 0;
}

// Loads each module in a child (module_trial.h), so a module that crashes
// while loading (a static constructor gone wrong, a truncated file) takes the
// child down, not the checker; one that hangs is killed at start_timeout.
int cmd_check(const Invocation& inv) {
    std::printf("config %s: ok, %zu groups\n", inv.config_path.empty() ? inv.config.source.c_str() : inv.config_path.c_str(),
                inv.config.groups.size());
    int failures = 0;
    // The link secret (docs/links.md): a link_secret_file was read and
    // checked with the config; the instance's own is checked if it exists
    // (the master makes it at the first start; a check writes nothing).
    const ServerConfig& s = inv.config.server;
    if (std::any_of(inv.config.groups.begin(), inv.config.groups.end(), [](const GroupConfig& g) { return g.role != Role::Plain; })) {
        const std::string own = s.run_dir + "/link.secret";
        std::string secret;
        if (!s.link_secret_file.empty())
            std::printf("links: secret from %s: ok (%zu bytes)\n", s.link_secret_file.c_str(), s.link_secret.size());
        else if (access(own.c_str(), F_OK) != 0)
            std::printf("links: this instance's own secret, %s, made at the first start (links to other instances "
                        "need link_secret_file)\n", own.c_str());
        else if (std::string err = read_secret_file(own, secret); err.empty())
            std::printf("links: this instance's own secret, %s: ok\n", own.c_str());
        else {
            std::printf("links: this instance's own secret: FAILED: %s\n", err.c_str());
            failures++;
        }
    }
    for (const GroupConfig& g : inv.config.groups) {
        std::fflush(stdout);  // nothing buffered may be written twice by a child
        std::string loaded;
        if (std::string err = try_loading_module(g.module, inv.config.server.start_timeout_ms, loaded); err.empty()) {
            std::printf("group %s: %s, module %s: ok (%s)\n", g.name.c_str(), g.listen.text().c_str(), g.module.c_str(),
                        loaded.c_str());
        } else {
            std::printf("group %s: module %s: FAILED: %s\n", g.name.c_str(), g.module.c_str(), err.c_str());
            failures++;
        }
    }
    return failures ? 1 : 0;
}

}  // namespace

int cli_main(int argc, char** argv) {
    log::set_role("cli");
    // Started by an upgrade (takeover.h): the channel to the old master, read
    // first so that any failure from here on can be told to it.
    Channel upgrade_channel;
    if (std::string channel_error = upgrade_channel_from_env(upgrade_channel); !channel_error.empty()) {
        std::fprintf(stderr, "%s\n", channel_error.c_str());
        return 1;
    }
    std::string config_path;
    std::string timeline_file;
    std::string binary;
    std::vector<std::string> args;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if ((a == "-c" || a == "--timeline" || a == "--binary") && i + 1 >= argc) {
            std::fprintf(stderr, "%s needs a value\n\n%s", a.c_str(), kUsage);
            return 2;
        }
        if (a == "-c") {
            config_path = argv[++i];
        } else if (a == "--timeline") {
            timeline_file = argv[++i];
        } else if (a == "--binary") {
            binary = argv[++i];
        } else if (a == "-h" || a == "--help" || a == "help") {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (a == "--version" || a == "version") {
            std::printf("smooth build %s\n", build_id());
            return 0;
        } else {
            args.push_back(a);
        }
    }
    if (args.empty()) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    std::string command = args[0];
    auto has = [&](const char* flag) { return std::find(args.begin() + 1, args.end(), flag) != args.end(); };
    for (size_t i = 1; i < args.size(); i++) {
        static const char* known[] = {"-d", "-g", "--json", "--no-wait"};
        if (std::find_if(std::begin(known), std::end(known), [&](const char* k) { return args[i] == k; }) == std::end(known)) {
            std::fprintf(stderr, "unknown option \"%s\"\n\n%s", args[i].c_str(), kUsage);
            return 2;
        }
    }

    if (!timeline_file.empty() && (command != "reload" || has("--no-wait"))) {
        std::fprintf(stderr, "--timeline goes with a reload that waits (not with --no-wait)\n\n%s", kUsage);
        return 2;
    }

    if (!binary.empty() && command != "upgrade") {
        std::fprintf(stderr, "--binary goes with upgrade\n\n%s", kUsage);
        return 2;
    }

    Invocation inv;
    if (std::string config_error = load_config(config_path, inv); !config_error.empty()) {
        std::fprintf(stderr, "%s\n", config_error.c_str());
        if (upgrade_channel) tell_old_master_and_go(upgrade_channel, "the config was refused: " + config_error);
        return 1;
    }
    if (upgrade_channel) {
        if (command == "start") return cmd_takeover(inv, std::move(upgrade_channel));
        tell_old_master_and_go(upgrade_channel, "the new binary was not asked to start: " + command);
        return 1;
    }

    if (command == "start") return cmd_start(inv, has("-d"));
    if (command == "stop") return cmd_stop(inv, has("-g"));
    if (command == "restart") {
        if (running_master(inv, true) && cmd_stop(inv, false) != 0) return 1;
        return cmd_start(inv, has("-d"));
    }
    if (command == "reload") return cmd_reload(inv, !has("--no-wait"), timeline_file);
    if (command == "upgrade") return cmd_upgrade(inv, binary);
    if (command == "status") return cmd_query(inv, has("--json") ? "status --json" : "status");
    if (command == "connections") return cmd_query(inv, "connections");
    if (command == "check") return cmd_check(inv);
    if (command == "reopen") return cmd_reopen(inv);
    std::fprintf(stderr, "unknown command \"%s\"\n\n%s", command.c_str(), kUsage);
    return 2;
}

}  // namespace smooth
