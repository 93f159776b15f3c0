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

private:
    bool handle(const ws::Event& e);  // false: stop reading (closing)
    bool write_frame(ws::Opcode opcode, std::string_view payload);
    void begin_close(uint16_t code, std::string_view reason);

    Connection& conn_;
    ws::MessageAssembler messages_;
    bool close_sent_ = false;
};

}  // namespace smooth
