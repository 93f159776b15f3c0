// Unit tests for the WebSocket handshake and wire format: the RFC 6455 §1.3
// handshake and a table of refusals (400/426), the answers byte for byte; the
// §5.7 frame examples fed whole and cut at every byte (Incomplete before the
// end, the same frame at the end); every frame error, decided at the byte
// that shows it; unmasking in pieces; the frames a server writes.
// The assembly of frames into messages is in test_websocket_message.cpp.
#include "check.h"
#include "protocol/http_parser.h"
#include "protocol/websocket.h"
#include "protocol/websocket_handshake.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

// Every heap allocation in this program is counted, so a test can say
// "checking a handshake allocated nothing".
static size_t g_allocations = 0;
void* operator new(size_t n) {
    ++g_allocations;
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

using namespace smooth;
using namespace smooth::ws;
using namespace std::string_literals;  // "..."s keeps an embedded NUL

namespace {

std::string at(const std::string& name, size_t k) { return name + ", first " + std::to_string(k) + " bytes"; }

// ---- handshake ------------------------------------------------------------

// RFC 6455 §1.3, the client's opening handshake.
const std::string kRfcRequest =
    "GET /chat HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";
const std::string kRfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

// The RFC request (or `base`) with one piece of text replaced: each row says
// what changed.
std::string edit(const std::string& from, const std::string& to, std::string s = kRfcRequest) {
    const size_t i = s.find(from);
    if (i == std::string::npos) std::abort();  // a typo in the table, not a test result
    return s.replace(i, from.size(), to);
}

struct HandshakeRow {
    const char* name;
    std::string request;
    int status;
};

const std::vector<HandshakeRow> kHandshakes = {
    {"RFC 6455 §1.3", kRfcRequest, 101},
    {"Upgrade in another case", edit("Upgrade: websocket", "Upgrade: WebSocket"), 101},
    {"Upgrade list", edit("Upgrade: websocket", "Upgrade: h2c, websocket"), 101},
    {"Connection list (Firefox)", edit("Connection: Upgrade", "Connection: keep-alive, Upgrade"), 101},
    {"Connection over two lines", edit("Connection: Upgrade", "Connection: keep-alive\r\nconnection: upgrade"), 101},
    {"header names in any case", edit("Sec-WebSocket-Key", "sec-websocket-key"), 101},
    {"no Origin, no subprotocol", edit("Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n", ""), 101},
    // 400: not a WebSocket handshake, or a malformed one
    {"POST", edit("GET /chat", "POST /chat"), 400},
    {"method is case-sensitive", edit("GET /chat", "get /chat"), 400},
    {"HTTP/1.0", edit("HTTP/1.1", "HTTP/1.0"), 400},
    {"no Host", edit("Host: server.example.com\r\n", ""), 400},
    {"no Upgrade", edit("Upgrade: websocket\r\n", ""), 400},
    {"Upgrade: h2c", edit("Upgrade: websocket", "Upgrade: h2c"), 400},
    {"Upgrade: websocketx", edit("Upgrade: websocket", "Upgrade: websocketx"), 400},
    {"no Connection", edit("Connection: Upgrade\r\n", ""), 400},
    {"Connection: keep-alive", edit("Connection: Upgrade", "Connection: keep-alive"), 400},
    {"Connection: Upgraded", edit("Connection: Upgrade", "Connection: Upgraded"), 400},
    {"no key", edit("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""), 400},
    {"key of 15 bytes", edit("dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAA"), 400},
    {"key of 17 bytes", edit("dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAAA="), 400},
    {"key without padding", edit("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ"), 400},
    {"key with a bad character", edit("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZ!=="), 400},
    {"key with leftover bits", edit("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZR=="), 400},
    {"key twice", edit("Origin:", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin:"), 400},
    {"version twice", edit("Origin:", "Sec-WebSocket-Version: 13\r\nOrigin:"), 400},
    // 426: a WebSocket handshake of another version
    {"no version", edit("Sec-WebSocket-Version: 13\r\n", ""), 426},
    {"version 8", edit("Version: 13", "Version: 8"), 426},
    {"version list", edit("Version: 13", "Version: 13, 8"), 426},
    {"empty version", edit("Version: 13", "Version:"), 426},
    {"version looked at before the key", edit("dGhlIHNhbXBsZSBub25jZQ==", "!!!!", edit("Version: 13", "Version: 12")), 426},
};

void test_handshakes() {
    for (const HandshakeRow& row : kHandshakes) {
        http::Request r;
        const http::Result parsed = http::parse_head(row.request, http::Limits{}, r);
        if (parsed.status == http::Parse::Error) {  // the HTTP parser refuses it first (no Host in HTTP/1.1)
            EXPECT_EQ_AT(parsed.error_status, row.status, row.name);
            continue;
        }
        EXPECT_EQ_AT(parsed.status, http::Parse::Complete, row.name);
        const Handshake h = check_handshake(r);
        EXPECT_EQ_AT(h.status, row.status, row.name);
        if (row.status == 101) {
            EXPECT_EQ_AT(std::string(h.accept), kRfcAccept, row.name);
        } else {
            EXPECT_EQ_AT(std::string_view(h.error).empty(), false, row.name);  // the log says why
        }
    }
}

void test_handshake_answers() {
    http::Request r;
    http::parse_head(kRfcRequest, http::Limits{}, r);
    char out[kMaxHandshakeResponse];

    // Checking and answering allocate nothing.
    const size_t before = g_allocations;
    const Handshake ok = check_handshake(r);
    const size_t n = format_handshake_response(ok, out);
    EXPECT_EQ(g_allocations - before, size_t(0));
    EXPECT_EQ(std::string(out, n),
              "HTTP/1.1 101 Switching Protocols\r\n"
              "Server: smooth\r\n"
              "Upgrade: websocket\r\n"
              "Connection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");

    char accept[kAcceptLength];
    compute_accept("dGhlIHNhbXBsZSBub25jZQ==", accept);
    EXPECT_EQ(std::string(accept, kAcceptLength), kRfcAccept);

    // 426 carries the version we speak (§4.4), just before the blank line.
    const std::string version_8 = edit("Version: 13", "Version: 8");  // r points into it
    http::parse_head(version_8, http::Limits{}, r);
    Handshake refused = check_handshake(r);
    std::string s(out, format_handshake_refusal(refused, out));
    const std::string body = std::string(refused.error) + "\n";
    const std::string status_426 = "HTTP/1.1 426 Upgrade Required\r\n";
    EXPECT_EQ(s.substr(0, status_426.size()), status_426);
    EXPECT(s.find("\r\nSec-WebSocket-Version: 13\r\n\r\n" + body) != std::string::npos);
    EXPECT(s.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n") != std::string::npos);
    EXPECT(s.find("\r\nConnection: close\r\n") != std::string::npos);
    EXPECT(s.size() >= body.size() && s.substr(s.size() - body.size()) == body);

    // 400 does not.
    const std::string no_upgrade = edit("Upgrade: websocket\r\n", "");
    http::parse_head(no_upgrade, http::Limits{}, r);
    refused = check_handshake(r);
    s.assign(out, format_handshake_refusal(refused, out));
    const std::string status_400 = "HTTP/1.1 400 Bad Request\r\n";
    EXPECT_EQ(s.substr(0, status_400.size()), status_400);
    EXPECT_EQ(s.find("Sec-WebSocket-Version"), std::string::npos);
    EXPECT(s.find("\r\n\r\n" + std::string(refused.error) + "\n") != std::string::npos);
}

// ---- frames: the RFC 6455 §5.7 examples and a few more ---------------------

// The first k bytes of `s` copied into a heap block of exactly k bytes, so
// that under AddressSanitizer a parser reading one byte too far is caught
// (a std::string or a view into a longer one has readable bytes past k).
class ExactCopy {
public:
    ExactCopy(std::string_view s, size_t k) : bytes_(std::make_unique<char[]>(k)), size_(k) {
        std::memcpy(bytes_.get(), s.data(), k);
    }
    std::string_view view() const { return {bytes_.get(), size_}; }

private:
    std::unique_ptr<char[]> bytes_;
    size_t size_;
};

FrameRules client_rules(size_t max_payload = 1 << 20) {
    FrameRules rules;
    rules.max_payload = max_payload;
    return rules;  // masking required: what a server reads
}
FrameRules server_rules(size_t max_payload = 1 << 20) {
    FrameRules rules = client_rules(max_payload);
    rules.require_mask = false;  // frames as a server writes them
    return rules;
}

std::string bytes_0_to_n(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = char(i);
    return s;
}

struct GoodFrame {
    const char* name;
    std::string in;  // one frame
    FrameRules rules;
    bool fin;
    Opcode opcode;
    bool masked;
    size_t header;
    std::string payload;  // unmasked
    uint8_t rsv = 0;
};

const std::string kHello = "Hello";
const std::string k256 = bytes_0_to_n(256);
const std::string k64k = bytes_0_to_n(65536);

const std::vector<GoodFrame> kGoodFrames = {
    // §5.7, in the RFC's order.
    {"unmasked text", "\x81\x05" "Hello", server_rules(), true, Opcode::Text, false, 2, kHello},
    {"masked text", "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", client_rules(), true, Opcode::Text, true, 6, kHello},
    {"fragment 1 of 2", "\x01\x03" "Hel", server_rules(), false, Opcode::Text, false, 2, "Hel"},
    {"fragment 2 of 2", "\x80\x02" "lo", server_rules(), true, Opcode::Continuation, false, 2, "lo"},
    {"unmasked ping", "\x89\x05" "Hello", server_rules(), true, Opcode::Ping, false, 2, kHello},
    {"masked pong", "\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", client_rules(), true, Opcode::Pong, true, 6, kHello},
    {"256 bytes, 16-bit length", "\x82\x7e\x01\x00"s + k256, server_rules(), true, Opcode::Binary, false, 4, k256},
    {"64 KiB, 64-bit length", "\x82\x7f\0\0\0\0\0\x01\0\0"s + k64k, server_rules(), true, Opcode::Binary, false, 10, k64k},
    // Edges.
    {"empty masked close", "\x88\x80\x01\x02\x03\x04"s, client_rules(), true, Opcode::Close, true, 6, ""},
    {"payload exactly at the limit", "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", client_rules(5), true, Opcode::Text, true, 6, kHello},
    {"control frames ignore max_payload", "\x89\x05" "Hello", server_rules(1), true, Opcode::Ping, false, 2, kHello},
    {"125-byte ping", "\x89\x7d"s + std::string(125, 'p'), server_rules(), true, Opcode::Ping, false, 2, std::string(125, 'p')},
    // §5.2 asks the sender for the shortest length form; a longer one is read (see websocket.cpp).
    {"non-minimal 16-bit length", "\x81\x7e\x00\x05" "Hello"s, server_rules(), true, Opcode::Text, false, 4, kHello},
    {"RSV1 with an extension that allows it",
     "\xc1\x05" "Hello", [] { FrameRules r = server_rules(); r.allowed_rsv = 4; return r; }(), true, Opcode::Text, false, 2, kHello, 4},
};

void test_good_frames() {
    for (const GoodFrame& g : kGoodFrames) {
        // Followed by the start of another frame, which is not consumed.
        const std::string whole = g.in + "\x81\x85"s;
        FrameResult r = parse_frame(whole, g.rules);
        EXPECT_EQ_AT(r.status, FrameParse::Complete, g.name);
        EXPECT_EQ_AT(r.consumed, g.in.size(), g.name);
        EXPECT_EQ_AT(r.frame.fin, g.fin, g.name);
        EXPECT_EQ_AT(r.frame.rsv, g.rsv, g.name);
        EXPECT_EQ_AT(r.frame.opcode, g.opcode, g.name);
        EXPECT_EQ_AT(r.frame.masked, g.masked, g.name);
        EXPECT_EQ_AT(r.frame.payload_offset, g.header, g.name);
        EXPECT_EQ_AT(r.frame.payload_length, g.payload.size(), g.name);
        std::string payload = g.in.substr(r.frame.payload_offset);
        if (r.frame.masked) unmask(payload.data(), payload.size(), r.frame.mask, 0);
        EXPECT_EQ_AT(payload, g.payload, g.name);

        // Every way the frame can arrive cut: Incomplete until its last byte
        // (until the header's last byte, for parse_frame_header). Only a
        // difference is recorded: 65 546 prefixes would drown the pass count.
        for (size_t k = 0; k < g.in.size(); ++k) {
            // Exact copies where the header is read; the payload never is.
            const ExactCopy copy(g.in, k <= kMaxFrameHeader + 1 ? k : 0);
            const std::string_view part = k <= kMaxFrameHeader + 1 ? copy.view() : std::string_view(g.in).substr(0, k);
            r = parse_frame(part, g.rules);
            if (r.status != FrameParse::Incomplete) EXPECT_EQ_AT(r.status, FrameParse::Incomplete, at(g.name, k));
            r = parse_frame_header(part, g.rules);
            const FrameParse want = k < g.header ? FrameParse::Incomplete : FrameParse::Complete;
            if (r.status != want) EXPECT_EQ_AT(r.status, want, at(g.name, k));
            if (r.status == FrameParse::Complete && r.consumed != g.header) EXPECT_EQ_AT(r.consumed, g.header, at(g.name, k));
        }
        EXPECT_EQ_AT(parse_frame(g.in, g.rules).status, FrameParse::Complete, g.name);
    }
}

struct BadFrame {
    const char* name;
    std::string in;  // enough bytes to decide, and a few more
    FrameRules rules;
    uint16_t close_code;
    size_t decided_at;  // bytes needed to see the error: fewer are Incomplete
};

const std::vector<BadFrame> kBadFrames = {
    {"RSV1 without an extension", "\xc1\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", client_rules(), kCloseProtocolError, 1},
    {"RSV2", "\xa1\x85\x37\xfa\x21\x3d", client_rules(), kCloseProtocolError, 1},
    {"RSV3", "\x91\x85\x37\xfa\x21\x3d", client_rules(), kCloseProtocolError, 1},
    {"RSV2 where only RSV1 is allowed", "\xa1\x85", [] { FrameRules r = client_rules(); r.allowed_rsv = 4; return r; }(),
     kCloseProtocolError, 1},
    {"opcode 3", "\x83\x80\x01\x02\x03\x04"s, client_rules(), kCloseProtocolError, 1},
    {"opcode 7", "\x87\x80"s, client_rules(), kCloseProtocolError, 1},
    {"opcode 0xB", "\x8b\x80"s, client_rules(), kCloseProtocolError, 1},
    {"opcode 0xF", "\x8f\x80"s, client_rules(), kCloseProtocolError, 1},
    {"ping without FIN", "\x09\x80\x01\x02\x03\x04"s, client_rules(), kCloseProtocolError, 1},
    {"close without FIN", "\x08\x80"s, client_rules(), kCloseProtocolError, 1},
    {"pong without FIN", "\x0a\x80"s, client_rules(), kCloseProtocolError, 1},
    {"unmasked client frame", "\x81\x05" "Hello", client_rules(), kCloseProtocolError, 2},
    {"ping of 126 bytes", "\x89\xfe\x00\x7e\x01\x02\x03\x04"s, client_rules(), kCloseProtocolError, 2},
    {"close with a 64-bit length", "\x88\xff\0\0\0\0\0\0\0\x01"s, client_rules(), kCloseProtocolError, 2},
    {"64-bit length, top bit set", "\x82\xff\x80\0\0\0\0\0\0\0\x01\x02\x03\x04"s, client_rules(SIZE_MAX),
     kCloseProtocolError, 10},
    {"7-bit length over the limit", "\x82\x84\x01\x02\x03\x04"s, client_rules(3), kCloseMessageTooBig, 2},
    {"16-bit length over the limit", "\x82\xfe\x00\x65\x01\x02\x03\x04"s, client_rules(100), kCloseMessageTooBig, 4},
    {"64-bit length over the limit", "\x82\xff\0\0\0\x01\0\0\0\0\x01\x02\x03\x04"s, client_rules(), kCloseMessageTooBig, 10},
    {"continuation over the limit", "\x00\xfe\x04\x01"s, client_rules(1024), kCloseMessageTooBig, 4},
};

void test_bad_frames() {
    for (const BadFrame& b : kBadFrames) {
        for (size_t k = 0; k <= b.in.size(); ++k) {
            const ExactCopy copy(b.in, k);
            const std::string_view part = copy.view();
            for (int header_only = 0; header_only < 2; ++header_only) {
                const FrameResult r = header_only ? parse_frame_header(part, b.rules) : parse_frame(part, b.rules);
                const std::string where = at(b.name, k) + (header_only ? ", header only" : "");
                if (k < b.decided_at) {
                    EXPECT_EQ_AT(r.status, FrameParse::Incomplete, where);
                    continue;
                }
                EXPECT_EQ_AT(r.status, FrameParse::Error, where);
                EXPECT_EQ_AT(r.close_code, b.close_code, where);
                EXPECT_EQ_AT(std::string_view(r.error).empty(), false, where);
                EXPECT_EQ_AT(r.consumed, size_t(0), where);
            }
        }
    }
}

// ---- unmasking ------------------------------------------------------------

void test_unmask_in_pieces() {
    const uint8_t key[kMaskBytes] = {0x37, 0xfa, 0x21, 0x3d};
    const std::string plain = "A payload long enough for several 8-byte words, and a tail.";
    std::string masked = plain;
    for (size_t i = 0; i < masked.size(); ++i) masked[i] = char(masked[i] ^ key[i % 4]);

    std::string whole = masked;
    unmask(whole.data(), whole.size(), key, 0);
    EXPECT_EQ(whole, plain);
    unmask(whole.data(), whole.size(), key, 0);  // the same operation masks again
    EXPECT_EQ(whole, masked);

    // Cut in three anywhere: each piece unmasked with its own offset.
    for (size_t a = 0; a <= masked.size(); ++a) {
        for (size_t b = a; b <= masked.size(); b += 5) {
            std::string s = masked;
            unmask(s.data(), a, key, 0);
            unmask(s.data() + a, b - a, key, a);
            unmask(s.data() + b, s.size() - b, key, b);
            if (s != plain) EXPECT_EQ_AT(s, plain, "cut at " + std::to_string(a) + " and " + std::to_string(b));
        }
    }
    // §5.7: the masked "Hello".
    std::string hello = "\x7f\x9f\x4d\x51\x58";
    unmask(hello.data(), 2, key, 0);
    unmask(hello.data() + 2, 3, key, 2);
    EXPECT_EQ(hello, "Hello");
}

// ---- writing frames -------------------------------------------------------

struct Written {
    Opcode opcode;
    bool fin;
    size_t length;
    std::string header;
};

const std::vector<Written> kWritten = {
    {Opcode::Text, true, 5, "\x81\x05"},
    {Opcode::Continuation, false, 0, "\x00\x00"s},
    {Opcode::Text, false, 3, "\x01\x03"},
    {Opcode::Close, true, 125, "\x88\x7d"},
    {Opcode::Binary, true, 126, "\x82\x7e\x00\x7e"s},
    {Opcode::Binary, true, 256, "\x82\x7e\x01\x00"s},
    {Opcode::Binary, true, 65535, "\x82\x7e\xff\xff"},
    {Opcode::Binary, true, 65536, "\x82\x7f\0\0\0\0\0\x01\0\0"s},
    {Opcode::Pong, true, 0, "\x8a\x00"s},
};

void test_write_frame_header() {
    for (const Written& w : kWritten) {
        char out[kMaxServerHeader];
        const size_t n = write_frame_header(w.opcode, w.fin, w.length, out);
        const std::string name = "length " + std::to_string(w.length);
        EXPECT_EQ_AT(std::string(out, n), w.header, name);
        // What we write, we read back (as a client would: unmasked).
        const FrameResult r = parse_frame_header(std::string_view(out, n), server_rules(SIZE_MAX));
        EXPECT_EQ_AT(r.status, FrameParse::Complete, name);
        EXPECT_EQ_AT(r.frame.payload_length, w.length, name);
        EXPECT_EQ_AT(r.frame.fin, w.fin, name);
        EXPECT_EQ_AT(r.frame.opcode, w.opcode, name);
    }
    // §5.7's unmasked "Hello", written.
    char out[kMaxServerHeader];
    const size_t n = write_frame_header(Opcode::Text, true, kHello.size(), out);
    EXPECT_EQ(std::string(out, n) + kHello, "\x81\x05" "Hello");
}

struct ClosePayload {
    const char* name;
    uint16_t code;
    std::string reason;
    std::string want;
};

const std::string kE = "\xc3\xa9";  // é, two bytes

const std::vector<ClosePayload> kClosePayloads = {
    {"code only", kCloseNormal, "", "\x03\xe8"},
    {"code and reason", kCloseGoingAway, "bye", "\x03\xe9" "bye"},
    {"1005 means no code at all", kCloseNoStatus, "ignored", ""},
    {"private code", 4000, "x", "\x0f\xa0x"},
    {"reason of 123 bytes fits", kCloseNormal, std::string(123, 'r'), "\x03\xe8" + std::string(123, 'r')},
    {"reason cut to 123", kCloseNormal, std::string(200, 'r'), "\x03\xe8" + std::string(123, 'r')},
    {"character ending at 123 kept", kCloseNormal, std::string(121, 'r') + kE + "z", "\x03\xe8" + std::string(121, 'r') + kE},
    {"character across 123 dropped", kCloseNormal, std::string(122, 'r') + kE, "\x03\xe8" + std::string(122, 'r')},
};

void test_close_payload() {
    for (const ClosePayload& c : kClosePayloads) {
        char out[kMaxControlPayload];
        const size_t n = write_close_payload(c.code, c.reason, out);
        EXPECT_EQ_AT(std::string(out, n), c.want, c.name);
    }
}

}  // namespace

int main() {
    test_handshakes();
    test_handshake_answers();
    test_good_frames();
    test_bad_frames();
    test_unmask_in_pieces();
    test_write_frame_header();
    test_close_payload();
    return check::summary("websocket");
}
