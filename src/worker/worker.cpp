#include "worker/worker.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <csignal>
#include <grp.h>
#include <malloc.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

#include "worker/business.h"
#include "worker/connection.h"
#include "worker/gateway.h"
#include "worker/handover.h"
#include "core/listener.h"
#include "core/log.h"
#include "protocol/handover.h"

namespace smooth {

namespace {

constexpr int kSweepMs = 100;  // how often deadlines are checked (timeouts are this coarse)
// A burst worth giving memory back after: this many connections at once.
constexpr size_t kBurstConnections = 256;

// accept4() out of descriptors (EMFILE, ENFILE) or of kernel memory (ENOBUFS,
// ENOMEM) leaves the connection in the queue, so the listener stays readable:
// a worker that goes back to epoll_wait is woken again at once, and spins at
// 100% CPU writing the same log line. So it stops watching the listener for
// this long (nginx waits the same 500 ms), serving the connections it has;
// one of them closing frees a descriptor and ends the pause early.
constexpr int kAcceptPauseMs = 500;
// And it says so at most once per this long, with the count of failures since
// the last line: a pause ended early by every close can fail again at once.
constexpr int64_t kAcceptReportEveryMs = 1000;

bool out_of_resources(int err) { return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM; }

// Closes every inherited descriptor except `keep`: other groups' listeners,
// other workers' channels, the master's control socket and pid file (whose
// flock must die with the master, not live on in us).
std::string close_all_except(std::vector<int> keep) {
    std::sort(keep.begin(), keep.end());
    unsigned int from = 0;
    for (int fd : keep) {
        if (fd < 0 || unsigned(fd) < from) continue;
        if (unsigned(fd) > from && close_range(from, unsigned(fd) - 1, 0) == -1)
            return "close_range() failed: " + errno_text(errno);
        from = unsigned(fd) + 1;
    }
    if (close_range(from, ~0u, 0) == -1) return "close_range() failed: " + errno_text(errno);
    return "";
}

std::string drop_privileges(const ServerConfig& server) {
    if (server.user.empty() || geteuid() != 0) return "";
    struct passwd* pw = getpwnam(server.user.c_str());
    if (!pw) return "unknown user \"" + server.user + "\"";
    gid_t gid = pw->pw_gid;
    if (!server.group.empty()) {
        struct group* gr = getgrnam(server.group.c_str());
        if (!gr) return "unknown group \"" + server.group + "\"";
        gid = gr->gr_gid;
    }
    // Group first: once the uid is dropped we may no longer change groups.
    if (setgid(gid) == -1) return "setgid(" + std::to_string(gid) + ") failed: " + errno_text(errno);
    if (initgroups(pw->pw_name, gid) == -1) return "initgroups() failed: " + errno_text(errno);
    if (setuid(pw->pw_uid) == -1) return "setuid(" + std::to_string(pw->pw_uid) + ") failed: " + errno_text(errno);
    return "";
}

}  // namespace

Worker::Worker(WorkerSetup setup)
    : setup_(std::move(setup)),
      drain_(*this),
      listener_(setup_.listener_fd),
      channel_(Fd(setup_.channel_fd)),
      logs_(Fd(setup_.access_log_fd)),
      handover_end_(setup_.handover_fd),
      balance_(setup_.stats_table, setup_.stats) {}

Worker::~Worker() = default;

int Worker::run() {
    log::set_role("worker " + group().name + "#" + std::to_string(setup_.slot));
    if (std::string err = setup_process(); !err.empty()) {
        log::error("%s", err.c_str());
        return SMOOTH_EXIT_SETUP_FAILED;
    }
    if (!load_and_start()) return exit_status_;
    // on_worker_start has succeeded: from here every way out goes through
    // finish(), which owes the module its on_worker_stop.
    if (group().role == Role::Gateway) {
        gateway_ = std::make_unique<Gateway>(*this);
        gateway_->start();  // clients are taken at once; their events wait for the links
    }
    if (group().role == Role::Business) business_ = std::make_unique<Business>(*this);
    if (!watch_listener() || !tell_master_ready()) return exit_with(SMOOTH_EXIT_SETUP_FAILED, "could not start serving");
    if (handover_end_) take_over(std::move(handover_end_));
    if (std::string err = loop_.run(); !err.empty()) {
        log::error("%s", err.c_str());
        return exit_with(SMOOTH_EXIT_SETUP_FAILED, "the event loop failed");
    }
    return exit_status_;
}

int Worker::exit_with(int status, const char* why) {
    finish(why);
    return status;
}

// READY goes out only now: module loaded, on_worker_start done, listener
// watched. The master's reload waits for exactly this before it touches the
// next old worker.
bool Worker::tell_master_ready() {
    std::snprintf(stats().module_version, sizeof stats().module_version, "%s %s", module().name ? module().name : "?",
                  module().version ? module().version : "?");
    // Logged before it is sent, so everything READY causes (the old worker's
    // drain) comes after this line in the log.
    stats().state = uint8_t(RowState::Ready);
    log::info("ready: module %s version %s, generation %llu", module().name ? module().name : "?",
              module().version ? module().version : "?", static_cast<unsigned long long>(setup_.generation));
    if (std::string err = channel_.send(std::string_view(&kMsgReady, 1)); !err.empty()) {
        log::error("cannot tell the master READY: %s", err.c_str());
        return false;
    }
    return true;
}

std::string Worker::setup_process() {
    if (std::string err = signals_.open({SIGQUIT, SIGTERM, SIGINT}); !err.empty()) return err;
    // A worker ignores the master's reload and upgrade signals (SPEC:
    // "ignored"); SIGPIPE is ignored because a client that vanishes is an
    // EPIPE to handle, not a death.
    for (int sig : {SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE, SIGRTMIN + 1})  // +1: the master's reopen (it tells us)
        if (std::string err = ignore_signal(sig); !err.empty()) return err;
    // The master blocked every signal around fork so that none could reach its
    // handlers in this child before ours were in place; now put its mask back.
    if (sigprocmask(SIG_SETMASK, &setup_.signal_mask, nullptr) == -1)
        return "sigprocmask() failed: " + errno_text(errno);

    if (std::string err = close_all_except({0, 1, 2, listener_.get(), channel_.fd(), setup_.access_log_fd,
                                            handover_end_.get(), signals_.read_fd(), signals_.write_fd()});
        !err.empty())
        return err;

    if (std::string err = loop_.open(); !err.empty()) return err;
    if (std::string err = loop_.watch(signals_.read_fd(), EPOLLIN, [this](uint32_t) { on_signal_pipe(); }); !err.empty())
        return "watching the self-pipe: " + err;
    if (std::string err = channel_.watch(
            loop_, "the master's channel", [this](std::string_view m) { on_master_message(m); },
            [this](const std::string& error) { on_master_gone(error); });
        !err.empty())
        return err;
    loop_.add_timer(kSweepMs, [this] { return sweep(); });
    logs_.start(loop_);

    if (std::string err = drop_privileges(setup_.config->server); !err.empty()) return "dropping privileges: " + err;
    // After setuid(), which clears it. The master may have died before this
    // line, when the signal could no longer be sent: check the parent after.
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1) return "prctl(PR_SET_PDEATHSIG) failed: " + errno_text(errno);
    if (getppid() != setup_.master_pid) return "the master exited before this worker started";
    pid_ = getpid();
    stats().pid = pid_;
    balance_.set_listener(listener_.get());
    return "";
}

bool Worker::load_and_start() {
    if (setup_.preloaded) {
        module_ = *setup_.preloaded;  // loaded by the master before fork
    } else {
        if (std::string error = load_module(setup_.module, module_); !error.empty()) {
            log::error("cannot load module %s: %s", setup_.module.c_str(), error.c_str());
            tell_master_failure(error);
            exit_status_ = SMOOTH_EXIT_MODULE_LOAD_FAILED;
            return false;
        }
    }
    if (module().on_worker_start) {
        if (int rc = module().on_worker_start(handle()); rc != 0) {
            std::string why = std::string("on_worker_start of module ") + (module().name ? module().name : "?") +
                              " failed (returned " + std::to_string(rc) + ")";
            log::error("%s", why.c_str());
            tell_master_failure(why);
            exit_status_ = SMOOTH_EXIT_START_FAILED;
            return false;
        }
    }
    started_ = true;
    return true;
}

// The reason goes to the master too, so a reload that fails can say why in
// its own report (the dlerror() text), not only "exited with status 3".
void Worker::tell_master_failure(const std::string& why) {
    if (std::string err = channel_.send(kMsgFailed + why.substr(0, 1000)); !err.empty())
        log::warn("cannot tell the master why: %s", err.c_str());
}

bool Worker::watch_listener() {
    // EPOLLEXCLUSIVE: a new connection wakes one (or a few) of the workers
    // sleeping on this listener, not all of them (no thundering herd).
    if (std::string err = loop_.watch(listener_.get(), EPOLLIN | EPOLLEXCLUSIVE, [this](uint32_t) { on_listener_readable(); });
        !err.empty()) {
        log::error("watching the listener %s: %s", group().listen.text().c_str(), err.c_str());
        return false;
    }
    accepting_ = true;
    balance_.set_accepting(true);
    return true;
}

void Worker::stop_accepting() {
    if (accepting_) loop_.unwatch(listener_.get());
    accepting_ = false;
    balance_.set_accepting(false);
}

void Worker::close_listener() {
    stop_accepting();
    if (accept_pause_timer_) loop_.cancel_timer(std::exchange(accept_pause_timer_, 0));
    if (balance_timer_) loop_.cancel_timer(std::exchange(balance_timer_, 0));
    stepped_back_ = false;
    listener_.reset();
}

// Out of descriptors or memory (see kAcceptPauseMs): stop watching the
// listener for a moment; the queued connections wait in the kernel.
void Worker::pause_accepting(int err) {
    stop_accepting();
    accept_failures_++;
    int64_t now = loop_.now_ms();
    if (accept_reported_ms_ == 0 || now - accept_reported_ms_ >= kAcceptReportEveryMs) {
        log::error("accept4() failed on %s: %s; not accepting for %d ms (%llu %s since the last report)",
                   group().listen.text().c_str(), errno_text(err).c_str(), kAcceptPauseMs,
                   static_cast<unsigned long long>(accept_failures_), accept_failures_ == 1 ? "time" : "times");
        accept_reported_ms_ = now;
        accept_failures_ = 0;
    }
    // Draining: step 3 closes the listener right after this pass; nothing to resume.
    if (accept_pause_timer_ || drain_.active()) return;
    accept_pause_timer_ = loop_.add_timer(kAcceptPauseMs, [this] {
        accept_pause_timer_ = 0;
        resume_accepting();
        return EventLoop::kNoMore;
    });
}

// Called when the pause ends and whenever a connection closes: accept again
// unless the listener is gone (draining), max_connections still holds, or
// this worker has stepped back for a peer (recheck_balance decides that).
void Worker::resume_accepting() {
    if (accept_pause_timer_) loop_.cancel_timer(std::exchange(accept_pause_timer_, 0));
    if (!accepting_ && !stepped_back_ && listener_ && !drain_.active() && !handing_over_ && below_max_connections())
        watch_listener();
}

// max_connections bounds a business worker's proven links, not its
// connections: strangers in their handshake have places of their own, the
// oldest giving way (business.h), so they never keep a gateway out.
bool Worker::below_max_connections() const {
    return business_ ? business_->room_for_a_link() : live_ < size_t(group().max_connections);
}

void Worker::on_listener_readable() {
    accept_pending(SIZE_MAX);
    if (!below_max_connections())
        stop_accepting();  // back on when one closes
    else if (accepting_ && balance_.should_step_back(loop_.now_ms()))
        step_back();  // the queue is empty now: nothing is left behind
}

void Worker::step_back() {
    stop_accepting();
    stepped_back_ = true;
    if (!balance_timer_) balance_timer_ = loop_.add_timer(balance::kRecheckMs, [this] { return recheck_balance(); });
}

int64_t Worker::recheck_balance() {
    if (balance_.should_step_back(loop_.now_ms())) return balance::kRecheckMs;
    balance_timer_ = 0;
    stepped_back_ = false;
    resume_accepting();
    return EventLoop::kNoMore;
}

size_t Worker::accept_pending(size_t at_most) {
    size_t accepted = 0;
    while (accepted < at_most && listener_ && below_max_connections()) {
        sockaddr_in peer{};
        socklen_t peer_len = sizeof peer;
        int fd = accept4(listener_.get(), reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (out_of_resources(errno))
                pause_accepting(errno);
            else if (errno != EAGAIN)  // EAGAIN: the queue is empty
                log::error("accept4() failed on %s: %s", group().listen.text().c_str(), errno_text(errno).c_str());
            break;
        }
        accepted++;
        add_connection(Fd(fd), peer).open();
    }
    return accepted;
}

// A free record in our row of the stats table, searched from where the last
// one was found (records free up roughly in the order they were taken).
ConnRecord* Worker::take_record() {
    for (size_t n = 0; n < kConnRecords; n++) {
        ConnRecord& r = stats().conns[(next_record_ + n) % kConnRecords];
        if (r.id.load(std::memory_order_relaxed) == 0) {
            next_record_ = (next_record_ + n + 1) % kConnRecords;
            return &r;
        }
    }
    stats().conn_unlisted.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
}

Connection& Worker::add_connection(Fd fd, const sockaddr_in& peer) {
    const size_t at = size_t(fd.get());
    // The id is the fd plus a serial, so a stale id never names the fd's next user.
    const uint64_t id = (uint64_t(next_serial_++) << 32) | uint32_t(at);
    if (at >= conns_.size()) conns_.resize(at + 256);
    conns_[at] = std::make_unique<Connection>(*this, std::move(fd), id, peer, take_record());
    live_++;
    stats().connections.fetch_add(1, std::memory_order_relaxed);
    return *conns_[at];
}

std::string Worker::module_version() const {
    return std::string(module().name ? module().name : "?") + " " + (module().version ? module().version : "?");
}

void Worker::client_connected(Connection& c) {
    if (gateway_)
        gateway_->client_connected(c);
    else if (module().on_connect)
        module().on_connect(handle(), c.id());
}

void Worker::client_message(Connection& c, const smooth_message& msg) {
    if (gateway_)
        gateway_->client_message(c, msg);
    else if (module().on_message)
        module().on_message(handle(), c.id(), &msg);
}

void Worker::client_closed(Connection& c) {
    if (gateway_)
        gateway_->client_closed(c);
    else if (module().on_close)
        module().on_close(handle(), c.id());
}

Connection* Worker::find(uint64_t conn_id) {
    size_t fd = size_t(uint32_t(conn_id));
    if (fd >= conns_.size() || !conns_[fd] || conns_[fd]->id() != conn_id) return nullptr;
    return conns_[fd]->state() == Connection::State::Closed ? nullptr : conns_[fd].get();
}

// ---- The hand-over (worker/handover.h) ----

Connection* Worker::adopt_connection(Fd fd, const handover::ClientState& state, std::string& why) {
    sockaddr_in peer{};
    peer.sin_family = AF_INET;
    peer.sin_addr.s_addr = state.peer_ip;
    peer.sin_port = htons(state.peer_port);
    Connection& c = add_connection(std::move(fd), peer);
    if (why = c.adopt(state); !why.empty()) {
        let_go_connection(c);
        return nullptr;
    }
    return &c;
}

// As on_connection_closed, less what belongs to a close: no access-log line
// (the process that closes it writes it), no room made for accepting (a
// worker that hands its connections over has stopped accepting for good).
void Worker::let_go_connection(Connection& c) {
    const size_t at = size_t(c.fd());
    c.let_go();
    live_--;
    stats().connections.fetch_sub(1, std::memory_order_relaxed);
    stats().open_by[size_t(c.speaks())].fetch_sub(1, std::memory_order_relaxed);
    if (closed_.empty()) loop_.add_timer(0, [this] {
            closed_.clear();
            return EventLoop::kNoMore;
        });
    closed_.push_back(std::move(conns_[at]));
    if (drain_.active()) drain_.connection_closed();
}

void Worker::on_connection_closed(Connection* c) {
    live_--;
    stats().connections.fetch_sub(1, std::memory_order_relaxed);
    stats().open_by[size_t(c->speaks())].fetch_sub(1, std::memory_order_relaxed);
    if (!business_) logs_.connection_closed(*c, pid_, module_version(), loop_.now_ms());
    // We may be inside c's own callback: free it once that has returned.
    if (closed_.empty()) loop_.add_timer(0, [this] {
            closed_.clear();
            return EventLoop::kNoMore;
        });
    closed_.push_back(std::move(conns_[size_t(c->fd())]));
    if (drain_.active())
        drain_.connection_closed();
    else
        resume_accepting();  // below max_connections again, and one descriptor free
}

int64_t Worker::sweep() {
    if (getppid() != setup_.master_pid) {
        stop_now("the master is gone");
        return EventLoop::kNoMore;
    }
    int64_t now = loop_.now_ms();
    for_each_connection([now](Connection& c) { c.check_deadline(now); });
    keep_under_ceiling();
    buffers_.release_unused();  // large blocks idle for a second go back to the kernel
    peak_live_ = std::max(peak_live_, live_);
    if (peak_live_ >= kBurstConnections && live_ < peak_live_ / 2) give_back_memory();
    return kSweepMs;
}

// max_buffered_bytes. Each connection has bounds of its own (max_request_bytes
// in, max_unsent_bytes out, message_timeout), but ten thousand connections at
// their bounds would still be gigabytes: the sum has a ceiling too. Past it,
// the connections holding the most are closed first (a gateway's client with
// the events it has queued), until the rest fit. Checked at each sweep, so a
// worker can pass it by what its connections take in kSweepMs, each within
// its own bounds.
void Worker::keep_under_ceiling() {
    auto held_by = [this](Connection& c) {
        return c.held_bytes() + (gateway_ ? gateway_->queued_bytes_of(c.id()) : 0);
    };
    size_t total = 0;
    for_each_connection([&](Connection& c) { total += held_by(c); });
    stats().buffered_bytes.store(total, std::memory_order_relaxed);
    const size_t ceiling = group().max_buffered_bytes;
    if (total <= ceiling) return;

    std::vector<std::pair<size_t, Connection*>> holders;
    for_each_connection([&](Connection& c) {
        // (Not one paused for the hand-over: it is leaving with what it holds.)
        if (size_t held = held_by(c); held > 0 && c.state() != Connection::State::Closed && !c.paused())
            holders.emplace_back(held, &c);
    });
    std::sort(holders.begin(), holders.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (auto [held, c] : holders) {
        if (total <= ceiling) break;
        log::warn("closing %s: it holds %zu bytes, and this worker's connections %zu in all, over max_buffered_bytes (%zu)",
                  c->peer().c_str(), held, total, ceiling);
        count_limit(Limit::WorkerCeiling);
        c->abort();
        total -= held;
    }
}

// A burst is over (at least half its connections have gone): the memory it
// took goes back to the kernel, not only to malloc's free lists. The tables
// indexed by fd (the gateway's too) shrink past the highest fd still open, and
// malloc_trim hands back every free page of the heap.
void Worker::give_back_memory() {
    while (!conns_.empty() && !conns_.back()) conns_.pop_back();
    conns_.shrink_to_fit();
    loop_.shrink_to_fit();
    if (gateway_) gateway_->give_back_memory();
    malloc_trim(0);
    peak_live_ = live_;
}

void Worker::on_signal_pipe() {
    for (int sig : signals_.read_signals()) {
        if (sig == SIGQUIT) {
            if (handing_over_)
                drain_after_handover_ = true;  // its connections are paused, not ours to close: after
            else if (!drain_.active())
                begin_drain();
        } else {
            stop_now(signal_name(sig).c_str());
        }
    }
}

// What it had when told to drain goes in its row first (the master folds it
// into its histograms when the worker is gone): connections, and requests
// received but not answered yet.
void Worker::begin_drain() {
    size_t handling = 0;
    for_each_connection([&](Connection& c) { handling += c.state() == Connection::State::Handling; });
    stats().drain_connections.store(uint32_t(live_), std::memory_order_relaxed);
    stats().drain_requests.store(uint32_t(handling), std::memory_order_relaxed);
    stats().state = uint8_t(RowState::Draining);
    drain_began_ms_ = loop_.now_ms();
    logs_.flush();
    drain_.start();
}

void Worker::on_master_message(std::string_view message) {
    if (!message.empty() && message[0] == kMsgReopen) {
        logs_.reopen(message, channel_.take_fds());
        return;
    }
    if (!message.empty() && message[0] == kMsgHandOver) {
        hand_over(channel_.take_fds());
        return;
    }
    if (!message.empty() && message[0] == kMsgTakeOver) {
        std::vector<Fd> fds = channel_.take_fds();
        if (fds.size() == 1) take_over(std::move(fds[0]));
        return;
    }
    if (message == std::string_view(&kMsgReload, 1)) {
        log::info("reload: this group is not reloadable; running on_worker_reload and staying up");
        if (module().on_worker_reload) module().on_worker_reload(handle());
    }
}

// ---- The hand-over (worker/handover.h) ----

// The old worker: the master gave us the socket our successor listens on.
// We stop accepting (it accepts from the same listener), and the sender
// moves every client connection and link; what stays (plain HTTP, a
// WebSocket still in its handshake) drains as after a SIGQUIT.
void Worker::hand_over(std::vector<Fd> fds) {
    auto refuse = [this](const std::string& why) {
        log::warn("hand-over refused: %s", why.c_str());
        (void)channel_.send(kMsgHandOverFailed + why);
    };
    if (fds.size() != 1) return refuse("'H' came with " + std::to_string(fds.size()) + " descriptors, not 1");
    if (!gateway_) return refuse("this worker is not a gateway");
    if (drain_.active() || handing_over_) return refuse("this worker is draining or handing over already");
    log::info("hand-over: handing %zu connections to our successor", live_);
    handing_over_ = true;
    stop_accepting();
    handing_ = std::make_unique<HandoverSender>(loop_, gateway_->handover_source(),
                                                [this](bool ok, const std::string& what) { handed_over(ok, what); });
    if (std::string err = handing_->start(std::move(fds[0])); !err.empty()) handed_over(false, err);
}

void Worker::handed_over(bool ok, const std::string& what) {
    handing_over_ = false;
    // (The sender is still on the stack: it goes at the end of the pass.)
    loop_.add_timer(0, [this] {
        handing_.reset();
        return EventLoop::kNoMore;
    });
    if (std::string err = channel_.send((ok ? kMsgHandedOver : kMsgHandOverFailed) + what); !err.empty())
        log::error("cannot tell the master how the hand-over went: %s", err.c_str());
    if (ok) {
        if (handing_) stats().handed_over.fetch_add(handing_->clients_moved(), std::memory_order_relaxed);
        log::info("hand-over: %s; draining what stays (%zu connections)", what.c_str(), live_);
        begin_drain();
        return;
    }
    log::warn("hand-over failed: %s; serving on", what.c_str());
    if (drain_after_handover_)
        begin_drain();
    else
        resume_accepting();
}

// The new worker, READY: the old one of our slot will talk on this socket
// (a reload's: ours since our fork; an upgrade's: passed on by our master,
// 'T') when its master tells it to ('H'). Until then, and if it never does
// (the reload gave up, the old worker died), nothing comes and nothing is owed.
void Worker::take_over(Fd end) {
    if (!gateway_ || (taking_ && taking_->running())) return;  // (the end closes: EOF to the old worker)
    taking_ = std::make_unique<HandoverReceiver>(loop_, gateway_->handover_sink(), [this](bool ok, const std::string& what) {
        if (ok) log::info("hand-over: %s", what.c_str());
        loop_.add_timer(0, [this] {
            taking_.reset();
            return EventLoop::kNoMore;
        });
    });
    if (std::string err = taking_->start(std::move(end)); !err.empty())
        log::error("hand-over: cannot listen for the old worker: %s", err.c_str());
}

void Worker::on_master_gone(const std::string& error) {
    if (!error.empty()) {
        log::error("%s", error.c_str());
        stop_now("the master's channel failed");
        return;
    }
    stop_now("the master closed our channel");
}

void Worker::drain_each_connection() {
    for_each_connection([](Connection& c) { c.begin_drain(); });
}

void Worker::stop_now(const char* why) {
    if (finished_) return;
    log::info("stopping now (%s): closing %zu connections", why, live_);
    if (!drain_.active()) stats().state = uint8_t(RowState::Stopping);
    close_listener();
    if (gateway_) gateway_->stop();
    for_each_connection([](Connection& c) { c.close_now(); });
    finish(why);
}

void Worker::finish(const char* why) {
    if (finished_) return;
    finished_ = true;
    if (gateway_) gateway_->stop();
    if (started_ && module().on_worker_stop) module().on_worker_stop(handle());
    if (drain_.active())  // how long the drain took, as this worker saw it
        stats().drain_us.store((loop_.now_ms() - drain_began_ms_) * 1000, std::memory_order_relaxed);
    logs_.flush();
    log::info("exiting: %s", why);
    loop_.stop();
}

}  // namespace smooth
