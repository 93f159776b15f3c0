// wire_ints: big-endian integers and length-prefixed byte strings, read off
// the front of a frame's fields and appended to a frame being written. The
// gateway's link (link.cpp) and the gateway's hand-over (handover.cpp) speak
// frames made of these.
//
// A Reader never reads past its bytes: a field that is not all there sets
// `ok` to false and reads as zero (or empty), and the caller checks `ok` once
// at the end, as a parser checks a frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace smooth::wire {

struct Reader {
    std::string_view rest;
    bool ok = true;

    uint64_t take(size_t bytes) {
        if (rest.size() < bytes) {
            ok = false;
            rest = {};
            return 0;
        }
        uint64_t v = 0;
        for (size_t i = 0; i < bytes; i++) v = v << 8 | static_cast<unsigned char>(rest[i]);
        rest.remove_prefix(bytes);
        return v;
    }
    uint8_t u8() { return uint8_t(take(1)); }
    uint16_t u16() { return uint16_t(take(2)); }
    uint32_t u32() { return uint32_t(take(4)); }
    uint64_t u64() { return take(8); }
    std::string_view bytes(size_t n) {
        if (rest.size() < n) {
            ok = false;
            rest = {};
            return {};
        }
        std::string_view v = rest.substr(0, n);
        rest.remove_prefix(n);
        return v;
    }
    // A u32 length, then that many bytes.
    std::string_view string() { return bytes(u32()); }
};

inline void put(std::string& out, uint64_t v, size_t bytes) {
    for (size_t i = bytes; i-- > 0;) out += char(v >> (8 * i));
}

inline void put_string(std::string& out, std::string_view s) {
    put(out, s.size(), 4);
    out += s;
}

}  // namespace smooth::wire
