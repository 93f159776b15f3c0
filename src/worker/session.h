// session: what the bytes on a connection mean.
//
// A Connection (connection.h) moves bytes: it reads, writes, keeps deadlines
// and closes. Its Session cuts the bytes into messages, hands them to the
// module, and frames what the module answers:
//
//   HttpSession    requests and responses (http_session.h), and the upgrade
//                  of a ws:// group's connection to WebSocket
//   StreamSession  text lines, length-prefixed frames, raw tcp (stream_session.h)
//   WsSession      WebSocket messages, pings, the close handshake (ws_session.h)
//
// The connection owns its session and calls it from its own callbacks; a
// session never outlives its connection and holds no pointer to anything the
// connection does not own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace smooth {

namespace handover {
struct ClientState;
}

class Session {
public:
    virtual ~Session() = default;

    // The connection is watched and the module told (on_connect).
    virtual void on_open() = 0;
    // New bytes are in the connection's input buffer: consume whole messages.
    virtual void on_input() = 0;
    // The connection's deadline passed in a state the session set (Reading,
    // Streaming, Closing): a 408, a grace that ran out, a close handshake
    // the client never finished.
    virtual void on_deadline() = 0;
    // The worker began draining (worker/drain.h, steps 4 to 6).
    virtual void on_drain() = 0;
    // The connection has just closed, whatever closed it (the session is
    // freed a little later, with its connection): what holds a pointer to
    // this session lets go of it here (link_session.h).
    virtual void on_closed() {}

    // What a module asks (module_api.cpp): each returns 0 or -1.
    virtual int respond(int status, const char* content_type, const char* body, size_t len) {
        (void)status, (void)content_type, (void)body, (void)len;
        return -1;  // not an HTTP connection
    }
    virtual int send(const char* data, size_t len) {
        (void)data, (void)len;
        return -1;  // not a stream
    }
    virtual int send_message(const char* data, size_t len, bool binary) {
        (void)data, (void)len, (void)binary;
        return -1;  // not a WebSocket
    }
    virtual int close_soon() = 0;

    // Memory the session holds beyond the connection's buffers (a message
    // being assembled, a chunked body): counted toward the worker's ceiling.
    virtual size_t held_bytes() const { return 0; }
    // Close with a reason where the protocol has a way to say one (a
    // WebSocket close code); elsewhere the same as close_soon().
    virtual int close_with(uint16_t code, const char* reason) {
        (void)code, (void)reason;
        return close_soon();
    }

    // ---- The hand-over (worker/handover.h), for the sessions of clients
    // that move: WsSession and StreamSession ----
    // What the session knows that a successor needs (its flags, a message
    // under way), added to what its Connection wrote.
    virtual void export_state(handover::ClientState& out) const { (void)out; }
    // In the successor, instead of on_open(): the same, read back. "" or
    // why this session cannot go on with it.
    virtual std::string adopt_state(const handover::ClientState& in) {
        (void)in;
        return "this session does not move";
    }
};

}  // namespace smooth
