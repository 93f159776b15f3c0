// http_session: see http_session.h. The request's way in (on_input), then
// the response's way out (respond).
#include "worker/http_session.h"

#include <cstdio>
#include <cstring>
#include <string_view>

#include "core/build_id.h"
#include "core/log.h"
#include "protocol/http_response.h"
#include "protocol/websocket_handshake.h"
#include "worker/connection.h"
#include "worker/drain.h"
#include "core/clock.h"
#include "core/stats.h"
#include "protocol/prometheus.h"
#include "worker/health.h"
#include "worker/metrics_page.h"
#include "worker/worker.h"
#include "worker/ws_session.h"

namespace smooth {

namespace {

// A chunked body larger than this keeps no capacity between requests.
constexpr size_t kKeptBodyCapacity = 64 << 10;

}  // namespace

http::Limits HttpSession::limits() const {
    http::Limits l;
    l.max_body_bytes = conn_.group().max_request_bytes;
    return l;
}

void HttpSession::on_open() {
    conn_.set_state(Connection::State::Idle);
    // A new connection has as long as an idle keep-alive one to send its first
    // byte, draining or not: a connection taken from the queue while the
    // worker drains has done nothing wrong, and its answer says close.
    conn_.set_deadline_in(conn_.group().keepalive_timeout_ms);
}

// ---- The way in ----

void HttpSession::on_input() {
    Buffer& in = conn_.in();
    while (!conn_.closing() && conn_.state() != Connection::State::Handling &&
           conn_.state() != Connection::State::Closed) {
        if (head_bytes_ == 0 && in.empty()) return;
        if (conn_.state() == Connection::State::Idle) {
            // The first byte of a request: it has request_timeout to be whole.
            conn_.set_state(Connection::State::Reading);
            conn_.set_deadline_in(conn_.group().request_timeout_ms);
            started_ms_ = conn_.worker().loop().now_ms();
        }
        // The head's views point into the buffer, which may move as it grows:
        // a head parsed on an earlier read is parsed again at delivery.
        http::Request req;
        bool parsed_now = head_bytes_ == 0;
        if (!read_head(req) || !read_body()) return;
        if (!parsed_now) http::parse_head(in.readable(), limits(), req);  // complete before: complete now
        deliver(req);  // the module may respond at once, which brings us back to Idle
    }
}

bool HttpSession::read_head(http::Request& req) {
    if (head_bytes_ > 0) return true;
    Buffer& in = conn_.in();
    http::Result r = http::parse_head(in.readable(), limits(), req);
    if (r.status == http::Parse::Incomplete) return false;
    if (r.status == http::Parse::Error) {
        refuse(r.error_status, r.error);
        return false;
    }
    head_bytes_ = r.consumed;
    keep_alive_ = req.keep_alive;
    // keepalive_requests: the connection ends after this many, and its client
    // reconnects, maybe to a worker with fewer connections (accept_balance.h).
    requests_++;
    last_allowed_ = conn_.group().keepalive_requests > 0 && requests_ >= conn_.group().keepalive_requests;
    minor_version_ = req.minor_version;
    is_head_ = req.method == "HEAD";
    chunked_ = req.chunked;
    content_length_ = req.content_length;
    if (conn_.group().listen.protocol == Protocol::Ws && upgrade(req)) return false;
    // RFC 9110 §10.1.1: a client that waits before sending its body gets a
    // 100 at once. (The limit was checked already: over it, parse_head said 413.)
    if (req.expect_continue && req.has_body() && in.size() == head_bytes_) {
        const std::string_view go = http::kContinueResponse;
        if (!conn_.write(go.data(), go.size(), nullptr, 0)) return false;
    }
    if (chunked_) decoder_ = std::make_unique<http::ChunkedDecoder>(limits().max_body_bytes);
    return true;
}

bool HttpSession::read_body() {
    Buffer& in = conn_.in();
    if (!chunked_) {
        const size_t want = head_bytes_ + content_length_;
        if (in.size() < want) {
            in.reserve(want - in.size());  // room for the whole body at once: no doubling as it comes
            conn_.wake_at_least(want - in.size());
            return false;
        }
        conn_.wake_at_least(1);
        request_bytes_ = want;
        return true;
    }
    // The decoder keeps its place: only the bytes that arrived since the last
    // read are looked at, and the framing it has taken is dropped at once, so
    // what a request occupies stays within its limits (413 past them).
    http::Result f = decoder_->feed(in.readable().substr(head_bytes_), chunked_body_);
    in.erase(head_bytes_, f.consumed);
    if (f.status == http::Parse::Incomplete) return false;
    if (f.status == http::Parse::Error) {
        refuse(f.error_status, f.error);
        return false;
    }
    request_bytes_ = head_bytes_;  // the body's raw bytes are gone; the next request follows the head
    return true;
}

void HttpSession::deliver(http::Request& req) {
    req.body = chunked_ ? std::string_view(chunked_body_) : conn_.in().readable().substr(head_bytes_, content_length_);
    conn_.clear_deadline();  // the module has the request now; drain_timeout bounds it
    conn_.set_state(Connection::State::Handling);
    conn_.count_message();
    // health_path: answered here, not by the module (worker/health.h).
    if (std::optional<HealthAnswer> h =
            health_answer(conn_.group().health_path, req.path, conn_.worker().drain().active(), build_id())) {
        if (h->close) keep_alive_ = false;  // even with a request pipelined behind it
        respond(h->status, "text/plain", h->body.data(), h->body.size());
        return;
    }
    // metrics_path: the whole server's counters, from the shared table (worker/metrics_page.h).
    if (const std::string& m = conn_.group().metrics_path; !m.empty() && req.path == m) {
        if (std::optional<std::string> page = metrics_page(conn_.worker().stats_table(), build_id())) {
            respond(200, prom::kContentType, page->data(), page->size());
        } else {
            static constexpr std::string_view busy = "not served here now (the counters were being written, or this "
                                                     "master is being upgraded); scrape again\n";
            respond(503, "text/plain", busy.data(), busy.size());
        }
        return;
    }

    smooth_header headers[http::kMaxHeaders];
    for (size_t i = 0; i < req.header_count; i++)
        headers[i] = {module_str(req.headers[i].name), module_str(req.headers[i].value)};
    smooth_http_request hr{module_str(req.method), module_str(req.target), module_str(req.path),
                           module_str(req.query),  req.minor_version,     headers,
                           req.header_count,       module_str(req.body),  module_str(req.host)};
    smooth_message msg{SMOOTH_HTTP, hr.body, &hr};
    Worker& w = conn_.worker();
    if (w.module().on_message)
        w.module().on_message(w.handle(), conn_.id(), &msg);
    else
        respond(404, "text/plain", "no handler\n", 11);
}

// RFC 6455 §4.2: a ws:// group's request that asks for WebSocket gets the
// 101 and a WsSession; a handshake that is wrong gets its 400 or 426.
bool HttpSession::upgrade(const http::Request& req) {
    if (!ws::wants_websocket(req)) return false;  // a plain request: served as HTTP
    ws::Handshake h = ws::check_handshake(req);
    Buffer& in = conn_.in();
    char head[ws::kMaxHandshakeResponse];
    if (h.status != 101) {
        log::info("%d for %s: %s", h.status, conn_.peer().c_str(), h.error);
        size_t n = ws::format_handshake_refusal(h, head);
        answered(h.status, 0);
        in.clear();
        if (conn_.write(head, n, nullptr, 0)) conn_.close_after_output(false);
        return true;
    }
    size_t n = ws::format_handshake_response(h, head);
    // Its line comes at its close (Worker::on_connection_closed), with this request line.
    conn_.worker().stats().http[status_class(101)].fetch_add(1, std::memory_order_relaxed);
    if (conn_.worker().access_log()) conn_.keep_log_request(request_line());
    conn_.now_speaks(Protocol::Ws);
    in.consume(head_bytes_);  // what follows the head is the client's first frames
    forget_request();
    conn_.count_message();
    if (!conn_.write(head, n, nullptr, 0)) return true;
    conn_.replace_session(std::make_unique<WsSession>(conn_));  // `this` is gone after this line
    return true;
}

// ---- The way out ----

int HttpSession::respond(int status, const char* content_type, const char* body, size_t len) {
    if (conn_.state() != Connection::State::Handling) return -1;  // answered already, or gone
    // A 1xx is never a final answer (and 101 is the server's, for WebSocket).
    // An answer HTTP cannot carry is the module's fault, not the client's:
    // the client gets a 500 and a close (its request is not left hanging,
    // its connection not left open), the module gets -1.
    if (status < 200 || status > 999 || (content_type && std::strlen(content_type) > 200)) {
        const std::string what =
            status < 200 || status > 999 ? "status " + std::to_string(status) : "a Content-Type over 200 bytes";
        log::warn("module answered %s with %s: sending 500 instead", conn_.peer().c_str(), what.c_str());
        keep_alive_ = false;
        static constexpr std::string_view kBody = "500 Internal Server Error\n";
        respond(500, "text/plain", kBody.data(), kBody.size());
        return -1;
    }
    Buffer& in = conn_.in();
    const bool more_buffered = in.size() > request_bytes_;
    const bool close =
        !keep_alive_ || last_allowed_ || conn_.peer_closed() || conn_.worker().drain().last_response(more_buffered);
    const bool with_body = !is_head_ && http::status_has_body(status);
    // HEAD: the head a GET would have had, Content-Length included, no body.
    http::ResponseHead h{status, content_type, len, close, minor_version_};
    char head[http::kMaxResponseHead];
    size_t head_len = http::format_response_head(h, head);
    // The client said this was its last request and nothing more is waiting
    // to be read: it will not write again, so there is nothing to linger for.
    const bool client_done = !keep_alive_ && !more_buffered && !conn_.may_have_unread_input();
    answered(status, with_body ? len : 0);
    bool alive = conn_.write(head, head_len, with_body ? body : nullptr, with_body ? len : 0);
    // Only now: the body may point into the request (an echo), so the request
    // bytes must outlive the write.
    in.consume(request_bytes_);
    forget_request();
    if (!alive) return 0;
    if (close) {
        conn_.close_after_output(client_done);
        return 0;
    }
    if (!nodelay_) {
        // Kept alive: from now on a small response must not wait for the
        // client's delayed ACK of the previous one (Nagle). Once per connection.
        conn_.set_nodelay();
        nodelay_ = true;
    }
    conn_.wait_idle();
    conn_.resume_input();  // a response from a timer: pipelined requests may wait
    return 0;
}

void HttpSession::refuse(int status, const char* why) {
    log::info("%d for %s: %s", status, conn_.peer().c_str(), why);
    char body[64];
    size_t len = size_t(std::snprintf(body, sizeof body, "%d %s\n", status, http::reason_phrase(status)));
    http::ResponseHead h{status, "text/plain", len, true, 1};
    char head[http::kMaxResponseHead];
    size_t head_len = http::format_response_head(h, head);
    answered(status, len);
    conn_.in().clear();
    forget_request();
    // The client may still be sending (a body we refused): linger for it.
    if (conn_.write(head, head_len, body, len)) conn_.close_after_output(false);
}

void HttpSession::answered(int status, size_t body_bytes) {
    Worker& w = conn_.worker();
    w.stats().http[status_class(status)].fetch_add(1, std::memory_order_relaxed);
    AccessLog* log = w.access_log();
    if (!log) return;
    std::string peer = conn_.peer();
    std::string version = w.module_version();
    int64_t took = started_ms_ ? w.loop().now_ms() - started_ms_ : 0;
    log->add(AccessEntry{peer, request_line(), status, body_bytes, took, w.pid(), version}, wall_clock_ms());
}

// The request's first line, from the input buffer, where it still is until
// its answer has gone out. A refused request may not have one: what came.
std::string_view HttpSession::request_line() const {
    std::string_view in = conn_.in().readable();
    size_t end = in.find('\n');
    if (end == std::string_view::npos) end = std::min(in.size(), AccessLog::kMaxTarget);
    std::string_view line = in.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

void HttpSession::forget_request() {
    head_bytes_ = content_length_ = request_bytes_ = 0;
    chunked_ = is_head_ = false;
    decoder_.reset();
    chunked_body_.clear();
    if (chunked_body_.capacity() > kKeptBodyCapacity) std::string().swap(chunked_body_);
}

// ---- Time and the drain ----

void HttpSession::on_deadline() {
    if (conn_.state() == Connection::State::Reading) refuse(408, "request not complete within request_timeout");
}

void HttpSession::on_drain() {
    // Idle keep-alive: a request may be on the wire right now. Wait a little
    // for it (it is answered with Connection: close), then close. A request
    // being read or handled finishes; its response says Connection: close.
    if (conn_.state() == Connection::State::Idle) conn_.wait_idle();
}

int HttpSession::close_soon() {
    conn_.close_after_output(false);
    return 0;
}

}  // namespace smooth
