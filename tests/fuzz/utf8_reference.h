// utf8_reference: UTF-8 well-formedness checked the slow, obvious way, as a
// second opinion for the fuzzers: a transcription of Table 3-7 of the
// Unicode Standard (RFC 3629 §4 restates it), one character at a time, with
// none of utf8.cpp's tricks (no tables, no ASCII words).
#pragma once

#include <cstdint>
#include <string_view>

#include "protocol/utf8.h"

namespace fuzz {

// What utf8::Validator should say after being fed `s`: Invalid if some byte
// cannot come where it is, else Incomplete if the last character is cut
// short, else Valid.
inline smooth::utf8::Status reference_utf8(std::string_view s) {
    using smooth::utf8::Status;
    size_t i = 0;
    while (i < s.size()) {
        const uint8_t lead = static_cast<uint8_t>(s[i]);
        size_t more = 0;                  // continuation bytes after the lead
        uint8_t low = 0x80, high = 0xBF;  // the range of the first of them
        if (lead <= 0x7F) {
            ++i;
            continue;
        } else if (lead >= 0xC2 && lead <= 0xDF) {
            more = 1;
        } else if (lead == 0xE0) {
            more = 2;
            low = 0xA0;  // no overlong 3-byte forms
        } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
            more = 2;
        } else if (lead == 0xED) {
            more = 2;
            high = 0x9F;  // no surrogates
        } else if (lead == 0xF0) {
            more = 3;
            low = 0x90;  // no overlong 4-byte forms
        } else if (lead >= 0xF1 && lead <= 0xF3) {
            more = 3;
        } else if (lead == 0xF4) {
            more = 3;
            high = 0x8F;  // nothing above U+10FFFF
        } else {
            return Status::Invalid;  // 0x80-0xC1 and 0xF5-0xFF never lead
        }
        for (size_t k = 1; k <= more; ++k) {
            if (i + k == s.size()) return Status::Incomplete;
            const uint8_t c = static_cast<uint8_t>(s[i + k]);
            if (c < (k == 1 ? low : 0x80) || c > (k == 1 ? high : 0xBF)) return Status::Invalid;
        }
        i += 1 + more;
    }
    return Status::Valid;
}

}  // namespace fuzz
