// gateway_link: a gateway worker's TCP link to one business worker.
//
//   Connecting ──► Greeting ──(CHALLENGE)──► Proving ──(WELCOME)──► Ready ──(DRAINING)──► Draining ──► Closed
//   (connect(2)     (HELLO sent: our          (its proof held;       events flow           DRAIN_ACK sent;
//    in progress)    nonce)                    PROOF sent)                                 the business closes
//                                                                                          once it answered all
//
// The handshake (protocol/link.h) comes first: no event leaves before the
// business worker has proven it knows the link secret (a CHALLENGE whose
// proof does not hold closes the link: a stranger listening on the business
// port collects nothing) and has accepted ours (WELCOME). Until its proof
// holds, its frames are read with kMaxHandshakeFrame as the limit.
//
// The link speaks protocol/link.h. It owns its socket and its buffers, and
// keeps the events it sent that are not DONE yet (`in_flight`), so that if it
// is lost without the drain's hand-over (a crash) the gateway can send them
// again elsewhere. Everything it hears it passes to its Gateway.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/config.h"
#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/fd.h"

namespace smooth {

class Gateway;

class GatewayLink {
public:
    enum class State { Connecting, Greeting, Proving, Ready, Draining, Closed };

    // `secret` is the worker's link secret; it must outlive the link.
    GatewayLink(Gateway& gateway, EventLoop& loop, int slot, const ListenAddress& at, size_t max_frame,
                const std::string& secret);
    ~GatewayLink();

    // Starts the non-blocking connect. "" or what failed at once.
    std::string connect(uint32_t token);
    void send_event(uint64_t seq, uint64_t client, uint8_t kind, std::string_view payload, uint32_t client_number);
    void close();  // no more sending or receiving; Gateway::link_lost follows

    State state() const { return state_; }
    int slot() const { return slot_; }           // the port it connected to: business slot
    uint32_t pid() const { return pid_; }        // from WELCOME
    // Which business worker this is (pid and generation): two links may lead to one.
    uint64_t business_id() const { return uint64_t(pid_) << 32 | generation_; }
    std::string describe() const;                // "slot 1 (pid 4242, chat 2)"
    std::string address() const;                 // "127.0.0.2:9001": where it connects
    // Events sent and not DONE: seq -> the client's number.
    std::unordered_map<uint64_t, uint32_t>& in_flight() { return in_flight_; }

private:
    void on_event(uint32_t events);
    void on_connected();
    void on_readable();
    void handle(std::string_view frame_bytes);
    void answer_challenge(std::string_view nonce, std::string_view proof);
    void flush();
    void update_interest();

    Gateway& gateway_;
    EventLoop& loop_;
    int slot_;
    ListenAddress at_;
    size_t max_frame_;
    const std::string& secret_;
    uint32_t token_ = 0;
    std::string nonce_;  // ours, sent in HELLO; until the handshake is over
    Fd fd_;
    State state_ = State::Connecting;
    Buffer in_;
    Buffer out_;
    std::string frame_;  // scratch for the frame being written
    uint32_t interest_ = 0;
    uint32_t pid_ = 0;
    uint32_t generation_ = 0;
    std::string version_;
    std::unordered_map<uint64_t, uint32_t> in_flight_;
};

}  // namespace smooth
