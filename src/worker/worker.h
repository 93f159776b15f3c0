// worker: one worker process, from the moment after fork to its exit.
//
//   fork ─► restore signals, own self-pipe ─► close what is not ours
//        ─► own epoll loop ─► drop privileges ─► load module, on_worker_start
//        ─► watch the listener ─► tell the master READY ─► serve
//        ─► SIGQUIT: drain (drain.cpp) ─► on_worker_stop ─► exit
//        ─► SIGTERM/SIGINT, or the master gone: close everything now ─► exit
//
// The worker owns its connections, its loop and its module; it shares with the
// master only the listening socket (the master keeps its own copy), its row of
// the stats table, and a channel (a socketpair) for READY and reload notices.
#pragma once

#include <csignal>
#include <cstdint>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/types.h>
#include <vector>

#include "config/config.h"
#include "worker/accept_balance.h"
#include "worker/drain.h"
#include "core/buffer_pool.h"
#include "core/channel.h"
#include "core/event_loop.h"
#include "worker/module_loader.h"
#include "core/self_pipe.h"
#include "core/stats.h"
#include "worker/worker_logs.h"

namespace smooth {
class Worker;
}

struct smooth_worker {
    smooth::Worker* worker;  // the C handle modules hold; see module_api.cpp
};

namespace smooth {

class Connection;
class Gateway;
class HandoverSender;
class HandoverReceiver;
class Business;
namespace handover {
struct ClientState;
}

// Everything the master hands over at fork. Pointers stay valid: the child has
// its own copy of the master's memory and never returns into master code.
struct WorkerSetup {
    const Config* config = nullptr;
    const GroupConfig* group = nullptr;
    int slot = 0;
    uint64_t generation = 0;
    std::string module;                     // stored copy path or "builtin:NAME"
    const LoadedModule* preloaded = nullptr; // set when the group has preload = true
    int listener_fd = -1;                   // the group's listener (the Worker takes ownership of this copy)
    int channel_fd = -1;                    // our end of the socketpair (the Worker takes ownership)
    int access_log_fd = -1;                 // the group's access log, or -1 (the Worker takes ownership)
    int handover_fd = -1;                   // reloadable = handover, a slot whose old worker serves: our end
                                            // of the socketpair it hands its connections over on, or -1
    WorkerRow* stats = nullptr;
    const StatsTable* stats_table = nullptr; // the whole table, read only: the peers (accept_balance.h)
    pid_t master_pid = 0;
    sigset_t signal_mask{};                 // the master's mask before it blocked all for fork
};

// Messages on the master<->worker channel (SOCK_SEQPACKET: one per packet).
inline constexpr char kMsgReady = 'R';   // worker -> master: serving
inline constexpr char kMsgReload = 'L';  // master -> worker: run on_worker_reload
inline constexpr char kMsgFailed = 'E';  // worker -> master: why it cannot start, then exits
// The hand-over (worker/handover.h), for a gateway group with reloadable = handover:
inline constexpr char kMsgHandOver = 'H';        // master -> old worker: hand your connections over on the
                                                 // descriptor that comes with this message
inline constexpr char kMsgHandedOver = 'h';      // old worker -> master: done (how many, how long); it drains
                                                 // what stays (plain HTTP) and exits
inline constexpr char kMsgHandOverFailed = 'X';  // old worker -> master: failed (why); it serves on
inline constexpr char kMsgTakeOver = 'T';        // master -> new worker (an upgrade's): take over the
                                                 // connections of the old worker on this descriptor

class Worker : public DrainedWorker {
public:
    explicit Worker(WorkerSetup setup);
    ~Worker();

    // Runs the worker's whole life and returns its exit status.
    int run();

    // ---- For connections and the module API. ----
    EventLoop& loop() override { return loop_; }
    const GroupConfig& group() const { return *setup_.group; }
    const smooth_module& module() const { return *module_.api; }
    smooth_worker* handle() { return &handle_; }
    WorkerRow& stats() { return *setup_.stats; }
    void count_limit(Limit l) { stats().limit_hits[size_t(l)].fetch_add(1, std::memory_order_relaxed); }
    const StatsTable& stats_table() const { return *setup_.stats_table; }
    AccessLog* access_log() { return logs_.access(); }
    BufferPool& buffers() { return buffers_; }
    const Drain& drain() const { return drain_; }

    std::string module_version() const;  // "hello 2"
    // What gateway and business workers prove to each other (protocol/link.h):
    // read by the master before fork, never from a file here.
    const std::string& link_secret() const { return setup_.config->server.link_secret; }

    // ---- Where a client's events go: the module, or (role = gateway) the
    // business group behind this gateway (gateway.h). ----
    void client_connected(Connection& c);
    void client_message(Connection& c, const smooth_message& msg);
    void client_closed(Connection& c);
    Business* business() { return business_.get(); }  // role = business, else null

    Connection* find(uint64_t conn_id);
    void on_connection_closed(Connection* c);  // the connection has closed its fd

    // ---- The hand-over (worker/handover.h): connections that come from,
    // or go to, another worker without closing ----
    // A client connection its predecessor held (Connection::adopt), counted
    // as ours from now, paused until the gateway resumes it. nullptr (and
    // `why`) if it cannot go on here: its descriptor is closed, no more.
    Connection* adopt_connection(Fd fd, const handover::ClientState& state, std::string& why);
    // The connection lives on in another process (or never started here):
    // our descriptor closed without a word (Connection::let_go), and it is
    // no longer counted, logged or drained here.
    void let_go_connection(Connection& c);
    uint64_t generation() const { return setup_.generation; }
    pid_t pid() const { return pid_; }  // getpid() once: glibc does not cache it
    int slot() const { return setup_.slot; }
    void* userdata = nullptr;

    // ---- DrainedWorker: what the drain asks (drain.h). ----
    void stop_accepting() override;  // unwatch the listener (keep the fd)
    size_t accept_pending(size_t at_most) override;
    void close_listener() override;  // for good: also ends a pause (see pause_accepting)
    void drain_each_connection() override;
    size_t connection_count() const override { return live_; }
    int drain_timeout_ms() const override { return setup_.config->server.drain_timeout_ms; }
    void finish(const char* why) override;    // on_worker_stop, then leave the loop
    void stop_now(const char* why) override;  // close every connection now, then finish
    template <typename F> void for_each_connection(F f);

private:
    std::string setup_process();
    void tell_master_failure(const std::string& why);
    bool load_and_start();
    bool tell_master_ready();
    int exit_with(int status, const char* why);
    void on_listener_readable();
    void on_signal_pipe();
    void on_master_message(std::string_view message);
    void on_master_gone(const std::string& error);
    void begin_drain();  // SIGQUIT: what it has is noted in its row, then the drain
    // The hand-over (worker/handover.h): the old worker's side ('H') and the
    // new one's (its end from birth, listened on once READY).
    void hand_over(std::vector<Fd> fds);
    void handed_over(bool ok, const std::string& what);
    void take_over(Fd end);
    int64_t sweep();
    void keep_under_ceiling();
    void give_back_memory();
    bool watch_listener();
    void pause_accepting(int err);  // out of descriptors or memory: see worker.cpp
    void resume_accepting();        // the pause is over, or a connection closed
    void step_back();               // a peer has room: let it take the next connections
    int64_t recheck_balance();
    bool below_max_connections() const;  // room to accept (a business worker counts proven links)
    ConnRecord* take_record();           // a free record in our row of the stats table, or nullptr
    Connection& add_connection(Fd fd, const sockaddr_in& peer);  // counted, not opened

    WorkerSetup setup_;
    smooth_worker handle_{this};
    BufferPool buffers_;  // before the connections: they give their blocks back when destroyed
    EventLoop loop_;
    SelfPipe signals_;
    LoadedModule module_;
    Drain drain_;
    Fd listener_;
    Channel channel_;
    WorkerLogs logs_;
    int64_t drain_began_ms_ = 0;
    pid_t pid_ = 0;
    std::unique_ptr<Gateway> gateway_;
    std::unique_ptr<Business> business_;
    Fd handover_end_;                            // the new worker's end of the hand-over, until take_over()
    std::unique_ptr<HandoverSender> handing_;    // the old worker's hand-over
    std::unique_ptr<HandoverReceiver> taking_;   // the new worker's
    bool handing_over_ = false;                  // 'H' heard, the hand-over under way: not accepting
    bool drain_after_handover_ = false;          // a SIGQUIT came meanwhile
    bool accepting_ = false;
    // Stepped back from the listener while a peer has clearly fewer
    // connections (accept_balance.h), and the timer that looks again.
    AcceptBalance balance_;
    bool stepped_back_ = false;
    uint64_t balance_timer_ = 0;
    // A pause in accepting for lack of descriptors or memory, and its reports.
    uint64_t accept_pause_timer_ = 0;    // 0: not paused for that reason
    uint64_t accept_failures_ = 0;       // accept4() failures not yet reported
    int64_t accept_reported_ms_ = 0;     // when the last report was written (0: never)
    std::vector<std::unique_ptr<Connection>> conns_;  // indexed by fd
    std::vector<std::unique_ptr<Connection>> closed_; // freed outside their own callbacks
    size_t live_ = 0;
    size_t peak_live_ = 0;  // the most connections open at once since memory was last given back
    uint32_t next_serial_ = 1;
    size_t next_record_ = 0;  // where to start looking for a free ConnRecord
    int exit_status_ = 0;
    bool started_ = false;  // on_worker_start succeeded: on_worker_stop is owed
    bool finished_ = false;
};

template <typename F>
void Worker::for_each_connection(F f) {
    for (auto& c : conns_)
        if (c) f(*c);
}

}  // namespace smooth
