// websocket_handshake: see websocket_handshake.h for the contract.
#include "protocol/websocket_handshake.h"

#include <cassert>
#include <cstring>

#include "protocol/base64.h"
#include "protocol/sha1.h"

namespace smooth::ws {
namespace {

// §1.3: the GUID every server appends to the key before hashing.
constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
// §4.2.1 item 5: the key is a random 16-byte nonce, base64-encoded.
constexpr size_t kKeyBytes = 16;
constexpr std::string_view kVersion = "13";
constexpr std::string_view kVersionHeader = "Sec-WebSocket-Version: 13\r\n";
constexpr int kSwitchingProtocols = 101;
constexpr int kBadRequest = 400;
constexpr int kUpgradeRequired = 426;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Whether `token` is an element of the comma-separated list in any header
// called `name`. Every such header is looked at, because a list may be split
// over several header lines (RFC 9110 §5.3): "Connection: keep-alive" and
// "Connection: Upgrade" on two lines mean "keep-alive, Upgrade".
bool has_token(const http::Request& r, std::string_view name, std::string_view token) {
    for (size_t i = 0; i < r.header_count; ++i) {
        if (!equals_ignoring_case(r.headers[i].name, name)) continue;
        std::string_view list = r.headers[i].value;
        for (;;) {
            const size_t comma = list.find(',');
            if (equals_ignoring_case(trim(list.substr(0, comma)), token)) return true;
            if (comma == std::string_view::npos) break;
            list.remove_prefix(comma + 1);
        }
    }
    return false;
}

size_t count_headers(const http::Request& r, std::string_view name) {
    size_t n = 0;
    for (size_t i = 0; i < r.header_count; ++i) n += equals_ignoring_case(r.headers[i].name, name) ? 1 : 0;
    return n;
}

Handshake refuse(int status, const char* why) {
    Handshake h;
    h.status = status;
    h.error = why;
    return h;
}

// base64 of exactly 16 bytes. The length is checked first, so a long header
// value is never decoded.
bool is_valid_key(std::string_view key) {
    if (key.size() != base64::encoded_length(kKeyBytes)) return false;
    char decoded[base64::max_decoded_length(base64::encoded_length(kKeyBytes))];
    return base64::decode(key, decoded) == kKeyBytes;
}

char* put(char* p, std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    return p + s.size();
}

}  // namespace

bool wants_websocket(const http::Request& request) { return has_token(request, "Upgrade", "websocket"); }

Handshake check_handshake(const http::Request& r) {
    // §4.2.1, in the order that makes the most useful refusal: first whether
    // this is a WebSocket handshake at all (items 1-4), then the version
    // (item 6), so a client speaking another version is told which one we
    // speak, then the key (item 5).
    if (r.method != "GET") return refuse(kBadRequest, "a websocket handshake is a GET");
    if (r.minor_version < 1) return refuse(kBadRequest, "a websocket handshake needs HTTP/1.1");
    if (r.header("Host").empty()) return refuse(kBadRequest, "no Host header");
    if (!has_token(r, "Upgrade", "websocket")) return refuse(kBadRequest, "no \"Upgrade: websocket\"");
    if (!has_token(r, "Connection", "Upgrade")) return refuse(kBadRequest, "no \"Connection: Upgrade\"");

    // §11.3.5 and §11.3.1: neither header may appear more than once.
    if (count_headers(r, "Sec-WebSocket-Version") > 1) return refuse(kBadRequest, "Sec-WebSocket-Version repeated");
    if (r.header("Sec-WebSocket-Version") != kVersion)
        return refuse(kUpgradeRequired, "Sec-WebSocket-Version missing or not 13");
    if (count_headers(r, "Sec-WebSocket-Key") != 1) return refuse(kBadRequest, "Sec-WebSocket-Key missing or repeated");
    const std::string_view key = r.header("Sec-WebSocket-Key");
    if (!is_valid_key(key)) return refuse(kBadRequest, "Sec-WebSocket-Key is not 16 bytes in base64");

    Handshake h;
    h.status = kSwitchingProtocols;
    compute_accept(key, h.accept);
    h.accept[kAcceptLength] = '\0';
    return h;
}

void compute_accept(std::string_view key, char* out) {
    Sha1 hash;
    hash.update(key);
    hash.update(kAcceptGuid);
    const Sha1::Digest digest = hash.final();
    static_assert(base64::encoded_length(Sha1::kDigestBytes) == kAcceptLength);
    base64::encode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()), out);
}

size_t format_handshake_response(const Handshake& accepted, char* out) {
    assert(accepted.status == kSwitchingProtocols);
    // §4.2.2 item 5. No Date: RFC 9110 §6.6.1 asks for it on 2xx-4xx only.
    char* p = out;
    p = put(p, "HTTP/1.1 101 Switching Protocols\r\n"
               "Server: smooth\r\n"
               "Upgrade: websocket\r\n"
               "Connection: Upgrade\r\n"
               "Sec-WebSocket-Accept: ");
    p = put(p, std::string_view(accepted.accept, kAcceptLength));
    p = put(p, "\r\n\r\n");
    return size_t(p - out);
}

size_t format_handshake_refusal(const Handshake& refused, char* out) {
    assert(refused.status == kBadRequest || refused.status == kUpgradeRequired);
    const std::string_view why = refused.error;
    http::ResponseHead head;
    head.status = refused.status;
    head.content_type = "text/plain";
    head.content_length = why.size() + 1;  // the reason and a newline
    head.close = true;
    char* p = out + http::format_response_head(head, out);
    if (refused.status == kUpgradeRequired) {
        // The ordinary head ends with its blank line; §4.4's header goes
        // just before it.
        p -= 2;
        p = put(p, kVersionHeader);
        p = put(p, "\r\n");
    }
    p = put(p, why);
    *p++ = '\n';
    return size_t(p - out);
}

}  // namespace smooth::ws
