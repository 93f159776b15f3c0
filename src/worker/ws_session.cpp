// ws_session: see ws_session.h.
#include "worker/ws_session.h"

#include <utility>

#include "core/log.h"
#include "protocol/handover.h"
#include "protocol/websocket.h"
#include "worker/connection.h"
#include "worker/drain.h"
#include "worker/worker.h"

namespace smooth {

WsSession::WsSession(Connection& conn) : conn_(conn), messages_(conn.group().max_request_bytes) {}

void WsSession::on_open() {
    conn_.set_state(Connection::State::Streaming);
    conn_.tell_connected();  // in a ws:// group, a client is a WebSocket: from now
    conn_.clear_deadline();  // a WebSocket is long-lived: no keep-alive timeout
    conn_.set_nodelay();     // messages are small and interactive
    if (conn_.worker().drain().active()) on_drain();
    if (!conn_.in().empty()) on_input();  // frames that came with the handshake
}

void WsSession::on_input() {
    took_message_ = false;
    read_frames();
    time_the_message();
}

// message_timeout: a message begun (a frame not yet whole, or a fragmented
// message not yet finished) must be whole within it, counted from its first
// byte. Without it a client could keep up to max_request_bytes of this
// worker's memory for as long as it liked, a trickle at a time.
void WsSession::time_the_message() {
    if (conn_.state() != Connection::State::Streaming || conn_.closing() || close_sent_) return;  // Closing has its own
    // Held by the gateway, the wait is ours, not the client's: no clock
    // runs until the hold ends (a message begun then starts one afresh).
    const bool begun = !conn_.input_held() && (!conn_.in().empty() || messages_.in_message());
    if (!begun) {
        if (std::exchange(message_timed_, false)) conn_.clear_deadline();
        return;
    }
    if (!message_timed_ || took_message_) {
        conn_.set_deadline_in(conn_.group().message_timeout_ms);
        message_timed_ = true;
    }
}

void WsSession::read_frames() {
    Buffer& in = conn_.in();
    while (!in.empty() && conn_.state() != Connection::State::Closed && !conn_.closing() && !conn_.input_held()) {
        ws::FrameRules rules;
        rules.max_payload = messages_.room();  // a message growing past its limit is refused from its header
        ws::FrameResult r = ws::parse_frame(in.readable(), rules);
        if (r.status == ws::FrameParse::Error) {
            fail(r.close_code, r.error);
            return;
        }
        if (r.status == ws::FrameParse::Incomplete) {
            // Room for the whole frame at once, so that its payload is not
            // copied again each time the buffer grows. h.consumed is the
            // header alone: the frame is that plus the payload (which the
            // rules held to the message's room), less what is here already.
            ws::FrameResult h = ws::parse_frame_header(in.readable(), rules);
            if (h.status == ws::FrameParse::Complete) {
                const size_t whole = h.consumed + h.frame.payload_length;
                if (whole > in.size()) in.reserve(whole - in.size());
            }
            return;
        }
        const ws::Frame& f = r.frame;
        char* payload = in.mutable_data() + f.payload_offset;
        ws::unmask(payload, f.payload_length, f.mask, 0);
        ws::Event e = messages_.feed(f.opcode, f.fin, std::string_view(payload, f.payload_length));
        bool more = handle(e);  // a whole-frame message points into the buffer: handled before it is consumed
        in.consume(r.consumed);
        if (!more) return;
    }
}

bool WsSession::handle(const ws::Event& e) {
    Worker& w = conn_.worker();
    switch (e.kind) {
        case ws::Event::Kind::None:
        case ws::Event::Kind::Pong: return true;
        case ws::Event::Kind::Text:
        case ws::Event::Kind::Binary: {
            took_message_ = true;
            conn_.count_message();
            smooth_message msg{e.kind == ws::Event::Kind::Text ? SMOOTH_WS_TEXT : SMOOTH_WS_BINARY,
                               module_str(e.payload), nullptr};
            w.client_message(conn_, msg);
            return conn_.state() != Connection::State::Closed;
        }
        case ws::Event::Kind::Ping: return write_frame(ws::Opcode::Pong, e.payload);  // §5.5.2
        case ws::Event::Kind::Close:
            if (!close_sent_) {
                // §5.5.1: answer with a Close (echoing the code), then the
                // server closes the TCP connection first (§7.1.1).
                char payload[ws::kMaxControlPayload];
                size_t n = e.code == ws::kCloseNoStatus ? 0 : ws::write_close_payload(e.code, "", payload);
                close_sent_ = true;
                if (!write_frame(ws::Opcode::Close, std::string_view(payload, n))) return false;
            }
            conn_.close_after_output(true);  // after its Close the client sends nothing more
            return false;
        case ws::Event::Kind::Error:
            log::info("closing WebSocket %s: %u %s", conn_.peer().c_str(), unsigned(e.code), e.error);
            fail(e.code, e.error);
            return false;
    }
    return true;
}

int WsSession::send(const char* data, size_t len) { return send_message(data, len, false); }

int WsSession::send_message(const char* data, size_t len, bool binary) {
    if (close_sent_ || conn_.closing()) return -1;
    if (conn_.over_unsent_limit()) {
        // A client that does not read what it is sent cannot make this worker
        // keep it all: it is told why (1008), and cut if it still does not
        // read (on_deadline), whatever trickle it reads meanwhile.
        log::warn("closing WebSocket %s with 1008: %zu bytes it was sent are unread (max_unsent_bytes %zu)",
                  conn_.peer().c_str(), conn_.unsent(), conn_.group().max_unsent_bytes);
        too_slow_ = true;
        conn_.worker().count_limit(Limit::UnsentBytes);
        begin_close(ws::kClosePolicyViolation, "too slow: messages sent to it are unread");
        return -1;
    }
    return write_frame(binary ? ws::Opcode::Binary : ws::Opcode::Text, std::string_view(data, len)) ? 0 : -1;
}

bool WsSession::write_frame(ws::Opcode opcode, std::string_view payload) {
    char header[ws::kMaxServerHeader];
    size_t n = ws::write_frame_header(opcode, true, payload.size(), header);
    return conn_.write(header, n, payload.data(), payload.size());
}

// Our side of the close handshake: the Close frame, then wait (bounded) for
// the client's; reading goes on only to find it.
void WsSession::begin_close(uint16_t code, std::string_view reason) {
    if (close_sent_) return;
    close_sent_ = true;
    char payload[ws::kMaxControlPayload];
    size_t n = ws::write_close_payload(code, reason, payload);
    if (!write_frame(ws::Opcode::Close, std::string_view(payload, n))) return;
    conn_.set_state(Connection::State::Closing);
    conn_.set_deadline_in(drain::kWsCloseWaitMs);
}

// §7.1.7: a failed connection (a protocol error, a message too big or too
// slow to come) gets its Close and is closed; what else the client sends is
// not read as frames any more (the lingering close drops it).
void WsSession::fail(uint16_t code, std::string_view reason) {
    if (close_sent_) return;
    close_sent_ = true;
    char payload[ws::kMaxControlPayload];
    size_t n = ws::write_close_payload(code, reason, payload);
    if (!write_frame(ws::Opcode::Close, std::string_view(payload, n))) return;
    conn_.in().clear();
    conn_.close_after_output(false);
}

int WsSession::close_soon() {
    begin_close(ws::kCloseNormal, "");
    return 0;
}

int WsSession::close_with(uint16_t code, const char* reason) {
    begin_close(code, reason);
    return 0;
}

void WsSession::on_drain() { begin_close(ws::kCloseGoingAway, "server reloading"); }

void WsSession::on_deadline() {
    if (conn_.state() == Connection::State::Streaming) {
        log::info("closing WebSocket %s with 1008: a message not whole within message_timeout (%d ms)",
                  conn_.peer().c_str(), conn_.group().message_timeout_ms);
        conn_.worker().count_limit(Limit::MessageTimeout);
        fail(ws::kClosePolicyViolation, "message not complete within message_timeout");
        return;
    }
    if (conn_.state() != Connection::State::Closing) return;
    if (too_slow_ && conn_.unsent() > 0) {
        conn_.abort();  // it had kWsCloseWaitMs to read what was owed, and did not
        return;
    }
    conn_.close_after_output(false);  // the client never answered our Close
}

// ---- The hand-over (worker/handover.h) ----

void WsSession::export_state(handover::ClientState& out) const {
    if (close_sent_) out.flags |= handover::kCloseSent;
    if (too_slow_) out.flags |= handover::kTooSlow;
    if (message_timed_) out.flags |= handover::kMessageTimed;
    const ws::Opcode under_way = messages_.partial_opcode();
    out.ws_message_state = under_way == ws::Opcode::Text ? 1 : under_way == ws::Opcode::Binary ? 2 : 0;
    out.ws_message = std::string(messages_.partial());
}

// The fragments so far, fed as one frame without FIN, put this assembler
// where the predecessor's was (websocket_message.h: partial()).
std::string WsSession::adopt_state(const handover::ClientState& in) {
    close_sent_ = in.flags & handover::kCloseSent;
    too_slow_ = in.flags & handover::kTooSlow;
    message_timed_ = in.flags & handover::kMessageTimed;
    if (in.ws_message_state == 0) return "";
    const ws::Opcode opcode = in.ws_message_state == 1 ? ws::Opcode::Text : ws::Opcode::Binary;
    ws::Event e = messages_.feed(opcode, false, in.ws_message);
    if (e.kind == ws::Event::Kind::Error)
        return "its WebSocket message under way (" + std::to_string(in.ws_message.size()) + " bytes so far) fails here: " +
               e.error;
    return "";
}

}  // namespace smooth
