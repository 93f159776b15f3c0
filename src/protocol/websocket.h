// websocket: the RFC 6455 wire format, as pure functions: the names of
// opcodes and close codes, the frame parser, unmasking, and the frames a
// server writes. The handshake is in websocket_handshake.h, the assembly of
// frames into messages in websocket_message.h.
//
// A frame (RFC 6455 §5.2):
//
//   byte 0   FIN | RSV1 RSV2 RSV3 | opcode (4 bits)
//   byte 1   MASK | payload length (7 bits): 0..125, or 126 / 127 meaning
//   +2 / +8  an extended length follows, 16 / 64 bits big-endian
//   +4       the masking key, if MASK is set (always from a client)
//   ...      payload, XOR-ed with the key when masked
//
// parse_frame() is like picohttpparser: no I/O, no state, never reads past
// the bytes it is given. Give it everything unread and it answers Complete
// (here is a frame and its size), Incomplete (need more bytes), or Error
// (fail the connection with this close code). An error is decided from the
// header alone, as soon as the byte that shows it has arrived: a peer that
// announces a 1 GiB frame is refused before any of it is read.
// The payload is left masked in the caller's buffer; unmask() undoes it in
// place, in one go or piece by piece.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace smooth::ws {

// §5.2, §11.8. Values 3-7 and 0xB-0xF are reserved and refused by the parser,
// so an Opcode that comes out of parse_frame() is always one of these.
enum class Opcode : uint8_t {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
};

// §5.5: control frames are the opcodes with the top bit set.
constexpr bool is_control(Opcode op) { return (uint8_t(op) & 0x8) != 0; }

// §7.4.1 close codes, with the names the RFC gives them.
inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseGoingAway = 1001;        // server shutting down, page left
inline constexpr uint16_t kCloseProtocolError = 1002;
inline constexpr uint16_t kCloseUnsupportedData = 1003;  // e.g. binary to a text-only endpoint
inline constexpr uint16_t kCloseNoStatus = 1005;         // never sent: "the close frame had no code"
inline constexpr uint16_t kCloseAbnormal = 1006;         // never sent: "closed without a close frame"
inline constexpr uint16_t kCloseInvalidPayload = 1007;   // e.g. a text message that is not UTF-8
inline constexpr uint16_t kClosePolicyViolation = 1008;
inline constexpr uint16_t kCloseMessageTooBig = 1009;
inline constexpr uint16_t kCloseInternalError = 1011;
inline constexpr uint16_t kCloseTryAgainLater = 1013;    // registered with IANA after the RFC

// §5.5: a control frame carries at most 125 bytes; a close payload is a
// 2-byte code and a reason, so the reason has at most 123.
inline constexpr size_t kMaxControlPayload = 125;
inline constexpr size_t kCloseCodeBytes = 2;
inline constexpr size_t kMaxCloseReason = kMaxControlPayload - kCloseCodeBytes;

// The longest header a server writes (2 + an 8-byte length; no mask), and the
// longest header a client can send (with the 4-byte key).
inline constexpr size_t kMaxServerHeader = 10;
inline constexpr size_t kMaxFrameHeader = 14;
inline constexpr size_t kMaskBytes = 4;

// ---- reading frames -------------------------------------------------------

struct FrameRules {
    // The largest payload of a data frame (text, binary, continuation); a
    // larger one is refused with 1009 from its header. Control frames are
    // held to 125 bytes by §5.5 whatever this says. A connection can pass the
    // room left in the current message (MessageAssembler::room()) so that
    // a message growing past its limit is refused before its payload arrives.
    size_t max_payload = 1 << 20;
    // §5.1: a server MUST fail the connection on an unmasked client frame.
    // Off only to read frames a server wrote (tests, a client).
    bool require_mask = true;
    // §5.2: RSV1-3 (the bits 0x4, 0x2, 0x1 here) MUST be 0 unless an agreed
    // extension gives them a meaning. No extension is negotiated today.
    uint8_t allowed_rsv = 0;
};

struct Frame {
    bool fin = false;
    uint8_t rsv = 0;  // RSV1 RSV2 RSV3 as the low three bits
    Opcode opcode = Opcode::Continuation;
    bool masked = false;
    uint8_t mask[kMaskBytes] = {};  // the masking key, if masked
    size_t payload_offset = 0;      // header length: where the payload starts
    size_t payload_length = 0;      // never more than the rules allow
};

enum class FrameParse { Complete, Incomplete, Error };

struct FrameResult {
    FrameParse status = FrameParse::Incomplete;
    Frame frame;                 // Complete: the header's fields
    size_t consumed = 0;         // Complete: header + payload, where the next frame starts
    uint16_t close_code = 0;     // Error: 1002 (protocol error) or 1009 (too big)
    const char* error = "";      // Error: a short reason, for the log and the close frame
};

// One frame from the start of `in`: Complete once header and payload are in.
FrameResult parse_frame(std::string_view in, const FrameRules& rules);

// The same, but Complete as soon as the header is in (consumed is then the
// header's length): for a caller that takes the payload as it streams in.
FrameResult parse_frame_header(std::string_view in, const FrameRules& rules);

// XORs n bytes with the masking key (§5.3), in place; the same call masks
// and unmasks. `offset` is the position of data[0] within the payload, so a
// payload can be unmasked in pieces as it arrives.
void unmask(char* data, size_t n, const uint8_t key[kMaskBytes], size_t offset);

// ---- writing frames (server to client: never masked, §5.1) ----------------

// Writes the header of a frame with this opcode, FIN bit and payload length
// into out (kMaxServerHeader bytes); returns its length, 2, 4 or 10. The
// payload follows it unchanged.
size_t write_frame_header(Opcode opcode, bool fin, size_t payload_length, char* out);

// The payload of a close frame (§5.5.1) into out (kMaxControlPayload bytes):
// the code big-endian, then the reason cut to kMaxCloseReason bytes without
// splitting a UTF-8 character. kCloseNoStatus gives an empty payload (a close
// without a code), since 1005 itself must never be sent. Returns the length.
size_t write_close_payload(uint16_t code, std::string_view reason, char* out);

}  // namespace smooth::ws
