// framing: how the byte-stream protocols cut messages, as pure functions.
//
//   text   one message per line; the '\n' (and a '\r' before it) is not part
//          of the message.
//   frame  [ 4-byte big-endian length, header included ][ payload ]
//   tcp    whatever bytes have arrived, as one message.
//
// Like the HTTP parser: no I/O, no state; the caller keeps the bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace smooth::framing {

enum class Cut { Message, Incomplete, TooLarge, Malformed };

struct Piece {
    Cut status = Cut::Incomplete;
    std::string_view payload;  // Message: the message, pointing into the input
    size_t consumed = 0;       // Message: bytes to drop from the input
};

// A line longer than max_bytes (without its newline) is TooLarge.
Piece cut_line(std::string_view in, size_t max_bytes);

// A frame whose length field exceeds max_bytes + 4 is TooLarge; a length
// field below 4 (shorter than its own header) is Malformed.
Piece cut_frame(std::string_view in, size_t max_bytes);

// The 4-byte header for a payload of `payload_len` bytes.
void frame_header(size_t payload_len, char out[4]);

}  // namespace smooth::framing
