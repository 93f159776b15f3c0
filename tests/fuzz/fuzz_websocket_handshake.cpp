// fuzz_websocket_handshake: wants_websocket() and check_handshake() on
// requests made from any bytes, and the answers the format functions write.
// The requests come two ways:
//   - parsed: the bytes go through parse_head(), as on a connection; what is
//     Complete is checked (the real path, but only heads the HTTP parser
//     accepts reach the handshake);
//   - built: the bytes, cut at '\n', are the method, the minor version (the
//     first byte of the second line) and "name:value" header lines, put in a
//     Request as they are (values the parser would refuse or trim, empty
//     names, every repetition), so the verdict's every branch is near.
// Each verdict is compared with a plain model of RFC 6455 §4.2.1 written
// out below.
//
// Invariants (websocket_handshake.h):
//   - wants_websocket() is true exactly when an Upgrade header lists the
//     token "websocket" (any case, any header line, spaces around);
//   - check_handshake() answers what the model does: 101, 400 or 426, and a
//     reason exactly when it refuses; the same answer twice;
//   - a 101's Sec-WebSocket-Accept is compute_accept() of the key: 28
//     characters of base64 (one '=' of padding, 20 bytes decoded),
//     NUL-terminated; compute_accept() of any bytes is such a value;
//   - format_handshake_response() fits kMaxHandshakeResponse and is the
//     101 head with that accept value and nothing after its blank line;
//   - format_handshake_refusal() fits kMaxHandshakeResponse and is a 400 or
//     426 that closes, with "Sec-WebSocket-Version: 13" exactly on a 426, a
//     body of the reason and a newline, and a Content-Length that says so.
#include <cctype>
#include <charconv>
#include <cstring>
#include <string>

#include "fuzz.h"
#include "protocol/base64.h"
#include "protocol/http_parser.h"
#include "protocol/websocket_handshake.h"

using namespace smooth;
using namespace smooth::ws;
using fuzz::require;

namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// ---- the model: RFC 6455 §4.2.1, plainly ----

std::string lowered(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view stripped(std::string_view s) {
    const size_t first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

size_t count_named(const http::Request& r, std::string_view name) {
    size_t n = 0;
    for (size_t i = 0; i < r.header_count; i++) n += lowered(r.headers[i].name) == lowered(name);
    return n;
}

std::string_view first_named(const http::Request& r, std::string_view name) {
    for (size_t i = 0; i < r.header_count; i++)
        if (lowered(r.headers[i].name) == lowered(name)) return r.headers[i].value;
    return {};
}

// A comma-separated list, over every header line of that name.
bool lists(const http::Request& r, std::string_view name, std::string_view token) {
    for (size_t i = 0; i < r.header_count; i++) {
        if (lowered(r.headers[i].name) != lowered(name)) continue;
        std::string_view rest = r.headers[i].value;
        while (true) {
            const size_t comma = rest.find(',');
            if (lowered(stripped(rest.substr(0, comma))) == lowered(token)) return true;
            if (comma == std::string_view::npos) break;
            rest = rest.substr(comma + 1);
        }
    }
    return false;
}

// 16 bytes are 22 base64 characters and "==": the last character carries
// two bits of data and four zero bits, so it is one of A, Q, g, w.
bool key_of_16_bytes(std::string_view key) {
    if (key.size() != 24 || key.substr(22) != "==") return false;
    for (char c : key.substr(0, 22))
        if (kAlphabet.find(c) == std::string_view::npos) return false;
    return std::string_view("AQgw").find(key[21]) != std::string_view::npos;
}

int model_status(const http::Request& r) {
    if (r.method != "GET" || r.minor_version < 1 || first_named(r, "host").empty()) return 400;
    if (!lists(r, "upgrade", "websocket") || !lists(r, "connection", "upgrade")) return 400;
    if (count_named(r, "sec-websocket-version") > 1) return 400;
    if (first_named(r, "sec-websocket-version") != "13") return 426;
    if (count_named(r, "sec-websocket-key") != 1) return 400;
    return key_of_16_bytes(first_named(r, "sec-websocket-key")) ? 101 : 400;
}

// ---- the checks ----

void check_accept_value(std::string_view accept) {
    require(accept.size() == kAcceptLength && accept[27] == '=' && accept[26] != '=',
            "an accept value is 28 characters, one of them padding");
    for (char c : accept.substr(0, 27))
        require(kAlphabet.find(c) != std::string_view::npos, "an accept value is base64");
    const auto decoded = base64::decode(accept);
    require(decoded && decoded->size() == 20, "an accept value decodes to a 20-byte SHA-1 digest");
}

size_t content_length(std::string_view head) {
    const std::string_view name = "\r\nContent-Length: ";
    const size_t at = head.find(name);
    require(at != std::string_view::npos, "a refusal says its Content-Length");
    size_t n = 0;
    const char* from = head.data() + at + name.size();
    const auto [end, ec] = std::from_chars(from, head.data() + head.size(), n);
    require(ec == std::errc() && end < head.data() + head.size() && *end == '\r', "Content-Length is a number");
    return n;
}

void check_answer(const Handshake& h, const http::Request& r) {
    const auto out = std::make_unique<char[]>(kMaxHandshakeResponse);  // exact: ASan sees a write past it
    if (h.status == 101) {
        const std::string_view accept(h.accept);
        check_accept_value(accept);
        char again[kAcceptLength];
        compute_accept(first_named(r, "sec-websocket-key"), again);
        require(accept == std::string_view(again, kAcceptLength), "a 101's accept value is compute_accept() of the key");
        const size_t n = format_handshake_response(h, out.get());
        require(n <= kMaxHandshakeResponse, "the 101 fits kMaxHandshakeResponse");
        const std::string_view answer(out.get(), n);
        require(answer.starts_with("HTTP/1.1 101 ") && answer.find("\r\n\r\n") == n - 4,
                "the 101 is a head alone, ending at its blank line");
        const std::string line = "\r\nSec-WebSocket-Accept: " + std::string(accept) + "\r\n";
        require(answer.find(line) != std::string_view::npos && answer.find("\r\nUpgrade: websocket\r\n") != std::string_view::npos &&
                    answer.find("\r\nConnection: Upgrade\r\n") != std::string_view::npos,
                "the 101 says Upgrade, Connection and the accept value");
        return;
    }
    const size_t n = format_handshake_refusal(h, out.get());
    require(n <= kMaxHandshakeResponse, "a refusal fits kMaxHandshakeResponse");
    const std::string_view answer(out.get(), n);
    require(answer.starts_with(h.status == 426 ? "HTTP/1.1 426 " : "HTTP/1.1 400 "), "a refusal's status line");
    const size_t blank = answer.find("\r\n\r\n");
    require(blank != std::string_view::npos, "a refusal has a whole head");
    const std::string_view head = answer.substr(0, blank + 2), body = answer.substr(blank + 4);
    require(head.find("\r\nConnection: close\r\n") != std::string_view::npos, "a refusal closes");
    require((head.find("\r\nSec-WebSocket-Version: 13\r\n") != std::string_view::npos) == (h.status == 426),
            "Sec-WebSocket-Version: 13 exactly on a 426");
    require(body == std::string(h.error) + "\n", "a refusal's body is its reason and a newline");
    require(content_length(head) == body.size(), "a refusal's Content-Length is its body's size");
}

void check(const http::Request& r) {
    require(wants_websocket(r) == lists(r, "upgrade", "websocket"),
            "wants_websocket() exactly when Upgrade lists websocket");
    const Handshake h = check_handshake(r);
    require(h.status == 101 || h.status == 400 || h.status == 426, "a verdict is 101, 400 or 426");
    require(h.status == model_status(r), "check_handshake() answers what RFC 6455 §4.2.1 says");
    require(h.error != nullptr && (h.error[0] == '\0') == (h.status == 101), "a reason exactly with a refusal");
    require(h.accept[kAcceptLength] == '\0', "the accept value is NUL-terminated");
    const Handshake again = check_handshake(r);
    require(again.status == h.status && std::strcmp(again.error, h.error) == 0 && std::strcmp(again.accept, h.accept) == 0,
            "the same request, the same verdict");
    check_answer(h, r);
}

// The bytes as a request, without the HTTP parser: method, minor version,
// then "name:value" lines, all views into the input.
http::Request built(std::string_view in) {
    http::Request r;
    auto next_line = [&in] {
        const size_t nl = in.find('\n');
        const std::string_view line = in.substr(0, nl);
        in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
        return line;
    };
    r.method = next_line();
    const std::string_view version = next_line();
    r.minor_version = version.empty() ? 1 : static_cast<unsigned char>(version[0]) % 3;
    while (!in.empty() && r.header_count < http::kMaxHeaders) {
        const std::string_view line = next_line();
        const size_t colon = line.find(':');
        http::Header& h = r.headers[r.header_count++];
        h.name = line.substr(0, colon);
        h.value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    }
    return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const bool rfc_example = [] {  // RFC 6455 §1.3, once
        char accept[kAcceptLength];
        compute_accept("dGhlIHNhbXBsZSBub25jZQ==", accept);
        return std::string_view(accept, kAcceptLength) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    }();
    require(rfc_example, "compute_accept() gives RFC 6455's own example");

    const std::string_view in(reinterpret_cast<const char*>(data), size);
    http::Request parsed;
    if (http::parse_head(in, http::Limits{}, parsed).status == http::Parse::Complete) check(parsed);
    check(built(in));

    // compute_accept() of any bytes (the key as sent is not decoded first).
    const fuzz::Exact key(in);
    const auto accept = std::make_unique<char[]>(kAcceptLength);
    compute_accept(key.view(), accept.get());
    check_accept_value(std::string_view(accept.get(), kAcceptLength));
    return 0;
}
