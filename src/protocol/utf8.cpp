// utf8: see utf8.h.
//
// The first byte of a character says how many continuation bytes follow and,
// for a few first bytes, narrows the range of the *second* byte: that is how
// Table 3-7 of the Unicode Standard rules out overlongs, surrogates and code
// points above U+10FFFF without ever computing a code point. Every other
// continuation byte is simply 80..BF.
#include "protocol/utf8.h"

#include <cstring>

namespace smooth::utf8 {
namespace {

constexpr uint8_t kAsciiEnd = 0x80;          // bytes below are characters on their own
constexpr uint8_t kContinuationLow = 0x80;   // 10xxxxxx
constexpr uint8_t kContinuationHigh = 0xBF;
constexpr uint8_t kContinuationMask = 0xC0;  // the two bits that mark 10xxxxxx

struct Lead {
    uint8_t first, last;      // the range of first bytes this row covers
    uint8_t continuations;    // bytes that follow the first one
    uint8_t lower, upper;     // the allowed range of the second byte
};

// Unicode Table 3-7, "Well-Formed UTF-8 Byte Sequences". A first byte not in
// the table (80..C1, F5..FF) never starts a character: C0 and C1 could only
// start overlong two-byte forms, F5 and above only code points past U+10FFFF.
constexpr Lead kLeads[] = {
    {0xC2, 0xDF, 1, 0x80, 0xBF},  // U+0080..U+07FF
    {0xE0, 0xE0, 2, 0xA0, 0xBF},  // U+0800..U+0FFF: E0 80..9F would be overlong
    {0xE1, 0xEC, 2, 0x80, 0xBF},  // U+1000..U+CFFF
    {0xED, 0xED, 2, 0x80, 0x9F},  // U+D000..U+D7FF: ED A0..BF would be a surrogate
    {0xEE, 0xEF, 2, 0x80, 0xBF},  // U+E000..U+FFFF
    {0xF0, 0xF0, 3, 0x90, 0xBF},  // U+10000..U+3FFFF: F0 80..8F would be overlong
    {0xF1, 0xF3, 3, 0x80, 0xBF},  // U+40000..U+FFFFF
    {0xF4, 0xF4, 3, 0x80, 0x8F},  // U+100000..U+10FFFF: F4 90.. would be too high
};

const Lead* find_lead(uint8_t byte) {
    for (const Lead& lead : kLeads)
        if (byte >= lead.first && byte <= lead.last) return &lead;
    return nullptr;
}

// Whether the eight bytes at p are all ASCII: no byte has its top bit set.
bool all_ascii8(const uint8_t* p) {
    constexpr uint64_t kTopBits = 0x8080808080808080;
    uint64_t word;
    std::memcpy(&word, p, 8);  // unaligned load, any byte order
    return (word & kTopBits) == 0;
}

}  // namespace

bool Validator::start_character(uint8_t byte) {
    if (byte < kAsciiEnd) return true;
    const Lead* lead = find_lead(byte);
    if (lead == nullptr) return false;
    pending_ = lead->continuations;
    lower_ = lead->lower;
    upper_ = lead->upper;
    return true;
}

bool Validator::continue_character(uint8_t byte) {
    if (byte < lower_ || byte > upper_) return false;
    --pending_;
    lower_ = kContinuationLow;  // only the second byte can have a narrower range
    upper_ = kContinuationHigh;
    return true;
}

Status Validator::feed(std::string_view bytes) {
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    const uint8_t* const end = p + bytes.size();
    while (!invalid_ && p < end) {
        if (pending_ > 0) {
            invalid_ = !continue_character(*p++);
            continue;
        }
        // Between characters. Text is mostly ASCII: skip it a word at a time.
        while (end - p >= 8 && all_ascii8(p)) p += 8;
        if (p < end) invalid_ = !start_character(*p++);
    }
    return status();
}

Status Validator::status() const {
    if (invalid_) return Status::Invalid;
    return pending_ > 0 ? Status::Incomplete : Status::Valid;
}

bool is_valid(std::string_view s) {
    Validator v;
    return v.feed(s) == Status::Valid;
}

std::string_view truncate(std::string_view s, size_t max_bytes) {
    if (s.size() <= max_bytes) return s;
    // s[cut] is the first byte left out; while it is a continuation byte, the
    // character it belongs to started earlier and must go too.
    size_t cut = max_bytes;
    while (cut > 0 && (static_cast<uint8_t>(s[cut]) & kContinuationMask) == kContinuationLow) --cut;
    return s.substr(0, cut);
}

}  // namespace smooth::utf8
