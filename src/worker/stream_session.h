// stream_session: text, frame and tcp connections: messages both ways, no
// request/response rhythm.
//
//   text   one message per '\n'-terminated line (protocol/framing.h)
//   frame  a 4-byte big-endian length (header included), then the payload
//   tcp    whatever bytes arrived, as one message
//
// A message larger than max_request_bytes, or a malformed frame header,
// closes the connection (lingering). A drain gives the connection the idle
// grace (worker/drain.h) and then closes it.
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

private:
    Connection& conn_;
};

}  // namespace smooth
