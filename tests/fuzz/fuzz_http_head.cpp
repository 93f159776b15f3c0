// fuzz_http_head: parse_head() (and parse_request() over it) on any bytes,
// with the default limits and with small ones, so that every 413, 414 and
// 431 path is within the fuzzer's reach of short inputs.
//
// Invariants (http_parser.h):
//   - Complete: 0 < consumed <= the input and the head limit; every view
//     (method, target, path, query, host, each header) lies in the consumed
//     bytes; parsing those bytes again gives the same request; every strict
//     prefix of them is Incomplete (all of them up to 512 bytes, then a few).
//   - Incomplete: consumed 0, and the input is not over the head limit
//     (the parser never waits for a head it would refuse).
//   - Error: consumed 0, one of the documented statuses, a reason; and
//     still an Error with more bytes appended (an error is final).
//   - parse_request(): its head is parse_head()'s, its body a view of the
//     input after the head (Content-Length) or the de-chunked copy.
#include <string>

#include "fuzz.h"
#include "protocol/http_parser.h"

using namespace smooth::http;
using fuzz::inside;
using fuzz::require;

namespace {

constexpr Limits kSmall = {.max_head_bytes = 96, .max_target_bytes = 24, .max_body_bytes = 40};

bool documented_error(int status) {
    return status == 400 || status == 413 || status == 414 || status == 417 || status == 431 || status == 505;
}

// Whether two parses of the same bytes (perhaps in two buffers) agree.
bool same_request(const Request& a, const Request& b) {
    if (a.method != b.method || a.target != b.target || a.path != b.path || a.query != b.query ||
        a.host != b.host || a.target_form != b.target_form || a.minor_version != b.minor_version ||
        a.header_count != b.header_count || a.keep_alive != b.keep_alive || a.chunked != b.chunked ||
        a.expect_continue != b.expect_continue || a.content_length != b.content_length)
        return false;
    for (size_t i = 0; i < a.header_count; ++i)
        if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) return false;
    return true;
}

void check_views(const Request& r, std::string_view head) {
    require(inside(r.method, head) && inside(r.target, head) && inside(r.query, head) && inside(r.host, head),
            "the request line's views lie in the head");
    // The one view that may not: an absolute-form target without a path
    // means "/" (RFC 9110 §4.2.3), and the parser says so with a literal.
    require(inside(r.path, head) || (r.target_form == TargetForm::Absolute && r.path == "/"),
            "path lies in the head, or is the \"/\" of an absolute URI without one");
    require(r.header_count <= kMaxHeaders, "at most kMaxHeaders headers");
    for (size_t i = 0; i < r.header_count; ++i)
        require(inside(r.headers[i].name, head) && inside(r.headers[i].value, head) && !r.headers[i].name.empty(),
                "every header's name and value lie in the head; no name is empty");
}

void check_head(std::string_view in, const Limits& limits) {
    Request r;
    const Result res = parse_head(in, limits, r);
    switch (res.status) {
        case Parse::Incomplete:
            require(res.consumed == 0, "Incomplete consumes nothing");
            require(in.size() <= limits.max_head_bytes, "Incomplete only while the input is within the head limit");
            return;
        case Parse::Error: {
            require(res.consumed == 0, "Error consumes nothing");
            require(documented_error(res.error_status), "an Error answers a documented status");
            require(res.error != nullptr && res.error[0] != '\0', "an Error gives a reason");
            // An error is final: no bytes that come after can undo it.
            std::string more(in);
            more += "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
            Request again;
            require(parse_head(more, limits, again).status == Parse::Error, "an Error stays an Error with bytes appended");
            return;
        }
        case Parse::Complete: break;
    }

    require(res.consumed > 0 && res.consumed <= in.size(), "Complete consumes bytes within the input");
    require(res.consumed <= limits.max_head_bytes, "a Complete head is within the head limit");
    const std::string_view head = in.substr(0, res.consumed);
    check_views(r, head);
    require(r.content_length <= limits.max_body_bytes, "Content-Length within the body limit");
    require(!(r.chunked && r.content_length > 0), "never both chunked and a Content-Length");

    // The same bytes, alone in a buffer of their own: the same request.
    const fuzz::Exact copy(head);
    Request again;
    const Result res2 = parse_head(copy.view(), limits, again);
    require(res2.status == Parse::Complete && res2.consumed == res.consumed, "the consumed bytes alone parse again");
    require(same_request(r, again), "parsing the same bytes again gives the same request");
    check_views(again, copy.view());

    // A head cut anywhere before its end is "need more", never an error.
    for (size_t k : fuzz::prefixes_of(in, res.consumed)) {
        const fuzz::Exact prefix(in.substr(0, k));
        Request partial;
        require(parse_head(prefix.view(), limits, partial).status == Parse::Incomplete,
                "every strict prefix of a Complete head is Incomplete");
    }
}

void check_request(std::string_view in, const Limits& limits) {
    Request head_only, r;
    std::string chunked_body;
    const Result head = parse_head(in, limits, head_only);
    const Result res = parse_request(in, limits, r, chunked_body);
    if (head.status != Parse::Complete) {
        require(res.status == head.status && res.error_status == head.error_status,
                "parse_request() answers what parse_head() does until the head is whole");
        return;
    }
    if (res.status != Parse::Complete) return;
    require(res.consumed >= head.consumed && res.consumed <= in.size(), "a request consumes its head and no more than the input");
    if (r.chunked)
        require(r.body.data() == chunked_body.data() && r.body.size() == chunked_body.size(),
                "a chunked body is the de-chunked copy");
    else
        require(inside(r.body, in.substr(head.consumed, res.consumed - head.consumed)) &&
                    r.body.size() == r.content_length,
                "a Content-Length body is that many bytes of the input after the head");
    require(r.body.size() <= limits.max_body_bytes, "a body within the body limit");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    for (const Limits& limits : {Limits{}, kSmall}) {
        check_head(in, limits);
        check_request(in, limits);
    }
    return 0;
}
