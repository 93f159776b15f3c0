// fuzz_link: parse_link_frame() on any bytes, under frame limits from none at
// all (every frame too large) to none (SIZE_MAX), reading frame after frame
// the way a gateway link does until one is not whole; and each frame read
// written back with its write_* function.
//
// Invariants (link.h):
//   - Incomplete: nothing consumed, and the frame is not all in: fewer than
//     the 5 header bytes, or fewer than the 4 + length its header declares
//     (a frame is judged only once it is whole);
//   - Error: nothing consumed, a reason; decided by the header alone when
//     the declared length is 0 or over the limit; the same Error (the same
//     reason) with bytes appended; a whole EVENT whose fields fit is an
//     Error only for its kind;
//   - Complete: consumed = 4 + the declared length, within the input and
//     the limit; a known type (an EVENT: a known kind, link.h); the payload and the client list lie in the
//     consumed bytes; the list holds whole 8-byte ids, as many as SEND_MANY
//     says, and client_at() reads each big-endian; a nonce or a proof (the
//     handshake's HELLO, CHALLENGE, PROOF) is exactly its size, in the frame,
//     and only those frames have one; the consumed bytes alone parse the
//     same frame; every strict prefix of them is Incomplete;
//   - what write_*() makes of a frame's fields is the same size, parses back
//     to the same fields, and is byte for byte the frame (but for a binary
//     flag other than 0 or 1, which reads as true and is written as 1);
//   - parsing the same bytes twice gives the same answer.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz.h"
#include "protocol/link.h"

using namespace smooth::link;
using fuzz::inside;
using fuzz::require;

namespace {

uint64_t big_endian(std::string_view bytes) {
    uint64_t v = 0;
    for (char c : bytes) v = v << 8 | static_cast<unsigned char>(c);
    return v;
}

bool known(Type t) {
    switch (t) {
        case Type::Hello:
        case Type::Event:
        case Type::DrainAck:
        case Type::Proof:
        case Type::Adopt:
        case Type::Challenge:
        case Type::Welcome:
        case Type::Done:
        case Type::Send:
        case Type::SendMany:
        case Type::Broadcast:
        case Type::Kick:
        case Type::Draining: return true;
    }
    return false;
}

bool same_frame(const Frame& a, const Frame& b) {
    return a.type == b.type && a.token == b.token && a.seq == b.seq && a.client == b.client && a.kind == b.kind &&
           a.binary == b.binary && a.code == b.code && a.pid == b.pid && a.slot == b.slot && a.count == b.count &&
           a.generation == b.generation && a.clients == b.clients && a.payload == b.payload && a.nonce == b.nonce &&
           a.proof == b.proof && a.number == b.number && a.tokens == b.tokens;
}

bool same_result(const Result& a, const Result& b) {
    return a.status == b.status && a.consumed == b.consumed && std::string_view(a.error) == b.error &&
           (a.status != Parse::Complete || same_frame(a.frame, b.frame));
}

// The frame written anew from its fields; `flag_at` is where its binary
// flag sits (0 when it has none), the one byte that may differ.
std::string rewrite(const Frame& f, size_t& flag_at) {
    std::string out;
    flag_at = 0;
    switch (f.type) {
        case Type::Hello: write_hello(out, f.nonce); break;
        case Type::Proof: write_proof(out, f.token, f.proof); break;
        case Type::Challenge: write_challenge(out, f.nonce, f.proof); break;
        case Type::Event: write_event(out, f.seq, f.client, f.kind, f.payload); break;
        case Type::DrainAck: write_drain_ack(out); break;
        case Type::Welcome: write_welcome(out, f.pid, f.slot, f.count, f.generation, f.payload); break;
        case Type::Done: write_done(out, f.seq); break;
        case Type::Send:
            write_send(out, f.client, f.binary, f.payload);
            flag_at = kHeaderBytes + 8;
            break;
        case Type::SendMany: {
            std::vector<uint64_t> ids(f.client_count());
            for (size_t i = 0; i < ids.size(); i++) ids[i] = f.client_at(i);
            write_send_many(out, ids.data(), ids.size(), f.binary, f.payload);
            flag_at = kHeaderBytes + 4 + 8 * ids.size();
            break;
        }
        case Type::Broadcast:
            write_broadcast(out, f.number, f.binary, f.payload);
            flag_at = kHeaderBytes + 8;
            break;
        case Type::Adopt: {
            std::vector<uint32_t> tokens(f.token_count());
            for (size_t i = 0; i < tokens.size(); i++) tokens[i] = f.token_at(i);
            write_adopt(out, tokens.data(), tokens.size());
            break;
        }
        case Type::Kick: write_kick(out, f.client, f.code); break;
        case Type::Draining: write_draining(out); break;
    }
    return out;
}

void check_frame(std::string_view in, size_t max) {
    const Result r = parse_link_frame(in, max);
    require(same_result(r, parse_link_frame(in, max)), "the same bytes parse the same twice");
    const uint64_t declared = in.size() >= 4 ? big_endian(in.substr(0, 4)) : 0;
    const bool header_in = in.size() >= kHeaderBytes;
    const bool refused_by_header = header_in && (declared == 0 || declared + 4 > max);

    if (r.status == Parse::Incomplete) {
        require(r.consumed == 0, "Incomplete consumes nothing");
        require(!refused_by_header, "a length of 0 or over the limit is an Error, not a wait");
        require(!header_in || in.size() < declared + 4, "Incomplete only while the declared frame is not all in");
        return;
    }
    if (r.status == Parse::Error) {
        require(r.consumed == 0 && r.error != nullptr && r.error[0] != '\0', "an Error consumes nothing, gives a reason");
        require(header_in && (refused_by_header || in.size() >= declared + 4),
                "an Error is decided by the header, or by a frame that is all in");
        std::string more(in);
        more.append("\0\0\0\x01\x03\0\0\0\x01\x16", 10);  // a DRAIN_ACK, a DRAINING
        const Result after = parse_link_frame(more, max);
        require(after.status == Parse::Error && std::string_view(after.error) == r.error,
                "an Error stays the same Error with bytes appended");
        if (!refused_by_header && Type(static_cast<unsigned char>(in[4])) == Type::Event && declared - 1 >= kEventFields)
            require(!known_event_kind(static_cast<unsigned char>(in[kHeaderBytes + 16])),
                    "a whole EVENT whose fields fit is an Error only for a kind the link does not define");
        return;
    }

    const Frame& f = r.frame;
    require(!refused_by_header && r.consumed == declared + 4 && r.consumed <= in.size() && r.consumed <= max,
            "a frame consumes 4 + its declared length, within the input and the limit");
    require(known(f.type) && static_cast<unsigned char>(in[4]) == static_cast<unsigned char>(f.type),
            "a frame's type is the known one its fifth byte names");
    if (f.type == Type::Event)
        require(known_event_kind(f.kind), "an EVENT's kind is one the link defines (link.h)");
    const std::string_view consumed = in.substr(0, r.consumed);
    require(inside(f.payload, consumed) && inside(f.clients, consumed) && inside(f.nonce, consumed) &&
                inside(f.proof, consumed) && inside(f.tokens, consumed),
            "payload, client list, tokens, nonce and proof lie in the frame");
    const bool has_nonce = f.type == Type::Hello || f.type == Type::Challenge;
    const bool has_proof = f.type == Type::Proof || f.type == Type::Challenge;
    require(f.nonce.size() == (has_nonce ? kNonceBytes : 0) && f.proof.size() == (has_proof ? kProofBytes : 0),
            "a nonce and a proof are exactly their size, in the handshake's frames only");
    if (has_nonce || has_proof)
        require(r.consumed <= kMaxHandshakeFrame, "a handshake frame fits kMaxHandshakeFrame");
    if (!f.payload.empty())
        require(f.payload.data() + f.payload.size() == consumed.data() + consumed.size(),
                "a payload runs to the frame's end");
    require(f.clients.size() % 8 == 0, "the client list holds whole 8-byte ids");
    if (f.type == Type::SendMany) {
        require(f.client_count() == big_endian(consumed.substr(kHeaderBytes, 4)), "SEND_MANY lists as many ids as it says");
        for (size_t i = 0; i < f.client_count(); i++)
            require(f.client_at(i) == big_endian(f.clients.substr(i * 8, 8)), "client_at() reads each id big-endian");
    } else {
        require(f.clients.empty(), "only SEND_MANY has a client list");
    }

    const fuzz::Exact copy(consumed);
    const Result again = parse_link_frame(copy.view(), max);
    require(again.status == Parse::Complete && again.consumed == r.consumed && same_frame(again.frame, f),
            "the consumed bytes alone parse the same frame");
    for (size_t k : fuzz::prefixes_of(in, r.consumed)) {
        const fuzz::Exact prefix(in.substr(0, k));
        require(parse_link_frame(prefix.view(), max).status == Parse::Incomplete,
                "every strict prefix of a Complete frame is Incomplete");
    }

    size_t flag_at = 0;
    const std::string written = rewrite(f, flag_at);
    require(written.size() == r.consumed, "write_*() of a frame's fields is the frame's size");
    const Result back = parse_link_frame(written, SIZE_MAX);
    require(back.status == Parse::Complete && back.consumed == written.size(), "what write_*() makes parses whole");
    Frame want = f;
    want.clients = back.frame.clients;  // views into another buffer; their bytes are compared below
    want.payload = back.frame.payload;
    want.nonce = back.frame.nonce;
    want.proof = back.frame.proof;
    require(same_frame(back.frame, want) && back.frame.clients == f.clients && back.frame.payload == f.payload &&
                back.frame.nonce == f.nonce && back.frame.proof == f.proof,
            "what write_*() makes parses back to the same fields");
    for (size_t i = 0; i < written.size(); i++) {
        if (written[i] == consumed[i]) continue;
        require(flag_at != 0 && i == flag_at && written[i] == 1 && static_cast<unsigned char>(consumed[i]) > 1,
                "write_*() gives back the frame byte for byte, but for a binary flag other than 0 or 1");
    }
}

// Frame after frame, as a link reads them, until one is not whole.
void check_stream(std::string_view in, size_t max) {
    while (true) {
        check_frame(in, max);
        const Result r = parse_link_frame(in, max);
        if (r.status != Parse::Complete) return;
        in.remove_prefix(r.consumed);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    for (size_t max : {size_t(0), kHeaderBytes, size_t(14), size_t(64), kMaxHandshakeFrame, max_frame_for(1 << 20), SIZE_MAX})
        check_stream(in, max);
    return 0;
}
