// gateway_link: see gateway_link.h.
#include "worker/gateway_link.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/random.h"
#include "protocol/handover.h"
#include "protocol/link.h"
#include "worker/gateway.h"

namespace smooth {

namespace {

constexpr size_t kReadChunk = 65536;
// After a read that filled kReadChunk, read again, this many times at most in
// one event: the clients' events wait no longer than that.
constexpr int kReadsPerEvent = 8;

}  // namespace

GatewayLink::GatewayLink(Gateway& gateway, EventLoop& loop, int slot, const ListenAddress& at, size_t max_frame,
                         const std::string& secret)
    : gateway_(gateway), loop_(loop), slot_(slot), at_(at), max_frame_(max_frame), secret_(secret) {}

GatewayLink::~GatewayLink() {
    loop_.undefer(*this);
    if (fd_ && loop_.watching(fd_.get())) loop_.forget(fd_.get());
}

std::string GatewayLink::describe() const {
    std::string s = "slot " + std::to_string(slot_);
    if (pid_) s += " (pid " + std::to_string(pid_) + ", " + version_ + ")";
    return s;
}

std::string GatewayLink::address() const { return at_.host + ":" + std::to_string(at_.port + slot_); }

std::string GatewayLink::connect(uint32_t token) {
    token_ = token;
    tokens_.assign(1, token);
    if (std::string err = random_bytes(link::kNonceBytes, nonce_); !err.empty()) return err;
    fd_.reset(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd_) return "socket() failed: " + errno_text(errno);
    int on = 1;
    setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  // events are small: no Nagle delay
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(uint16_t(at_.port + slot_));
    inet_pton(AF_INET, at_.host.c_str(), &sa.sin_addr);  // checked by the config reader
    int rc;
    do rc = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    while (rc == -1 && errno == EINTR);
    if (rc == -1 && errno != EINPROGRESS) return "connect() failed: " + errno_text(errno);
    // HELLO goes out first, whenever the connection is up.
    link::write_hello(frame_, nonce_);
    out_.append(frame_);
    frame_.clear();
    interest_ = EPOLLIN | EPOLLOUT;
    return loop_.watch(fd_.get(), interest_, [this](uint32_t events) { on_event(events); });
}

void GatewayLink::send_event(uint64_t seq, uint64_t client, uint8_t kind, std::string_view payload) {
    link::write_event(frame_, seq, client, kind, payload);
    out_.append(frame_);
    frame_.clear();
    in_flight_[seq] = client;
    loop_.defer(*this);  // with the pass's other events, in one write at its end
}

// ADOPT goes ahead of any event of those clients sent after it on this
// link: the business worker has heard it by the time it handles them.
void GatewayLink::speak_for(const std::vector<uint32_t>& tokens) {
    if (state_ != State::Ready) return;
    std::vector<uint32_t> more;
    for (uint32_t t : tokens)
        if (std::find(tokens_.begin(), tokens_.end(), t) == tokens_.end() &&
            std::find(more.begin(), more.end(), t) == more.end())
            more.push_back(t);
    for (size_t from = 0; from < more.size(); from += link::kMaxAdoptedTokens) {
        link::write_adopt(frame_, more.data() + from, std::min(link::kMaxAdoptedTokens, more.size() - from));
        out_.append(frame_);
        frame_.clear();
    }
    if (more.empty()) return;
    tokens_.insert(tokens_.end(), more.begin(), more.end());
    loop_.defer(*this);
}

void GatewayLink::close() {
    if (state_ == State::Closed) return;
    state_ = State::Closed;
    loop_.undefer(*this);
    if (fd_ && loop_.watching(fd_.get())) loop_.forget(fd_.get());
    fd_.reset();
}

void GatewayLink::on_event(uint32_t events) {
    if (state_ == State::Connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        on_connected();
        if (state_ == State::Closed) return;
    }
    if (events & EPOLLOUT) flush();
    if (state_ != State::Closed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable();
}

void GatewayLink::on_connected() {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) == -1) err = errno;
    if (err != 0) {
        gateway_.link_lost(*this, "connect() failed: " + errno_text(err));
        return;
    }
    state_ = State::Greeting;
}

void GatewayLink::on_readable() {
    for (int reads = 1; state_ != State::Closed; reads++) {
        in_.reserve(kReadChunk);
        const size_t room = in_.writable();
        ssize_t n;
        do n = ::read(fd_.get(), in_.write_ptr(), room);
        while (n == -1 && errno == EINTR);
        if (n == -1 && errno == EAGAIN) return;
        if (n <= 0) {
            gateway_.link_lost(*this,
                               n == 0 ? "the business worker closed the link" : "read() failed: " + errno_text(errno));
            return;
        }
        in_.commit(size_t(n));
        handle_frames();
        // The room was full: more is likely there, and it is this pass's.
        if (size_t(n) < room || reads == kReadsPerEvent) return;
    }
}

void GatewayLink::handle_frames() {
    while (state_ != State::Closed) {
        const size_t limit = state_ == State::Greeting ? link::kMaxHandshakeFrame : max_frame_;
        link::Result r = link::parse_link_frame(in_.readable(), limit);
        if (r.status == link::Parse::Incomplete) break;
        if (r.status == link::Parse::Error) {
            gateway_.link_lost(*this, std::string("a bad frame from the business worker: ") + r.error);
            return;
        }
        // The handlers may close this link (a KICK does not, a lost link does):
        // the frame's views stay valid until the bytes are consumed below.
        handle(in_.readable().substr(0, r.consumed));
        if (state_ == State::Closed) return;
        in_.consume(r.consumed);
    }
}

void GatewayLink::handle(std::string_view bytes) {
    const link::Frame f = link::parse_link_frame(bytes, bytes.size()).frame;
    // The handshake's frames, each in its one state; any other frame there
    // (or either of them later) ends the link.
    const bool expected = state_ == State::Greeting   ? f.type == link::Type::Challenge
                          : state_ == State::Proving ? f.type == link::Type::Welcome
                                                     : f.type != link::Type::Challenge && f.type != link::Type::Welcome;
    if (!expected) {
        gateway_.link_lost(*this, std::string("unexpected ") + link::type_name(f.type) + " from business" +
                                      (state_ == State::Greeting ? " before its proof" : ""));
        return;
    }
    switch (f.type) {
        case link::Type::Challenge: answer_challenge(f.nonce, f.proof); break;
        case link::Type::Welcome:
            pid_ = f.pid;
            generation_ = f.generation;
            version_ = std::string(f.payload);
            state_ = State::Ready;
            gateway_.link_ready(*this, f.count);
            break;
        case link::Type::Done: gateway_.link_done(*this, f.seq); break;
        case link::Type::Send: gateway_.deliver(f.client, f.binary, f.payload); break;
        case link::Type::SendMany:
            for (size_t i = 0; i < f.client_count(); i++) gateway_.deliver(f.client_at(i), f.binary, f.payload);
            break;
        case link::Type::Broadcast: gateway_.broadcast(*this, f.number, f.binary, f.payload); break;
        case link::Type::Kick: gateway_.kick(f.client, f.code); break;
        case link::Type::Draining: {
            // The business worker drains: from our DRAIN_ACK on, nothing more
            // goes to it. What it already has it answers (DONE) before it
            // closes, so no event is in the gap between it and its successor.
            state_ = State::Draining;
            link::write_drain_ack(frame_);
            out_.append(frame_);
            frame_.clear();
            flush();
            gateway_.link_draining(*this);
            break;
        }
        default: gateway_.link_lost(*this, std::string("unexpected ") + link::type_name(f.type) + " from business");
    }
}

// The business worker's CHALLENGE: its proof over our nonce and its own says
// it knows the secret; ours over both, and our token, answers it.
void GatewayLink::answer_challenge(std::string_view nonce, std::string_view proof) {
    if (!link::proof_holds(link::business_proof(secret_, nonce_, nonce), proof)) {
        gateway_.link_unproven(*this);
        return;
    }
    link::write_proof(frame_, token_, link::gateway_proof(secret_, nonce_, nonce, token_));
    out_.append(frame_);
    frame_.clear();
    nonce_.clear();
    state_ = State::Proving;
    flush();
}

void GatewayLink::flush() {
    if (state_ == State::Connecting || state_ == State::Closed || paused_) return;
    while (!out_.empty()) {
        ssize_t n = out_.write_to(fd_.get());
        if (n == -1 && errno == EAGAIN) break;
        if (n <= 0) {
            gateway_.link_lost(*this, "write() failed: " + errno_text(errno));
            return;
        }
    }
    update_interest();
}

void GatewayLink::update_interest() {
    uint32_t want = EPOLLIN | (out_.empty() ? 0u : uint32_t(EPOLLOUT));
    if (want == interest_ || state_ == State::Closed || paused_) return;
    if (loop_.change(fd_.get(), want).empty()) interest_ = want;
}

// ---- The hand-over (worker/handover.h) ----

void GatewayLink::pause() {
    if (paused_ || state_ == State::Closed) return;
    loop_.undefer(*this);  // the events gathered stay in out_: they move, unsent
    if (fd_ && loop_.watching(fd_.get())) {
        if (std::string err = loop_.unwatch(fd_.get()); !err.empty())
            log::error("gateway: pausing the link to business %s: %s", describe().c_str(), err.c_str());
    }
    paused_ = true;
}

void GatewayLink::export_state(handover::LinkState& out) const {
    out.slot = uint16_t(slot_);
    out.state = uint8_t(state_);
    out.pid = pid_;
    out.generation = generation_;
    out.version = version_;
    // Its proof's token first. A link handed over again and again could
    // have adopted more than a frame names: the first ones are kept, and
    // the successor ADOPTs again what it still needs (the business worker
    // ignores an ADOPT it has heard).
    out.tokens.assign(tokens_.begin(), tokens_.begin() + std::min(tokens_.size(), handover::kMaxTokens));
    out.in_flight.assign(in_flight_.begin(), in_flight_.end());
    out.input = std::string(in_.readable());
    out.output = std::string(out_.readable());
}

std::string GatewayLink::adopt(Fd fd, const handover::LinkState& in) {
    if (in.state != uint8_t(State::Ready) && in.state != uint8_t(State::Draining))
        return "a link in state " + std::to_string(in.state) + " does not move";
    if (in.tokens.empty()) return "a link that speaks for no token";
    fd_ = std::move(fd);
    state_ = State(in.state);
    pid_ = in.pid;
    generation_ = in.generation;
    version_ = in.version;
    token_ = in.tokens.front();
    tokens_ = in.tokens;
    in_flight_.clear();
    for (auto [seq, client] : in.in_flight) in_flight_[seq] = client;
    in_.append(in.input);
    out_.append(in.output);
    interest_ = 0;
    paused_ = true;
    return "";
}

void GatewayLink::resume() {
    if (!paused_ || state_ == State::Closed) return;
    paused_ = false;
    interest_ = EPOLLIN | (out_.empty() ? 0u : uint32_t(EPOLLOUT));
    if (std::string err = loop_.watch(fd_.get(), interest_, [this](uint32_t events) { on_event(events); });
        !err.empty()) {
        gateway_.link_lost(*this, "watching it again: " + err);
        return;
    }
    flush();  // what its predecessor had not written goes first
    if (state_ != State::Closed && !in_.empty()) handle_frames();  // then what it had read and not handled
}

}  // namespace smooth
