// http_session: HTTP/1.1 and 1.0 requests and responses on one connection.
//
//   head ──► (100 Continue) ──► body ──► module ──► response ──► next request
//
// One request at a time: the head is parsed (protocol/http_parser.h), a
// client that waits for "100 Continue" gets it at once, the body is read (a
// chunked one decoded as it arrives, its framing dropped as it goes), the
// request goes to the module, and the next request, possibly already
// buffered behind it (pipelining), is not looked at until this one is
// answered.
//
// The server owns what HTTP requires of a response, whatever the module
// passes: no body after HEAD (but the Content-Length a GET would get), none
// on 204 and 304 and no Content-Length there; Connection: close when the
// client asked for it, spoke HTTP/1.0 without keep-alive, or the worker is
// draining; 400, 408, 413, 414, 417, 431 and 505 for requests it refuses,
// each followed by a lingering close.
//
// In a ws:// group a request carrying a WebSocket handshake is upgraded: the
// 101 goes out and a WsSession takes the connection over; other requests are
// served like in an http:// group.
#pragma once

#include <memory>
#include <string>

#include "protocol/http_parser.h"
#include "worker/session.h"

namespace smooth {

class Connection;

class HttpSession : public Session {
public:
    explicit HttpSession(Connection& conn) : conn_(conn) {}

    void on_open() override;
    void on_input() override;
    void on_deadline() override;
    void on_drain() override;
    int respond(int status, const char* content_type, const char* body, size_t len) override;
    int close_soon() override;
    size_t held_bytes() const override { return chunked_body_.capacity(); }

private:
    bool read_head(http::Request& req);  // true: a head is there (new or earlier)
    bool read_body();                    // true: the whole body is there
    void deliver(http::Request& req);
    bool upgrade(const http::Request& req);  // true: the connection is not HTTP any more
    void refuse(int status, const char* why);
    void forget_request();
    // Every answer, the module's or the server's: counted by status class,
    // and a line in the access log (if on). Before the request's bytes go.
    void answered(int status, size_t body_bytes);
    std::string_view request_line() const;  // the request's first line, or ""
    http::Limits limits() const;

    Connection& conn_;
    // The request being read or handled. head_bytes_ == 0: none yet.
    size_t head_bytes_ = 0;
    size_t content_length_ = 0;
    size_t request_bytes_ = 0;  // head + body bytes in the input buffer, while handling
    bool chunked_ = false;
    bool keep_alive_ = true;     // the client's word (Connection, HTTP version)
    int requests_ = 0;           // requests read on this connection
    bool last_allowed_ = false;  // this one reaches keepalive_requests: answered with Connection: close
    bool is_head_ = false;
    int minor_version_ = 1;
    std::unique_ptr<http::ChunkedDecoder> decoder_;  // chunked bodies only
    std::string chunked_body_;
    bool nodelay_ = false;  // TCP_NODELAY is set once the connection is kept alive
    int64_t started_ms_ = 0;  // the request's first byte (the loop's clock), for the access log
};

}  // namespace smooth
