// link_session: see link_session.h. The handshake first, then the frames of
// a proven link, then the bounds and the ways a link ends.
#include "worker/link_session.h"

#include <algorithm>

#include "core/log.h"
#include "core/random.h"
#include "protocol/link.h"
#include "worker/business.h"
#include "worker/connection.h"
#include "worker/worker.h"

namespace smooth {

LinkSession::LinkSession(Connection& conn, Business& business) : conn_(conn), business_(business) {}

LinkSession::~LinkSession() { business_.forget(*this); }

std::string LinkSession::peer() const { return conn_.peer(); }

size_t LinkSession::max_frame() const { return link::max_frame_for(conn_.group().max_request_bytes); }

size_t LinkSession::max_unsent() const { return std::max(conn_.group().max_unsent_bytes, 2 * max_frame()); }

void LinkSession::on_open() {
    conn_.set_state(Connection::State::Streaming);
    conn_.set_nodelay();  // events and answers are small: no Nagle delay
    conn_.read_while_full();  // what the gateway sent is handled in one pass, answered in one write
    conn_.set_deadline_in(kHandshakeMs);
    business_.pending(*this);
}

void LinkSession::on_input() {
    Buffer& in = conn_.in();
    bool finished_one = false;
    while (!in.empty() && stage_ != Stage::Ended && !conn_.closing() && conn_.state() != Connection::State::Closed) {
        const bool proven = stage_ == Stage::Linked;
        link::Result r = link::parse_link_frame(in.readable(), proven ? max_frame() : link::kMaxHandshakeFrame);
        if (r.status == link::Parse::Incomplete) break;
        if (r.status == link::Parse::Error) {
            if (!proven) return refuse(std::string("a bad frame before its proof: ") + r.error);
            log::warn("links: closing the link from gateway worker %08x at %s: %s", token_, peer().c_str(), r.error);
            return close_now();
        }
        if (!proven) {
            // The handshake is one frame, then silence until our answer: a
            // byte behind it was sent without waiting for the proof.
            if (in.size() > r.consumed)
                return refuse(std::string("sent more behind its ") + link::type_name(r.frame.type) +
                              " without waiting for the answer");
            bool more = handshake(r.frame);
            in.consume(r.consumed);
            if (!more) return;
            continue;
        }
        bool more = handle(in.readable().substr(0, r.consumed));
        in.consume(r.consumed);
        finished_one = true;
        if (!more) return;
    }
    if (stage_ != Stage::Linked || conn_.state() == Connection::State::Closed) return;
    // A frame begun must be whole within message_timeout: the deadline runs
    // from its first bytes (a new one each time a frame was completed).
    if (in.empty()) {
        if (finishing_frame_) conn_.clear_deadline();
        finishing_frame_ = false;
    } else if (finished_one || !finishing_frame_) {
        conn_.set_deadline_in(conn_.group().message_timeout_ms);
        finishing_frame_ = true;
    }
}

// ---- The handshake (protocol/link.h) ----

bool LinkSession::handshake(const link::Frame& f) {
    Worker& w = conn_.worker();
    if (stage_ == Stage::Hello) {
        if (f.type != link::Type::Hello) {
            refuse(std::string("sent ") + link::type_name(f.type) + " before the handshake (not a gateway, or one of an "
                   "older build)");
            return false;
        }
        if (std::string err = random_bytes(link::kNonceBytes, nonce_); !err.empty()) {
            log::error("links: no nonce for the link from %s: %s; closing it", peer().c_str(), err.c_str());
            close_now();
            return false;
        }
        gateway_nonce_ = std::string(f.nonce);
        out_.clear();
        link::write_challenge(out_, nonce_, link::business_proof(w.link_secret(), gateway_nonce_, nonce_));
        stage_ = Stage::Proof;
        return send(out_);
    }
    if (f.type != link::Type::Proof) {
        refuse(std::string("sent ") + link::type_name(f.type) + " where its PROOF was due");
        return false;
    }
    if (!link::proof_holds(link::gateway_proof(w.link_secret(), gateway_nonce_, nonce_, f.token), f.proof)) {
        refuse("its proof does not hold: it does not know this instance's link secret (a gateway of another "
               "instance needs the same [server] link_secret_file as this one: docs/links.md)");
        return false;
    }
    if (f.token == 0) {  // a gateway's token is never 0: client ids with 0 above are nobody's
        refuse("a proof for token 0");
        return false;
    }
    if (!business_.room_for_a_link()) {
        refuse("max_connections (" + std::to_string(conn_.group().max_connections) + ") links are up already");
        return false;
    }
    // Proven, once: registered now, and only now (business.h).
    stage_ = Stage::Linked;
    token_ = f.token;
    gateway_nonce_.clear();
    nonce_.clear();
    conn_.clear_deadline();
    business_.add(token_, *this);
    out_.clear();
    link::write_welcome(out_, uint32_t(w.pid()), uint16_t(w.slot()), uint16_t(conn_.group().count),
                        uint32_t(w.generation()), w.module_version());
    return send(out_);
}

// ---- A proven link's frames ----

bool LinkSession::handle(std::string_view bytes) {
    const link::Frame f = link::parse_link_frame(bytes, bytes.size()).frame;
    Worker& w = conn_.worker();
    const smooth_module& m = w.module();
    switch (f.type) {
        case link::Type::Event: {
            if (f.kind == link::kConnect) {
                if (m.on_connect) m.on_connect(w.handle(), f.client);
            } else if (f.kind == link::kClose) {
                if (m.on_close) m.on_close(w.handle(), f.client);
            } else {
                // One of smooth_protocol's values: parse_link_frame() let no
                // other kind through (link.h).
                conn_.count_message();
                smooth_message msg{smooth_protocol(f.kind), module_str(f.payload), nullptr};
                if (m.on_message) m.on_message(w.handle(), f.client, &msg);
            }
            // Handled: the gateway may send this client's next event (to us or
            // to another worker). What the module sent is ahead of this in the
            // stream, so the gateway has the answers before it has the DONE;
            // both are gathered with the pass's other frames (connection.h)
            // and leave together, in one write at the end of the pass.
            out_.clear();
            link::write_done(out_, f.seq);
            return send(out_);
        }
        case link::Type::Adopt:
            // Its gateway worker took clients over from its predecessor
            // (worker/handover.h): their ids name these tokens.
            for (size_t i = 0; i < f.token_count(); i++)
                if (!business_.adopt(f.token_at(i), *this)) {
                    log::warn("links: the link from gateway worker %08x at %s speaks for %zu tokens already: "
                              "ADOPT of %08x ignored (its clients' messages go on other links only)",
                              token_, peer().c_str(), kMaxTokensPerLink, f.token_at(i));
                    break;
                }
            return true;
        case link::Type::DrainAck:
            // Everything the gateway sent before its ACK has been answered
            // above (the stream is in order): the hand-over is complete.
            conn_.close_after_output(true);
            return false;
        default:
            // A HELLO or PROOF again, or a business worker's frame: not what a
            // gateway says on a proven link.
            log::warn("links: closing the link from gateway worker %08x at %s: unexpected %s", token_, peer().c_str(),
                      link::type_name(f.type));
            close_now();
            return false;
    }
}

void LinkSession::write_frame(const std::string& frame) { send(frame); }

// Every frame toward the gateway goes out here, under the bound on what may
// wait unsent (link_session.h).
bool LinkSession::send(const std::string& frame) {
    if (conn_.state() == Connection::State::Closed || conn_.closing()) return false;
    if (conn_.unsent() + frame.size() > max_unsent()) {
        log::warn("links: closing the link to gateway worker %08x at %s: it reads nothing, %zu bytes wait unsent "
                  "(limit %zu: max_unsent_bytes); it sends its events in flight to another business worker",
                  token_, peer().c_str(), conn_.unsent(), max_unsent());
        conn_.worker().count_limit(Limit::UnsentBytes);
        close_now();
        return false;
    }
    return conn_.write(frame.data(), frame.size(), nullptr, 0) && conn_.state() != Connection::State::Closed;
}

// ---- The ways a link ends ----

void LinkSession::on_deadline() {
    if (stage_ == Stage::Hello || stage_ == Stage::Proof)
        return refuse("no proof within " + std::to_string(kHandshakeMs) + " ms");
    if (stage_ == Stage::Linked && finishing_frame_) {
        log::warn("links: closing the link from gateway worker %08x at %s: a frame begun %d ms ago is not complete "
                  "(%zu bytes of it here; message_timeout)",
                  token_, peer().c_str(), conn_.group().message_timeout_ms, conn_.in().size());
        conn_.worker().count_limit(Limit::MessageTimeout);
        close_now();
    }
}

void LinkSession::on_drain() {
    if (stage_ == Stage::Hello || stage_ == Stage::Proof) {
        // Not a gateway's yet, and nothing of a drain's to finish: the drain
        // (and so a reload) never waits for a stranger.
        stage_ = Stage::Ended;
        conn_.close_now();
        return;
    }
    if (draining_said_ || stage_ != Stage::Linked) return;
    draining_said_ = true;
    out_.clear();
    link::write_draining(out_);
    send(out_);
}

void LinkSession::refuse(const std::string& why) {
    if (stage_ == Stage::Ended || conn_.state() == Connection::State::Closed) return;
    stage_ = Stage::Ended;
    business_.refused(peer(), why);
    close_now();
}

void LinkSession::close_now() {
    conn_.in().clear();  // what it sent is dropped with it
    conn_.close_now();
}

void LinkSession::on_closed() {
    // Closed before its proof, and not by a refusal of ours (the peer left,
    // or reset; or this worker stops): counted with the refusals, and said
    // (a gateway whose secret differs leaves so; so does a gateway worker
    // that stops as it links).
    if (stage_ == Stage::Hello || stage_ == Stage::Proof) {
        const bool challenged = stage_ == Stage::Proof;
        stage_ = Stage::Ended;
        business_.refused(peer(),
                          challenged ? "the connection closed after our challenge (a gateway whose link secret "
                                       "differs from ours closes it so)"
                                     : "the connection closed",
                          true);
    }
    business_.forget(*this);
}

int LinkSession::close_soon() {
    conn_.close_after_output(false);
    return 0;
}

}  // namespace smooth
