// websocket_message: see websocket_message.h for the states and the rules.
#include "protocol/websocket_message.h"

#include <algorithm>

namespace smooth::ws {
namespace {

// §7.4.1 and §7.4.2, and the IANA registry since: which codes a peer may put
// in a Close frame. 1004 is reserved; 1005, 1006 and 1015 only report what
// happened locally and "MUST NOT be set as a status code in a Close control
// frame"; 1016-2999 are kept for future RFCs; 3000-3999 are registered by
// libraries and frameworks, 4000-4999 are for private use; nothing is
// defined below 1000 or from 5000 on.
bool may_be_received(uint16_t code) {
    if (code >= 3000 && code <= 4999) return true;
    return (code >= kCloseNormal && code <= kCloseUnsupportedData) ||  // 1000-1003
           (code >= kCloseInvalidPayload && code <= 1014);             // 1007-1011; 1012-1014 registered later
}

Event event(Event::Kind kind, std::string_view payload, uint16_t code = 0) {
    Event e;
    e.kind = kind;
    e.payload = payload;
    e.code = code;
    return e;
}

}  // namespace

Event MessageAssembler::feed(Opcode opcode, bool fin, std::string_view payload) {
    if (state_ == State::Closed) return fail(kCloseProtocolError, "frame after close");
    drop_delivered_message();
    if (is_control(opcode)) return control(opcode, fin, payload);

    // §5.4: a message is one Text/Binary frame followed by Continuations up
    // to the one with FIN; messages do not interleave.
    if (opcode == Opcode::Continuation) {
        if (!in_message()) return fail(kCloseProtocolError, "continuation frame with no message open");
        return fragment(fin, payload);
    }
    if (in_message()) return fail(kCloseProtocolError, "new message before the fragmented one ended");
    if (fin) return whole_message(opcode, payload);
    state_ = opcode == Opcode::Text ? State::InText : State::InBinary;
    utf8_.reset();
    return fragment(fin, payload);
}

// A message in one frame, the common case: checked and handed over in place.
Event MessageAssembler::whole_message(Opcode opcode, std::string_view payload) {
    if (payload.size() > max_message_bytes_) return fail(kCloseMessageTooBig, "message too big");
    if (opcode == Opcode::Binary) return event(Event::Kind::Binary, payload);
    if (!utf8::is_valid(payload)) return fail(kCloseInvalidPayload, "text message is not UTF-8");
    return event(Event::Kind::Text, payload);
}

Event MessageAssembler::fragment(bool fin, std::string_view payload) {
    if (payload.size() > room()) return fail(kCloseMessageTooBig, "message too big");
    if (state_ == State::InText) {
        // A character may be cut between fragments: Incomplete is fine until FIN.
        const utf8::Status status = utf8_.feed(payload);
        if (status == utf8::Status::Invalid || (fin && status == utf8::Status::Incomplete))
            return fail(kCloseInvalidPayload, "text message is not UTF-8");
    }
    append(payload);
    if (!fin) return {};
    const Event::Kind kind = state_ == State::InText ? Event::Kind::Text : Event::Kind::Binary;
    state_ = State::Idle;  // message_ is kept until the next feed(), for the Event to point at
    return event(kind, message_);
}

Event MessageAssembler::control(Opcode opcode, bool fin, std::string_view payload) {
    // parse_frame() already refuses these; repeated so the assembler holds
    // the §5.5 rules even for frames that came another way.
    if (!fin || payload.size() > kMaxControlPayload) return fail(kCloseProtocolError, "bad control frame");
    if (opcode == Opcode::Ping) return event(Event::Kind::Ping, payload);
    if (opcode == Opcode::Pong) return event(Event::Kind::Pong, payload);
    return close(payload);
}

Event MessageAssembler::close(std::string_view payload) {
    // §5.5.1: empty, or a 2-byte code followed by a UTF-8 reason.
    if (payload.empty()) {
        state_ = State::Closed;
        return event(Event::Kind::Close, {}, kCloseNoStatus);
    }
    if (payload.size() < kCloseCodeBytes) return fail(kCloseProtocolError, "close payload of one byte");
    const uint16_t code = uint16_t(static_cast<uint8_t>(payload[0]) << 8 | static_cast<uint8_t>(payload[1]));
    if (!may_be_received(code)) return fail(kCloseProtocolError, "close code not allowed");
    const std::string_view reason = payload.substr(kCloseCodeBytes);
    if (!utf8::is_valid(reason)) return fail(kCloseInvalidPayload, "close reason is not UTF-8");
    state_ = State::Closed;
    return event(Event::Kind::Close, reason, code);
}

Event MessageAssembler::fail(uint16_t code, const char* why) {
    state_ = State::Closed;
    std::string().swap(message_);  // the connection is ending: free the buffer now
    Event e = event(Event::Kind::Error, {}, code);
    e.error = why;
    return e;
}

// Doubles like std::string, but never past the message limit: a buffer is
// bounded by the limit, not by twice it. (A fresh string given the exact
// size, because reserve() on a non-empty one may round up further.)
void MessageAssembler::append(std::string_view bytes) {
    const size_t needed = message_.size() + bytes.size();
    if (needed > message_.capacity()) {
        std::string grown;
        grown.reserve(std::min(max_message_bytes_, std::max(needed, 2 * message_.capacity())));
        grown.append(message_);
        message_.swap(grown);
    }
    message_.append(bytes);
}

// Between messages the buffer only holds the message handed over by the
// previous feed(), which the caller is done with now.
void MessageAssembler::drop_delivered_message() {
    if (state_ != State::Idle) return;
    if (message_.capacity() > kKeptCapacity)
        std::string().swap(message_);
    else
        message_.clear();
}

}  // namespace smooth::ws
