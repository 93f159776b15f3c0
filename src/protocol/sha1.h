// sha1: SHA-1 (FIPS 180-4 §6.1), streaming and one-shot.
//
// Only the WebSocket handshake uses it: RFC 6455 §4.2.2 defines
// Sec-WebSocket-Accept as base64(SHA-1(key + GUID)). SHA-1 is broken as a
// collision-resistant hash; that does not matter here, where it only proves
// the server read the key. Do not use it for anything that needs security.
//
//   Sha1 h;                       // or, all at once: sha1("abc")
//   h.update("ab"); h.update("c");
//   Sha1::Digest d = h.final();   // 20 bytes; h starts over, ready for new input
//
// Nothing is allocated: the state is five words, a 64-byte block and a count.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace smooth {

class Sha1 {
public:
    static constexpr size_t kDigestBytes = 20;
    using Digest = std::array<uint8_t, kDigestBytes>;

    Sha1() { reset(); }

    // Appends bytes to the message; any split of a message hashes the same.
    void update(std::string_view bytes);
    // Pads the message, returns its digest, and resets for the next message.
    Digest final();
    void reset();

private:
    static constexpr size_t kBlockBytes = 64;

    void compress(const uint8_t block[kBlockBytes]);

    uint32_t state_[5];
    uint8_t block_[kBlockBytes];
    size_t block_used_;     // bytes waiting in block_, always < kBlockBytes
    uint64_t total_bytes_;  // message length so far, for the final padding
};

Sha1::Digest sha1(std::string_view message);

}  // namespace smooth
