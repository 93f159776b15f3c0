// test_link: the gateway <-> business frames (protocol/link.h): every frame
// written and read back, cut at every split point; frames that lie about
// their length or carry an unknown type; every EVENT kind, the 8 there are
// and the 248 that end a link; the handshake's proofs, against
// HMAC-SHA-256 computed elsewhere (Python's hmac) and against every change
// that must change them.
#include "protocol/link.h"

#include "check.h"

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

using namespace smooth;
using namespace smooth::link;

namespace {

constexpr size_t kMax = 1 << 16;

struct Written {
    const char* name;
    std::function<void(std::string&)> write;
    std::function<void(const Frame&, const std::string&)> check;
};

const uint64_t kClients[] = {0x0102030405060708ull, 42, 0xffffffffffffffffull};
const uint32_t kTokens[] = {0x11223344, 1, 0xffffffff};

std::string run_of(int first, size_t n) {
    std::string s;
    for (size_t i = 0; i < n; i++) s += char(first + int(i));
    return s;
}
const std::string kNonceG = run_of(0, kNonceBytes);   // 00 01 .. 1f
const std::string kNonceB = run_of(32, kNonceBytes);  // 20 21 .. 3f
const std::string kProof = run_of(100, kProofBytes);

std::vector<Written> frames() {
    return {
        {"HELLO", [](std::string& s) { write_hello(s, kNonceG); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.type), int(Type::Hello), at);
             EXPECT_EQ_AT(f.nonce, std::string_view(kNonceG), at);
         }},
        {"CHALLENGE", [](std::string& s) { write_challenge(s, kNonceB, kProof); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.type), int(Type::Challenge), at);
             EXPECT_EQ_AT(f.nonce, std::string_view(kNonceB), at);
             EXPECT_EQ_AT(f.proof, std::string_view(kProof), at);
         }},
        {"PROOF", [](std::string& s) { write_proof(s, 0xdeadbeef, kProof); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.type), int(Type::Proof), at);
             EXPECT_EQ_AT(f.token, 0xdeadbeefu, at);
             EXPECT_EQ_AT(f.proof, std::string_view(kProof), at);
         }},
        {"EVENT", [](std::string& s) { write_event(s, 7, 0x1122334455667788ull, 5, "hello, gateway"); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.type), int(Type::Event), at);
             EXPECT_EQ_AT(f.seq, uint64_t(7), at);
             EXPECT_EQ_AT(f.client, 0x1122334455667788ull, at);
             EXPECT_EQ_AT(int(f.kind), 5, at);
             EXPECT_EQ_AT(f.payload, std::string_view("hello, gateway"), at);
         }},
        {"EVENT connect, no payload", [](std::string& s) { write_event(s, 1, 9, kConnect, ""); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.kind), int(kConnect), at);
             EXPECT_EQ_AT(f.payload.size(), size_t(0), at);
         }},
        {"DRAIN_ACK", [](std::string& s) { write_drain_ack(s); },
         [](const Frame& f, const std::string& at) { EXPECT_EQ_AT(int(f.type), int(Type::DrainAck), at); }},
        {"WELCOME", [](std::string& s) { write_welcome(s, 4242, 3, 4, 17, "chat 2"); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(f.pid, 4242u, at);
             EXPECT_EQ_AT(int(f.slot), 3, at);
             EXPECT_EQ_AT(int(f.count), 4, at);
             EXPECT_EQ_AT(f.generation, 17u, at);
             EXPECT_EQ_AT(f.payload, std::string_view("chat 2"), at);
         }},
        {"DONE", [](std::string& s) { write_done(s, 0x8000000000000001ull); },
         [](const Frame& f, const std::string& at) { EXPECT_EQ_AT(f.seq, 0x8000000000000001ull, at); }},
        {"SEND", [](std::string& s) { write_send(s, 99, true, std::string("\0\1\2", 3)); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(f.client, uint64_t(99), at);
             EXPECT_EQ_AT(f.binary, true, at);
             EXPECT_EQ_AT(f.payload, std::string_view("\0\1\2", 3), at);
         }},
        {"SEND_MANY", [](std::string& s) { write_send_many(s, kClients, 3, false, "to three"); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(f.client_count(), size_t(3), at);
             for (size_t i = 0; i < 3 && i < f.client_count(); i++) EXPECT_EQ_AT(f.client_at(i), kClients[i], at);
             EXPECT_EQ_AT(f.binary, false, at);
             EXPECT_EQ_AT(f.payload, std::string_view("to three"), at);
         }},
        {"BROADCAST", [](std::string& s) { write_broadcast(s, 0x0102030405060708ull, false, "everyone"); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(f.number, 0x0102030405060708ull, at);
             EXPECT_EQ_AT(f.binary, false, at);
             EXPECT_EQ_AT(f.payload, std::string_view("everyone"), at);
         }},
        {"ADOPT", [](std::string& s) { write_adopt(s, kTokens, 3); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.type), int(Type::Adopt), at);
             EXPECT_EQ_AT(f.token_count(), size_t(3), at);
             for (size_t i = 0; i < 3 && i < f.token_count(); i++) EXPECT_EQ_AT(f.token_at(i), kTokens[i], at);
         }},
        {"KICK", [](std::string& s) { write_kick(s, 5, 1013); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(f.client, uint64_t(5), at);
             EXPECT_EQ_AT(int(f.code), 1013, at);
         }},
        {"DRAINING", [](std::string& s) { write_draining(s); },
         [](const Frame& f, const std::string& at) { EXPECT_EQ_AT(int(f.type), int(Type::Draining), at); }},
    };
}

void test_round_trip_at_every_split() {
    for (const Written& w : frames()) {
        std::string bytes;
        w.write(bytes);
        std::string two = bytes + bytes;  // two in a row: the first is consumed exactly
        for (size_t cut = 0; cut <= bytes.size(); cut++) {
            std::string at = std::string(w.name) + " cut at " + std::to_string(cut);
            Result r = parse_link_frame(std::string_view(bytes).substr(0, cut), kMax);
            if (cut < bytes.size()) {
                EXPECT_EQ_AT(int(r.status), int(Parse::Incomplete), at);
                continue;
            }
            EXPECT_EQ_AT(int(r.status), int(Parse::Complete), at);
            EXPECT_EQ_AT(r.consumed, bytes.size(), at);
            w.check(r.frame, at);
        }
        Result first = parse_link_frame(two, kMax);
        EXPECT_EQ_AT(first.consumed, bytes.size(), w.name);
        Result second = parse_link_frame(std::string_view(two).substr(first.consumed), kMax);
        EXPECT_EQ_AT(int(second.status), int(Parse::Complete), w.name);
    }
}

std::string raw(uint32_t length, uint8_t type, std::string fields) {
    std::string s;
    for (int i = 3; i >= 0; i--) s += char(length >> (8 * i));
    s += char(type);
    return s + fields;
}

void test_bad_frames() {
    struct Bad {
        const char* name;
        std::string bytes;
    };
    const Bad bad[] = {
        {"empty", raw(0, 0, "")},
        {"unknown type", raw(1, 99, "")},
        {"HELLO too short", raw(3, 1, "ab")},
        {"HELLO with a token (the link before the handshake)", raw(5, 1, "abcd")},
        {"HELLO too long", raw(1 + 33, 1, std::string(33, 'n'))},
        {"PROOF without its token", raw(1 + 32, 4, std::string(32, 'p'))},
        {"PROOF too long", raw(1 + 37, 4, std::string(37, 'p'))},
        {"CHALLENGE without its proof", raw(1 + 32, 23, std::string(32, 'n'))},
        {"CHALLENGE too long", raw(1 + 65, 23, std::string(65, 'n'))},
        {"DONE short", raw(5, 17, "abcd")},
        {"SEND_MANY count over the frame", raw(10, 19, std::string("\0\0\0\x09", 4) + "abcde")},
        {"DRAINING with bytes", raw(2, 22, "x")},
        {"over the limit", raw(1 << 20, 18, "")},  // refused from the length alone
    };
    for (const Bad& b : bad) {
        Result r = parse_link_frame(b.bytes, kMax);
        EXPECT_EQ_AT(int(r.status), int(Parse::Error), b.name);
        EXPECT_EQ_AT(std::string(r.error).empty(), false, b.name);
    }
}

// Every EVENT kind there is: a message's smooth_protocol value (1 to 6),
// CONNECT and CLOSE parse; any other kind is an Error, as soon as the frame
// is whole and not before (a kind the module cannot be handed ends the link).
void test_event_kinds() {
    const std::vector<int> known = {1, 2, 3, 4, 5, 6, 100, 101};
    for (int kind = 0; kind <= 255; kind++) {
        const bool valid = std::find(known.begin(), known.end(), kind) != known.end();
        const std::string at = "kind " + std::to_string(kind);
        std::string bytes;
        write_event(bytes, 7, 0x1122334455667788ull, uint8_t(kind), "payload");
        Result r = parse_link_frame(bytes, kMax);
        EXPECT_EQ_AT(int(r.status), int(valid ? Parse::Complete : Parse::Error), at);
        EXPECT_EQ_AT(known_event_kind(uint8_t(kind)), valid, at);
        if (valid) {
            EXPECT_EQ_AT(int(r.frame.kind), kind, at);
            EXPECT_EQ_AT(r.consumed, bytes.size(), at);
        } else {
            EXPECT_EQ_AT(std::string(r.error).find("unknown EVENT kind"), size_t(0), at);
            EXPECT_EQ_AT(r.consumed, size_t(0), at);
        }
        Result cut = parse_link_frame(std::string_view(bytes).substr(0, bytes.size() - 1), kMax);
        EXPECT_EQ_AT(int(cut.status), int(Parse::Incomplete), at + ", the last byte still to come");
    }
    // With no payload, and with the kind the frame's last byte.
    std::string bare;
    write_event(bare, 1, 2, 255, "");
    EXPECT_EQ(int(parse_link_frame(bare, kMax).status), int(Parse::Error));
    bare.clear();
    write_event(bare, 1, 2, kClose, "");
    EXPECT_EQ(int(parse_link_frame(bare, kMax).status), int(Parse::Complete));
}

// Before the proof a peer's frames are read with kMaxHandshakeFrame as the
// limit: every handshake frame fits, and a length beyond it is refused from
// the header alone (nothing is waited for, nothing buffered).
void test_handshake_limit() {
    std::string hello, challenge, proof;
    write_hello(hello, kNonceG);
    write_challenge(challenge, kNonceB, kProof);
    write_proof(proof, 1, kProof);
    for (const std::string* f : {&hello, &challenge, &proof}) {
        Result r = parse_link_frame(*f, kMaxHandshakeFrame);
        EXPECT_EQ_AT(int(r.status), int(Parse::Complete), type_name(r.frame.type));
    }
    EXPECT_EQ(challenge.size(), kMaxHandshakeFrame);
    std::string event;
    write_event(event, 1, 2, 5, std::string(100, 'x'));
    Result r = parse_link_frame(std::string_view(event).substr(0, kHeaderBytes), kMaxHandshakeFrame);
    EXPECT_EQ(int(r.status), int(Parse::Error));
}

std::string hex(std::string_view bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (char c : bytes) {
        out += digits[static_cast<unsigned char>(c) >> 4];
        out += digits[static_cast<unsigned char>(c) & 15];
    }
    return out;
}

void test_proofs() {
    const std::string secret = "0123456789abcdef0123456789abcdef";
    // Known answers, from Python: hmac.new(K, b"smooth link 1 business" + Ng + Nb, "sha256")
    // and hmac.new(K, b"smooth link 1 gateway" + Ng + Nb + struct.pack("!I", token), "sha256").
    const std::string b = business_proof(secret, kNonceG, kNonceB);
    const std::string g = gateway_proof(secret, kNonceG, kNonceB, 0xdeadbeef);
    EXPECT_EQ(hex(b), std::string("a6fb77730a1b7cb5d5cbb4fe9d8786338d47ea56e1c590530b275e77c7b8e5a7"));
    EXPECT_EQ(hex(g), std::string("2ede65ad00a1e7fdc0a51230cc25386682103f4ce0588ce25cc0a883960cf07f"));
    EXPECT_EQ(b.size(), kProofBytes);
    EXPECT(proof_holds(b, b));
    EXPECT(!proof_holds(b, g));  // the sides' proofs differ over the same nonces: no reflection

    // Whatever changes, the proof changes: the secret, either nonce (a
    // replayed handshake meets a new nonce), the order of the nonces, the token.
    std::string other_secret = secret;
    other_secret[5] ^= 1;
    std::string ng2 = kNonceG, nb2 = kNonceB;
    ng2[31] ^= 1;
    nb2[0] ^= 0x80;
    EXPECT(!proof_holds(b, business_proof(other_secret, kNonceG, kNonceB)));
    EXPECT(!proof_holds(b, business_proof(secret, ng2, kNonceB)));
    EXPECT(!proof_holds(b, business_proof(secret, kNonceG, nb2)));
    EXPECT(!proof_holds(b, business_proof(secret, kNonceB, kNonceG)));
    EXPECT(!proof_holds(g, gateway_proof(other_secret, kNonceG, kNonceB, 0xdeadbeef)));
    EXPECT(!proof_holds(g, gateway_proof(secret, ng2, kNonceB, 0xdeadbeef)));
    EXPECT(!proof_holds(g, gateway_proof(secret, kNonceG, nb2, 0xdeadbeef)));
    EXPECT(!proof_holds(g, gateway_proof(secret, kNonceG, kNonceB, 0xdeadbeee)));
    // A proof of another length, or none, never holds.
    EXPECT(!proof_holds(b, std::string_view(b).substr(0, 31)));
    EXPECT(!proof_holds(b, ""));
    EXPECT(!proof_holds("", ""));
}

}  // namespace

int main() {
    test_round_trip_at_every_split();
    test_bad_frames();
    test_event_kinds();
    test_handshake_limit();
    test_proofs();
    return check::summary("link");
}
