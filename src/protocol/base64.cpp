// base64: see base64.h. Three bytes (24 bits) become four 6-bit digits; a
// final one or two bytes become two or three digits padded with '='.
#include "protocol/base64.h"

#include <array>
#include <cstdint>

namespace smooth::base64 {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kPad = '=';
constexpr uint8_t kNotADigit = 0xFF;

// The alphabet turned around: character -> 6-bit value, or kNotADigit.
constexpr std::array<uint8_t, 256> kValue = [] {
    std::array<uint8_t, 256> v{};
    v.fill(kNotADigit);
    for (uint8_t i = 0; i < 64; ++i) v[static_cast<unsigned char>(kAlphabet[i])] = i;
    return v;
}();

uint8_t value_of(char c) { return kValue[static_cast<unsigned char>(c)]; }

}  // namespace

size_t encode(std::string_view in, char* out) {
    const auto* p = reinterpret_cast<const uint8_t*>(in.data());
    size_t n = in.size();
    char* o = out;
    for (; n >= 3; p += 3, n -= 3) {
        const uint32_t group = uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2];
        *o++ = kAlphabet[group >> 18];
        *o++ = kAlphabet[(group >> 12) & 63];
        *o++ = kAlphabet[(group >> 6) & 63];
        *o++ = kAlphabet[group & 63];
    }
    if (n > 0) {  // one or two bytes left: the missing ones count as zero bits
        const uint32_t group = uint32_t(p[0]) << 16 | (n == 2 ? uint32_t(p[1]) << 8 : 0);
        *o++ = kAlphabet[group >> 18];
        *o++ = kAlphabet[(group >> 12) & 63];
        *o++ = n == 2 ? kAlphabet[(group >> 6) & 63] : kPad;
        *o++ = kPad;
    }
    return size_t(o - out);
}

std::string encode(std::string_view in) {
    std::string out(encoded_length(in.size()), '\0');
    encode(in, out.data());
    return out;
}

std::optional<size_t> decode(std::string_view in, char* out) {
    if (in.size() % 4 != 0) return std::nullopt;
    // Padding is allowed only at the very end, one or two characters of it.
    size_t pad = 0;
    if (!in.empty() && in.back() == kPad) pad = in[in.size() - 2] == kPad ? 2 : 1;
    const size_t digits = in.size() - pad;

    char* o = out;
    uint32_t bits = 0;  // digits not yet written out, 6 bits each
    int bit_count = 0;
    for (size_t i = 0; i < digits; ++i) {
        const uint8_t v = value_of(in[i]);
        if (v == kNotADigit) return std::nullopt;  // includes a '=' before the end
        bits = bits << 6 | v;
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            *o++ = char(uint8_t(bits >> bit_count));
            bits &= (1u << bit_count) - 1;
        }
    }
    // What the last digit held beyond the last whole byte must be zero: "Zg=="
    // is "f", and "Zh==" would be a second spelling of it (RFC 4648 §3.5).
    if (bits != 0) return std::nullopt;
    return size_t(o - out);
}

std::optional<std::string> decode(std::string_view in) {
    std::string out(max_decoded_length(in.size()), '\0');
    const std::optional<size_t> n = decode(in, out.data());
    if (!n) return std::nullopt;
    out.resize(*n);
    return out;
}

}  // namespace smooth::base64
