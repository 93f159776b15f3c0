// test_sha256: SHA-256 against the NIST examples for FIPS 180-4 (one block,
// two blocks, the 896-bit message, a million 'a'), lengths around the padding
// boundary, every split of a message fed in two parts; HMAC-SHA-256 against
// all seven test cases of RFC 4231; the constant-time comparison.
#include "protocol/sha256.h"

#include "check.h"

#include <string>

using namespace smooth;

namespace {

std::string hex(std::string_view bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (char c : bytes) {
        out += digits[static_cast<unsigned char>(c) >> 4];
        out += digits[static_cast<unsigned char>(c) & 15];
    }
    return out;
}

std::string hex(const Sha256::Digest& d) { return hex(view(d)); }

std::string bytes_of(std::string_view hex_text) {
    auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    std::string out;
    for (size_t i = 0; i + 1 < hex_text.size(); i += 2) out += char(nibble(hex_text[i]) << 4 | nibble(hex_text[i + 1]));
    return out;
}

// FIPS 180-4's examples (NIST's "SHA256.pdf" and the Secure Hashing vectors).
void test_nist_vectors() {
    struct Vector {
        const char* name;
        std::string message;
        const char* digest;
    };
    const Vector vectors[] = {
        {"empty", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc (one block)", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"448 bits (two blocks)", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"896 bits",
         "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
        {"a million 'a'", std::string(1000000, 'a'), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
        // Around the padding: 55 bytes leave room for the 0x80 and the length
        // in one block, 56 do not; 64 is a whole block; 119/120 the same a block on.
        {"55 'a'", std::string(55, 'a'), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {"56 'a'", std::string(56, 'a'), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {"57 'a'", std::string(57, 'a'), "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"},
        {"63 'a'", std::string(63, 'a'), "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {"64 'a'", std::string(64, 'a'), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {"65 'a'", std::string(65, 'a'), "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {"119 'a'", std::string(119, 'a'), "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {"120 'a'", std::string(120, 'a'), "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    for (const Vector& v : vectors) {
        EXPECT_EQ_AT(hex(sha256(v.message)), std::string(v.digest), v.name);
        // final() starts over: the same object hashes the next message afresh.
        Sha256 h;
        h.update("something else first");
        (void)h.final();
        h.update(v.message);
        EXPECT_EQ_AT(hex(h.final()), std::string(v.digest), std::string(v.name) + ", after a reset");
    }
}

// Any split of a message hashes the same: the block buffering in update().
void test_every_split() {
    std::string message;
    for (int i = 0; i < 200; i++) message += char('A' + i % 57);
    const std::string whole = hex(sha256(message));
    for (size_t cut = 0; cut <= message.size(); cut++) {
        Sha256 h;
        h.update(std::string_view(message).substr(0, cut));
        h.update(std::string_view(message).substr(cut));
        EXPECT_EQ_AT(hex(h.final()), whole, "cut at " + std::to_string(cut));
    }
    Sha256 h;  // one byte at a time
    for (char c : message) h.update(std::string_view(&c, 1));
    EXPECT_EQ_AT(hex(h.final()), whole, "one byte at a time");
}

// RFC 4231 §4.2 to §4.8: every HMAC-SHA-256 test case.
void test_rfc4231() {
    struct Case {
        const char* name;
        std::string key;
        std::string data;
        const char* mac;
        size_t truncated_to = 32;  // test case 5 checks the first 128 bits only
    };
    std::string key4;
    for (int i = 1; i <= 25; i++) key4 += char(i);
    const Case cases[] = {
        {"4.2 test case 1", std::string(20, '\x0b'), "Hi There",
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {"4.3 test case 2 (a key shorter than the output)", "Jefe", "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {"4.4 test case 3 (50 bytes of 0xdd)", std::string(20, '\xaa'), std::string(50, '\xdd'),
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
        {"4.5 test case 4 (50 bytes of 0xcd)", key4, std::string(50, '\xcd'),
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
        {"4.6 test case 5 (truncation to 128 bits)", std::string(20, '\x0c'), "Test With Truncation",
         "a3b6167473100ee06e0c796c2955552b", 16},
        {"4.7 test case 6 (a key larger than a block)", std::string(131, '\xaa'),
         "Test Using Larger Than Block-Size Key - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        {"4.8 test case 7 (key and data larger than a block)", std::string(131, '\xaa'),
         "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be "
         "hashed before being used by the HMAC algorithm.",
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
    };
    for (const Case& c : cases) {
        const Sha256::Digest mac = hmac_sha256(c.key, c.data);
        EXPECT_EQ_AT(hex(view(mac).substr(0, c.truncated_to)), std::string(c.mac), c.name);
        // In parts, as the link proofs give it: the same MAC.
        const std::string_view d = c.data;
        const Sha256::Digest parts = hmac_sha256(c.key, {d.substr(0, 3), d.substr(3, 10), d.substr(13 < d.size() ? 13 : d.size())});
        EXPECT_EQ_AT(hex(parts), hex(mac), std::string(c.name) + ", in parts");
    }
}

void test_equal_in_constant_time() {
    const std::string a = bytes_of("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    std::string first = a, last = a;
    first[0] ^= 1;
    last[31] ^= 0x80;
    EXPECT(equal_in_constant_time(a, a));
    EXPECT(equal_in_constant_time(a, std::string(a)));
    EXPECT(!equal_in_constant_time(a, first));
    EXPECT(!equal_in_constant_time(a, last));
    EXPECT(!equal_in_constant_time(a, std::string_view(a).substr(0, 31)));  // a prefix is not the proof
    EXPECT(!equal_in_constant_time(a, ""));
    EXPECT(equal_in_constant_time("", ""));
}

}  // namespace

int main() {
    test_nist_vectors();
    test_every_split();
    test_rfc4231();
    test_equal_in_constant_time();
    return check::summary("sha256");
}
