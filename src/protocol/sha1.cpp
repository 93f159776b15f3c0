// sha1: see sha1.h. The steps are FIPS 180-4's, in its words:
//   §5.1.1 padding     a 1 bit, zeros, then the length in bits as 64 bits,
//                      so the padded message is a whole number of 512-bit blocks;
//   §6.1.2 hashing     each block expands into an 80-word schedule W, then
//                      80 rounds mix it into the working variables a..e.
#include "protocol/sha1.h"

#include <cstring>

namespace smooth {
namespace {

// §5.3.1: the initial hash value H(0).
constexpr uint32_t kInitial[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
// §4.2.1: one constant per group of 20 rounds.
constexpr uint32_t kRoundConstant[4] = {0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xCA62C1D6};
constexpr size_t kRounds = 80;
constexpr size_t kLengthBytes = 8;  // the message length at the end of the padding

uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

uint32_t load_be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// §4.1.1: the round function changes every 20 rounds (Ch, Parity, Maj, Parity).
uint32_t round_function(size_t t, uint32_t b, uint32_t c, uint32_t d) {
    if (t < 20) return (b & c) | (~b & d);
    if (t < 40) return b ^ c ^ d;
    if (t < 60) return (b & c) | (b & d) | (c & d);
    return b ^ c ^ d;
}

}  // namespace

void Sha1::reset() {
    std::memcpy(state_, kInitial, sizeof state_);
    block_used_ = 0;
    total_bytes_ = 0;
}

void Sha1::compress(const uint8_t block[kBlockBytes]) {
    // §6.1.2 step 1: the message schedule.
    uint32_t w[kRounds];
    for (size_t t = 0; t < 16; ++t) w[t] = load_be32(block + 4 * t);
    for (size_t t = 16; t < kRounds; ++t) w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);

    // Steps 2-4: the working variables, 80 rounds, added back into the state.
    uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3], e = state_[4];
    for (size_t t = 0; t < kRounds; ++t) {
        const uint32_t temp = rotl(a, 5) + round_function(t, b, c, d) + e + kRoundConstant[t / 20] + w[t];
        e = d;
        d = c;
        c = rotl(b, 30);
        b = a;
        a = temp;
    }
    state_[0] += a;
    state_[1] += b;
    state_[2] += c;
    state_[3] += d;
    state_[4] += e;
}

void Sha1::update(std::string_view bytes) {
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    size_t n = bytes.size();
    total_bytes_ += n;

    // Top up a partly filled block first; then whole blocks straight from the
    // input, without copying; then keep the tail for next time.
    if (block_used_ > 0) {
        const size_t take = n < kBlockBytes - block_used_ ? n : kBlockBytes - block_used_;
        std::memcpy(block_ + block_used_, p, take);
        block_used_ += take;
        p += take;
        n -= take;
        if (block_used_ < kBlockBytes) return;
        compress(block_);
        block_used_ = 0;
    }
    for (; n >= kBlockBytes; p += kBlockBytes, n -= kBlockBytes) compress(p);
    if (n > 0) std::memcpy(block_, p, n);
    block_used_ = n;
}

Sha1::Digest Sha1::final() {
    // §5.1.1: the bit length is taken before the padding changes the count.
    const uint64_t total_bits = total_bytes_ * 8;

    // A 0x80 byte (the 1 bit), then zeros up to 8 bytes short of a block end;
    // if the length no longer fits in this block, the zeros run into the next.
    block_[block_used_++] = 0x80;
    if (block_used_ > kBlockBytes - kLengthBytes) {
        std::memset(block_ + block_used_, 0, kBlockBytes - block_used_);
        compress(block_);
        block_used_ = 0;
    }
    std::memset(block_ + block_used_, 0, kBlockBytes - kLengthBytes - block_used_);
    for (size_t i = 0; i < kLengthBytes; ++i) block_[kBlockBytes - 1 - i] = uint8_t(total_bits >> (8 * i));
    compress(block_);

    // §6.1.2: the digest is H0..H4, each big-endian.
    Digest digest;
    for (size_t i = 0; i < 5; ++i)
        for (size_t j = 0; j < 4; ++j) digest[4 * i + j] = uint8_t(state_[i] >> (24 - 8 * j));
    reset();
    return digest;
}

Sha1::Digest sha1(std::string_view message) {
    Sha1 h;
    h.update(message);
    return h.final();
}

}  // namespace smooth
