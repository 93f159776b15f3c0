// link: see link.h for the frames.
#include "protocol/link.h"

#include "protocol/sha256.h"
#include "protocol/wire_ints.h"
#include "smooth/module.h"

namespace smooth::link {

// The business worker hands a message's kind to its module as a
// smooth_protocol: a protocol added there must be one the link lets through.
static_assert(kFirstProtocol == SMOOTH_HTTP && kLastProtocol == SMOOTH_WS_BINARY,
              "the EVENT kinds of a message are smooth_protocol's values (link.h)");

namespace {

using wire::put;
using wire::Reader;

// Starts a frame of `fields` bytes after the type; the caller appends them.
void begin(std::string& out, Type type, size_t fields) {
    put(out, 1 + fields, 4);
    out += char(type);
}

}  // namespace

uint64_t Frame::client_at(size_t i) const {
    Reader r{clients.substr(i * 8, 8)};
    return r.u64();
}

uint32_t Frame::token_at(size_t i) const {
    Reader r{tokens.substr(i * 4, 4)};
    return r.u32();
}

Result parse_link_frame(std::string_view in, size_t max_frame_bytes) {
    Result out;
    if (in.size() < kHeaderBytes) return out;  // Incomplete
    Reader head{in};
    const uint64_t length = head.u32();  // of the type and the fields
    if (length < 1 || length + 4 > max_frame_bytes) {
        out.status = Parse::Error;
        out.error = length < 1 ? "empty link frame" : "link frame larger than the limit";
        return out;
    }
    if (in.size() < length + 4) return out;  // Incomplete: judged from the header alone
    Reader r{in.substr(kHeaderBytes, length - 1)};
    Frame& f = out.frame;
    f.type = Type(static_cast<unsigned char>(in[4]));
    switch (f.type) {
        case Type::Hello: f.nonce = r.bytes(kNonceBytes); break;
        case Type::Proof:
            f.token = r.u32();
            f.proof = r.bytes(kProofBytes);
            break;
        case Type::Challenge:
            f.nonce = r.bytes(kNonceBytes);
            f.proof = r.bytes(kProofBytes);
            break;
        case Type::Event:
            f.seq = r.u64();
            f.client = r.u64();
            f.kind = r.u8();
            f.payload = r.rest;
            if (r.ok && !known_event_kind(f.kind)) {
                out.status = Parse::Error;
                out.error = "unknown EVENT kind (a message's 1 to 6, CONNECT 100 or CLOSE 101 expected)";
                return out;
            }
            break;
        case Type::DrainAck:
        case Type::Draining: break;
        case Type::Welcome:
            f.pid = r.u32();
            f.slot = r.u16();
            f.count = r.u16();
            f.generation = r.u32();
            f.payload = r.rest;
            break;
        case Type::Done: f.seq = r.u64(); break;
        case Type::Send:
            f.client = r.u64();
            f.binary = r.u8() != 0;
            f.payload = r.rest;
            break;
        case Type::SendMany: {
            const uint32_t n = r.u32();
            if (r.ok && r.rest.size() / 8 < n) r.ok = false;
            if (r.ok) {
                f.clients = r.rest.substr(0, size_t(n) * 8);
                r.rest.remove_prefix(size_t(n) * 8);
            }
            f.binary = r.u8() != 0;
            f.payload = r.rest;
            break;
        }
        case Type::Broadcast:
            f.number = r.u64();
            f.binary = r.u8() != 0;
            f.payload = r.rest;
            break;
        case Type::Adopt: {
            const uint16_t n = r.u16();
            if (n == 0 || n > kMaxAdoptedTokens || r.rest.size() != size_t(n) * 4) r.ok = false;
            if (r.ok) {
                f.tokens = r.rest;
                r.rest = {};
            }
            break;
        }
        case Type::Kick:
            f.client = r.u64();
            f.code = r.u16();
            break;
        default:
            out.status = Parse::Error;
            out.error = "unknown link frame type";
            return out;
    }
    const bool has_payload = f.type == Type::Event || f.type == Type::Welcome || f.type == Type::Send ||
                             f.type == Type::SendMany || f.type == Type::Broadcast;
    if (!r.ok || (!has_payload && !r.rest.empty())) {
        out.status = Parse::Error;
        out.error = "link frame fields do not fit its length";
        return out;
    }
    out.status = Parse::Complete;
    out.consumed = size_t(length) + 4;
    return out;
}

void write_hello(std::string& out, std::string_view nonce) {
    begin(out, Type::Hello, nonce.size());
    out += nonce;
}

void write_proof(std::string& out, uint32_t token, std::string_view proof) {
    begin(out, Type::Proof, 4 + proof.size());
    put(out, token, 4);
    out += proof;
}

void write_challenge(std::string& out, std::string_view nonce, std::string_view proof) {
    begin(out, Type::Challenge, nonce.size() + proof.size());
    out += nonce;
    out += proof;
}

void write_event(std::string& out, uint64_t seq, uint64_t client, uint8_t kind, std::string_view payload) {
    begin(out, Type::Event, kEventFields + payload.size());
    put(out, seq, 8);
    put(out, client, 8);
    put(out, kind, 1);
    out += payload;
}

void write_drain_ack(std::string& out) { begin(out, Type::DrainAck, 0); }

void write_welcome(std::string& out, uint32_t pid, uint16_t slot, uint16_t count, uint32_t generation,
                   std::string_view version) {
    begin(out, Type::Welcome, 12 + version.size());
    put(out, pid, 4);
    put(out, slot, 2);
    put(out, count, 2);
    put(out, generation, 4);
    out += version;
}

void write_done(std::string& out, uint64_t seq) {
    begin(out, Type::Done, 8);
    put(out, seq, 8);
}

void write_send(std::string& out, uint64_t client, bool binary, std::string_view payload) {
    begin(out, Type::Send, 9 + payload.size());
    put(out, client, 8);
    put(out, binary, 1);
    out += payload;
}

void write_send_many(std::string& out, const uint64_t* clients, size_t n, bool binary, std::string_view payload) {
    begin(out, Type::SendMany, 4 + n * 8 + 1 + payload.size());
    put(out, n, 4);
    for (size_t i = 0; i < n; i++) put(out, clients[i], 8);
    put(out, binary, 1);
    out += payload;
}

void write_broadcast(std::string& out, uint64_t number, bool binary, std::string_view payload) {
    begin(out, Type::Broadcast, 9 + payload.size());
    put(out, number, 8);
    put(out, binary, 1);
    out += payload;
}

void write_adopt(std::string& out, const uint32_t* tokens, size_t n) {
    begin(out, Type::Adopt, 2 + n * 4);
    put(out, n, 2);
    for (size_t i = 0; i < n; i++) put(out, tokens[i], 4);
}

void write_kick(std::string& out, uint64_t client, uint16_t code) {
    begin(out, Type::Kick, 10);
    put(out, client, 8);
    put(out, code, 2);
}

void write_draining(std::string& out) { begin(out, Type::Draining, 0); }

const char* type_name(Type t) {
    switch (t) {
        case Type::Hello: return "HELLO";
        case Type::Event: return "EVENT";
        case Type::DrainAck: return "DRAIN_ACK";
        case Type::Proof: return "PROOF";
        case Type::Adopt: return "ADOPT";
        case Type::Challenge: return "CHALLENGE";
        case Type::Welcome: return "WELCOME";
        case Type::Done: return "DONE";
        case Type::Send: return "SEND";
        case Type::SendMany: return "SEND_MANY";
        case Type::Broadcast: return "BROADCAST";
        case Type::Kick: return "KICK";
        case Type::Draining: return "DRAINING";
    }
    return "?";
}

namespace {

// The labels make the two proofs differ even over the same nonces: a business
// worker's proof is never a gateway's. "1": the handshake's version.
constexpr std::string_view kBusinessLabel = "smooth link 1 business";
constexpr std::string_view kGatewayLabel = "smooth link 1 gateway";

}  // namespace

std::string business_proof(std::string_view secret, std::string_view gateway_nonce, std::string_view business_nonce) {
    return std::string(view(hmac_sha256(secret, {kBusinessLabel, gateway_nonce, business_nonce})));
}

std::string gateway_proof(std::string_view secret, std::string_view gateway_nonce, std::string_view business_nonce,
                          uint32_t token) {
    std::string token_bytes;
    put(token_bytes, token, 4);
    return std::string(view(hmac_sha256(secret, {kGatewayLabel, gateway_nonce, business_nonce, token_bytes})));
}

bool proof_holds(std::string_view expected, std::string_view received) {
    return expected.size() == kProofBytes && equal_in_constant_time(expected, received);
}

}  // namespace smooth::link
