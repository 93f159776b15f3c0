// connection: see connection.h. Reading, writing, the deadline, closing.
#include "worker/connection.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/stats.h"
#include "protocol/handover.h"
#include "worker/business.h"
#include "worker/drain.h"
#include "worker/http_session.h"
#include "worker/link_session.h"
#include "worker/stream_session.h"
#include "worker/worker.h"
#include "worker/ws_session.h"

namespace smooth {

namespace {

// Back-pressure: above kHighWater bytes of unsent output the connection stops
// reading (a client that does not read its responses cannot make us buffer
// without bound); below kLowWater it reads again.
constexpr size_t kHighWater = 1 << 20;
constexpr size_t kLowWater = 64 << 10;
// One read asks for at least this much room.
constexpr size_t kReadChunk = 16384;
// A link reads again after a read that filled its room, this many reads in
// one event at most (read_while_full): the others' events wait no longer.
constexpr int kReadsPerEvent = 8;
// A stream's output gathered in one pass goes out at once past this much
// (write): the gathering saves system calls, it is not a buffer to fill.
constexpr size_t kGatherBytes = 64 << 10;
// A body on its way wakes us after at most this much (wake_at_least).
constexpr size_t kMaxLowWater = 256 * 1024;
// A lingering close reads and drops at most this much per wake-up...
constexpr size_t kLingerSink = 4096;

bool tracing() {
    static const bool on = std::getenv("SMOOTH_TRACE") != nullptr;
    return on;
}

}  // namespace

const char* Connection::state_name(State s) {
    switch (s) {
        case State::Idle: return "idle";
        case State::Reading: return "reading";
        case State::Handling: return "handling";
        case State::Streaming: return "streaming";
        case State::Closing: return "closing";
        case State::Lingering: return "lingering";
        case State::Closed: return "closed";
    }
    return "?";
}

Connection::Connection(Worker& worker, Fd fd, uint64_t id, const sockaddr_in& peer, ConnRecord* record)
    : fd_(std::move(fd)), worker_(worker), id_(id), record_(record), in_(&worker.buffers()), out_(&worker.buffers()),
      peer_ip_(peer.sin_addr.s_addr), peer_port_(ntohs(peer.sin_port)) {
    if (record_) {
        record_->peer_ip = peer.sin_addr.s_addr;
        record_->peer_port = ntohs(peer.sin_port);
        record_->bytes_in = 0;
        record_->bytes_out = 0;
        record_->opened_ms = wall_clock_ms();
        record_->state = uint8_t(State::Idle);
        record_->id = id;  // last: a reader that sees the id sees the rest
    }
    const Protocol listen = worker.group().listen.protocol;
    speaks_ = listen == Protocol::Ws ? Protocol::Http : listen;
    opened_ms_ = worker.loop().now_ms();
    worker.stats().open_by[size_t(speaks_)].fetch_add(1, std::memory_order_relaxed);
}

void Connection::now_speaks(Protocol p) {
    worker_.stats().open_by[size_t(speaks_)].fetch_sub(1, std::memory_order_relaxed);
    speaks_ = p;
    worker_.stats().open_by[size_t(speaks_)].fetch_add(1, std::memory_order_relaxed);
}

Connection::~Connection() {
    worker_.loop().undefer(*this);
    if (record_)
        record_->id = 0;
    else
        worker_.stats().conn_unlisted.fetch_sub(1, std::memory_order_relaxed);
}

const GroupConfig& Connection::group() const { return worker_.group(); }

std::string Connection::peer() const {
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &peer_ip_, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(peer_port_);
}

void Connection::set_state(State s) {
    if (tracing()) log::info("connection %s (fd %d): %s -> %s", peer().c_str(), fd(), state_name(state_), state_name(s));
    state_ = s;
    if (record_) record_->state = uint8_t(s);
}

void Connection::open() {
    interest_ = EPOLLIN;
    const Protocol p = group().listen.protocol;
    if (Business* business = worker_.business()) {
        // A business worker's connections are gateway workers' links, not
        // clients: their events are the clients' (business.h).
        session_ = std::make_unique<LinkSession>(*this, *business);
    } else if (p == Protocol::Http || p == Protocol::Ws) {
        session_ = std::make_unique<HttpSession>(*this);
        if (p == Protocol::Http) tell_connected();
    } else {
        session_ = std::make_unique<StreamSession>(*this);
        tell_connected();
    }
    if (state_ != State::Closed) session_->on_open();
    // An HTTP client speaks first, and its request has usually arrived by the
    // time we accept: read it now. A short request answered and closed right
    // here never costs an epoll_ctl at all; otherwise the socket is watched
    // from here on (EAGAIN: the request is still on its way).
    if (state_ != State::Closed && (p == Protocol::Http || p == Protocol::Ws) && !worker_.business()) on_readable();
    if (state_ == State::Closed) return;
    if (std::string err = worker_.loop().watch(fd(), interest_, [this](uint32_t events) { on_event(events); });
        !err.empty()) {
        log::error("watching the connection from %s: %s", peer().c_str(), err.c_str());
        close_now();
        return;
    }
    watched_ = true;
}

void Connection::tell_connected() {
    if (connect_told_) return;
    connect_told_ = true;
    worker_.client_connected(*this);
}

void Connection::replace_session(std::unique_ptr<Session> next) {
    retired_session_ = std::move(session_);
    session_ = std::move(next);
    session_->on_open();
}

void Connection::wake_at_least(size_t bytes) {
    const int want = int(std::clamp<size_t>(bytes, 1, kMaxLowWater));
    if (want == low_water_) return;
    if (setsockopt(fd(), SOL_SOCKET, SO_RCVLOWAT, &want, sizeof want) == -1) {
        log::warn("setsockopt(SO_RCVLOWAT) failed for %s: %s", peer().c_str(), errno_text(errno).c_str());
        return;  // harmless: we are woken more often, that is all
    }
    low_water_ = want;
}

void Connection::set_nodelay() {
    int on = 1;
    if (setsockopt(fd(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == -1)
        log::warn("setsockopt(TCP_NODELAY) failed for %s: %s", peer().c_str(), errno_text(errno).c_str());
}

// ---- Reading ----

void Connection::on_event(uint32_t events) {
    if (events & EPOLLERR) {
        close_now();
        return;
    }
    if (events & EPOLLOUT) flush();
    if (state_ != State::Closed && (events & (EPOLLIN | EPOLLHUP))) on_readable();
    if (state_ != State::Closed) read_drained_ = false;  // only true within the event that read
}

void Connection::on_readable() {
    if (state_ == State::Lingering) {
        // Read and drop until EOF: the client's last bytes must not find a
        // closed socket (that is what turns into a reset).
        char sink[kLingerSink];
        for (;;) {
            ssize_t n = ::read(fd(), sink, sizeof sink);
            if (n > 0) continue;
            if (n == -1 && errno == EINTR) continue;
            if (n == -1 && errno == EAGAIN) return;
            close_now();  // EOF or error: the lingering is over
            return;
        }
    }
    for (int reads = 1;; reads++) {
        in_.reserve(kReadChunk);
        const size_t room = in_.writable();
        ssize_t n;
        do n = ::read(fd(), in_.write_ptr(), room);
        while (n == -1 && errno == EINTR);
        if (n <= 0) return on_read_nothing(n);
        in_.commit(size_t(n));
        last_read_filled_ = size_t(n) == room;
        read_drained_ = !last_read_filled_;
        count_in(size_t(n));
        process_input();
        // Read again only where it pays (read_while_full): the room was full,
        // so more is likely there, and reading is still wanted.
        if (!read_while_full_ || !last_read_filled_ || reads == kReadsPerEvent || state_ == State::Closed ||
            state_ == State::Lingering || !(interest_ & EPOLLIN))
            return;
    }
}

// A read that returned nothing: EAGAIN, the client's EOF, or an error.
void Connection::on_read_nothing(ssize_t n) {
    if (n == -1 && errno == EAGAIN) {
        in_.shrink_if_idle();  // nothing came: an idle connection holds no block
        return;
    }
    if (n == 0 && (state_ == State::Handling || !out_.empty())) {  // (gathered output too: flushed at the pass's end)
        // The client half-closed after sending its request: it may still read.
        peer_closed_ = true;
        update_interest();
        return;
    }
    close_now();  // EOF when nothing is owed, or ECONNRESET and friends
}

void Connection::process_input() {
    if (in_process_) return;  // a module responded from inside on_message: the loop in on_input goes on
    if (paused_) return;      // handled where it is served next (resume())
    in_process_ = true;
    session_->on_input();
    in_process_ = false;
    retired_session_.reset();
    in_.shrink_if_idle();  // all handled: the block goes back to the pool until bytes come again
    if (state_ != State::Closed) update_interest();
}

// ---- Writing ----

bool Connection::write(const char* head, size_t head_len, const char* body, size_t body_len) {
    if (paused_) {  // handed over, or being: it leaves with the rest of the output, from wherever it is served
        out_.append(head, head_len);
        out_.append(body, body_len);
        return true;
    }
    size_t total = head_len + body_len;
    if (gathers_output() && unsent() == 0) {
        if (gathered_ + total < kGatherBytes) {
            // A stream, with nothing waiting for EPOLLOUT: gathered for the
            // end of the pass, with whatever else the pass has for this peer.
            out_.append(head, head_len);
            out_.append(body, body_len);
            gathered_ += uint32_t(total);
            worker_.loop().defer(*this);
            return true;
        }
        // Enough to fill a write on its own: what was gathered goes first,
        // then this, from where it lies (no copy), as any connection writes.
        if (gathered_ > 0) {
            flush();
            if (state_ == State::Closed) return false;
        }
    }
    size_t written = 0;
    if (out_.empty()) {
        // The common case: everything goes out in one writev(2), no copy.
        struct iovec iov[2] = {{const_cast<char*>(head), head_len}, {const_cast<char*>(body), body_len}};
        ssize_t n;
        do n = ::writev(fd(), iov, body_len ? 2 : 1);
        while (n == -1 && errno == EINTR);
        if (n == -1 && errno != EAGAIN) {
            close_now();  // EPIPE, ECONNRESET: the client is gone
            return false;
        }
        written = n > 0 ? size_t(n) : 0;
        count_out(written);
        if (written == total) return true;
    }
    // The rest waits for EPOLLOUT.
    if (out_.empty()) last_progress_ms_ = worker_.loop().now_ms();
    if (written < head_len) {
        out_.append(head + written, head_len - written);
        written = head_len;
    }
    out_.append(body + (written - head_len), body_len - (written - head_len));
    if (!in_process_) update_interest();
    return true;
}

void Connection::run_deferred() {
    if (gathered_ > 0 && state_ != State::Closed) flush();
}

void Connection::flush() {
    if (paused_) return;
    // Bytes gathered with nothing before them start their wait now: the
    // deadline for a peer that takes nothing runs from here.
    if (gathered_ > 0 && gathered_ == out_.size()) last_progress_ms_ = worker_.loop().now_ms();
    gathered_ = 0;  // all offered now; what the socket refuses waits for EPOLLOUT
    while (!out_.empty()) {
        size_t before = out_.size();
        ssize_t n = out_.write_to(fd());
        if (n == -1 && errno == EAGAIN) break;
        if (n <= 0) {
            close_now();
            return;
        }
        count_out(before - out_.size());
        last_progress_ms_ = worker_.loop().now_ms();
    }
    out_.shrink_if_idle();
    if (out_.empty() && state_ == State::Idle && !close_after_flush_) wait_idle();
    if (out_.empty() && state_ == State::Lingering) linger();  // now the FIN can follow
    if (out_.empty() && peer_closed_ && (state_ == State::Streaming || state_ == State::Closing)) {
        close_now();  // the client left a stream; what it was owed is out
        return;
    }
    if (state_ != State::Closed) update_interest();
}

void Connection::update_interest() {
    if (unsent() > kHighWater) reading_paused_ = true;
    if (unsent() < kLowWater) reading_paused_ = false;
    // A client pipelining faster than we answer is paused too, once a full
    // request's worth is waiting behind the one being handled.
    bool input_full = state_ == State::Handling && in_.size() > group().max_request_bytes + 65536;
    uint32_t want = 0;
    if (!reading_paused_ && !peer_closed_ && !input_full && !input_held_) want |= EPOLLIN;
    if (unsent() > 0) want |= EPOLLOUT;  // (gathered bytes need no EPOLLOUT: the pass's end writes them)
    if (want == interest_) return;
    if (!watched_) {  // open() is still reading the first bytes: it watches with this
        interest_ = want;
        return;
    }
    if (std::string err = worker_.loop().change(fd(), want); !err.empty()) {
        log::error("watching %s: %s", peer().c_str(), err.c_str());
        close_now();
        return;
    }
    interest_ = want;
}

void Connection::hold_input() {
    if (input_held_ || state_ == State::Closed) return;
    input_held_ = true;
    if (!in_process_) update_interest();  // else process_input() does, on its way out
}

void Connection::release_input() {
    if (!input_held_ || state_ == State::Closed) return;
    input_held_ = false;
    process_input();  // what was buffered meanwhile, then EPOLLIN again (paused: at resume())
}

void Connection::count_in(size_t n) {
    worker_.stats().bytes_in.fetch_add(n, std::memory_order_relaxed);
    if (record_) record_->bytes_in.fetch_add(n, std::memory_order_relaxed);
}

void Connection::count_out(size_t n) {
    sent_ += n;
    worker_.stats().bytes_out.fetch_add(n, std::memory_order_relaxed);
    if (record_) record_->bytes_out.fetch_add(n, std::memory_order_relaxed);
}

void Connection::count_message() { worker_.stats().requests.fetch_add(1, std::memory_order_relaxed); }

// ---- Time ----

void Connection::set_deadline_in(int64_t ms) {
    // Paused, a deadline is a duration (see pause()); never 0, which is "none".
    deadline_ms_ = paused_ ? std::max<int64_t>(ms, 1) : worker_.loop().now_ms() + ms;
}

void Connection::wait_idle() {
    set_state(State::Idle);
    // The keep-alive timeout, or only the short grace once the worker drains.
    set_deadline_in(worker_.drain().idle_wait_ms(group().keepalive_timeout_ms));
    in_.shrink_if_idle();
}

size_t Connection::held_bytes() const {
    return in_.capacity() + out_.capacity() + (session_ ? session_->held_bytes() : 0);
}

void Connection::check_deadline(int64_t now_ms) {
    if (paused_) return;  // its deadlines wait with it
    // (Closing has its own deadline: the Close handshake's wait, output or not.)
    if (unsent() > 0 && state_ != State::Closing) {
        // A response is still going out: no idle or linger deadline may cut
        // it. Only a client that stops reading altogether is given up on.
        if (now_ms - last_progress_ms_ > group().request_timeout_ms) {
            log::info("closing %s: it read nothing of its response for %d ms", peer().c_str(), group().request_timeout_ms);
            close_now();
        }
        return;
    }
    if (deadline_ms_ == 0 || now_ms < deadline_ms_) return;
    deadline_ms_ = 0;
    switch (state_) {
        case State::Idle: close_now(); break;  // keep-alive timeout, or the drain grace
        case State::Lingering: close_now(); break;
        case State::Closed: break;
        default: session_->on_deadline(); break;
    }
}

// ---- Passed to the session ----

int Connection::send(const char* data, size_t len) { return state_ == State::Closed ? -1 : session_->send(data, len); }

int Connection::send_ws(const char* data, size_t len, bool binary) {
    return state_ == State::Closed ? -1 : session_->send_message(data, len, binary);
}

int Connection::respond(int status, const char* content_type, const char* body, size_t len) {
    return state_ == State::Closed ? -1 : session_->respond(status, content_type, body, len);
}

int Connection::close_soon() { return state_ == State::Closed ? -1 : session_->close_soon(); }

int Connection::close_with(uint16_t code, const char* reason) {
    return state_ == State::Closed ? -1 : session_->close_with(code, reason);
}

void Connection::begin_drain() {
    // A paused connection is leaving, or is told at resume().
    if (state_ != State::Closed && state_ != State::Lingering && !paused_) session_->on_drain();
}

// ---- Closing ----

void Connection::close_after_output(bool client_done) {
    close_after_flush_ = true;
    client_done_ = client_done;
    if (gathered_ > 0) {
        flush();  // what was gathered goes first: the lingering close waits only for what the socket refused
        if (state_ == State::Closed) return;
    }
    if (state_ != State::Lingering) linger();
}

void Connection::linger() {
    if (state_ != State::Lingering) set_state(State::Lingering);
    if (!out_.empty()) return;  // flush() calls back once the output is out
    if (paused_) return;        // resume() calls back: no FIN from a connection that is being handed over
    // The client has sent its FIN, or said (Connection: close, HTTP/1.0) that
    // it sends nothing more and nothing more has come: no late bytes can turn
    // our close into a reset, so close at once, like nginx does for such
    // requests. "Nothing more has come" is checked on the socket itself: bytes
    // that arrived after our last read, unread at close(), make the kernel
    // answer with a reset.
    // (Right after a read that emptied the socket, in the same event, the
    // socket need not be asked: it saves a system call per short request.)
    if (peer_closed_ || (client_done_ && (read_drained_ || !input_waiting()))) {
        close_now();
        return;
    }
    // Close in stages (RFC 9112 §9.6): our FIN first, then read and drop
    // what the client still sends, until its FIN or the linger deadline, so
    // its bytes never meet a closed socket (which answers with a reset that
    // can destroy the response still on its way to the client).
    if (::shutdown(fd(), SHUT_WR) == -1) {
        close_now();  // ENOTCONN: the peer is already gone
        return;
    }
    set_deadline_in(drain::kLingerMs);  // from our FIN, not from the last response
    update_interest();
}

bool Connection::input_waiting() const {
    char byte;
    ssize_t n;
    do n = ::recv(fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    while (n == -1 && errno == EINTR);
    return n > 0;
}

void Connection::abort() {
    if (state_ == State::Closed) return;
    if (paused_) {
        // SO_LINGER is the socket's, and a successor may hold a copy of it:
        // only our descriptor goes.
        close_now();
        return;
    }
    out_.clear();  // nothing more is offered: the reset drops what is owed
    gathered_ = 0;
    struct linger reset = {1, 0};
    if (setsockopt(fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset) == -1)
        log::warn("setsockopt(SO_LINGER) failed for %s: %s", peer().c_str(), errno_text(errno).c_str());
    close_now();
}

void Connection::close_now() {
    if (state_ == State::Closed) return;
    // Output gathered in this pass is offered once, as it would have been had
    // it been written at once (a link's answers before the frame that ends
    // it); what the socket refuses is dropped with the rest.
    if (gathered_ > 0 && !paused_) {
        ssize_t n;
        do n = ::write(fd(), out_.readable().data(), out_.size());
        while (n == -1 && errno == EINTR);
        if (n > 0) count_out(size_t(n));  // an error here is the close's own: nothing more to do
        gathered_ = 0;
    }
    worker_.loop().undefer(*this);
    // Closing the socket takes it out of the epoll set: no epoll_ctl(DEL).
    worker_.loop().forget(fd());
    set_state(State::Closed);
    if (session_) session_->on_closed();
    if (connect_told_) worker_.client_closed(*this);
    worker_.on_connection_closed(this);  // frees us later
    fd_.reset();
}

// ---- The hand-over (worker/handover.h) ----

static_assert(uint8_t(Connection::State::Closed) == handover::kConnectionClosed,
              "a CLIENT frame names a closed connection as Connection::State::Closed");

// While paused, deadline_ms_ is what was left of the deadline (0: none) and
// last_progress_ms_ how long the output had waited: durations, since no
// clock runs for it here, and the successor's clock is another.
void Connection::pause() {
    if (paused_ || state_ == State::Closed) return;
    worker_.loop().undefer(*this);  // what the pass gathered stays in out_
    if (watched_) {
        if (std::string err = worker_.loop().unwatch(fd()); !err.empty())
            log::error("pausing %s for the hand-over: %s", peer().c_str(), err.c_str());
        watched_ = false;
    }
    const int64_t now = worker_.loop().now_ms();
    if (deadline_ms_ != 0) deadline_ms_ = std::max<int64_t>(deadline_ms_ - now, 1);
    last_progress_ms_ = now - last_progress_ms_;
    paused_ = true;
}

void Connection::export_state(handover::ClientState& out) const {
    out.protocol = uint8_t(speaks_);
    out.peer_ip = peer_ip_;
    out.peer_port = peer_port_;
    out.opened_ms = uint64_t(std::max<int64_t>(wall_clock_ms() - (worker_.loop().now_ms() - opened_ms_), 0));
    // (Only a listed connection counts what it received: status shows no other.)
    out.bytes_in = record_ ? record_->bytes_in.load(std::memory_order_relaxed) : 0;
    out.bytes_out = sent_;
    out.conn_state = uint8_t(state_);
    out.flags = 0;
    if (connect_told_) out.flags |= handover::kConnectTold;
    if (input_held_) out.flags |= handover::kHeld;
    if (close_after_flush_) out.flags |= handover::kCloseAfterOutput;
    if (client_done_) out.flags |= handover::kClientDone;
    if (peer_closed_) out.flags |= handover::kPeerClosed;
    out.deadline_ms = deadline_ms_ == 0 ? handover::kNoDeadline
                                        : uint32_t(std::min<int64_t>(deadline_ms_, handover::kNoDeadline - 1));
    out.input = std::string(in_.readable());
    out.output = std::string(out_.readable());
    out.log_request = std::string(log_request());
    out.ws_message_state = 0;
    out.ws_message.clear();
    if (session_) session_->export_state(out);
}

void Connection::resume() {
    if (!paused_ || state_ == State::Closed) return;
    paused_ = false;
    const int64_t now = worker_.loop().now_ms();
    if (deadline_ms_ != 0) deadline_ms_ += now;
    last_progress_ms_ = now - last_progress_ms_;
    update_interest();  // not watched: this only sets interest_
    if (std::string err = worker_.loop().watch(fd(), interest_, [this](uint32_t events) { on_event(events); });
        !err.empty()) {
        log::error("watching the connection from %s again: %s", peer().c_str(), err.c_str());
        close_now();
        return;
    }
    watched_ = true;
    // Where it stopped: a lingering close it had not begun (pause held its
    // FIN back: it has no linger deadline yet), its output, then its input.
    if (state_ == State::Lingering && out_.empty() && deadline_ms_ == 0) linger();
    if (state_ != State::Closed && !out_.empty()) flush();
    if (state_ == State::Closed) return;
    if (worker_.drain().active()) begin_drain();  // the drain began while it was paused
    if (state_ != State::Closed && !in_.empty() && !input_held_ &&
        (state_ == State::Streaming || state_ == State::Closing))
        process_input();
}

void Connection::let_go() {
    if (state_ == State::Closed) return;
    worker_.loop().undefer(*this);
    if (watched_ && worker_.loop().watching(fd())) {  // (a paused connection is not)
        if (std::string err = worker_.loop().unwatch(fd()); !err.empty())
            log::error("letting go of %s: %s", peer().c_str(), err.c_str());
    }
    watched_ = false;
    paused_ = false;
    set_state(State::Closed);
    fd_.reset();  // close(2) only: the socket lives on in the process that holds it now
}

std::string Connection::adopt(const handover::ClientState& in) {
    const Protocol p = Protocol(in.protocol);
    const Protocol listen = group().listen.protocol;
    if (p != listen || p == Protocol::Http || in.protocol > uint8_t(Protocol::Ws))
        return std::string("it speaks ") + (in.protocol <= uint8_t(Protocol::Ws) ? protocol_name(p) : "?") +
               ", this group " + protocol_name(listen);
    const State s = State(in.conn_state);
    if (s != State::Streaming && s != State::Closing && s != State::Lingering)
        return "its state (" + std::to_string(in.conn_state) + ") is not one a client moves in";
    now_speaks(p);
    session_ = p == Protocol::Ws ? std::unique_ptr<Session>(std::make_unique<WsSession>(*this))
                                 : std::unique_ptr<Session>(std::make_unique<StreamSession>(*this));
    if (std::string err = session_->adopt_state(in); !err.empty()) return err;
    paused_ = true;  // first: nothing below reads, writes or starts a clock
    set_state(s);
    const int64_t now = worker_.loop().now_ms();
    opened_ms_ = now - std::max<int64_t>(wall_clock_ms() - int64_t(in.opened_ms), 0);
    sent_ = in.bytes_out;
    if (record_) {
        record_->opened_ms = int64_t(in.opened_ms);
        record_->bytes_in = in.bytes_in;
        record_->bytes_out = in.bytes_out;
    }
    connect_told_ = in.flags & handover::kConnectTold;
    input_held_ = in.flags & handover::kHeld;
    close_after_flush_ = in.flags & handover::kCloseAfterOutput;
    client_done_ = in.flags & handover::kClientDone;
    peer_closed_ = in.flags & handover::kPeerClosed;
    deadline_ms_ = in.deadline_ms == handover::kNoDeadline ? 0 : std::max<int64_t>(in.deadline_ms, 1);
    last_progress_ms_ = 0;  // the output's wait starts afresh here
    in_.append(in.input);
    out_.append(in.output);
    if (!in.log_request.empty() && worker_.access_log()) keep_log_request(in.log_request);
    return "";
}

}  // namespace smooth
