// http_parser: HTTP/1.0 and HTTP/1.1 request parsing as a pure function.
//
// Like picohttpparser, parse_request() does no I/O and keeps no state between
// calls: give it everything received so far on a connection and it says
// "complete, and this many bytes were the request", "need more", or "error,
// answer with this status". A connection calls it again when more bytes come.
// Re-parsing from the start is cheap because the head is small and limited,
// and a line is only examined once its '\n' has arrived.
//
// Nothing is allocated for a request with a Content-Length body: every
// string_view points into the caller's input. Only a chunked body is copied,
// de-chunked, into the caller's `chunked_body` string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace smooth::http {

struct Header {
    std::string_view name;
    std::string_view value;  // leading and trailing spaces/tabs removed
};

inline constexpr size_t kMaxHeaders = 64;

// The four shapes of request-target (RFC 9112 §3.2).
enum class TargetForm : uint8_t {
    Origin,     // "/path?query", what nearly every request carries
    Absolute,   // "http://host/path?query", what a client sends to a proxy
    Authority,  // "host:port", CONNECT only
    Asterisk,   // "*", OPTIONS only
};

struct Request {
    std::string_view method;
    std::string_view target;  // as sent
    // What a module routes on, whatever the form (for absolute-form the
    // path of the URI, not the URI):
    std::string_view path;    // origin/absolute: before '?' ("/" if the URI has none);
                              // asterisk: "*"; authority (CONNECT): empty
    std::string_view query;   // after '?', empty if none
    std::string_view host;    // host[:port] of the target URI: the absolute- or
                              // authority-form target's, else the Host header's;
                              // empty for HTTP/1.0 without Host
    TargetForm target_form = TargetForm::Origin;
    int minor_version = 1;    // HTTP/1.<minor_version>
    Header headers[kMaxHeaders];
    size_t header_count = 0;
    // What the headers say, worked out once by the parser:
    bool keep_alive = true;   // 1.1 unless "Connection: close"; 1.0 only with "keep-alive"
    bool chunked = false;     // Transfer-Encoding: chunked
    bool expect_continue = false;  // "Expect: 100-continue" in HTTP/1.1 (1.0 ignores it)
    size_t content_length = 0;
    std::string_view body;    // into the input, or into chunked_body when chunked

    std::string_view header(std::string_view name) const;  // case-insensitive; "" if absent
    bool has_body() const { return chunked || content_length > 0; }
};

struct Limits {
    size_t max_head_bytes = 8192;        // request line + headers; over it: 431
    size_t max_target_bytes = 8000;      // the request-target alone; over it: 414
    size_t max_body_bytes = 1 << 20;     // Content-Length or de-chunked size; over it: 413
};

enum class Parse { Complete, Incomplete, Error };

struct Result {
    Parse status = Parse::Incomplete;
    size_t consumed = 0;      // Complete: bytes of head + body, where the next request starts
    int error_status = 0;     // Error: 400, 413, 414, 417, 431 or 505
    const char* error = "";   // Error: a short reason for the log ("bad request line", ...)
};

// Parses one request from the start of `in`.
Result parse_request(std::string_view in, const Limits& limits, Request& out, std::string& chunked_body);

// The head alone (request line + headers, through the blank line). Complete
// means `consumed` bytes were the head; the body is not looked at, so a
// connection can answer "Expect: 100-continue" before the body is sent:
//
//   Error (400, 413, 414, 417, 431, 505)  answer it and close; no 100
//   Complete                               if req.expect_continue and
//       req.has_body() and none of the body has arrived yet, write
//       kContinueResponse (http_response.h) at once; then read the body
Result parse_head(std::string_view in, const Limits& limits, Request& out);

// A chunked body from its first chunk-size line through the last-chunk and
// trailers. Appends the data to `body` (cleared first); Complete gives the
// bytes consumed.
Result parse_chunked(std::string_view in, size_t max_body_bytes, std::string& body);

// "Not Found" for 404, etc.; "Unknown" for codes it does not know.
const char* reason_phrase(int status);

}  // namespace smooth::http
