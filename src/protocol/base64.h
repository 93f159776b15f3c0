// base64: RFC 4648 §4, the standard alphabet (A-Z a-z 0-9 + /) with '=' padding.
//
// The WebSocket handshake needs both directions: Sec-WebSocket-Accept is the
// base64 of a SHA-1 digest (encode), and Sec-WebSocket-Key must be the base64
// of exactly 16 bytes (decode, RFC 6455 §4.2.1 item 5).
//
// Decoding is strict, because it is used to check what a peer sent: the
// length is a multiple of 4, every character is in the alphabet, '=' appears
// only as one or two final pad characters, and the bits the padding leaves
// over are zero (RFC 4648 §3.5), so each byte string has exactly one accepted
// encoding. No whitespace, no line breaks, no URL-safe alphabet.
//
// The pointer forms write into the caller's buffer and allocate nothing.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace smooth::base64 {

// Characters encode() writes for n bytes: four for every three, rounded up.
constexpr size_t encoded_length(size_t n) { return (n + 2) / 3 * 4; }
// The most bytes decode() can write for n characters.
constexpr size_t max_decoded_length(size_t n) { return n / 4 * 3; }

// Writes encoded_length(in.size()) characters to out (no NUL); returns that count.
size_t encode(std::string_view in, char* out);
std::string encode(std::string_view in);

// Writes the decoded bytes to out (room for max_decoded_length(in.size()))
// and returns how many; std::nullopt if `in` is not strict base64 (out may
// then hold some garbage bytes).
std::optional<size_t> decode(std::string_view in, char* out);
std::optional<std::string> decode(std::string_view in);

}  // namespace smooth::base64
