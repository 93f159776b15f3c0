// sha256: see sha256.h. The steps are FIPS 180-4's, in its words:
//   §5.1.1 padding     a 1 bit, zeros, then the length in bits as 64 bits,
//                      so the padded message is a whole number of 512-bit blocks;
//   §6.2.2 hashing     each block expands into a 64-word schedule W, then
//                      64 rounds mix it into the working variables a..h.
// and HMAC is RFC 2104's: H((K ^ opad) || H((K ^ ipad) || message)).
#include "protocol/sha256.h"

#include <cstring>

namespace smooth {
namespace {

// §5.3.3: the initial hash value H(0): the first 32 bits of the fractional
// parts of the square roots of the first eight primes.
constexpr uint32_t kInitial[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
// §4.2.2: one constant per round: the first 32 bits of the fractional parts
// of the cube roots of the first 64 primes.
constexpr uint32_t kRoundConstant[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
constexpr size_t kRounds = 64;
constexpr size_t kLengthBytes = 8;  // the message length at the end of the padding

uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

uint32_t load_be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// §4.1.2: the six logical functions.
uint32_t ch(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (~x & z); }
uint32_t maj(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (x & z) ^ (y & z); }
uint32_t big_sigma0(uint32_t x) { return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22); }
uint32_t big_sigma1(uint32_t x) { return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25); }
uint32_t small_sigma0(uint32_t x) { return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3); }
uint32_t small_sigma1(uint32_t x) { return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10); }

// RFC 2104 §2: the key XORed with these, a block long, before each hash.
constexpr uint8_t kInnerPad = 0x36;
constexpr uint8_t kOuterPad = 0x5c;

}  // namespace

void Sha256::reset() {
    std::memcpy(state_, kInitial, sizeof state_);
    block_used_ = 0;
    total_bytes_ = 0;
}

void Sha256::compress(const uint8_t block[kBlockBytes]) {
    // §6.2.2 step 1: the message schedule.
    uint32_t w[kRounds];
    for (size_t t = 0; t < 16; ++t) w[t] = load_be32(block + 4 * t);
    for (size_t t = 16; t < kRounds; ++t) w[t] = small_sigma1(w[t - 2]) + w[t - 7] + small_sigma0(w[t - 15]) + w[t - 16];

    // Steps 2-4: the working variables, 64 rounds, added back into the state.
    uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
    uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
    for (size_t t = 0; t < kRounds; ++t) {
        const uint32_t t1 = h + big_sigma1(e) + ch(e, f, g) + kRoundConstant[t] + w[t];
        const uint32_t t2 = big_sigma0(a) + maj(a, b, c);
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state_[0] += a;
    state_[1] += b;
    state_[2] += c;
    state_[3] += d;
    state_[4] += e;
    state_[5] += f;
    state_[6] += g;
    state_[7] += h;
}

void Sha256::update(std::string_view bytes) {
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

Sha256::Digest Sha256::final() {
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

    // §6.2.2: the digest is H0..H7, each big-endian.
    Digest digest;
    for (size_t i = 0; i < 8; ++i)
        for (size_t j = 0; j < 4; ++j) digest[4 * i + j] = uint8_t(state_[i] >> (24 - 8 * j));
    reset();
    return digest;
}

Sha256::Digest sha256(std::string_view message) {
    Sha256 h;
    h.update(message);
    return h.final();
}

Sha256::Digest hmac_sha256(std::string_view key, std::initializer_list<std::string_view> parts) {
    // RFC 2104 §2 step 1: the key as one block: hashed if longer, zero-padded.
    uint8_t block[Sha256::kBlockBytes] = {};
    if (key.size() > Sha256::kBlockBytes) {
        const Sha256::Digest hashed = sha256(key);
        std::memcpy(block, hashed.data(), hashed.size());
    } else if (!key.empty()) {
        std::memcpy(block, key.data(), key.size());
    }
    uint8_t pad[Sha256::kBlockBytes];
    const std::string_view pad_view(reinterpret_cast<const char*>(pad), sizeof pad);

    // Steps 2-4: the inner hash, over the key XOR ipad and the message.
    Sha256 h;
    for (size_t i = 0; i < sizeof pad; ++i) pad[i] = block[i] ^ kInnerPad;
    h.update(pad_view);
    for (std::string_view part : parts) h.update(part);
    const Sha256::Digest inner = h.final();

    // Steps 5-7: the outer hash, over the key XOR opad and the inner hash.
    for (size_t i = 0; i < sizeof pad; ++i) pad[i] = block[i] ^ kOuterPad;
    h.update(pad_view);
    h.update(view(inner));
    return h.final();
}

Sha256::Digest hmac_sha256(std::string_view key, std::string_view message) { return hmac_sha256(key, {message}); }

bool equal_in_constant_time(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    // Every byte is looked at, and the differences are gathered with OR, not
    // tested: no branch depends on where (or whether) the bytes differ.
    // volatile keeps the compiler from turning the loop into an early exit.
    volatile uint8_t diff = 0;
    for (size_t i = 0; i < a.size(); ++i) diff = diff | uint8_t(a[i] ^ b[i]);
    return diff == 0;
}

}  // namespace smooth
