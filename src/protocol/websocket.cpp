// websocket: see websocket.h for the contract.
//
// parse_frame_header() reads the header in the order the bytes arrive and
// checks each rule as soon as the byte it needs is there:
//
//   byte 0        reserved bits, reserved opcode, fragmented control frame
//   byte 1        missing mask, control frame over 125 bytes
//   length bytes  64-bit length with the top bit set, payload over the limit
//   mask key      nothing left to refuse
//
// So an error never waits for more input, and nothing past the header is read.
#include "protocol/websocket.h"

#include <cstring>

#include "protocol/utf8.h"

namespace smooth::ws {
namespace {

// Byte 0 and byte 1 of every frame (§5.2).
constexpr uint8_t kFinBit = 0x80;
constexpr uint8_t kRsvBits = 0x70;
constexpr int kRsvShift = 4;
constexpr uint8_t kOpcodeBits = 0x0F;
constexpr uint8_t kMaskBit = 0x80;
constexpr uint8_t kLengthBits = 0x7F;

// The 7-bit length: up to 125 it is the length; these two say a longer one follows.
constexpr uint8_t kLength16 = 126;
constexpr uint8_t kLength64 = 127;
constexpr size_t kBaseHeader = 2;
constexpr size_t kLength16Bytes = 2;
constexpr size_t kLength64Bytes = 8;
constexpr uint64_t kLength64TopBit = uint64_t(1) << 63;

FrameResult incomplete() { return {}; }

FrameResult error(uint16_t close_code, const char* why) {
    FrameResult r;
    r.status = FrameParse::Error;
    r.close_code = close_code;
    r.error = why;
    return r;
}

bool is_known_opcode(uint8_t op) {
    switch (Opcode(op)) {
        case Opcode::Continuation:
        case Opcode::Text:
        case Opcode::Binary:
        case Opcode::Close:
        case Opcode::Ping:
        case Opcode::Pong: return true;
    }
    return false;
}

}  // namespace

FrameResult parse_frame_header(std::string_view in, const FrameRules& rules) {
    const auto byte = [&](size_t i) { return static_cast<uint8_t>(in[i]); };
    Frame f;

    if (in.empty()) return incomplete();
    f.fin = (byte(0) & kFinBit) != 0;
    f.rsv = uint8_t((byte(0) & kRsvBits) >> kRsvShift);
    const uint8_t op = byte(0) & kOpcodeBits;
    if ((f.rsv & ~rules.allowed_rsv) != 0) return error(kCloseProtocolError, "reserved bit set without an extension");
    if (!is_known_opcode(op)) return error(kCloseProtocolError, "reserved opcode");
    f.opcode = Opcode(op);
    // §5.5: control frames MUST NOT be fragmented.
    if (is_control(f.opcode) && !f.fin) return error(kCloseProtocolError, "fragmented control frame");

    if (in.size() < kBaseHeader) return incomplete();
    f.masked = (byte(1) & kMaskBit) != 0;
    const uint8_t length7 = byte(1) & kLengthBits;
    // §5.1: "The server MUST close the connection upon receiving a frame that is not masked."
    if (rules.require_mask && !f.masked) return error(kCloseProtocolError, "unmasked client frame");
    // §5.5: a longer control payload needs 126 or 127 here, so this byte is enough.
    if (is_control(f.opcode) && length7 > kMaxControlPayload)
        return error(kCloseProtocolError, "control frame payload over 125 bytes");

    const size_t length_bytes = length7 == kLength16 ? kLength16Bytes : length7 == kLength64 ? kLength64Bytes : 0;
    if (in.size() < kBaseHeader + length_bytes) return incomplete();
    uint64_t length = length7;
    if (length_bytes > 0) {
        length = 0;
        for (size_t i = 0; i < length_bytes; ++i) length = length << 8 | byte(kBaseHeader + i);
    }
    // §5.2: "the most significant bit MUST be 0" in a 64-bit length.
    if ((length & kLength64TopBit) != 0) return error(kCloseProtocolError, "64-bit length with the top bit set");
    // §5.2 also says "the minimal number of bytes MUST be used to encode the
    // length" (so 5 written as 126, 0, 5 is wrong). That is the sender's duty
    // and the RFC does not ask the receiver to fail on it; the length is still
    // unambiguous and the limit below still applies, so it is accepted.
    if (!is_control(f.opcode) && length > rules.max_payload) return error(kCloseMessageTooBig, "frame payload too big");

    const size_t header = kBaseHeader + length_bytes + (f.masked ? kMaskBytes : 0);
    if (in.size() < header) return incomplete();
    if (f.masked) std::memcpy(f.mask, in.data() + kBaseHeader + length_bytes, kMaskBytes);
    f.payload_offset = header;
    f.payload_length = size_t(length);

    FrameResult r;
    r.status = FrameParse::Complete;
    r.frame = f;
    r.consumed = header;
    return r;
}

FrameResult parse_frame(std::string_view in, const FrameRules& rules) {
    FrameResult r = parse_frame_header(in, rules);
    if (r.status != FrameParse::Complete) return r;
    // Subtraction, not header + length: no sum that could overflow.
    if (in.size() - r.frame.payload_offset < r.frame.payload_length) return incomplete();
    r.consumed = r.frame.payload_offset + r.frame.payload_length;
    return r;
}

void unmask(char* data, size_t n, const uint8_t key[kMaskBytes], size_t offset) {
    // §5.3: payload byte i is XOR-ed with key[i % 4]. Rotate the key so that
    // rotated[j % 4] belongs to data[j], then lay it out twice to cover eight
    // bytes and XOR a word at a time (memcpy: any alignment, any byte order).
    uint8_t rotated[2 * kMaskBytes];
    for (size_t j = 0; j < sizeof rotated; ++j) rotated[j] = key[(offset + j) % kMaskBytes];
    uint64_t key_word;
    std::memcpy(&key_word, rotated, sizeof key_word);

    size_t i = 0;
    for (; i + sizeof key_word <= n; i += sizeof key_word) {
        uint64_t word;
        std::memcpy(&word, data + i, sizeof word);
        word ^= key_word;
        std::memcpy(data + i, &word, sizeof word);
    }
    for (; i < n; ++i) data[i] = char(data[i] ^ rotated[i % kMaskBytes]);
}

size_t write_frame_header(Opcode opcode, bool fin, size_t payload_length, char* out) {
    out[0] = char((fin ? kFinBit : 0) | uint8_t(opcode));
    // §5.2: the shortest form that holds the length.
    if (payload_length <= kMaxControlPayload) {
        out[1] = char(payload_length);
        return kBaseHeader;
    }
    const size_t length_bytes = payload_length <= UINT16_MAX ? kLength16Bytes : kLength64Bytes;
    out[1] = char(length_bytes == kLength16Bytes ? kLength16 : kLength64);
    for (size_t i = 0; i < length_bytes; ++i)
        out[kBaseHeader + i] = char(uint64_t(payload_length) >> (8 * (length_bytes - 1 - i)));
    return kBaseHeader + length_bytes;
}

size_t write_close_payload(uint16_t code, std::string_view reason, char* out) {
    // §7.4.1: 1005 is what an endpoint reports when a close had no code; it
    // is never put in a frame, so it stands for "send no code at all".
    if (code == kCloseNoStatus) return 0;
    out[0] = char(code >> 8);
    out[1] = char(code & 0xFF);
    // §5.5.1: the reason is UTF-8 and the whole payload at most 125 bytes.
    const std::string_view fitted = utf8::truncate(reason, kMaxCloseReason);
    if (!fitted.empty()) std::memcpy(out + kCloseCodeBytes, fitted.data(), fitted.size());
    return kCloseCodeBytes + fitted.size();
}

}  // namespace smooth::ws
