// Unit tests for ChunkedDecoder (RFC 9112 §7.1): the chunk grammar with its
// extensions and trailers, as tables of good and bad bodies; every body fed
// whole, cut in two at every byte, and one byte at a time, the way a
// connection feeds it (dropping what was consumed at once), with the same
// outcome each way; and the limits on the wire, including the amplification
// case of tiny chunks with long extensions.
#include "check.h"
#include "protocol/http_parser.h"

#include <string>
#include <vector>

using namespace smooth::http;

namespace {

// What feeding a whole input came to.
struct Outcome {
    Parse status = Parse::Incomplete;
    int error_status = 0;
    size_t consumed = 0;  // over all calls
    std::string body;
};

// Feeds `in` cut at `cuts` (increasing offsets) to a new decoder as a
// connection would: each read is appended to what is pending, fed, and the
// consumed bytes are dropped. Stops at Complete or Error. Checks that need
// more always took every byte offered, so nothing is left pending.
Outcome feed_cut(std::string_view in, const std::vector<size_t>& cuts, size_t max_body, const std::string& at) {
    ChunkedDecoder decoder(max_body);
    Outcome out;
    std::string pending;
    size_t from = 0;
    for (size_t i = 0; i <= cuts.size(); ++i) {
        const size_t to = i < cuts.size() ? cuts[i] : in.size();
        pending.append(in.substr(from, to - from));
        from = to;
        const Result r = decoder.feed(pending, out.body);
        out.consumed += r.consumed;
        out.status = r.status;
        out.error_status = r.error_status;
        if (r.status != Parse::Incomplete) return out;
        EXPECT_EQ_AT(r.consumed, pending.size(), at);
        pending.erase(0, r.consumed);
    }
    return out;
}

std::vector<size_t> every_byte(size_t n) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < n; ++i) cuts.push_back(i);
    return cuts;
}

// The outcome whole, then cut in two at every byte, then byte by byte, must
// all be `want` (for an error, the same status).
void expect_every_way(const char* name, const std::string& in, const Outcome& want, size_t max_body = 1 << 20) {
    std::vector<std::vector<size_t>> ways = {{}, every_byte(in.size())};
    for (size_t k = 1; k < in.size(); ++k) ways.push_back({k});
    for (const auto& cuts : ways) {
        const std::string at = std::string(name) + ", cut " +
                               (cuts.empty() ? "nowhere" : cuts.size() == 1 ? "at " + std::to_string(cuts[0]) : "every byte");
        const Outcome got = feed_cut(in, cuts, max_body, at);
        EXPECT_EQ_AT(got.status, want.status, at);
        EXPECT_EQ_AT(got.error_status, want.error_status, at);
        if (want.status == Parse::Complete) {
            EXPECT_EQ_AT(got.consumed, want.consumed, at);
            EXPECT_EQ_AT(got.body, want.body, at);
        }
    }
}

const std::string kNext = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";  // a pipelined request after the body

struct Good {
    const char* name;
    std::string in;  // the body alone
    std::string body;
};

const std::vector<Good> kGood = {
    {"only the last chunk", "0\r\n\r\n", ""},
    {"one chunk", "4\r\nWiki\r\n0\r\n\r\n", "Wiki"},
    {"upper and lower hex", "a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij"},
    {"leading zeros", "0003\r\nabc\r\n000\r\n\r\n", "abc"},
    {"data containing CRLF", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n"},
    // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
    {"extension name", "3;a\r\nabc\r\n0\r\n\r\n", "abc"},
    {"extension with a token value", "3;a=1\r\nabc\r\n0\r\n\r\n", "abc"},
    {"extensions, several", "3;a=1;b;c=x-y\r\nabc\r\n0;last\r\n\r\n", "abc"},
    {"extension with a quoted value", "3;a=\"q r;s=t\"\r\nabc\r\n0\r\n\r\n", "abc"},
    {"quoted value with escapes", "3;a=\"\\\"\\\\\\q\"\r\nabc\r\n0\r\n\r\n", "abc"},
    {"quoted value, empty", "3;a=\"\"\r\nabc\r\n0\r\n\r\n", "abc"},
    {"quoted value with tab and obs-text", "3;a=\"\t\xc3\xa9\"\r\nabc\r\n0\r\n\r\n", "abc"},
    {"BWS everywhere it may be", "3 \t; \ta \t= \tb ;c\r\nabc\r\n0\r\n\r\n", "abc"},
    {"token characters in a name", "3;!#$%&'*+-.^_`|~09az=!#$%&'*+-.^_`|~\r\nabc\r\n0\r\n\r\n", "abc"},
    // trailer-section = *( field-line CRLF ): checked, then dropped
    {"trailers", "3\r\nabc\r\n0\r\nX-A: 1\r\nX-B:2\r\n\r\n", "abc"},
    {"trailer with an empty value", "3\r\nabc\r\n0\r\nX-A:\r\n\r\n", "abc"},
    {"extensions and trailers", "5;n=v\r\nhello\r\n6 ; e\r\n world\r\n0;z=\"1\"\r\nExpires: never\r\n\r\n", "hello world"},
};

void test_good_bodies() {
    for (const Good& g : kGood) {
        Outcome want{Parse::Complete, 0, g.in.size(), g.body};
        expect_every_way(g.name, g.in + kNext, want);

        // parse_chunked() on the whole body agrees, and stops where the body ends.
        std::string body = "stale";
        Result res = parse_chunked(g.in + kNext, 1 << 20, body);
        EXPECT_EQ_AT(res.status, Parse::Complete, g.name);
        EXPECT_EQ_AT(res.consumed, g.in.size(), g.name);
        EXPECT_EQ_AT(body, g.body, g.name);
        // Any prefix is Incomplete and leaves the body empty.
        for (size_t k = 0; k < g.in.size(); ++k) {
            const std::string at = std::string(g.name) + ", first " + std::to_string(k) + " bytes";
            res = parse_chunked(std::string_view(g.in).substr(0, k), 1 << 20, body);
            EXPECT_EQ_AT(res.status, Parse::Incomplete, at);
            EXPECT_EQ_AT(res.consumed, size_t(0), at);
            EXPECT_EQ_AT(body, "", at);
        }
    }
}

struct Bad {
    const char* name;
    std::string in;
    int status;
};

const std::vector<Bad> kBad = {
    // chunk-size = 1*HEXDIG
    {"no size", "\r\n", 400},
    {"not hex", "xyz\r\n", 400},
    {"0x prefix", "0x3\r\nabc\r\n0\r\n\r\n", 400},
    {"negative", "-3\r\nabc\r\n0\r\n\r\n", 400},
    {"space before the size", " 3\r\nabc\r\n0\r\n\r\n", 400},
    {"overflow", "1ffffffffffffffffffff\r\n", 400},
    // extensions: BWS only before ';' and around '='
    {"space after the size, no ';'", "0 \r\n\r\n", 400},
    {"tab after the size, no ';'", "3\t\r\nabc\r\n0\r\n\r\n", 400},
    {"';' without a name", "2;\r\nab\r\n0\r\n\r\n", 400},
    {"';' then space, no name", "2; \r\nab\r\n0\r\n\r\n", 400},
    {"'=' without a value", "2;a=\r\nab\r\n0\r\n\r\n", 400},
    {"'=' without a name", "2;=b\r\nab\r\n0\r\n\r\n", 400},
    {"value with a space in it", "2;a=b c\r\nab\r\n0\r\n\r\n", 400},
    {"space after a name", "2;a \r\nab\r\n0\r\n\r\n", 400},
    {"space after a value", "2;a=b \r\nab\r\n0\r\n\r\n", 400},
    {"trailing ';'", "2;a=b;\r\nab\r\n0\r\n\r\n", 400},
    {"two ';'", "2;;a\r\nab\r\n0\r\n\r\n", 400},
    {"name not a token", "2;a(b\r\nab\r\n0\r\n\r\n", 400},
    {"value not a token", "2;a=b@c\r\nab\r\n0\r\n\r\n", 400},
    {"unclosed quote", "2;a=\"x\r\nab\r\n0\r\n\r\n", 400},
    {"escape at the end of an unclosed quote", "2;a=\"x\\\r\nab\r\n0\r\n\r\n", 400},
    {"text after a quoted value", "2;a=\"x\"y\r\nab\r\n0\r\n\r\n", 400},
    {"control in a quoted value", "2;a=\"\x01\"\r\nab\r\n0\r\n\r\n", 400},
    {"escaped control in a quoted value", "2;a=\"\\\x01\"\r\nab\r\n0\r\n\r\n", 400},
    {"bare CR in an extension", "2;a\rb\r\nab\r\n0\r\n\r\n", 400},
    {"NUL in an extension", std::string("2;a\0b\r\nab\r\n0\r\n\r\n", 16), 400},
    // line endings and data
    {"size line ended by a bare LF", "3\nabc\r\n0\r\n\r\n", 400},
    {"last-chunk ended by a bare LF", "0\n\r\n", 400},
    {"data longer than its size", "3\r\nabcd\r\n0\r\n\r\n", 400},
    {"data followed by CR and no LF", "3\r\nabc\rX", 400},
    {"data followed by a bare LF", "3\r\nabc\n0\r\n\r\n", 400},
    // trailers
    {"trailer without a colon", "0\r\nbad trailer\r\n\r\n", 400},
    {"trailer with a space before the colon", "0\r\nX : 1\r\n\r\n", 400},
    {"trailer folded", "0\r\nX: 1\r\n 2\r\n\r\n", 400},
    {"trailer ended by a bare LF", "0\r\nX: 1\n\r\n", 400},
    {"final line ended by a bare LF", "0\r\nX: 1\r\n\n", 400},
    {"control in a trailer", "0\r\nX: a\x01\r\n\r\n", 400},
    // limits
    {"size line over 4096 bytes", "1;" + std::string(4093, 'x') + "\r\na\r\n0\r\n\r\n", 400},
    {"chunk over the body limit", "100001\r\n", 413},
    {"chunks over the body limit together", "80000\r\n" + std::string(0x80000, 'a') + "\r\n80001\r\n", 413},
    {"trailers over 8192 bytes", "0\r\nX: " + std::string(8190, 'a') + "\r\n\r\n", 431},
    {"many trailers over 8192 bytes", "0\r\n" + [] {
         std::string s;
         for (int i = 0; i < 1500; ++i) s += "X: 1\r\n";  // 9,000 bytes
         return s;
     }() + "\r\n", 431},
};

void test_bad_bodies() {
    for (const Bad& b : kBad) {
        // Cut every way for the short ones; the long ones whole and byte by byte.
        if (b.in.size() < 200) {
            expect_every_way(b.name, b.in, Outcome{Parse::Error, b.status, 0, ""});
        } else {
            for (const auto& cuts : {std::vector<size_t>{}, every_byte(b.in.size())}) {
                const Outcome got = feed_cut(b.in, cuts, 1 << 20, b.name);
                EXPECT_EQ_AT(got.status, Parse::Error, b.name);
                EXPECT_EQ_AT(got.error_status, b.status, b.name);
            }
        }
        std::string body;
        const Result res = parse_chunked(b.in, 1 << 20, body);
        EXPECT_EQ_AT(res.error_status, b.status, b.name);
        EXPECT_EQ_AT(std::string_view(res.error).empty(), false, b.name);
    }
}

// The limits that are exactly reached are not crossed.
void test_limits_exactly() {
    // A chunk-size line of exactly 4096 bytes, CRLF included.
    const std::string line = "1;" + std::string(4092, 'x') + "\r\n";
    EXPECT_EQ(line.size(), size_t(4096));
    expect_every_way("size line of 4096 bytes", line + "a\r\n0\r\n\r\n", Outcome{Parse::Complete, 0, line.size() + 8, "a"});
    // A trailer section of exactly 8192 bytes, final CRLF included.
    const std::string trailers = "X: " + std::string(8185, 'a') + "\r\n\r\n";
    EXPECT_EQ(trailers.size(), size_t(8192));
    const Outcome got = feed_cut("0\r\n" + trailers, every_byte(3 + trailers.size()), 1 << 20, "trailers of 8192 bytes");
    EXPECT_EQ(got.status, Parse::Complete);
    // A body of exactly the limit.
    expect_every_way("body of exactly the limit", "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                     Outcome{Parse::Complete, 0, 20, "abcde"}, 5);
    expect_every_way("body one over the limit", "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", Outcome{Parse::Error, 413, 0, ""}, 5);
}

// The decoder is a state machine: after Complete it stays done and takes
// nothing more; after an error it repeats the error.
void test_after_the_end() {
    ChunkedDecoder d(1 << 20);
    std::string body;
    Result r = d.feed("1\r\na\r\n0\r\n\r\nGET", body);
    EXPECT_EQ(r.status, Parse::Complete);
    EXPECT_EQ(r.consumed, size_t(11));
    r = d.feed("more", body);
    EXPECT_EQ(r.status, Parse::Complete);
    EXPECT_EQ(r.consumed, size_t(0));
    EXPECT_EQ(body, "a");

    ChunkedDecoder bad(1 << 20);
    r = bad.feed("z\r\n", body);
    EXPECT_EQ(r.error_status, 400);
    r = bad.feed("1\r\na\r\n", body);
    EXPECT_EQ(r.status, Parse::Error);
    EXPECT_EQ(r.error_status, 400);
    EXPECT_EQ(body, "a");  // nothing appended after the error
}

// Data is handed on as it comes: a chunk larger than a read is appended
// piece by piece, and a long size line cut into single bytes is taken one
// byte per call, never waiting in the caller's buffer.
void test_streaming() {
    ChunkedDecoder d(1 << 20);
    std::string body;
    Result r = d.feed("a\r\n01234", body);
    EXPECT_EQ(r.status, Parse::Incomplete);
    EXPECT_EQ(r.consumed, size_t(8));
    EXPECT_EQ(body, "01234");
    r = d.feed("56789\r", body);
    EXPECT_EQ(r.consumed, size_t(6));
    EXPECT_EQ(body, "0123456789");

    r = d.feed("\n", body);
    EXPECT_EQ(r.consumed, size_t(1));
    const std::string line = "3;" + std::string(4000, 'e') + "=\"" + std::string(50, 'v') + "\"\r";
    for (char c : line) {
        r = d.feed(std::string_view(&c, 1), body);
        EXPECT_EQ(r.status, Parse::Incomplete);
        EXPECT_EQ(r.consumed, size_t(1));
    }
    r = d.feed("\nabc\r\n0\r\n\r\n", body);
    EXPECT_EQ(r.status, Parse::Complete);
    EXPECT_EQ(body, "0123456789abc");
}

// 1-byte chunks each carrying a 4,000-byte extension: every line is within
// the line limit, but the framing is 4,000 times the data. The decoder
// refuses with 413 once framing_limit() (64 KiB + max_body/16) is spent, so
// it never takes more than that plus the data it decoded, however the bytes
// arrive; the connection never buffers more than one read.
void test_amplification() {
    const std::string chunk = "1;" + std::string(4000, 'x') + "\r\nZ\r\n";
    std::string in;
    while (in.size() < 400 * 1024) in += chunk;
    in += "0\r\n\r\n";

    for (size_t piece : {size_t(1) << 30, size_t(1000), size_t(1)}) {
        const std::string at = "pieces of " + std::to_string(piece);
        ChunkedDecoder d(1 << 20);
        EXPECT_EQ_AT(d.framing_limit(), size_t(64 * 1024 + (1 << 20) / 16), at);
        std::string body;
        size_t consumed = 0;
        Result r;
        for (size_t from = 0; from < in.size(); from += piece) {
            r = d.feed(std::string_view(in).substr(from, piece), body);
            consumed += r.consumed;
            if (r.status != Parse::Incomplete) break;
        }
        EXPECT_EQ_AT(r.status, Parse::Error, at);
        EXPECT_EQ_AT(r.error_status, 413, at);
        EXPECT_EQ_AT(std::string_view(r.error), "chunked framing too large", at);
        // The bound: framing never over its limit, plus the data decoded.
        EXPECT_EQ_AT(consumed <= d.framing_limit() + body.size(), true, at + ", consumed " + std::to_string(consumed));
        // And not much earlier either: within one line of it.
        EXPECT_EQ_AT(consumed + chunk.size() > d.framing_limit(), true, at + ", consumed " + std::to_string(consumed));
        EXPECT_EQ_AT(body.size() < 64, true, at);
    }

    // parse_request() uses the same decoder, so it refuses the same way.
    Request r;
    std::string chunked_body;
    const Result res = parse_request("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + in, Limits{},
                                     r, chunked_body);
    EXPECT_EQ(res.error_status, 413);

    // The allowance grows with the body limit, and ordinary framing fits in
    // it: a full 1 MiB body in 4 KiB chunks with short extensions.
    std::string ordinary;
    for (int i = 0; i < 256; ++i) ordinary += "1000;n=" + std::to_string(i) + "\r\n" + std::string(4096, 'd') + "\r\n";
    ordinary += "0\r\nX-Sum: 1\r\n\r\n";
    std::string body;
    EXPECT_EQ(parse_chunked(ordinary, 1 << 20, body).status, Parse::Complete);
    EXPECT_EQ(body.size(), size_t(1 << 20));
}

}  // namespace

int main() {
    test_good_bodies();
    test_bad_bodies();
    test_limits_exactly();
    test_after_the_end();
    test_streaming();
    test_amplification();
    return check::summary("http_chunked");
}
