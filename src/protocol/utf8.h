// utf8: an incremental UTF-8 validator, and a cut that keeps characters whole.
//
// A WebSocket text message must be valid UTF-8 (RFC 6455 §5.6, §8.1), and it
// may arrive split anywhere: across fragments, across reads, in the middle of
// a character. So the validator keeps the little it needs between calls (how
// many continuation bytes are still due and which range the next one must be
// in) and the caller feeds it pieces as they come:
//
//   Validator v;
//   v.feed(piece1);              // Valid, Incomplete or Invalid
//   v.feed(piece2);
//   if (v.feed(last) != Status::Valid) ...   // at the end, Incomplete is an error too
//
// Valid means "everything so far is well-formed and ends on a character
// boundary"; Incomplete means "well-formed so far, but the last character is
// not finished yet", which the caller accepts in the middle of a message and
// refuses at its end. Invalid is decided at the first bad byte (a peer sending
// garbage is stopped there, not at the end of its message) and stays until
// reset().
//
// Well-formed is the Unicode definition (Table 3-7 of the Unicode Standard,
// which RFC 3629 §4 restates): no overlong forms, no surrogates
// (U+D800..U+DFFF), nothing above U+10FFFF, no stray or missing continuation
// bytes. Noncharacters such as U+FFFE are well-formed and accepted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace smooth::utf8 {

enum class Status { Valid, Incomplete, Invalid };

class Validator {
public:
    // Checks the next bytes, continuing from where the previous call ended.
    Status feed(std::string_view bytes);
    // What feed() last returned (Valid before anything was fed).
    Status status() const;
    // Forgets everything, ready for a new message.
    void reset() { *this = Validator(); }

private:
    bool start_character(uint8_t byte);     // false if it cannot start one
    bool continue_character(uint8_t byte);  // false if it cannot come next

    uint8_t pending_ = 0;  // continuation bytes the current character still needs
    uint8_t lower_ = 0;    // the range the next of them must fall in
    uint8_t upper_ = 0;
    bool invalid_ = false;
};

// A whole string at once: true only for Valid (a cut-off character is false).
bool is_valid(std::string_view s);

// The longest prefix of `s` of at most max_bytes that does not cut a
// character in two. For valid UTF-8 the result is valid UTF-8.
std::string_view truncate(std::string_view s, size_t max_bytes);

}  // namespace smooth::utf8
