// sha256: SHA-256 (FIPS 180-4 §6.2), HMAC-SHA-256 (RFC 2104, FIPS 198-1),
// and a comparison of secrets that takes the same time wherever they differ.
//
// The gateway links prove with them that both ends know the link secret
// (protocol/link.h, docs/links.md):
//
//   Sha256 h;                            // or, all at once: sha256("abc")
//   h.update("ab"); h.update("c");
//   Sha256::Digest d = h.final();        // 32 bytes; h starts over
//
//   Sha256::Digest mac = hmac_sha256(key, message);
//   if (equal_in_constant_time(view(mac), received)) ...
//
// Pure functions: no I/O, nothing allocated (the state is eight words, a
// 64-byte block and a count).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace smooth {

class Sha256 {
public:
    static constexpr size_t kDigestBytes = 32;
    static constexpr size_t kBlockBytes = 64;
    using Digest = std::array<uint8_t, kDigestBytes>;

    Sha256() { reset(); }

    // Appends bytes to the message; any split of a message hashes the same.
    void update(std::string_view bytes);
    // Pads the message, returns its digest, and resets for the next message.
    Digest final();
    void reset();

private:
    void compress(const uint8_t block[kBlockBytes]);

    uint32_t state_[8];
    uint8_t block_[kBlockBytes];
    size_t block_used_;     // bytes waiting in block_, always < kBlockBytes
    uint64_t total_bytes_;  // message length so far, for the final padding
};

Sha256::Digest sha256(std::string_view message);

// HMAC-SHA-256 of `message` under `key` (any length: a key longer than a
// block is hashed first, as RFC 2104 says).
Sha256::Digest hmac_sha256(std::string_view key, std::string_view message);
// The same, for a message given in parts (their concatenation is the message).
Sha256::Digest hmac_sha256(std::string_view key, std::initializer_list<std::string_view> parts);

// A digest's bytes as a string_view (valid while `d` lives).
inline std::string_view view(const Sha256::Digest& d) { return {reinterpret_cast<const char*>(d.data()), d.size()}; }

// True when a and b hold the same bytes. For equal sizes it looks at every
// byte whatever it finds, so the time it takes does not tell an attacker how
// many leading bytes of a guessed proof were right (a memcmp stops at the
// first difference). Sizes are not secret: different sizes are false at once.
bool equal_in_constant_time(std::string_view a, std::string_view b);

}  // namespace smooth
