// Unit tests for http_parser: tables of good requests, each also fed cut at
// every byte (a prefix must be "need more", never an error), and tables of bad
// requests with the status each must be answered with. The rules about the
// request-target and Host are in test_http_target.cpp, the chunked decoder in
// test_http_chunked.cpp.
#include "check.h"
#include "protocol/http_parser.h"
#include "protocol/http_response.h"

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

// Every heap allocation in this program goes through here and is counted, so
// a test can say "parsing this request allocated nothing".
static size_t g_allocations = 0;
void* operator new(size_t n) {
    ++g_allocations;
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

using namespace smooth::http;
using namespace std::string_literals;  // "..."s keeps an embedded NUL

namespace {

struct Good {
    const char* name;
    std::string in;      // exactly one request
    std::string after;   // bytes of a next request sent along with it (pipelining)
    std::string method, target, path, query, host;
    int minor_version;
    bool keep_alive, chunked;
    size_t content_length;
    std::string body;
    size_t header_count;
};

const std::string kChunked =
    "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;name=value\r\nhello\r\n"
    "6 ; ext ; q = \"a \\\"b\\\" c\"\r\n world\r\n"
    "A\r\n0123456789\r\n"
    "0\r\nExpires: never\r\nX-Checksum: 42\r\n\r\n";

// Every HTTP/1.1 request here carries Host: without it the answer is 400
// (RFC 9112 §3.2), tested in test_http_target.cpp.
const std::vector<Good> kGood = {
    {"GET", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "",
     "GET", "/", "/", "", "example.com", 1, true, false, 0, "", 1},
    {"GET with query and headers", "GET /search?q=smooth&x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nUser-Agent: t\r\n\r\n", "",
     "GET", "/search?q=smooth&x=1", "/search", "q=smooth&x=1", "a", 1, true, false, 0, "", 3},
    {"POST with Content-Length", "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world", "",
     "POST", "/form", "/form", "", "a", 1, true, false, 11, "hello world", 2},
    {"repeated identical Content-Length", "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "",
     "PUT", "/x", "/x", "", "a", 1, true, false, 3, "abc", 3},
    {"chunked with extensions and trailers", kChunked, "",
     "POST", "/upload", "/upload", "", "a", 1, true, true, 0, "hello world0123456789", 2},
    {"chunked, case-insensitive", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "",
     "POST", "/", "/", "", "a", 1, true, true, 0, "abc", 2},
    {"HTTP/1.0 closes by default, and needs no Host", "GET /old HTTP/1.0\r\n\r\n", "",
     "GET", "/old", "/old", "", "", 0, false, false, 0, "", 0},
    {"HTTP/1.0 with keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "",
     "GET", "/", "/", "", "", 0, true, false, 0, "", 1},
    {"Connection: close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "",
     "GET", "/", "/", "", "a", 1, false, false, 0, "", 2},
    {"close inside a list", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", "",
     "GET", "/", "/", "", "a", 1, false, false, 0, "", 2},
    {"closed is not close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", "",
     "GET", "/", "/", "", "a", 1, true, false, 0, "", 2},
    {"leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "",
     "GET", "/", "/", "", "a", 1, true, false, 0, "", 1},
    {"four leading empty lines, the most ignored", "\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "",
     "GET", "/", "/", "", "a", 1, true, false, 0, "", 1},
    {"value whitespace trimmed, tab and obs-text kept", "GET / HTTP/1.1\r\nHost: a\r\nX-A: \t a\tb \xC3\xA9 \t\r\n\r\n", "",
     "GET", "/", "/", "", "a", 1, true, false, 0, "", 2},
    {"empty header value", "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n", "",
     "GET", "/", "/", "", "a", 1, true, false, 0, "", 2},
    {"pipelined: two requests in one buffer", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n", "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
     "GET", "/1", "/1", "", "a", 1, true, false, 0, "", 1},
    {"pipelined after a body", "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok", "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
     "POST", "/1", "/1", "", "a", 1, true, false, 2, "ok", 2},
    {"pipelined after a chunked body", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
     "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
     "POST", "/", "/", "", "a", 1, true, true, 0, "ok", 2},
    // A module is handed the path, not the URI (RFC 9112 §3.2.2); the target
    // names the host, and wins over the Host header.
    {"absolute-form target", "OPTIONS http://h/p?x HTTP/1.1\r\nHost: other\r\n\r\n", "",
     "OPTIONS", "http://h/p?x", "/p", "x", "h", 1, true, false, 0, "", 1},
    {"absolute-form, chunked with extensions and trailers",
     "POST HTTP://Example.com:8080?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nTransfer-Encoding: chunked\r\n\r\n"
     "3;a=\"x;y\"\r\nabc\r\n0;end\r\nX-T: 1\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
     "POST", "HTTP://Example.com:8080?q=1", "/", "q=1", "Example.com:8080", 1, true, true, 0, "abc", 2},
    {"Expect: 100-continue with a body", "PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", "",
     "PUT", "/f", "/f", "", "a", 1, true, false, 3, "abc", 3},
};

void expect_fields(const Good& g, const Request& r, const std::string& at) {
    EXPECT_EQ_AT(r.method, g.method, at);
    EXPECT_EQ_AT(r.target, g.target, at);
    EXPECT_EQ_AT(r.path, g.path, at);
    EXPECT_EQ_AT(r.query, g.query, at);
    EXPECT_EQ_AT(r.host, g.host, at);
    EXPECT_EQ_AT(r.minor_version, g.minor_version, at);
    EXPECT_EQ_AT(r.keep_alive, g.keep_alive, at);
    EXPECT_EQ_AT(r.chunked, g.chunked, at);
    EXPECT_EQ_AT(r.content_length, g.content_length, at);
    EXPECT_EQ_AT(r.body, g.body, at);
    EXPECT_EQ_AT(r.header_count, g.header_count, at);
}

void test_good_requests() {
    for (const Good& g : kGood) {
        Request r;
        std::string chunked_body;
        const std::string whole = g.in + g.after;
        Result res = parse_request(whole, Limits{}, r, chunked_body);
        EXPECT_EQ_AT(res.status, Parse::Complete, g.name);
        EXPECT_EQ_AT(res.consumed, g.in.size(), g.name);
        expect_fields(g, r, g.name);

        // Every way the request can arrive cut in two: the first part alone
        // is Incomplete and claims nothing.
        for (size_t k = 0; k < g.in.size(); ++k) {
            const std::string at = std::string(g.name) + ", first " + std::to_string(k) + " bytes";
            res = parse_request(std::string_view(g.in).substr(0, k), Limits{}, r, chunked_body);
            EXPECT_EQ_AT(res.status, Parse::Incomplete, at);
            EXPECT_EQ_AT(res.consumed, size_t(0), at);
        }
        // And the same Request object, reused, comes out the same when whole.
        res = parse_request(g.in, Limits{}, r, chunked_body);
        EXPECT_EQ_AT(res.status, Parse::Complete, g.name);
        EXPECT_EQ_AT(res.consumed, g.in.size(), g.name);
        expect_fields(g, r, g.name);
    }
}

void test_headers_and_zero_copy() {
    const std::string in = "POST /p HTTP/1.1\r\nHost: example.com\r\nX-Tab:\tv \r\nContent-Length: 4\r\n\r\nbody";
    Request r;
    std::string chunked_body = "left over";
    Result res = parse_request(in, Limits{}, r, chunked_body);
    EXPECT_EQ(res.status, Parse::Complete);
    EXPECT_EQ(r.header("host"), "example.com");
    EXPECT_EQ(r.header("HOST"), "example.com");
    EXPECT_EQ(r.header("x-tab"), "v");
    EXPECT_EQ(r.header("Missing"), "");
    EXPECT_EQ(r.headers[0].name, "Host");
    // A Content-Length body is not copied: it points into the input.
    EXPECT(r.body.data() == in.data() + in.size() - 4);
    EXPECT(r.method.data() == in.data());

    // The hot path allocates nothing: views into the input, a fixed header array.
    const size_t before = g_allocations;
    res = parse_request(in, Limits{}, r, chunked_body);
    const size_t allocated = g_allocations - before;
    EXPECT_EQ(res.status, Parse::Complete);
    EXPECT_EQ(allocated, size_t(0));

    // The first of several same-named headers is the one header() returns.
    Result two = parse_head("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\na: 2\r\n\r\n", Limits{}, r);
    EXPECT_EQ(two.status, Parse::Complete);
    EXPECT_EQ(r.header("A"), "1");
    EXPECT_EQ(r.header_count, size_t(3));
}

struct Bad {
    const char* name;
    std::string in;
    int status;
};

// A POST head up to its framing headers, with Host: the requests below must
// fail for the reason their name gives, not for a missing Host.
const std::string kPost = "POST / HTTP/1.1\r\nHost: a\r\n";
const std::string kChunkedPost = kPost + "Transfer-Encoding: chunked\r\n\r\n";

std::string many_headers(size_t n) {  // Host plus n - 1 others
    std::string s = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (size_t i = 1; i < n; ++i) s += "H" + std::to_string(i) + ": v\r\n";
    return s + "\r\n";
}

const std::vector<Bad> kBad = {
    // request line
    {"empty request line after too many empty lines", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", 400},
    {"no target", "GET HTTP/1.1\r\n\r\n", 400},
    {"two spaces", "GET  / HTTP/1.1\r\n\r\n", 400},
    {"space in target", "GET /a b HTTP/1.1\r\n\r\n", 400},
    {"tab as separator", "GET\t/ HTTP/1.1\r\n\r\n", 400},
    {"bad method char", "G(ET / HTTP/1.1\r\n\r\n", 400},
    {"leading space", " GET / HTTP/1.1\r\n\r\n", 400},
    {"control in target", "GET /\x01 HTTP/1.1\r\n\r\n", 400},
    {"no version", "GET /\r\n\r\n", 400},
    {"lower-case version", "GET / http/1.1\r\n\r\n", 400},
    {"version without minor", "GET / HTTP/1\r\n\r\n", 400},
    {"version with trailing space", "GET / HTTP/1.1 \r\n\r\n", 400},
    {"TLS hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n"s, 400},
    {"NUL in target", "GET /a\0b HTTP/1.1\r\n\r\n"s, 400},
    {"NUL in value", "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"s, 400},
    {"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505},
    {"HTTP/2.0, refused before the head is complete", "GET / HTTP/2.0\r\n", 505},
    {"HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 505},
    {"HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", 505},
    {"bare CR in request line", "GET / HTTP/1.1\rX\r\n\r\n", 400},
    // header lines
    {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
    {"bad line refused before the head is complete", "GET / HTTP/1.1\r\nHost : a\r\n", 400},
    {"no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", 400},
    {"empty name", "GET / HTTP/1.1\r\n: a\r\n\r\n", 400},
    {"obs-fold with space", "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400},
    {"obs-fold with tab", "GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", 400},
    {"control char in value", "GET / HTTP/1.1\r\nX-A: a\x01z\r\n\r\n", 400},
    {"DEL in value", "GET / HTTP/1.1\r\nX-A: a\x7fz\r\n\r\n", 400},
    {"bare CR in value", "GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400},
    {"CR CR LF as the blank line", "GET / HTTP/1.1\r\n\r\r\n", 400},
    {"too many headers", many_headers(kMaxHeaders + 1), 431},
    // framing headers
    {"Content-Length not a number", kPost + "Content-Length: abc\r\n\r\n", 400},
    {"Content-Length with sign", kPost + "Content-Length: +5\r\n\r\nhello", 400},
    {"Content-Length empty", kPost + "Content-Length:\r\n\r\n", 400},
    {"Content-Length list", kPost + "Content-Length: 5, 5\r\n\r\nhello", 400},
    {"Content-Length overflow", kPost + "Content-Length: 99999999999999999999999\r\n\r\n", 400},
    {"conflicting Content-Length", kPost + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400},
    {"Content-Length over the body limit", kPost + "Content-Length: 1048577\r\n\r\n", 413},
    {"Transfer-Encoding and Content-Length",
     kPost + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
    {"unknown transfer coding", kPost + "Transfer-Encoding: gzip\r\n\r\n", 400},
    {"chunked not last", kPost + "Transfer-Encoding: chunked, gzip\r\n\r\n", 400},
    {"gzip then chunked", kPost + "Transfer-Encoding: gzip, chunked\r\n\r\n", 400},
    {"chunked twice", kPost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"empty Transfer-Encoding", kPost + "Transfer-Encoding: \r\n\r\n", 400},
    {"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
    // chunked bodies (the grammar of sizes and extensions in test_http_chunked.cpp)
    {"bad hex", kChunkedPost + "xyz\r\n", 400},
    {"empty chunk size", kChunkedPost + "\r\n", 400},
    {"chunk size with junk", kChunkedPost + "3x\r\nabc\r\n0\r\n\r\n", 400},
    {"chunk data too long", kChunkedPost + "3\r\nabcd\r\n0\r\n\r\n", 400},
    {"chunk data without CRLF", kChunkedPost + "3\r\nabc\rX", 400},
    {"chunk size with bare LF", kChunkedPost + "3\nabc\r\n0\r\n\r\n", 400},
    {"chunk size overflow", kChunkedPost + "1ffffffffffffffffffff\r\n", 400},
    {"space after the size, no extension", kChunkedPost + "0 \r\n\r\n", 400},
    {"chunk over the body limit", kChunkedPost + "100001\r\n", 413},
    {"bad trailer", kChunkedPost + "0\r\nbad trailer\r\n\r\n", 400},
    // RFC 9112 §3: a long target is 414 however long, not 431 for the head it overflows.
    {"9,000-byte target", "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
    {"header flood without a blank line", "GET / HTTP/1.1\r\nX: " + std::string(9000, 'a'), 431},
    {"headers over the head limit", "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(8200, 'a') + "\r\n\r\n", 431},
    // Expect (RFC 9110 §10.1.1): 100-continue is the only expectation there is.
    {"unknown expectation", kPost + "Expect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417},
    {"100-continue among others", kPost + "Expect: 100-continue, x-y\r\nContent-Length: 1\r\n\r\nx", 417},
    {"100-continue with a parameter", kPost + "Expect: 100-continue;a=b\r\nContent-Length: 1\r\n\r\nx", 417},
    {"unknown expectation in HTTP/1.0", "GET / HTTP/1.0\r\nExpect: 200-ok\r\n\r\n", 417},
    {"100-continue, but the body is too large", kPost + "Expect: 100-continue\r\nContent-Length: 1048577\r\n\r\n", 413},
};

void test_bad_requests() {
    for (const Bad& b : kBad) {
        Request r;
        std::string chunked_body;
        const Result res = parse_request(b.in, Limits{}, r, chunked_body);
        EXPECT_EQ_AT(res.status, Parse::Error, b.name);
        EXPECT_EQ_AT(res.error_status, b.status, b.name);
        EXPECT_EQ_AT(std::string_view(res.error).empty(), false, b.name);  // the log says why
        EXPECT_EQ_AT(std::string_view(res.error) == "missing Host", false, b.name);
    }
}

// The head limit counts the request line, headers and the blank line.
void test_head_limit() {
    const std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX: abcdef\r\n\r\n";
    Limits exact;
    exact.max_head_bytes = head.size();
    Request r;
    EXPECT_EQ(parse_head(head, exact, r).status, Parse::Complete);
    // A head of exactly the limit is fine even with the body behind it.
    EXPECT_EQ(parse_head(head + "more bytes", exact, r).status, Parse::Complete);

    Limits one_less;
    one_less.max_head_bytes = head.size() - 1;
    Result res = parse_head(head, one_less, r);
    EXPECT_EQ(res.status, Parse::Error);
    EXPECT_EQ(res.error_status, 431);
    // Not earlier: while no more than the limit has arrived, wait.
    EXPECT_EQ(parse_head(std::string_view(head).substr(0, head.size() - 1), one_less, r).status, Parse::Incomplete);

    // Many small lines count the same as one long one.
    Limits small;
    small.max_head_bytes = 64;
    std::string flood = "GET / HTTP/1.1\r\n";
    while (flood.size() <= small.max_head_bytes) {
        EXPECT_EQ_AT(parse_head(flood, small, r).status, Parse::Incomplete, std::to_string(flood.size()));
        flood += "A: b\r\n";
    }
    res = parse_head(flood, small, r);
    EXPECT_EQ(res.error_status, 431);

    // Exactly kMaxHeaders is allowed.
    EXPECT_EQ(parse_head(many_headers(kMaxHeaders), Limits{}, r).status, Parse::Complete);
    EXPECT_EQ(r.header_count, kMaxHeaders);
}

void test_body_limit() {
    Limits limits;
    limits.max_body_bytes = 5;
    Request r;
    std::string chunked_body;
    // 413 as soon as the head is in: the body is not waited for.
    Result res = parse_request(kPost + "Content-Length: 6\r\n\r\n", limits, r, chunked_body);
    EXPECT_EQ(res.error_status, 413);
    res = parse_request(kPost + "Content-Length: 5\r\n\r\nhello", limits, r, chunked_body);
    EXPECT_EQ(res.status, Parse::Complete);

    // De-chunked size counts, over all chunks; the chunk that goes over is refused at once.
    const std::string head = kChunkedPost;
    res = parse_request(head + "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", limits, r, chunked_body);
    EXPECT_EQ(res.status, Parse::Complete);
    EXPECT_EQ(r.body, "abcde");
    res = parse_request(head + "3\r\nabc\r\n3\r\n", limits, r, chunked_body);
    EXPECT_EQ(res.error_status, 413);
}

// The value check runs eight bytes at a time, so a bad byte is tried at every
// offset of a value longer than two words, among bytes that are all allowed.
void test_value_bytes_at_every_offset() {
    const std::string allowed = "a\t \x80\xff~!Z0\x9f\xa0\xc3\xa9;=\"xyz/\\q";
    const char forbidden[] = {'\0', '\x01', '\x1f', '\x7f', '\r', '\n' /* a bare LF: the line ends early */};
    Request r;
    const std::string ok = "GET / HTTP/1.1\r\nHost: h\r\nX: " + allowed + "\r\n\r\n";
    EXPECT_EQ(parse_head(ok, Limits{}, r).status, Parse::Complete);
    EXPECT_EQ(r.header("x"), allowed);
    for (char bad : forbidden) {
        for (size_t i = 1; i + 1 < allowed.size(); ++i) {  // not at the ends, which trimming could treat apart
            std::string value = allowed;
            value[i] = bad;
            const std::string in = "GET / HTTP/1.1\r\nHost: h\r\nX: " + value + "\r\n\r\n";
            const Result res = parse_head(in, Limits{}, r);
            const std::string at = "byte " + std::to_string(int(static_cast<unsigned char>(bad))) + " at " + std::to_string(i);
            EXPECT_EQ_AT(res.error_status, 400, at);
        }
    }
}

// Every line of the head ends with CRLF (RFC 9112 §2.2 allows a bare LF; we
// do not, because a proxy that disagrees is how requests get smuggled). The
// bare LF is tried at every line, complete head or not.
const std::vector<Bad> kBareLF = {
    {"request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
    {"header line", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400},
    {"last header line", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400},
    {"the blank line", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
    {"every line", "GET /lf HTTP/1.1\nHost: a\n\n", 400},
    {"an empty line before the request line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"an empty line after CRLF ones", "\r\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"refused before the head is complete", "GET / HTTP/1.1\r\nHost: a\nX", 400},
};

void test_bare_lf() {
    for (const Bad& b : kBareLF) {
        Request r;
        const Result res = parse_head(b.in, Limits{}, r);
        EXPECT_EQ_AT(res.status, Parse::Error, b.name);
        EXPECT_EQ_AT(res.error_status, b.status, b.name);
    }
}

// The smuggling requests llhttp and others were fixed for: each must be one
// 400, never a request followed by a second one the front proxy did not see.
void test_smuggling() {
    const std::vector<Bad> cases = {
        // A proxy that ends lines at CRLF only sees one header "Dummy: y\nContent-Length: 23"
        // and a GET without body, then forwards the rest as a second request.
        {"bare LF hides a Content-Length",
         "GET / HTTP/1.1\r\nHost: x\r\nDummy: y\nContent-Length: 23\r\n\r\nGET /admin HTTP/1.1\r\n\r\n", 400},
        {"bare LF in the blank line",
         "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"CL and TE", kPost + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n", 400},
        {"chunk size with a space and no extension", kChunkedPost + "5 \r\nhello\r\n0\r\n\r\n", 400},
        {"chunk size with a bare LF", kChunkedPost + "5\nhello\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n", 400},
        {"chunk data ended by a bare LF", kChunkedPost + "5\r\nhello\n0\r\n\r\n", 400},
        {"chunk extension with a bare CR", kChunkedPost + "5;a\rb\r\nhello\r\n0\r\n\r\n", 400},
        {"two Host lines", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    };
    for (const Bad& b : cases) {
        Request r;
        std::string chunked_body;
        const Result res = parse_request(b.in, Limits{}, r, chunked_body);
        EXPECT_EQ_AT(res.status, Parse::Error, b.name);
        EXPECT_EQ_AT(res.error_status, b.status, b.name);
        // Cut anywhere, it is never a complete request either.
        for (size_t k = 0; k < b.in.size(); ++k)
            EXPECT_EQ_AT(parse_request(std::string_view(b.in).substr(0, k), Limits{}, r, chunked_body).status == Parse::Complete,
                         false, std::string(b.name) + ", first " + std::to_string(k) + " bytes");
    }
}

// Expect: 100-continue (RFC 9110 §10.1.1). The head alone says what the
// connection needs to answer before the body comes: whether a 100 was asked
// for, how the body is framed, and whether its length is already too much.
void test_expect() {
    struct Case {
        const char* name;
        std::string head;
        bool expect_continue;
    };
    const std::vector<Case> cases = {
        {"100-continue", kPost + "Expect: 100-continue\r\nContent-Length: 3\r\n\r\n", true},
        {"case-insensitive", kPost + "expect: 100-Continue\r\nContent-Length: 3\r\n\r\n", true},
        {"in a list, twice", kPost + "Expect: 100-continue, ,100-CONTINUE\r\nContent-Length: 3\r\n\r\n", true},
        {"chunked", kPost + "Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n", true},
        {"no Expect", kPost + "Content-Length: 3\r\n\r\n", false},
        {"an empty Expect asks nothing", kPost + "Expect:\r\nContent-Length: 3\r\n\r\n", false},
        // "A server that receives a 100-continue expectation in an HTTP/1.0
        // request MUST ignore that expectation."
        {"HTTP/1.0 ignores it", "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", false},
    };
    for (const Case& c : cases) {
        Request r;
        const Result res = parse_head(c.head, Limits{}, r);
        EXPECT_EQ_AT(res.status, Parse::Complete, c.name);
        EXPECT_EQ_AT(res.consumed, c.head.size(), c.name);  // complete without a byte of body
        EXPECT_EQ_AT(r.expect_continue, c.expect_continue, c.name);
        EXPECT_EQ_AT(r.has_body(), true, c.name);
    }

    // The decision a connection makes, from the head alone:
    Request r;
    Limits limits;
    limits.max_body_bytes = 10;
    // a body over the limit: 413 as the final status, and no 100
    Result res = parse_head(kPost + "Expect: 100-continue\r\nContent-Length: 11\r\n\r\n", limits, r);
    EXPECT_EQ(res.error_status, 413);
    // an unknown expectation: 417
    res = parse_head(kPost + "Expect: 100-continue, x\r\nContent-Length: 1\r\n\r\n", limits, r);
    EXPECT_EQ(res.error_status, 417);
    // within the limit: Complete, so 100 Continue (a status line and an
    // empty line, nothing more), then the body
    res = parse_head(kPost + "Expect: 100-continue\r\nContent-Length: 10\r\n\r\n", limits, r);
    EXPECT_EQ(res.status, Parse::Complete);
    EXPECT_EQ(r.expect_continue, true);
    EXPECT_EQ(r.content_length, size_t(10));
    EXPECT_EQ(kContinueResponse, "HTTP/1.1 100 Continue\r\n\r\n");
    // a request without a body has nothing to continue
    res = parse_head("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", limits, r);
    EXPECT_EQ(res.status, Parse::Complete);
    EXPECT_EQ(r.has_body(), false);
}

struct Chunked {
    const char* name;
    std::string in;  // the body alone, as parse_chunked sees it
    std::string body;
};

const std::vector<Chunked> kChunkedBodies = {
    {"only the last chunk", "0\r\n\r\n", ""},
    {"one chunk", "4\r\nWiki\r\n0\r\n\r\n", "Wiki"},
    {"upper and lower hex", "a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij"},
    {"leading zeros", "0003\r\nabc\r\n000\r\n\r\n", "abc"},
    {"extensions", "3;a=1;b=\"q\"\r\nabc\r\n0;last\r\n\r\n", "abc"},
    {"space before extension", "3 \t;a\r\nabc\r\n0\r\n\r\n", "abc"},
    {"trailers", "3\r\nabc\r\n0\r\nX-A: 1\r\nX-B:2\r\n\r\n", "abc"},
    {"data containing CRLF", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n"},
};

void test_chunked_bodies() {
    for (const Chunked& c : kChunkedBodies) {
        std::string body = "stale";
        Result res = parse_chunked(c.in, 1 << 20, body);
        EXPECT_EQ_AT(res.status, Parse::Complete, c.name);
        EXPECT_EQ_AT(res.consumed, c.in.size(), c.name);
        EXPECT_EQ_AT(body, c.body, c.name);
        // Followed by another request: consumed stops at the end of the body.
        res = parse_chunked(c.in + "GET / HTTP/1.1\r\n\r\n", 1 << 20, body);
        EXPECT_EQ_AT(res.consumed, c.in.size(), c.name);
        for (size_t k = 0; k < c.in.size(); ++k) {
            const std::string at = std::string(c.name) + ", first " + std::to_string(k) + " bytes";
            res = parse_chunked(std::string_view(c.in).substr(0, k), 1 << 20, body);
            EXPECT_EQ_AT(res.status, Parse::Incomplete, at);
            EXPECT_EQ_AT(body, "", at);  // cleared, and nothing copied before the end
        }
    }
}

void test_reason_phrase() {
    const int known[] = {100, 101, 200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408,
                         411, 413, 414, 415, 417, 426, 429, 431, 500, 501, 502, 503, 504, 505};
    for (int status : known)
        EXPECT_EQ_AT(std::string_view(reason_phrase(status)) == "Unknown", false, std::to_string(status));
    EXPECT_EQ(std::string_view(reason_phrase(200)), "OK");
    EXPECT_EQ(std::string_view(reason_phrase(404)), "Not Found");
    EXPECT_EQ(std::string_view(reason_phrase(417)), "Expectation Failed");
    EXPECT_EQ(std::string_view(reason_phrase(431)), "Request Header Fields Too Large");
    EXPECT_EQ(std::string_view(reason_phrase(505)), "HTTP Version Not Supported");
    EXPECT_EQ(std::string_view(reason_phrase(299)), "Unknown");
    EXPECT_EQ(std::string_view(reason_phrase(-1)), "Unknown");
}

}  // namespace

int main() {
    test_good_requests();
    test_headers_and_zero_copy();
    test_bad_requests();
    test_head_limit();
    test_body_limit();
    test_value_bytes_at_every_offset();
    test_bare_lf();
    test_smuggling();
    test_expect();
    test_chunked_bodies();
    test_reason_phrase();
    return check::summary("http_parser");
}
