// stream_session: see stream_session.h.
#include "worker/stream_session.h"

#include <utility>

#include "core/log.h"
#include "protocol/framing.h"
#include "protocol/handover.h"
#include "worker/connection.h"
#include "worker/drain.h"
#include "worker/worker.h"

namespace smooth {

namespace {

smooth_protocol module_protocol(Protocol p) {
    switch (p) {
        case Protocol::Text: return SMOOTH_TEXT;
        case Protocol::Frame: return SMOOTH_FRAME;
        default: return SMOOTH_TCP;
    }
}

}  // namespace

void StreamSession::on_open() {
    conn_.set_state(Connection::State::Streaming);
    conn_.set_nodelay();  // messages are small and interactive
    if (conn_.worker().drain().active()) on_drain();
}

void StreamSession::on_input() {
    const GroupConfig& g = conn_.group();
    const smooth_protocol proto = module_protocol(g.listen.protocol);
    Buffer& in = conn_.in();
    Worker& w = conn_.worker();
    bool took_message = false;
    while (conn_.state() == Connection::State::Streaming && !conn_.closing() && !in.empty() && !conn_.input_held()) {
        framing::Piece piece;
        if (proto == SMOOTH_TEXT)
            piece = framing::cut_line(in.readable(), g.max_request_bytes);
        else if (proto == SMOOTH_FRAME)
            piece = framing::cut_frame(in.readable(), g.max_request_bytes);
        else
            piece = {framing::Cut::Message, in.readable(), in.size()};
        if (piece.status == framing::Cut::Incomplete) break;
        if (piece.status != framing::Cut::Message) {
            log::warn("closing %s connection from %s: %s", protocol_name(g.listen.protocol), conn_.peer().c_str(),
                      piece.status == framing::Cut::TooLarge ? "message larger than max_request_bytes"
                                                             : "malformed frame header");
            in.clear();
            conn_.close_after_output(false);
            return;
        }
        conn_.count_message();
        took_message = true;
        smooth_message msg{proto, module_str(piece.payload), nullptr};
        w.client_message(conn_, msg);
        in.consume(piece.consumed);
    }
    time_the_message(took_message);
}

// message_timeout: a line or frame begun must be whole within it, counted
// from its first byte, or the connection is closed (a client trickling a
// message would otherwise keep up to max_request_bytes here for good). While
// the worker drains, the deadline is the drain's grace instead.
void StreamSession::time_the_message(bool took_message) {
    if (conn_.state() != Connection::State::Streaming || conn_.closing() || conn_.worker().drain().active()) return;
    if (conn_.in().empty() || conn_.input_held()) {  // held by the gateway: the wait is ours, no clock runs
        if (std::exchange(message_timed_, false)) conn_.clear_deadline();
        return;
    }
    if (!message_timed_ || took_message) {
        conn_.set_deadline_in(conn_.group().message_timeout_ms);
        message_timed_ = true;
    }
}

int StreamSession::send(const char* data, size_t len) {
    if (conn_.closing()) return -1;
    if (conn_.over_unsent_limit()) {
        // A client that does not read what it is sent cannot make this worker
        // keep it all. A stream has no way to say why: the log does.
        log::warn("closing %s connection from %s: %zu bytes it was sent are unread (max_unsent_bytes %zu)",
                  protocol_name(conn_.group().listen.protocol), conn_.peer().c_str(), conn_.unsent(),
                  conn_.group().max_unsent_bytes);
        conn_.worker().count_limit(Limit::UnsentBytes);
        conn_.abort();
        return -1;
    }
    switch (conn_.group().listen.protocol) {
        case Protocol::Text: conn_.write(data, len, "\n", 1); break;
        case Protocol::Frame: {
            char header[4];
            framing::frame_header(len, header);
            conn_.write(header, 4, data, len);
            break;
        }
        default: conn_.write(data, len, nullptr, 0); break;
    }
    return 0;
}

int StreamSession::close_soon() {
    conn_.close_after_output(false);
    return 0;
}

// The drain grace, then a close: a stream has no "between requests" moment
// to wait for, so the grace is all it gets.
void StreamSession::on_drain() {
    message_timed_ = false;  // the deadline is the grace's from here
    conn_.set_deadline_in(drain::idle_grace_ms(conn_.group().keepalive_timeout_ms));
}

void StreamSession::on_deadline() {
    if (message_timed_) {
        log::info("closing %s connection from %s: a message not whole within message_timeout (%d ms)",
                  protocol_name(conn_.group().listen.protocol), conn_.peer().c_str(), conn_.group().message_timeout_ms);
        conn_.worker().count_limit(Limit::MessageTimeout);
    }
    conn_.in().clear();  // the part of a message that was late is dropped, not handed on
    conn_.close_after_output(false);
}

// ---- The hand-over (worker/handover.h): a line or frame begun is in the
// connection's input; only whose deadline runs is the session's. ----

void StreamSession::export_state(handover::ClientState& out) const {
    if (message_timed_) out.flags |= handover::kMessageTimed;
}

std::string StreamSession::adopt_state(const handover::ClientState& in) {
    message_timed_ = in.flags & handover::kMessageTimed;
    return "";
}

}  // namespace smooth
