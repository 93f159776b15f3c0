// connection: one client connection, as an explicit state machine.
//
//            bytes arrive           request complete        module responds
//   Idle ───────────────► Reading ──────────────────► Handling ─────────┐
//    ▲                       │ (timeout: 408)                           │
//    └───────────────────────┴───────── keep-alive ◄────────────────────┘
//                                       │ close wanted
//                                       ▼
//                        (flush output) Lingering ──► closed
//
//   Streaming: text, frame and tcp connections, which have no request/response
//   rhythm: every message is handed to the module as it is cut.
//
// set_state() is the only place the state changes, so one log line there
// traces a connection (SMOOTH_TRACE=1).
//
// Ownership: the Worker owns every Connection (by fd) and frees it after it
// has closed; a Connection owns its socket and its buffers. Modules name
// connections by id, never by pointer.
#pragma once

#include <cstdint>
#include <netinet/in.h>
#include <string>

#include "core/buffer.h"
#include "config/config.h"
#include "core/fd.h"
#include "protocol/http_parser.h"
#include "smooth/module.h"

namespace smooth {

class Worker;
struct ConnRecord;

class Connection {
public:
    enum class State : uint8_t { Idle, Reading, Handling, Streaming, Lingering, Closed };
    static const char* state_name(State s);

    Connection(Worker& worker, Fd fd, uint64_t id, const sockaddr_in& peer, ConnRecord* record);
    ~Connection();

    // Starts watching the socket and tells the module. False if it closed at once.
    void open();

    uint64_t id() const { return id_; }
    int fd() const { return fd_.get(); }
    State state() const { return state_; }

    // ---- What a module can do (module_api.cpp). Each returns 0 or -1. ----
    int send(const char* data, size_t len);
    int respond(int status, const char* content_type, const char* body, size_t len);
    int close_soon();  // after the output is flushed

    // ---- What the worker asks. ----
    void begin_drain();          // the worker started draining (drain.h, steps 4-6)
    void check_deadline(int64_t now_ms);
    void close_now();            // no flush, no linger: hard stop

private:
    void set_state(State s);
    int64_t idle_deadline() const;
    void on_event(uint32_t events);
    void on_readable();
    void process_input();
    void process_http();
    void process_stream();
    void deliver_http(const http::Request& req);
    void respond_error(int status, const char* why);
    bool write_out(const char* head, size_t head_len, const char* body, size_t body_len);
    void flush();
    void update_interest();
    void linger();
    void after_response();
    void count_out(size_t n);

    Worker& worker_;
    Fd fd_;
    uint64_t id_;
    sockaddr_in peer_;
    ConnRecord* record_;  // our row in the shared stats table, or nullptr if it is full
    State state_ = State::Idle;
    Buffer in_;
    Buffer out_;
    std::string chunked_body_;    // the de-chunked body of the request being handled
    size_t request_bytes_ = 0;    // input bytes of the request being handled
    bool request_keep_alive_ = true;
    int request_minor_ = 1;
    bool close_after_flush_ = false;
    bool peer_closed_ = false;    // read returned EOF
    bool client_done_ = false;    // the client's last request (it asked to close) is answered
    bool reading_paused_ = false; // back-pressure: output too big, stop reading
    bool in_process_ = false;     // process_input() is on the stack
    bool connect_told_ = false;   // on_connect ran: on_close is owed
    uint32_t interest_ = 0;
    int64_t deadline_ms_ = 0;     // 0: none
    int64_t last_progress_ms_ = 0; // when output last moved (or was first queued)
};

}  // namespace smooth
