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
//
// The events of one pass of the event loop leave in one write: send_event()
// appends, and the end of the pass (EventLoop::defer) writes them all. A read
// takes what is there: after one that filled its room, it reads again (up to
// kReadsPerEvent), so the answers of every event sent are handled in the pass.
//
// A link speaks for its gateway worker's token (its PROOF) and for those it
// has ADOPTed since (speak_for): the tokens of clients its gateway worker
// took over from a predecessor, whose answers the business may send on it.
//
// The hand-over (worker/handover.h) moves a Ready or Draining link to the
// gateway worker's successor, as it moves clients: pause() takes it out of
// the loop (EPOLL_CTL_DEL: the successor holds a copy of the socket), and
// nothing is read or written; export_state() writes down its buffers, its
// events in flight and who the business worker is; the successor's link is
// built with adopt(), paused, and both sides go on with resume().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/fd.h"

namespace smooth {

class Gateway;
namespace handover {
struct LinkState;
}

class GatewayLink : private EventLoop::Deferred {
public:
    // (core/stats.h's LinkState counts them in this order, Closed aside.)
    enum class State { Connecting, Greeting, Proving, Ready, Draining, Closed };

    // `secret` is the worker's link secret; it must outlive the link.
    GatewayLink(Gateway& gateway, EventLoop& loop, int slot, const ListenAddress& at, size_t max_frame,
                const std::string& secret);
    ~GatewayLink();

    // Starts the non-blocking connect. "" or what failed at once.
    std::string connect(uint32_t token);
    void send_event(uint64_t seq, uint64_t client, uint8_t kind, std::string_view payload);
    // No more sending or receiving; Gateway::link_lost follows. Our
    // descriptor is closed, never shut down: after a hand-over the socket
    // lives on in the successor.
    void close();
    // ADOPT whichever of these tokens it does not speak for yet (Ready only).
    void speak_for(const std::vector<uint32_t>& tokens);
    const std::vector<uint32_t>& tokens() const { return tokens_; }

    // ---- The hand-over (see above) ----
    void pause();
    void export_state(handover::LinkState& out) const;  // only while paused
    // The successor's: a link as its predecessor wrote it down, paused. "" or why not.
    std::string adopt(Fd fd, const handover::LinkState& in);
    void resume();  // back in the loop: what waits to be written, then what was read

    State state() const { return state_; }
    int fd() const { return fd_.get(); }
    int slot() const { return slot_; }           // the port it connected to: business slot
    uint32_t pid() const { return pid_; }        // from WELCOME
    // Which business worker this is (pid and generation): two links may lead to one.
    uint64_t business_id() const { return uint64_t(pid_) << 32 | generation_; }
    std::string describe() const;                // "slot 1 (pid 4242, chat 2)"
    std::string address() const;                 // "127.0.0.2:9001": where it connects
    // Events sent and not DONE: seq -> the client's id.
    std::unordered_map<uint64_t, uint64_t>& in_flight() { return in_flight_; }

private:
    void run_deferred() override { flush(); }  // the end of the pass: the events it gathered leave
    void on_event(uint32_t events);
    void on_connected();
    void on_readable();
    void handle_frames();  // every whole frame in in_
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
    std::unordered_map<uint64_t, uint64_t> in_flight_;
    std::vector<uint32_t> tokens_;  // its PROOF's, then those ADOPTed
    bool paused_ = false;           // the hand-over: out of the loop, nothing read or written
};

}  // namespace smooth
