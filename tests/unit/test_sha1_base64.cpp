// Unit tests for sha1 and base64, the two pieces of the WebSocket handshake:
// the FIPS 180 SHA-1 examples (each also fed in pieces, split at every
// byte), messages around the padding boundaries, one million 'a' in uneven
// pieces; the RFC 4648 §10 base64 vectors both ways, every byte value, and
// the inputs a strict decoder refuses.
#include "check.h"
#include "protocol/base64.h"
#include "protocol/sha1.h"

#include <optional>
#include <string>
#include <vector>

using namespace smooth;
using namespace std::string_literals;  // "..."s keeps an embedded NUL

namespace {

std::string hex(const Sha1::Digest& d) {
    static const char kDigits[] = "0123456789abcdef";
    std::string s;
    for (uint8_t b : d) {
        s += kDigits[b >> 4];
        s += kDigits[b & 15];
    }
    return s;
}

// ---- SHA-1 ----------------------------------------------------------------

struct Vector {
    const char* name;
    std::string message;
    const char* digest;
};

// A message of n bytes that is not all one byte, so a block out of place shows.
std::string pattern(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = char((i * 7 + 3) % 256);
    return s;
}

const std::vector<Vector> kVectors = {
    // FIPS 180-2 appendix A and the NIST example values.
    {"empty", "", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
    {"abc", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
    {"448 bits", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
    {"896 bits",
     "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "a49b2446a02c645bf419f995b67091253a04a259"},
    {"quick brown fox", "The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"},
    // Around the padding boundaries: 55 bytes is the longest that pads within
    // its block, 56 the shortest that needs one more. Digests from an
    // independent implementation (Python's hashlib).
    {"55 bytes", pattern(55), "ddf57317ef34bfee3b6df83d359098930eb278bc"},
    {"56 bytes", pattern(56), "a0d492bb0fc889d0eca3bc137066ab6f4f74f369"},
    {"63 bytes", pattern(63), "c55856749bef509bdfe6bfebfc7bf4e793e82132"},
    {"64 bytes", pattern(64), "bede92be29c3874e1b54ddc77988d606fc857a8e"},
    {"65 bytes", pattern(65), "b05a80522b053d6dc7e0a517d0e70212c7dad11f"},
    {"119 bytes", pattern(119), "504e27376a6e0f0dba8295b85cb25dc4dfa17d23"},
    {"120 bytes", pattern(120), "82134b02fb3f702491be9bed581eeab59334acb2"},
    {"127 bytes", pattern(127), "34d5e582029e9b9b85b2febe31da3db7cdabaaea"},
    {"128 bytes", pattern(128), "a09133e6730ffe899efb70204cb5646cd5dc24ee"},
};

void test_sha1_vectors() {
    for (const Vector& v : kVectors) {
        EXPECT_EQ_AT(hex(sha1(v.message)), v.digest, v.name);
        // Cut in two at every byte, and byte by byte: the same digest.
        Sha1 h;
        for (size_t k = 0; k <= v.message.size(); ++k) {
            h.update(std::string_view(v.message).substr(0, k));
            h.update(std::string_view(v.message).substr(k));
            EXPECT_EQ_AT(hex(h.final()), v.digest, std::string(v.name) + ", cut at " + std::to_string(k));
        }
        for (char c : v.message) h.update(std::string_view(&c, 1));
        EXPECT_EQ_AT(hex(h.final()), v.digest, std::string(v.name) + ", byte by byte");
    }
}

// FIPS 180-2 A.3: one million 'a', here in pieces of 1, 2, ... 127 bytes so
// the block boundary falls everywhere within a piece.
void test_sha1_million_a() {
    const std::string as(127, 'a');
    Sha1 h;
    size_t left = 1000000;
    for (size_t piece = 1; left > 0; piece = piece % 127 + 1) {
        const size_t n = piece < left ? piece : left;
        h.update(std::string_view(as).substr(0, n));
        left -= n;
    }
    EXPECT_EQ(hex(h.final()), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    // final() starts the hash over.
    EXPECT_EQ(hex(h.final()), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

// ---- base64 ---------------------------------------------------------------

struct Pair {
    std::string bytes;
    std::string encoded;
};

const std::vector<Pair> kPairs = {
    // RFC 4648 §10.
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
    // The two characters beyond the letters and digits, and bytes that are not text.
    {"\xfb\xff\xbf"s, "+/+/"},
    {"\0\0\0"s, "AAAA"},
    {"\xff\xff\xff\xff"s, "/////w=="},
    // RFC 6455 §4.1's sample nonce.
    {"the sample nonce", "dGhlIHNhbXBsZSBub25jZQ=="},
};

void test_base64_vectors() {
    for (const Pair& p : kPairs) {
        EXPECT_EQ_AT(base64::encode(p.bytes), p.encoded, p.encoded);
        EXPECT_EQ_AT(base64::encoded_length(p.bytes.size()), p.encoded.size(), p.encoded);
        const std::optional<std::string> back = base64::decode(p.encoded);
        EXPECT_EQ_AT(back.has_value(), true, p.encoded);
        if (back) EXPECT_EQ_AT(*back, p.bytes, p.encoded);
    }
}

// Every byte value, at each of the three positions in a group.
void test_base64_round_trip() {
    for (size_t shift = 0; shift < 3; ++shift) {
        std::string bytes(shift, 'x');
        for (int b = 0; b < 256; ++b) bytes += char(b);
        const std::string encoded = base64::encode(bytes);
        const std::optional<std::string> back = base64::decode(encoded);
        EXPECT_EQ_AT(back.value_or("<refused>"), bytes, "shift " + std::to_string(shift));
    }
}

struct Bad {
    const char* name;
    std::string in;
};

const std::vector<Bad> kBad = {
    {"length not a multiple of 4", "Zm9vY"},
    {"padding missing", "Zg"},
    {"padding short", "Zg="},
    {"three pad characters", "Z==="},
    {"all padding", "===="},
    {"padding in the middle", "Zg==Zg=="},
    {"padding before a digit", "Zm=v"},
    {"padding first", "=Zm9"},
    {"leftover bits not zero, two digits", "Zh=="},
    {"leftover bits not zero, three digits", "Zm9="},
    {"space", "Zm9v YmFy"},
    {"line break", "Zm9v\r\nYmFy"},
    {"trailing newline", "Zm9vYmE=\n"},
    {"URL-safe alphabet", "-_-_"},
    {"NUL", "Zm9\0"s},
    {"byte above 0x7f", "Zm9\xc3"},
    {"symbol", "Zm9@"},
};

void test_base64_refused() {
    for (const Bad& b : kBad) EXPECT_EQ_AT(base64::decode(b.in).has_value(), false, b.name);
}

}  // namespace

int main() {
    test_sha1_vectors();
    test_sha1_million_a();
    test_base64_vectors();
    test_base64_round_trip();
    test_base64_refused();
    return check::summary("sha1_base64");
}
