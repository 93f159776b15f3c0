// http_response: the head of every HTTP response, written into a caller's
// buffer with no allocation.
//
//   HTTP/1.1 200 OK\r\n
//   Server: smooth\r\n
//   Date: Sat, 21 Nov 2026 14:00:00 GMT\r\n      <- formatted once a second
//   Content-Type: text/plain\r\n                 <- only if given
//   Content-Length: 42\r\n
//   Connection: close\r\n                        <- close, or keep-alive for HTTP/1.0
//   \r\n
//
// The connection sends this head and the body with one writev(2).
#pragma once

#include <cstddef>
#include <string_view>

namespace smooth::http {

inline constexpr size_t kMaxResponseHead = 512;

// The interim answer to "Expect: 100-continue" (RFC 9110 §10.1.1, §15.2.1),
// sent before reading the body. A 1xx response is a status line and an empty
// line: no Content-Length, no body, and the final response still follows.
inline constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

struct ResponseHead {
    int status = 200;
    const char* content_type = nullptr;
    size_t content_length = 0;
    bool close = false;         // "Connection: close", and the connection closes after it
    int minor_version = 1;      // the request's; 1.0 keep-alive must be said explicitly
};

// Whether a response with this status may carry content at all: 1xx, 204 and
// 304 end at the blank line after the head (RFC 9110 §6.4.1, RFC 9112 §6.3).
constexpr bool status_has_body(int status) { return status >= 200 && status != 204 && status != 304; }
// Whether its head says Content-Length: never on 1xx and 204 (RFC 9110
// §8.6); a 304 may only repeat the length a 200 would have had, which the
// server cannot know, so it sends none either.
constexpr bool status_has_length(int status) { return status_has_body(status); }

// Writes the head into out (at least kMaxResponseHead bytes, content_type
// under 256 bytes). Returns its length.
size_t format_response_head(const ResponseHead& head, char* out);

// "Sat, 21 Nov 2026 14:00:00 GMT" for the current second; re-formatted only
// when the second changes.
const char* http_date();

}  // namespace smooth::http
