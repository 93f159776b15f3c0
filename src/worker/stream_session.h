// stream_session: text, frame and tcp connections: messages both ways, no
// request/response rhythm.
//
//   text   one message per '\n'-terminated line (protocol/framing.h)
//   frame  a 4-byte big-endian length (header included), then the payload
//   tcp    whatever bytes arrived, as one message
//
// A message larger than max_request_bytes, or a malformed frame header,
// closes the connection (lingering); so does a message not whole within
// message_timeout, and output the client leaves unread past max_unsent_bytes
// (at once: docs/limits.md). A drain gives the connection the idle grace
// (worker/drain.h) and then closes it.
#pragma once

#include "worker/session.h"

namespace smooth {

class Connection;

class StreamSession : public Session {
public:
    explicit StreamSession(Connection& conn) : conn_(conn) {}

    void on_open() override;
    void on_input() override;
    void on_deadline() override;
    void on_drain() override;
    int send(const char* data, size_t len) override;
    int close_soon() override;

    void export_state(handover::ClientState& out) const override;
    std::string adopt_state(const handover::ClientState& in) override;

private:
    void time_the_message(bool took_message);

    Connection& conn_;
    bool message_timed_ = false;  // the deadline is message_timeout's, for the message begun
};

}  // namespace smooth
