// websocket_message: frames in, messages and control events out.
//
// MessageAssembler is a small state machine fed the frames of one connection
// in order, each already parsed (parse_frame) and unmasked (unmask):
//
//                 Text/Binary, no FIN               Continuation, FIN
//        Idle  ─────────────────────────>  InText / InBinary  ──────────> Idle
//         │  Text/Binary with FIN: the whole      │ Continuation, no FIN: stays
//         │  message at once, never buffered     │
//         └──── Close, or any error ──> Closed <──┘   (Ping and Pong: any state
//                                                       but Closed, no change)
//
// The rules it enforces, each answered with the close code to fail with:
//   §5.4   a Continuation with no message open, or a Text/Binary while one
//          is open: 1002. Control frames may come between fragments.
//   limit  a message longer than max_message_bytes, over all its fragments: 1009.
//   §8.1   a text message that is not UTF-8, checked fragment by fragment
//          (a bad byte fails at once, a character cut off at the end fails
//          at the end): 1007.
//   §5.5.1, §7.4  a close payload of one byte, or a code no endpoint may
//          send (below 1000, 1004-1006, 1015-2999, 5000 and above): 1002;
//          a reason that is not UTF-8: 1007.
//   §5.5.1 anything after a Close (the peer may send no more), or after an
//          error (the connection is being failed): 1002.
//
// Ownership. The assembler owns one std::string, the fragments of the message
// being assembled; it grows with that message, doubling but held to
// max_message_bytes rather than doubling past it, and a buffer that grew past kKeptCapacity is freed once
// its message has been handed over, so an idle connection does not keep its
// largest message's memory. A message that comes in a single frame is not
// copied at all: its Event points at the caller's payload.
// So an Event's payload points either into the caller's payload or into the
// assembler's buffer; either way it is valid until the next call to feed(),
// and only while the caller's payload bytes are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/utf8.h"
#include "protocol/websocket.h"

namespace smooth::ws {

struct Event {
    enum class Kind {
        None,    // a fragment was taken in; nothing to do yet
        Text,    // a whole message: payload
        Binary,
        Ping,    // answer with a Pong carrying the same payload (§5.5.2)
        Pong,    // nothing to do (§5.5.3: may be unsolicited)
        Close,   // the peer closes: code and reason; answer with a Close (§5.5.1)
        Error,   // fail the connection (§7.1.7): send a Close with code, then close
    };
    Kind kind = Kind::None;
    std::string_view payload;  // Text/Binary: the message; Ping/Pong: the frame's payload; Close: the reason
    uint16_t code = 0;         // Close: the peer's code (kCloseNoStatus if it sent none); Error: the code to send
    const char* error = "";    // Error: a short reason, for the log and the close frame
};

class MessageAssembler {
public:
    // A buffer above this size is freed after its message instead of kept for the next.
    static constexpr size_t kKeptCapacity = 64 * 1024;

    explicit MessageAssembler(size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

    // One frame: its opcode, FIN bit and unmasked payload.
    Event feed(Opcode opcode, bool fin, std::string_view payload);

    // How many more payload bytes the current message may take (all of
    // max_message_bytes between messages): a good FrameRules::max_payload.
    size_t room() const { return in_message() ? max_message_bytes_ - message_.size() : max_message_bytes_; }
    bool in_message() const { return state_ == State::InText || state_ == State::InBinary; }
    bool closed() const { return state_ == State::Closed; }
    size_t buffer_capacity() const { return message_.capacity(); }
    // A fragmented message under way, for a hand-over (worker/handover.h):
    // Text or Binary and its fragments so far (Continuation and nothing when
    // none is). A successor's assembler goes on with it once fed those as
    // one frame without FIN: the same state, the same UTF-8 check so far.
    Opcode partial_opcode() const {
        return state_ == State::InText ? Opcode::Text : state_ == State::InBinary ? Opcode::Binary : Opcode::Continuation;
    }
    std::string_view partial() const { return in_message() ? std::string_view(message_) : std::string_view(); }

private:
    enum class State { Idle, InText, InBinary, Closed };

    Event whole_message(Opcode opcode, std::string_view payload);
    Event fragment(bool fin, std::string_view payload);
    Event control(Opcode opcode, bool fin, std::string_view payload);
    Event close(std::string_view payload);
    Event fail(uint16_t code, const char* why);
    void append(std::string_view bytes);
    void drop_delivered_message();

    // (In this order, no padding: every WebSocket connection holds one.)
    size_t max_message_bytes_;
    std::string message_;     // the fragments so far (InText/InBinary), or the last message handed over (Idle)
    State state_ = State::Idle;
    utf8::Validator utf8_;    // InText: the message so far
};

}  // namespace smooth::ws
