// connection: one client connection: its socket, its bytes, its state.
//
//            bytes arrive           request complete        module responds
//   Idle ───────────────► Reading ──────────────────► Handling ─────────┐
//    ▲                       │ (timeout: 408)                           │
//    └───────────────────────┴───────── keep-alive ◄────────────────────┘
//                                       │ close wanted
//                                       ▼
//                        (flush output) Lingering ──► Closed
//
//   Streaming: text, frame, tcp and WebSocket connections, which have no
//   request/response rhythm: messages go both ways as they come.
//   Closing: a WebSocket close handshake we began, waiting for the client's.
//
// A Connection moves bytes: it reads into its input buffer, writes with one
// writev (keeping what the socket would not take), stops reading while the
// client does not read its answers (back-pressure), keeps one deadline, and
// ends with a lingering close where the client may still be sending. What the
// bytes mean is its Session's business (session.h).
//
// A stream (Streaming, Closing) gathers its output instead: what the pass of
// the event loop has for it (a link's answers and their DONEs, a client's
// messages) is appended, and leaves in one write at the end of the pass
// (EventLoop::defer); what would bring it to kGatherBytes (64 KiB) goes out
// at once instead, behind what was gathered. Nothing waits longer than the
// pass, and the bounds on unsent output count, as before, what the peer has
// not taken: the bytes gathered have not been offered yet (unsent() leaves
// them out), and are fewer than kGatherBytes.
//
// set_state() is the only place the state changes, so one log line there
// traces a connection (SMOOTH_TRACE=1).
//
// The hand-over (worker/handover.h) moves a gateway's client connection to
// another process. pause() takes it out of the event loop (a real
// EPOLL_CTL_DEL: the successor will hold a copy of the same socket, and an
// epoll registration lives as long as any copy does), and from then nothing
// is read, written or timed: what a pass would write is kept in the output
// buffer, and the deadlines are kept as durations (what was left of them).
// export_state() writes down everything; then either resume() (the
// successor went away: as it was), or let_go() (it is the successor's: our
// descriptor closed without a word). The successor builds its Connection
// with adopt(), paused, and resume()s it at COMMIT.
//
// Ownership: the Worker owns every Connection (by fd) and frees it after it
// has closed; a Connection owns its socket, its buffers and its Session.
// Modules name connections by id, never by pointer.
#pragma once

#include <cstdint>
#include <memory>
#include <netinet/in.h>
#include <string>

#include "config/config.h"
#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/fd.h"
#include "smooth/module.h"

namespace smooth {

class Worker;
class Session;
struct ConnRecord;
namespace handover {
struct ClientState;
}

class Connection : private EventLoop::Deferred {
public:
    enum class State : uint8_t { Idle, Reading, Handling, Streaming, Closing, Lingering, Closed };
    static const char* state_name(State s);

    Connection(Worker& worker, Fd fd, uint64_t id, const sockaddr_in& peer, ConnRecord* record);
    ~Connection();

    // Starts watching the socket, gives it its session, tells the module.
    void open();

    uint64_t id() const { return id_; }
    int fd() const { return fd_.get(); }
    State state() const { return state_; }
    Worker& worker() { return worker_; }
    const GroupConfig& group() const;
    std::string peer() const;  // "127.0.0.1:51234", for the log

    // ---- What a module asks (module_api.cpp), passed to the session ----
    int send(const char* data, size_t len);
    int send_ws(const char* data, size_t len, bool binary);
    int respond(int status, const char* content_type, const char* body, size_t len);
    int close_soon();
    int close_with(uint16_t code, const char* reason);  // a WebSocket says why; others just close

    // ---- What the worker asks ----
    void begin_drain();          // the worker started draining (drain.h, steps 4-6)
    void check_deadline(int64_t now_ms);
    void close_now();            // no flush, no linger: hard stop
    // Harder still: a reset (SO_LINGER 0), so that what the kernel still
    // holds for the client is dropped too. For a client cut off for not
    // reading: at its pace, that could take minutes to leave.
    void abort();

    // ---- What its session uses ----
    Buffer& in() { return in_; }
    void set_state(State s);
    void set_deadline_in(int64_t ms);  // from now; the session's on_deadline() runs then
    void clear_deadline() { deadline_ms_ = 0; }
    // Idle between requests: the keep-alive deadline (the short grace while
    // draining), and the input buffer's memory given back.
    void wait_idle();
    // Sends head then body (either may be empty), in one writev when the
    // socket takes it all; a stream gathers them for the end of the pass (see
    // above). False if the connection closed (the client is gone).
    bool write(const char* head, size_t head_len, const char* body, size_t body_len);
    // After what is written has gone out, close: at once where the client has
    // said it sends nothing more (`client_done`), else with a lingering close.
    void close_after_output(bool client_done);
    bool closing() const { return close_after_flush_; }
    // Output written but not yet taken by the client, and whether it is past
    // the group's max_unsent_bytes (a long connection is then closed: its
    // session says how).
    size_t unsent() const { return out_.size() - gathered_; }
    bool over_unsent_limit() const { return unsent() > group().max_unsent_bytes; }
    // The memory this connection holds (its buffers and its session's), for
    // the worker's ceiling, max_buffered_bytes.
    size_t held_bytes() const;
    // The client's side of the stream is closed (read returned EOF).
    bool peer_closed() const { return peer_closed_; }
    // The last read filled all the room it had: more bytes may be waiting in
    // the socket that were never read.
    bool may_have_unread_input() const { return last_read_filled_; }
    void count_message();        // one request or message, for `status`
    // Tells the module (or the gateway) that a client is here. At accept for
    // most groups; in a ws:// group when the connection becomes a WebSocket.
    void tell_connected();
    // The WebSocket upgrade. The old session may be running (it is the
    // caller): it is kept alive until the input it is handling is done.
    void replace_session(std::unique_ptr<Session> next);
    void set_nodelay();          // TCP_NODELAY: small messages go out at once
    // A link carries many clients' events: after a read that filled all its
    // room, it reads again in the same event (up to kReadsPerEvent), so what
    // is there is handled in this pass and its answers leave in one write.
    void read_while_full() { read_while_full_ = true; }
    // What it speaks now, counted in the worker's row by protocol: a ws://
    // group's connection speaks HTTP until its upgrade.
    Protocol speaks() const { return speaks_; }
    void now_speaks(Protocol p);
    // For the access log (access_log.h): when it opened (the loop's clock),
    // the bytes sent to the client so far, and for a WebSocket the request
    // line of its handshake (kept, on the heap, only while an access log is on).
    int64_t opened_ms() const { return opened_ms_; }
    uint64_t sent_bytes() const { return sent_; }
    std::string_view log_request() const { return log_request_ ? std::string_view(*log_request_) : std::string_view(); }
    void keep_log_request(std::string_view line) { log_request_ = std::make_unique<std::string>(line); }
    // While a large body is on its way: epoll calls this connection readable
    // only once `bytes` have arrived (at most kMaxLowWater), or at EOF, not at
    // every segment: fewer wake-ups and fewer, larger reads (SO_RCVLOWAT). 1:
    // any byte, the usual.
    void wake_at_least(size_t bytes);
    // Goes on with buffered input after a response sent from outside the
    // input's handling (a timer): a pipelined request may be waiting.
    void resume_input() { process_input(); }
    // The gateway holds a client that has too many messages waiting for a
    // business worker: nothing more of its input is read or handled (it
    // waits in our buffer and in the kernel: TCP's back-pressure) until it is
    // released, and then the buffered messages are handled in order.
    void hold_input();
    void release_input();
    bool input_held() const { return input_held_; }

    // ---- The hand-over (see above) ----
    void pause();
    bool paused() const { return paused_; }
    // Only while paused: its socket's state, its buffers, its session's.
    void export_state(handover::ClientState& out) const;
    // Back in the loop, its deadlines what was left of them, its output
    // written and its input handled as if it had never stopped.
    void resume();
    // Closes our descriptor and nothing else: no shutdown, no close frame,
    // no CLOSE for the business (the client did not close). The Worker
    // forgets it (Worker::let_go_connection).
    void let_go();
    // Instead of open(): the connection a predecessor held, as it wrote it
    // down; paused until resume(). "" or why it cannot go on here.
    std::string adopt(const handover::ClientState& in);

private:
    void run_deferred() override;  // the end of the pass: the output gathered leaves
    bool gathers_output() const { return state_ == State::Streaming || state_ == State::Closing; }
    void on_event(uint32_t events);
    void on_readable();
    void on_read_nothing(ssize_t n);
    void process_input();
    void flush();
    void update_interest();
    void linger();
    bool input_waiting() const;  // bytes in the socket we have not read
    void count_in(size_t n);
    void count_out(size_t n);

    // Ordered by size, so that no padding is left between them: an idle
    // connection costs its object and little else (docs/connections.md).
    // (fd_ fills the room after the EventLoop::Deferred base's index.)
    Fd fd_;
    Worker& worker_;
    uint64_t id_;
    ConnRecord* record_;  // our row in the shared stats table, or nullptr if it is full
    std::unique_ptr<Session> session_;
    std::unique_ptr<Session> retired_session_;  // replaced while it ran; freed after
    std::unique_ptr<std::string> log_request_;  // only while an access log is on
    Buffer in_;
    Buffer out_;
    int64_t deadline_ms_ = 0;     // 0: none
    int64_t last_progress_ms_ = 0; // when output last moved (or was first queued)
    int64_t opened_ms_ = 0;
    uint64_t sent_ = 0;
    uint32_t gathered_ = 0;       // the end of out_ not yet offered to the socket (only while nothing waits before
                                  // it); under kGatherBytes
    uint32_t peer_ip_;            // network byte order
    int low_water_ = 1;           // SO_RCVLOWAT as last set
    uint32_t interest_ = 0;
    uint16_t peer_port_;          // host byte order
    State state_ = State::Idle;
    Protocol speaks_ = Protocol::Http;
    bool close_after_flush_ = false;
    bool client_done_ = false;    // no lingering: the client sends nothing more
    bool peer_closed_ = false;    // read returned EOF
    bool last_read_filled_ = false;
    bool read_drained_ = false;   // this event's read emptied the socket
    bool read_while_full_ = false;
    bool watched_ = false;        // in the event loop (not while open() reads the first bytes)
    bool reading_paused_ = false; // back-pressure: output too big, stop reading
    bool input_held_ = false;     // back-pressure from the gateway's queue (hold_input)
    bool in_process_ = false;     // process_input() is on the stack
    bool connect_told_ = false;   // on_connect ran: on_close is owed
    bool paused_ = false;         // handed over, or being: out of the loop, deadlines kept as durations
};

// Never a null pointer, even for an empty field: a module may pass it to
// memcpy or strncmp with its length, and a null there is undefined even for 0.
inline smooth_str module_str(std::string_view s) { return {s.empty() ? "" : s.data(), s.size()}; }

}  // namespace smooth
