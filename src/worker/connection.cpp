#include "worker/connection.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "protocol/framing.h"
#include "protocol/http_response.h"
#include "core/log.h"
#include "core/stats.h"
#include "worker/drain.h"
#include "worker/worker.h"

namespace smooth {

namespace {

// Back-pressure: above kHighWater bytes of unsent output the connection stops
// reading (a client that does not read its responses cannot make us buffer
// without bound); below kLowWater it reads again.
constexpr size_t kHighWater = 1 << 20;
constexpr size_t kLowWater = 64 << 10;

bool tracing() {
    static const bool on = std::getenv("SMOOTH_TRACE") != nullptr;
    return on;
}

std::string peer_text(const sockaddr_in& peer) {
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(peer.sin_port));
}

// Never a null pointer, even for an empty field: a module may pass it to
// memcpy or strncmp with its length, and a null there is undefined even for 0.
smooth_str str(std::string_view s) { return {s.empty() ? "" : s.data(), s.size()}; }

}  // namespace

const char* Connection::state_name(State s) {
    switch (s) {
        case State::Idle: return "idle";
        case State::Reading: return "reading";
        case State::Handling: return "handling";
        case State::Streaming: return "streaming";
        case State::Lingering: return "lingering";
        case State::Closed: return "closed";
    }
    return "?";
}

Connection::Connection(Worker& worker, Fd fd, uint64_t id, const sockaddr_in& peer, ConnRecord* record)
    : worker_(worker), fd_(std::move(fd)), id_(id), peer_(peer), record_(record) {
    if (record_) {
        record_->peer_ip = peer.sin_addr.s_addr;
        record_->peer_port = ntohs(peer.sin_port);
        record_->bytes_in = 0;
        record_->bytes_out = 0;
        record_->opened_ms = EventLoop::wall_ms();
        record_->state = uint8_t(State::Idle);
        record_->id = id;  // last: a reader that sees the id sees the rest
    }
}

Connection::~Connection() {
    if (record_)
        record_->id = 0;
    else
        worker_.stats().conn_unlisted.fetch_sub(1, std::memory_order_relaxed);
}

// How long an idle keep-alive connection waits for its next request: the
// keep-alive timeout, or only the short grace once the worker drains.
int64_t Connection::idle_deadline() const {
    return EventLoop::now_ms() + worker_.drain().idle_wait_ms(worker_.group().keepalive_timeout_ms);
}

void Connection::set_state(State s) {
    if (tracing())
        log::info("connection %s (fd %d): %s -> %s", peer_text(peer_).c_str(), fd(), state_name(state_), state_name(s));
    state_ = s;
    if (record_) record_->state = uint8_t(s);
}

void Connection::open() {
    interest_ = EPOLLIN;
    if (int rc = worker_.loop().watch(fd(), interest_, [this](uint32_t events) { on_event(events); }); rc < 0) {
        log::error("epoll_ctl(ADD) failed for connection from %s: %s", peer_text(peer_).c_str(), errno_text(-rc).c_str());
        close_now();
        return;
    }
    bool http = worker_.group().listen.protocol == Protocol::Http;
    set_state(http ? State::Idle : State::Streaming);
    // A new connection has as long as an idle keep-alive one to send its first byte.
    deadline_ms_ = http ? EventLoop::now_ms() + worker_.group().keepalive_timeout_ms : 0;
    connect_told_ = true;
    if (worker_.module().on_connect) worker_.module().on_connect(worker_.handle(), id_);
    // A connection taken from the queue while draining gets the usual time for
    // its first request (not the idle grace): its client has done nothing
    // wrong, and the answer will carry Connection: close. Streams get the grace.
    if (state_ == State::Streaming && worker_.drain().active()) begin_drain();
}

void Connection::on_event(uint32_t events) {
    if (events & EPOLLERR) {
        close_now();
        return;
    }
    if (events & EPOLLOUT) flush();
    if (state_ != State::Closed && (events & (EPOLLIN | EPOLLHUP))) on_readable();
}

void Connection::on_readable() {
    if (state_ == State::Lingering) {
        // Read and drop until EOF: the client's last bytes must not find a
        // closed socket (that is what turns into a reset).
        char sink[4096];
        for (;;) {
            ssize_t n = ::read(fd(), sink, sizeof sink);
            if (n > 0) continue;
            if (n == -1 && errno == EINTR) continue;
            if (n == -1 && errno == EAGAIN) return;
            close_now();  // EOF or error: the lingering is over
            return;
        }
    }
    ssize_t n = in_.read_from(fd());
    if (n > 0) {
        worker_.stats().bytes_in.fetch_add(uint64_t(n), std::memory_order_relaxed);
        if (record_) record_->bytes_in.fetch_add(uint64_t(n), std::memory_order_relaxed);
        process_input();
        return;
    }
    if (n == -1 && errno == EAGAIN) return;
    if (n == 0 && (state_ == State::Handling || !out_.empty())) {
        // The client half-closed after sending its request: it may still read.
        peer_closed_ = true;
        update_interest();
        return;
    }
    close_now();  // EOF when nothing is owed, or ECONNRESET and friends
}

void Connection::process_input() {
    if (in_process_) return;  // a module responded from inside on_message: the loop below goes on
    in_process_ = true;
    if (worker_.group().listen.protocol == Protocol::Http)
        process_http();
    else
        process_stream();
    in_process_ = false;
    if (state_ != State::Closed) update_interest();
}

void Connection::process_http() {
    const GroupConfig& g = worker_.group();
    http::Limits limits;
    limits.max_body_bytes = g.max_request_bytes;
    while ((state_ == State::Idle || state_ == State::Reading) && !close_after_flush_) {
        if (in_.empty()) {
            set_state(State::Idle);
            deadline_ms_ = idle_deadline();
            in_.shrink_if_idle();
            return;
        }
        http::Request req;
        http::Result r = http::parse_request(in_.readable(), limits, req, chunked_body_);
        if (r.status == http::Parse::Incomplete) {
            if (state_ != State::Reading) {
                set_state(State::Reading);
                deadline_ms_ = EventLoop::now_ms() + g.request_timeout_ms;
            }
            return;
        }
        if (r.status == http::Parse::Error) {
            respond_error(r.error_status, r.error);
            return;
        }
        request_bytes_ = r.consumed;
        request_keep_alive_ = req.keep_alive;
        request_minor_ = req.minor_version;
        deadline_ms_ = 0;  // the module has the request now; drain_timeout bounds it
        set_state(State::Handling);
        worker_.stats().requests.fetch_add(1, std::memory_order_relaxed);
        deliver_http(req);  // may respond at once, which brings us back to Idle
    }
}

void Connection::deliver_http(const http::Request& req) {
    smooth_header headers[http::kMaxHeaders];
    for (size_t i = 0; i < req.header_count; i++) headers[i] = {str(req.headers[i].name), str(req.headers[i].value)};
    smooth_http_request hr{str(req.method), str(req.target), str(req.path),  str(req.query),
                           req.minor_version, headers,       req.header_count, str(req.body)};
    smooth_message msg{SMOOTH_HTTP, hr.body, &hr};
    if (worker_.module().on_message)
        worker_.module().on_message(worker_.handle(), id_, &msg);
    else
        respond(404, "text/plain", "no handler\n", 11);
}

void Connection::process_stream() {
    const GroupConfig& g = worker_.group();
    smooth_protocol proto = g.listen.protocol == Protocol::Text    ? SMOOTH_TEXT
                            : g.listen.protocol == Protocol::Frame ? SMOOTH_FRAME
                                                                   : SMOOTH_TCP;
    while (state_ == State::Streaming && !close_after_flush_ && !in_.empty()) {
        framing::Piece piece;
        if (proto == SMOOTH_TEXT)
            piece = framing::cut_line(in_.readable(), g.max_request_bytes);
        else if (proto == SMOOTH_FRAME)
            piece = framing::cut_frame(in_.readable(), g.max_request_bytes);
        else
            piece = {framing::Cut::Message, in_.readable(), in_.size()};
        if (piece.status == framing::Cut::Incomplete) return;
        if (piece.status != framing::Cut::Message) {
            log::warn("closing %s connection from %s: %s", protocol_name(g.listen.protocol), peer_text(peer_).c_str(),
                      piece.status == framing::Cut::TooLarge ? "message larger than max_request_bytes"
                                                             : "malformed frame header");
            in_.clear();
            close_soon();
            return;
        }
        worker_.stats().requests.fetch_add(1, std::memory_order_relaxed);
        smooth_message msg{proto, str(piece.payload), nullptr};
        if (worker_.module().on_message) worker_.module().on_message(worker_.handle(), id_, &msg);
        in_.consume(piece.consumed);
    }
}

int Connection::respond(int status, const char* content_type, const char* body, size_t len) {
    if (state_ != State::Handling) return -1;
    if (status < 100 || status > 999 || (content_type && std::strlen(content_type) > 200)) return -1;
    bool more_buffered = in_.size() > request_bytes_;
    bool close = !request_keep_alive_ || peer_closed_ || worker_.drain().last_response(more_buffered);
    http::ResponseHead head{status, content_type, len, close, request_minor_};
    char head_bytes[http::kMaxResponseHead];
    size_t head_len = http::format_response_head(head, head_bytes);
    if (close) close_after_flush_ = true;
    // The client said this was its last request and sent nothing after it: it
    // will not write again, so there is nothing to linger for.
    client_done_ = !request_keep_alive_ && !more_buffered;
    bool alive = write_out(head_bytes, head_len, body, len);
    // Only now: the body may point into the request (an echo), so the request
    // bytes must outlive the write.
    in_.consume(request_bytes_);
    request_bytes_ = 0;
    chunked_body_.clear();
    if (alive) after_response();
    return 0;
}

void Connection::after_response() {
    if (close_after_flush_) {
        linger();
        return;
    }
    set_state(State::Idle);
    if (!in_process_) process_input();  // a response from a timer: pipelined requests may wait
}

void Connection::respond_error(int status, const char* why) {
    log::info("%d for %s: %s", status, peer_text(peer_).c_str(), why);
    char body[64];
    size_t len = size_t(std::snprintf(body, sizeof body, "%d %s\n", status, http::reason_phrase(status)));
    http::ResponseHead head{status, "text/plain", len, true, 1};
    char head_bytes[http::kMaxResponseHead];
    size_t head_len = http::format_response_head(head, head_bytes);
    in_.clear();
    close_after_flush_ = true;
    if (write_out(head_bytes, head_len, body, len)) linger();
}

int Connection::send(const char* data, size_t len) {
    if (state_ != State::Streaming || close_after_flush_) return -1;
    switch (worker_.group().listen.protocol) {
        case Protocol::Text: write_out(data, len, "\n", 1); break;
        case Protocol::Frame: {
            char header[4];
            framing::frame_header(len, header);
            write_out(header, 4, data, len);
            break;
        }
        default: write_out(data, len, nullptr, 0); break;
    }
    if (state_ != State::Closed && !in_process_) update_interest();
    return 0;
}

int Connection::close_soon() {
    if (state_ == State::Closed) return -1;
    close_after_flush_ = true;
    if (state_ != State::Lingering) linger();
    return 0;
}

bool Connection::write_out(const char* head, size_t head_len, const char* body, size_t body_len) {
    size_t total = head_len + body_len;
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
    if (out_.empty()) last_progress_ms_ = EventLoop::now_ms();
    if (written < head_len) {
        out_.append(head + written, head_len - written);
        written = head_len;
    }
    out_.append(body + (written - head_len), body_len - (written - head_len));
    if (!in_process_) update_interest();
    return true;
}

void Connection::count_out(size_t n) {
    worker_.stats().bytes_out.fetch_add(n, std::memory_order_relaxed);
    if (record_) record_->bytes_out.fetch_add(n, std::memory_order_relaxed);
}

void Connection::flush() {
    while (!out_.empty()) {
        size_t before = out_.size();
        ssize_t n = out_.write_to(fd());
        if (n == -1 && errno == EAGAIN) break;
        if (n <= 0) {
            close_now();
            return;
        }
        count_out(before - out_.size());
        last_progress_ms_ = EventLoop::now_ms();
    }
    if (out_.empty() && state_ == State::Idle && !close_after_flush_)
        deadline_ms_ = idle_deadline();
    if (out_.empty() && state_ == State::Lingering) linger();  // now the FIN can follow
    if (state_ != State::Closed) update_interest();
}

void Connection::linger() {
    if (state_ != State::Lingering) set_state(State::Lingering);
    if (!out_.empty()) return;  // flush() calls back once the output is out
    if (peer_closed_ || client_done_) {
        // The client has sent its FIN, or said (Connection: close, HTTP/1.0)
        // that it sends nothing more: no late bytes can turn our close into a
        // reset, so close at once, like nginx does for such requests.
        close_now();
        return;
    }
    if (::shutdown(fd(), SHUT_WR) == -1) {
        close_now();  // ENOTCONN: the peer is already gone
        return;
    }
    deadline_ms_ = EventLoop::now_ms() + drain::kLingerMs;  // from our FIN, not from the last response
    update_interest();
}

void Connection::update_interest() {
    if (out_.size() > kHighWater) reading_paused_ = true;
    if (out_.size() < kLowWater) reading_paused_ = false;
    // A client pipelining faster than we answer is paused too, once a full
    // request's worth is waiting behind the one being handled.
    bool input_full = state_ == State::Handling && in_.size() > worker_.group().max_request_bytes + 65536;
    uint32_t want = 0;
    if (!reading_paused_ && !peer_closed_ && !input_full) want |= EPOLLIN;
    if (!out_.empty()) want |= EPOLLOUT;
    if (want == interest_) return;
    if (int rc = worker_.loop().change(fd(), want); rc < 0) {
        log::error("epoll_ctl(MOD) failed for %s: %s", peer_text(peer_).c_str(), errno_text(-rc).c_str());
        close_now();
        return;
    }
    interest_ = want;
}

void Connection::begin_drain() {
    // Steps 4 to 6 of drain.h, for this connection.
    switch (state_) {
        case State::Idle:
        case State::Streaming:
            // Idle keep-alive: a request may be on the wire right now. Wait a
            // little for it (it is answered with Connection: close), then close.
            deadline_ms_ = idle_deadline();
            break;
        default:
            break;  // a request in flight finishes; its response says Connection: close
    }
}

void Connection::check_deadline(int64_t now_ms) {
    if (!out_.empty()) {
        // A response is still going out: no idle or linger deadline may cut
        // it. Only a client that stops reading altogether is given up on.
        if (now_ms - last_progress_ms_ > worker_.group().request_timeout_ms) {
            log::info("closing %s: it read nothing of its response for %d ms", peer_text(peer_).c_str(),
                      worker_.group().request_timeout_ms);
            close_now();
        }
        return;
    }
    if (deadline_ms_ == 0 || now_ms < deadline_ms_) return;
    deadline_ms_ = 0;
    switch (state_) {
        case State::Idle: close_now(); break;  // keep-alive timeout, or the drain grace
        case State::Reading: respond_error(408, "request not complete within request_timeout"); break;
        case State::Streaming: close_soon(); break;  // the drain grace
        case State::Lingering: close_now(); break;
        default: break;
    }
}

void Connection::close_now() {
    if (state_ == State::Closed) return;
    if (worker_.loop().watching(fd())) worker_.loop().unwatch(fd());
    set_state(State::Closed);
    if (connect_told_ && worker_.module().on_close) worker_.module().on_close(worker_.handle(), id_);
    worker_.on_connection_closed(this);  // frees us later; fd_ closes with us
}

}  // namespace smooth
