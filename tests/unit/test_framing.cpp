// Unit tests for framing: lines and length-prefixed frames, each good input
// also fed cut at every byte, plus the limits and the malformed lengths.
#include "check.h"
#include "protocol/framing.h"

#include <string>
#include <vector>

using namespace smooth::framing;
using namespace std::string_literals;  // "..."s keeps an embedded NUL

namespace {

std::string at(const char* name, size_t k) { return std::string(name) + ", first " + std::to_string(k) + " bytes"; }

// ---- lines ----------------------------------------------------------------

struct GoodLine {
    const char* name;
    std::string in;       // one line with its newline
    std::string after;    // what follows it in the buffer
    size_t max_bytes;
    std::string payload;
};

const std::vector<GoodLine> kGoodLines = {
    {"LF", "hello\n", "", 100, "hello"},
    {"CRLF", "hello\r\n", "", 100, "hello"},
    {"empty line", "\n", "", 100, ""},
    {"empty line with CR", "\r\n", "", 100, ""},
    {"CR inside is kept", "a\rb\n", "", 100, "a\rb"},
    {"only the last CR goes", "ab\r\r\n", "", 100, "ab\r"},
    {"NUL is just a byte", "a\0b\n"s, "", 100, "a\0b"s},
    {"two lines in one buffer", "first\r\n", "second\r\n", 100, "first"},
    {"exactly max_bytes, LF", "abcd\n", "", 4, "abcd"},
    {"exactly max_bytes, CRLF", "abcd\r\n", "x", 4, "abcd"},
    {"empty line with max 0", "\r\n", "", 0, ""},
};

void test_good_lines() {
    for (const GoodLine& g : kGoodLines) {
        const std::string whole = g.in + g.after;
        Piece p = cut_line(whole, g.max_bytes);
        EXPECT_EQ_AT(p.status, Cut::Message, g.name);
        EXPECT_EQ_AT(p.payload, g.payload, g.name);
        EXPECT_EQ_AT(p.consumed, g.in.size(), g.name);
        EXPECT_EQ_AT(p.payload.data() == whole.data(), true, g.name);  // not a copy
        for (size_t k = 0; k < g.in.size(); ++k) {
            p = cut_line(std::string_view(g.in).substr(0, k), g.max_bytes);
            EXPECT_EQ_AT(p.status, Cut::Incomplete, at(g.name, k));
            EXPECT_EQ_AT(p.consumed, size_t(0), at(g.name, k));
        }
    }
}

struct BadLine {
    const char* name;
    std::string in;
    size_t max_bytes;
    Cut status;
};

const std::vector<BadLine> kBadLines = {
    {"one over, LF", "abcde\n", 4, Cut::TooLarge},
    {"one over, CRLF", "abcde\r\n", 4, Cut::TooLarge},
    {"CR counts when not before LF", "abcd\r\r\n", 4, Cut::TooLarge},
    {"no newline, already over", "abcde", 4, Cut::TooLarge},
    {"no newline, far over", std::string(10000, 'x'), 4, Cut::TooLarge},
    {"newline beyond a long line", std::string(100, 'x') + "\n", 10, Cut::TooLarge},
    {"no newline, at the limit", "abcd", 4, Cut::Incomplete},
    {"at the limit, CR may start CRLF", "abcd\r", 4, Cut::Incomplete},
    {"over the limit, with CR", "abcde\r", 4, Cut::TooLarge},
    {"max 0, any byte", "a", 0, Cut::TooLarge},
    {"empty input", "", 0, Cut::Incomplete},
};

void test_bad_lines() {
    for (const BadLine& b : kBadLines) {
        const Piece p = cut_line(b.in, b.max_bytes);
        EXPECT_EQ_AT(p.status, b.status, b.name);
        EXPECT_EQ_AT(p.consumed, size_t(0), b.name);
    }
}

// Cutting lines one after another walks the whole buffer.
void test_line_sequence() {
    const std::string buffer = "one\r\ntwo\n\r\nfour\r\npartial";
    const std::vector<std::string> want = {"one", "two", "", "four"};
    std::string_view rest = buffer;
    std::vector<std::string> got;
    for (Piece p = cut_line(rest, 64); p.status == Cut::Message; p = cut_line(rest, 64)) {
        got.emplace_back(p.payload);
        rest.remove_prefix(p.consumed);
    }
    EXPECT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size() && i < got.size(); ++i) EXPECT_EQ_AT(got[i], want[i], std::to_string(i));
    EXPECT_EQ(rest, "partial");
}

// ---- frames ---------------------------------------------------------------

std::string frame(std::string_view payload) {
    char header[4];
    frame_header(payload.size(), header);
    return std::string(header, 4) + std::string(payload);
}

struct GoodFrame {
    const char* name;
    std::string in;     // one frame
    std::string after;  // what follows it in the buffer
    size_t max_bytes;
    std::string payload;
};

const std::vector<GoodFrame> kGoodFrames = {
    {"empty payload", "\0\0\0\x04"s, "", 100, ""},
    {"small", "\0\0\0\x09hello"s, "", 100, "hello"},
    {"binary payload", "\0\0\0\x07\0\n\r"s, "", 100, "\0\n\r"s},
    {"followed by another frame", "\0\0\0\x06hi"s, "\0\0\0\x05!"s, 100, "hi"},
    {"exactly max_bytes", "\0\0\0\x07" "abc"s, "", 3, "abc"},
    {"two-byte length", frame(std::string(300, 'z')), "", 300, std::string(300, 'z')},
};

void test_good_frames() {
    for (const GoodFrame& g : kGoodFrames) {
        const std::string whole = g.in + g.after;
        Piece p = cut_frame(whole, g.max_bytes);
        EXPECT_EQ_AT(p.status, Cut::Message, g.name);
        EXPECT_EQ_AT(p.payload, g.payload, g.name);
        EXPECT_EQ_AT(p.consumed, g.in.size(), g.name);
        EXPECT_EQ_AT(p.payload.data() == whole.data() + 4, true, g.name);  // not a copy
        for (size_t k = 0; k < g.in.size(); ++k) {
            p = cut_frame(std::string_view(g.in).substr(0, k), g.max_bytes);
            EXPECT_EQ_AT(p.status, Cut::Incomplete, at(g.name, k));
            EXPECT_EQ_AT(p.consumed, size_t(0), at(g.name, k));
        }
    }
}

struct BadFrame {
    const char* name;
    std::string in;
    size_t max_bytes;
    Cut status;
};

const std::vector<BadFrame> kBadFrames = {
    {"length 0", "\0\0\0\0"s, 100, Cut::Malformed},
    {"length 1", "\0\0\0\x01xyz"s, 100, Cut::Malformed},
    {"length 3", "\0\0\0\x03"s, 100, Cut::Malformed},
    {"one over max", "\0\0\0\x08"s, 3, Cut::TooLarge},  // judged on the header, payload not waited for
    {"max 0 takes only empty frames", "\0\0\0\x05x"s, 0, Cut::TooLarge},
    {"top bit set", "\x80\0\0\x10"s, 1 << 20, Cut::TooLarge},
    {"largest length", "\xff\xff\xff\xff"s, 1 << 20, Cut::TooLarge},
    {"header cut short", "\0\0\0"s, 100, Cut::Incomplete},
};

void test_bad_frames() {
    for (const BadFrame& b : kBadFrames) {
        const Piece p = cut_frame(b.in, b.max_bytes);
        EXPECT_EQ_AT(p.status, b.status, b.name);
        EXPECT_EQ_AT(p.consumed, size_t(0), b.name);
    }
}

void test_frame_header_round_trip() {
    // Each byte of the length in its place, big-endian.
    char h[4];
    frame_header(0x01020304 - 4, h);
    EXPECT_EQ(std::string(h, 4), "\x01\x02\x03\x04"s);
    frame_header(0, h);
    EXPECT_EQ(std::string(h, 4), "\0\0\0\x04"s);

    const size_t sizes[] = {0, 1, 251, 252, 255, 256, 1000, 65531, 65532, 65536, 1 << 20};
    for (size_t n : sizes) {
        const std::string payload(n, 'p');
        const std::string f = frame(payload);
        const Piece p = cut_frame(f, 1 << 20);
        EXPECT_EQ_AT(p.status, Cut::Message, std::to_string(n));
        EXPECT_EQ_AT(p.payload.size(), n, std::to_string(n));
        EXPECT_EQ_AT(p.consumed, n + 4, std::to_string(n));
    }
    // The largest payload a 32-bit length can describe.
    frame_header(0xFFFFFFFFu - 4, h);
    EXPECT_EQ(std::string(h, 4), "\xff\xff\xff\xff"s);
}

}  // namespace

int main() {
    test_good_lines();
    test_bad_lines();
    test_line_sequence();
    test_good_frames();
    test_bad_frames();
    test_frame_header_round_trip();
    return check::summary("framing");
}
