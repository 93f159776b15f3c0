// business: a business worker's side of the gateway pattern (gateway.h).
//
// Its listener (slot k's port) is where gateway workers connect; each such
// connection is a LinkSession. The link's EVENTs become the module's
// callbacks, with the client's id as the connection id:
//
//   EVENT connect  ->  on_connect(w, client)
//   EVENT message  ->  on_message(w, client, msg)     (then DONE)
//   EVENT close    ->  on_close(w, client)
//
// and what the module does with a client id goes back to the gateway worker
// holding that client (the id's high 32 bits name it): smooth_send,
// smooth_ws_send, smooth_send_many, smooth_broadcast, smooth_close. So the
// module reaches any client from any business worker, and keeps no
// connection state of its own: the seed's stateless business process.
//
// The drain (worker/drain.h) says DRAINING on every link; each link goes on
// answering what it receives until the gateway's DRAIN_ACK, then closes. When
// the last link has closed, the worker's drain is over.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "worker/session.h"

namespace smooth {

class Connection;
class Worker;
class LinkSession;

// The links of this business worker, by the token of the gateway worker at
// the other end: how a client id finds its way back.
class Business {
public:
    explicit Business(Worker& worker) : worker_(worker) {}

    void add(uint32_t token, LinkSession* link);
    void remove(uint32_t token, LinkSession* link);

    // What a module asks (module_api.cpp). Each returns 0, or -1 when no link
    // leads to that client's gateway worker any more.
    int send(uint64_t client, bool binary, std::string_view payload);
    int send_many(const uint64_t* clients, size_t n, bool binary, std::string_view payload);
    int broadcast(bool binary, std::string_view payload);  // 0, even with no link
    int close(uint64_t client, uint16_t code);

    size_t links() const { return links_.size(); }

private:
    Worker& worker_;
    std::unordered_map<uint32_t, LinkSession*> links_;
};

class LinkSession : public Session {
public:
    LinkSession(Connection& conn, Business& business);
    ~LinkSession() override;

    void on_open() override;
    void on_input() override;
    void on_deadline() override {}
    void on_drain() override;
    int close_soon() override;

    // Frames toward the gateway worker (Business).
    void write_frame(const std::string& frame);

private:
    bool handle(std::string_view frame_bytes);

    Connection& conn_;
    Business& business_;
    uint32_t token_ = 0;  // 0 until HELLO
    bool draining_said_ = false;
    std::string out_;     // scratch for frames
};

}  // namespace smooth
