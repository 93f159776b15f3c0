// ws_session: a WebSocket connection (RFC 6455), after the HTTP upgrade.
//
//   Streaming ── client's Close ──► echo it, close the TCP connection
//       │
//       └── module closes, or the worker drains ──► send Close (1000 / 1001)
//                                                   Closing ── client's Close ──► close
//                                                      └── no answer in time ──► close
//
// Frames are parsed and unmasked in the input buffer (protocol/websocket.h),
// assembled into messages (protocol/websocket_message.h: fragments, UTF-8 of
// text, size limits), and each whole message goes to the module as
// SMOOTH_WS_TEXT or SMOOTH_WS_BINARY. Pings are answered with pongs here. A
// protocol error closes with its code (1002, 1007, 1009) and the reason.
//
// Its bounds (docs/limits.md): a message begun must be whole within the
// group's message_timeout, or the connection is failed with 1008; a client
// that leaves more than max_unsent_bytes of what it was sent unread is closed
// with 1008 and given kWsCloseWaitMs to read the rest, then cut.
//
// A drain tells each client "going away" (1001) and waits, bounded, for the
// client's Close: the client reconnects, to another worker, knowing it was
// not an error. (Connections that must survive a reload live in a group
// with reloadable = false: the gateway pattern.)
#pragma once

#include <string_view>

#include "protocol/websocket_message.h"
#include "worker/session.h"

namespace smooth {

class Connection;

class WsSession : public Session {
public:
    explicit WsSession(Connection& conn);

    void on_open() override;
    void on_input() override;
    void on_deadline() override;
    void on_drain() override;
    int send(const char* data, size_t len) override;  // a text message
    int close_soon() override;                         // Close 1000
    int close_with(uint16_t code, const char* reason) override;

    int send_message(const char* data, size_t len, bool binary) override;

    size_t held_bytes() const override { return messages_.buffer_capacity(); }

    void export_state(handover::ClientState& out) const override;
    std::string adopt_state(const handover::ClientState& in) override;

private:
    void read_frames();
    void time_the_message();
    bool handle(const ws::Event& e);  // false: stop reading (closing)
    bool write_frame(ws::Opcode opcode, std::string_view payload);
    void begin_close(uint16_t code, std::string_view reason);
    void fail(uint16_t code, std::string_view reason);  // §7.1.7: Close, then no more frames read

    Connection& conn_;
    ws::MessageAssembler messages_;
    bool close_sent_ = false;
    bool message_timed_ = false;  // the deadline is message_timeout's, for the message begun
    bool took_message_ = false;   // read_frames() handed a message on: the next one starts its own clock
    bool too_slow_ = false;       // closed for max_unsent_bytes: cut once the close wait is over
};

}  // namespace smooth
