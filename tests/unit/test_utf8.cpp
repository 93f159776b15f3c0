// Unit tests for the incremental UTF-8 validator: a table of well-formed
// strings (each also fed cut in two at every byte and byte by byte), a table
// of malformed ones after Markus Kuhn's UTF-8 decoder stress test, each
// refused at the very byte that makes it wrong, the ASCII fast path with a bad
// byte at every offset, and the cut that keeps characters whole.
#include "check.h"
#include "protocol/utf8.h"

#include <string>
#include <vector>

using namespace smooth::utf8;
using namespace std::string_literals;  // "..."s keeps an embedded NUL

namespace {

std::string at(const std::string& name, size_t k) { return name + ", cut at " + std::to_string(k); }

struct Good {
    const char* name;
    std::string in;
};

const std::vector<Good> kGood = {
    {"empty", ""},
    {"ASCII", "Hello, world"},
    {"NUL and DEL are characters", "a\0b\x7f"s},
    {"kosme (Kuhn 1)", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"},
    {"first of each length (Kuhn 2.1)", "\x01" "\xc2\x80" "\xe0\xa0\x80" "\xf0\x90\x80\x80"},
    {"last of each length (Kuhn 2.2)", "\x7f" "\xdf\xbf" "\xef\xbf\xbf" "\xf4\x8f\xbf\xbf"},
    {"U+D7FF, just before the surrogates", "\xed\x9f\xbf"},
    {"U+E000, just after the surrogates", "\xee\x80\x80"},
    {"U+FFFD", "\xef\xbf\xbd"},
    {"U+FFFE and U+FFFF are noncharacters, still well-formed", "\xef\xbf\xbe\xef\xbf\xbf"},
    {"U+10FFFF, the last code point", "\xf4\x8f\xbf\xbf"},
    {"mixed, longer than the 8-byte fast path", "price: 5\xe2\x82\xac, clef \xf0\x9d\x84\x9e, caf\xc3\xa9 ok!!"},
    {"long ASCII then a character", std::string(37, 'a') + "\xc3\xa9" + std::string(9, 'b')},
};

void test_good() {
    for (const Good& g : kGood) {
        EXPECT_EQ_AT(is_valid(g.in), true, g.name);
        // Cut in two anywhere: the first part is Valid or Incomplete (never
        // Invalid), and the whole is Valid at the end.
        for (size_t k = 0; k <= g.in.size(); ++k) {
            Validator v;
            const Status first = v.feed(std::string_view(g.in).substr(0, k));
            EXPECT_EQ_AT(first == Status::Invalid, false, at(g.name, k));
            EXPECT_EQ_AT(v.feed(std::string_view(g.in).substr(k)), Status::Valid, at(g.name, k));
        }
        Validator v;
        for (char c : g.in) v.feed(std::string_view(&c, 1));
        EXPECT_EQ_AT(v.status(), Status::Valid, std::string(g.name) + ", byte by byte");
    }
}

// A character cut off: Incomplete, not Invalid, whatever comes before it.
struct Cut {
    const char* name;
    std::string in;
};

const std::vector<Cut> kIncomplete = {
    {"2-byte lead alone", "\xc3"},
    {"3-byte, one of two", "\xe2\x82"},
    {"4-byte, two of three", "\xf0\x9f\x98"},
    {"after ASCII", "abcdefghij\xe2"},
    {"U+10FFFF cut", "\xf4\x8f\xbf"},
};

void test_incomplete() {
    for (const Cut& c : kIncomplete) {
        Validator v;
        EXPECT_EQ_AT(v.feed(c.in), Status::Incomplete, c.name);
        EXPECT_EQ_AT(is_valid(c.in), false, c.name);
    }
}

struct Bad {
    const char* name;
    std::string in;
    size_t bad_at;  // the byte that makes it wrong: everything before it is not Invalid
};

// After Markus Kuhn's "UTF-8 decoder capability and stress test" (sections
// 3-5), written out by hand, and Unicode Table 3-7's edges.
const std::vector<Bad> kBad = {
    // 3.1 unexpected continuation bytes
    {"lone 0x80", "\x80", 0},
    {"lone 0xbf", "\xbf", 0},
    {"continuation after a whole character", "\xc3\xa9\x80", 2},
    {"continuation after ASCII", "ab\x80", 2},
    // 3.2 lead bytes followed by a non-continuation
    {"2-byte lead then space", "\xc3 ", 1},
    {"3-byte lead then ASCII", "\xe2\x82" "A", 2},
    {"4-byte lead then lead", "\xf0\x9f\xc3\xa9", 2},
    // 3.5 bytes that never appear
    {"0xfe", "\xfe", 0},
    {"0xff", "\xff", 0},
    {"5-byte form (0xf8)", "\xf8\x88\x80\x80\x80", 0},
    {"6-byte form (0xfc)", "\xfc\x84\x80\x80\x80\x80", 0},
    // 4.1, 4.2 overlong forms
    {"overlong '/' in 2 bytes", "\xc0\xaf", 0},
    {"overlong '/' in 3 bytes", "\xe0\x80\xaf", 1},
    {"overlong '/' in 4 bytes", "\xf0\x80\x80\xaf", 1},
    {"overlong NUL (C0 80)", "\xc0\x80", 0},
    {"largest overlong 2 bytes (C1 BF)", "\xc1\xbf", 0},
    {"largest overlong 3 bytes (E0 9F BF)", "\xe0\x9f\xbf", 1},
    {"largest overlong 4 bytes (F0 8F BF BF)", "\xf0\x8f\xbf\xbf", 1},
    // 5.1, 5.2 surrogates
    {"U+D800", "\xed\xa0\x80", 1},
    {"U+DBFF", "\xed\xaf\xbf", 1},
    {"U+DC00", "\xed\xb0\x80", 1},
    {"U+DFFF", "\xed\xbf\xbf", 1},
    {"surrogate pair U+D834 U+DD1E", "\xed\xa0\xb4\xed\xb4\x9e", 1},
    // above U+10FFFF
    {"U+110000", "\xf4\x90\x80\x80", 1},
    {"U+13FFFF", "\xf4\xbf\xbf\xbf", 1},
    {"F5 lead", "\xf5\x80\x80\x80", 0},
    {"F7 BF BF BF", "\xf7\xbf\xbf\xbf", 0},
    // the fast path does not hide a bad byte behind good ones
    {"bad byte after 16 ASCII", std::string(16, 'a') + "\xff", 16},
    {"bad byte inside a word", "abcde\x80gh", 5},
};

void test_bad() {
    for (const Bad& b : kBad) {
        EXPECT_EQ_AT(is_valid(b.in), false, b.name);
        // Fed a byte at a time: not Invalid before bad_at, Invalid from it on.
        Validator v;
        for (size_t i = 0; i < b.in.size(); ++i) {
            const Status s = v.feed(std::string_view(b.in).substr(i, 1));
            const std::string where = std::string(b.name) + ", byte " + std::to_string(i);
            EXPECT_EQ_AT(s == Status::Invalid, i >= b.bad_at, where);
        }
        // Invalid stays until reset().
        EXPECT_EQ_AT(v.feed("ok"), Status::Invalid, b.name);
        v.reset();
        EXPECT_EQ_AT(v.feed("ok"), Status::Valid, b.name);
    }
}

// The ASCII fast path reads eight bytes at a time: a bad byte or a character
// at every offset of a long run must be seen as it would byte by byte.
void test_every_offset() {
    const std::string ascii(40, 'x');
    for (size_t i = 0; i < ascii.size(); ++i) {
        std::string s = ascii;
        s[i] = '\x80';
        EXPECT_EQ_AT(is_valid(s), false, "0x80 at " + std::to_string(i));
        s = ascii;
        s.replace(i, 1, "\xe2\x82\xac");
        EXPECT_EQ_AT(is_valid(s), true, "euro at " + std::to_string(i));
        s = ascii;
        s.replace(i, 1, "\xed\xa0\x80");
        EXPECT_EQ_AT(is_valid(s), false, "surrogate at " + std::to_string(i));
    }
}

struct Truncation {
    const char* name;
    std::string in;
    size_t max_bytes;
    std::string want;
};

const std::vector<Truncation> kTruncations = {
    {"fits", "abc", 3, "abc"},
    {"ASCII cut", "abcdef", 4, "abcd"},
    {"cut inside a 2-byte character", "ab\xc3\xa9", 3, "ab"},
    {"cut after a 2-byte character", "ab\xc3\xa9z", 4, "ab\xc3\xa9"},
    {"cut inside a 3-byte character, after 1", "a\xe2\x82\xac", 2, "a"},
    {"cut inside a 3-byte character, after 2", "a\xe2\x82\xac", 3, "a"},
    {"cut inside a 4-byte character", "\xf0\x9d\x84\x9e", 3, ""},
    {"max 0", "abc", 0, ""},
};

void test_truncate() {
    for (const Truncation& t : kTruncations) {
        const std::string_view got = truncate(t.in, t.max_bytes);
        EXPECT_EQ_AT(got, t.want, t.name);
        EXPECT_EQ_AT(is_valid(got), true, t.name);
    }
}

}  // namespace

int main() {
    test_good();
    test_incomplete();
    test_bad();
    test_every_offset();
    test_truncate();
    return check::summary("utf8");
}
