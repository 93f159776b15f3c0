// http_parser: HTTP/1.0 and HTTP/1.1 requests, parsed by the letter of
// RFC 9110 and RFC 9112.
//
// Two pieces, both doing no I/O:
//
//   parse_head()     here: a pure function, picohttpparser style: give it the
//                    bytes received so far and it says "complete, the head was
//                    this many bytes", "need more", or "error, answer with this
//                    status" (a Result, http_result.h). It keeps no state; a
//                    connection calls it again when more bytes come.
//                    Re-parsing from the start is cheap because the head is
//                    small and limited, and a line is only examined once its
//                    '\n' has arrived.
//   ChunkedDecoder   in chunked_decoder.h: a chunked body decoded as it
//                    arrives. It keeps its place between reads, so every byte
//                    is looked at once and the caller drops what was fed at once.
//
// Both are built from the small grammar functions of http_grammar.h.
//
// parse_request() puts the two together for a caller that holds a whole
// request (tests, tools); a connection reading from a socket uses the pieces:
//
//   1. r = parse_head(buffered, limits, req)
//        Incomplete: read more and call again (from the start of the request).
//        Error:      answer r.error_status (400, 413, 414, 417, 431 or 505)
//                    and close; no body is read, no 100 is sent.
//        Complete:   the head is r.consumed bytes; req's views point into them,
//                    so they stay buffered until the response is written.
//   2. if req.expect_continue and req.has_body() and none of the body has
//      arrived yet: write kContinueResponse (http_response.h) at once.
//   3. the body:
//        Content-Length: wait for req.content_length bytes after the head;
//                        req.body is a view of them (parse_request does this).
//        chunked:        ChunkedDecoder d(limits.max_body_bytes); whenever
//                        bytes arrive, f = d.feed(raw, body) with raw the
//                        bytes after the head not fed yet, and drop
//                        f.consumed of them at once. Incomplete: read more.
//                        Error: answer f.error_status (400, 413 or 431) and
//                        close. Complete: `body` is the request's body; the
//                        next request starts f.consumed bytes into raw.
//      A buffer that cannot drop bytes between the head and the rest can copy
//      the head aside and call parse_head() on the copy (same result, views
//      into the copy) before feeding the decoder.
//
// Nothing is allocated for a request with a Content-Length body: every
// string_view points into the caller's input. A chunked body is copied,
// de-chunked, into the caller's string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/chunked_decoder.h"  // ChunkedDecoder, parse_chunked: the body, when chunked
#include "protocol/http_grammar.h"     // Header
#include "protocol/http_result.h"      // Parse, Result

namespace smooth::http {

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
    std::string_view body;    // parse_request(): into the input, or into chunked_body when chunked

    std::string_view header(std::string_view name) const;  // case-insensitive; "" if absent
    bool has_body() const { return chunked || content_length > 0; }
};

struct Limits {
    size_t max_head_bytes = 8192;        // request line + headers; over it: 431
    size_t max_target_bytes = 8000;      // the request-target alone; over it: 414
    size_t max_body_bytes = 1 << 20;     // Content-Length or de-chunked size; over it: 413
};

// The head alone (request line + headers, through the blank line). Complete
// means `consumed` bytes were the head; the body is not looked at, so a
// connection can answer "Expect: 100-continue" before the body is sent.
Result parse_head(std::string_view in, const Limits& limits, Request& out);

// One request from the start of `in`, head and body: parse_head(), then the
// body, de-chunked into `chunked_body` when chunked.
Result parse_request(std::string_view in, const Limits& limits, Request& out, std::string& chunked_body);

// "Not Found" for 404, etc.; "Unknown" for codes it does not know.
const char* reason_phrase(int status);

}  // namespace smooth::http
