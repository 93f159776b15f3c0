// link_session: one connection to a business worker's port, which must prove
// it is a gateway worker of this deployment before anything else
// (protocol/link.h has the frames and the handshake's picture).
//
//   Hello ──(HELLO: CHALLENGE sent)──► Proof ──(PROOF holds: WELCOME sent)──► Linked
//     │                                  │                                     │
//     └── anything else, a second HELLO, no proof within kHandshakeMs,         └── closed: out of
//         a wrong proof, a byte sent before our answer, the drain ──► closed      Business's table
//
// Until it is Linked a connection costs the worker one pending place
// (business.h: at most kMaxPendingLinks, the oldest goes), the connection
// object and the handshake's few bytes; its frames are read with
// kMaxHandshakeFrame as the limit, so no length it claims is waited for.
// Every refusal closes it at once, with one line per peer per interval
// (refusal_log.h). Nothing of it is kept once it is closed.
//
// A Linked connection carries a gateway worker's events (business.h) under
// the bounds of any long connection (docs/limits.md), the business group's:
//   - a frame begun must be complete within message_timeout, or the link is
//     closed: a half-sent frame is not held for ever;
//   - what waits to be sent to the gateway (answers, broadcasts) stays under
//     max_unsent_bytes (or two frames of the largest size, if that is more:
//     one frame always fits): a gateway that stops reading gets its link
//     closed (logged), and sends its events in flight again elsewhere, at
//     least once, as after a crash.
// Each cut is counted in the worker's limit_hits (unsent_bytes,
// message_timeout), as for a client.
//
// The Connection owns this session; Business holds a pointer to it only
// between pending()/add() and forget(), which on_closed() calls.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "worker/session.h"

namespace smooth {

class Connection;
class Business;
namespace link {
struct Frame;
}

// A connection to a business port has this long to prove itself.
inline constexpr int kHandshakeMs = 2000;

class LinkSession : public Session {
public:
    enum class Stage { Hello, Proof, Linked, Ended };

    LinkSession(Connection& conn, Business& business);
    ~LinkSession() override;

    void on_open() override;
    void on_input() override;
    void on_deadline() override;  // no proof in time, or a frame left unfinished
    void on_drain() override;
    void on_closed() override;
    int close_soon() override;

    // Frames toward the gateway worker (Business).
    void write_frame(const std::string& frame);
    // Closes now, unproven: one (rate-limited) log line says why.
    void refuse(const std::string& why);
    void close_now();

    bool linked() const { return stage_ == Stage::Linked; }
    uint32_t token() const { return token_; }
    std::string peer() const;

private:
    bool handshake(const link::Frame& f);
    bool handle(std::string_view frame_bytes);
    bool send(const std::string& frame);
    size_t max_frame() const;
    size_t max_unsent() const;

    Connection& conn_;
    Business& business_;
    Stage stage_ = Stage::Hello;
    uint32_t token_ = 0;              // the gateway worker's, from its PROOF (Business keeps those it ADOPTs)
    std::string gateway_nonce_;       // the handshake's nonces, until it is over
    std::string nonce_;
    bool finishing_frame_ = false;    // the deadline is a frame's, not the handshake's
    bool draining_said_ = false;
    std::string out_;                 // scratch for frames
};

}  // namespace smooth
