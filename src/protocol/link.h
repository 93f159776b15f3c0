// link: what a gateway worker and a business worker say to each other over
// TCP (the gateway pattern, worker/gateway.h and worker/business.h).
//
// A frame is [ 4-byte big-endian length of the rest ][ 1-byte type ][ fields ],
// integers big-endian, a payload running to the frame's end:
//
//   gateway -> business
//     HELLO      nonce:32                        a gateway worker's challenge: fresh
//                                                random bytes, never used again
//     PROOF      token:u32 proof:32              gateway_proof(): it knows the secret;
//                                                token: who this gateway worker is
//     EVENT      seq:u64 client:u64 kind:u8 payload
//                                                a client connected (kind CONNECT),
//                                                sent a message (a smooth_protocol
//                                                value), or closed (kind CLOSE):
//                                                the kinds below; no other
//     DRAIN_ACK                                  after DRAINING: nothing more will come
//     ADOPT      n:u16 token:u32 × n             this link speaks for these gateway tokens
//                                                too: clients a gateway worker took over
//                                                from its predecessor (worker/handover.h)
//   business -> gateway
//     CHALLENGE  nonce:32 proof:32               the business worker's own fresh nonce,
//                                                and business_proof(): it knows the secret
//     WELCOME    pid:u32 slot:u16 count:u16 generation:u32 version
//                                                the gateway's PROOF holds; count: the
//                                                business group's size now
//     DONE       seq:u64                         that event was handled
//     SEND       client:u64 binary:u8 payload    to one client
//     SEND_MANY  n:u32 client:u64 × n binary:u8 payload
//     BROADCAST  number:u64 binary:u8 payload    to every client of the gateway worker;
//                                                number counts this business worker's
//                                                broadcasts, so a gateway worker that hears
//                                                one on two links (its own and one it took
//                                                over) delivers it once
//     KICK       client:u64 code:u16             close that client
//     DRAINING                                   this worker drains: send nothing new
//
// The handshake, before any other frame either way (docs/links.md):
//
//   gateway                                        business
//     HELLO  Ng                          ──►
//                                        ◄──       CHALLENGE  Nb, HMAC(K, "business" Ng Nb)
//     checks it: a business that knows K
//     PROOF  token, HMAC(K, "gateway" Ng Nb token) ──►
//                                                  checks it: a gateway that knows K
//                                        ◄──       WELCOME ...   then events flow
//
// K is the link secret both instances read from their link_secret_file (or
// the instance's own run_dir/link.secret). Each proof covers both nonces, so
// a recorded handshake is worth nothing on the next link (the other side's
// nonce is new), and names the side that made it, so a proof cannot be sent
// back to the side that asked for it. The secret itself never crosses.
// Authenticated, not encrypted: what follows the handshake is in the clear.
//
// No I/O, like the other parsers: parse_link_frame() looks at the bytes
// received so far; the write_* functions append a whole frame to a string;
// the *_proof functions compute the HMACs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace smooth::link {

enum class Type : uint8_t {
    Hello = 1,
    Event = 2,
    DrainAck = 3,
    Proof = 4,
    Adopt = 5,
    Welcome = 16,
    Done = 17,
    Send = 18,
    SendMany = 19,
    Broadcast = 20,
    Kick = 21,
    Draining = 22,
    Challenge = 23,
};

// An EVENT's kind says what happened to its client:
//
//   1 to 6   a message, of the protocol it arrived in: its smooth_protocol
//            value (SMOOTH_HTTP 1 ... SMOOTH_WS_BINARY 6, include/smooth/module.h),
//            which the business worker hands its module as that type
//   100      CONNECT: the client connected
//   101      CLOSE: the client closed
//
// Any other kind is an Error in parse_link_frame(), like fields that do not
// fit: handed on, it would be a smooth_protocol value that does not exist,
// and a module's switch over one reads it as undefined behaviour. So an EVENT
// of another kind ends the link like any malformed frame.
inline constexpr uint8_t kFirstProtocol = 1;  // SMOOTH_HTTP
inline constexpr uint8_t kLastProtocol = 6;   // SMOOTH_WS_BINARY
inline constexpr uint8_t kConnect = 100;
inline constexpr uint8_t kClose = 101;
constexpr bool known_event_kind(uint8_t kind) {
    return (kind >= kFirstProtocol && kind <= kLastProtocol) || kind == kConnect || kind == kClose;
}

inline constexpr size_t kHeaderBytes = 5;  // length + type
// The handshake's random nonces and its HMAC-SHA-256 proofs.
inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kProofBytes = 32;
// The largest handshake frame (CHALLENGE). Until a link has proven itself,
// its peer's frames are parsed with this as the limit: a stranger's length
// field cannot make either side wait for (or buffer) more than this.
inline constexpr size_t kMaxHandshakeFrame = kHeaderBytes + kNonceBytes + kProofBytes;
// Fixed fields before an EVENT's payload, for sizing limits: seq, client, kind.
inline constexpr size_t kEventFields = 8 + 8 + 1;

// The largest frame either end accepts for a group whose messages may be up to
// max_message_bytes: room for the message plus its fields (or a SEND_MANY's
// list of clients) on top.
inline constexpr size_t kFieldsRoom = 65536;
inline constexpr size_t max_frame_for(size_t max_message_bytes) { return max_message_bytes + kFieldsRoom; }
// So a SEND_MANY names at most this many clients (its count, ids and flag in
// that room); a longer list goes out as several frames.
inline constexpr size_t kMaxClientsPerFrame = (kFieldsRoom - kHeaderBytes - 4 - 1) / 8;

struct Frame {
    Type type = Type::Hello;
    uint32_t token = 0;        // PROOF
    uint64_t seq = 0;          // EVENT, DONE
    uint64_t client = 0;       // EVENT, SEND, KICK
    uint8_t kind = 0;          // EVENT
    bool binary = false;       // SEND, SEND_MANY, BROADCAST
    uint16_t code = 0;         // KICK
    uint32_t pid = 0;          // WELCOME
    uint16_t slot = 0;         // WELCOME
    uint16_t count = 0;        // WELCOME
    uint32_t generation = 0;   // WELCOME
    std::string_view clients;  // SEND_MANY: n × 8 bytes, read with client_at()
    std::string_view payload;  // EVENT, SEND*, BROADCAST; WELCOME: the version
    uint64_t number = 0;       // BROADCAST
    std::string_view tokens;   // ADOPT: n × 4 bytes, read with token_at()
    std::string_view nonce;    // HELLO, CHALLENGE: kNonceBytes
    std::string_view proof;    // PROOF, CHALLENGE: kProofBytes
    size_t client_count() const { return clients.size() / 8; }
    uint64_t client_at(size_t i) const;
    size_t token_count() const { return tokens.size() / 4; }
    uint32_t token_at(size_t i) const;
};

enum class Parse { Complete, Incomplete, Error };

struct Result {
    Parse status = Parse::Incomplete;
    Frame frame;              // Complete: its fields; views point into the input
    size_t consumed = 0;      // Complete: the frame's bytes
    const char* error = "";   // Error: why (an unknown type or EVENT kind, fields that do not fit...)
};

// One frame from the start of `in`. A frame longer than max_frame_bytes is an
// Error as soon as its length is read.
Result parse_link_frame(std::string_view in, size_t max_frame_bytes);

void write_hello(std::string& out, std::string_view nonce);
void write_proof(std::string& out, uint32_t token, std::string_view proof);
void write_challenge(std::string& out, std::string_view nonce, std::string_view proof);
void write_event(std::string& out, uint64_t seq, uint64_t client, uint8_t kind, std::string_view payload);
void write_drain_ack(std::string& out);
void write_welcome(std::string& out, uint32_t pid, uint16_t slot, uint16_t count, uint32_t generation,
                   std::string_view version);
void write_done(std::string& out, uint64_t seq);
void write_send(std::string& out, uint64_t client, bool binary, std::string_view payload);
void write_send_many(std::string& out, const uint64_t* clients, size_t n, bool binary, std::string_view payload);
void write_broadcast(std::string& out, uint64_t number, bool binary, std::string_view payload);
// At most kMaxAdoptedTokens tokens (an ADOPT with more, or none, is an Error).
inline constexpr size_t kMaxAdoptedTokens = 255;
void write_adopt(std::string& out, const uint32_t* tokens, size_t n);
void write_kick(std::string& out, uint64_t client, uint16_t code);
void write_draining(std::string& out);

const char* type_name(Type t);

// The two proofs of the handshake: HMAC-SHA-256 under the link secret of a
// label naming the side that proves, then both nonces (the gateway's first),
// then, for the gateway, its token. Each is kProofBytes long.
std::string business_proof(std::string_view secret, std::string_view gateway_nonce, std::string_view business_nonce);
std::string gateway_proof(std::string_view secret, std::string_view gateway_nonce, std::string_view business_nonce,
                          uint32_t token);
// Whether a proof received is the one expected, in constant time.
bool proof_holds(std::string_view expected, std::string_view received);

}  // namespace smooth::link
