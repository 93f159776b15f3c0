// framing: see framing.h for the contract.
//
// Both cutters look only at what they need: cut_line scans at most
// max_bytes + 2 bytes for the '\n' (a longest line plus "\r\n"), and
// cut_frame reads the 4-byte length before anything else, so a peer that
// streams garbage costs a bounded amount of work per call.
#include "protocol/framing.h"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <cstring>

namespace smooth::framing {
namespace {

constexpr size_t kHeaderBytes = 4;

Piece message(std::string_view payload, size_t consumed) {
    return {.status = Cut::Message, .payload = payload, .consumed = consumed};
}
// Anything but a message: nothing to hand over, nothing to drop.
Piece verdict(Cut status) { return {.status = status, .payload = {}, .consumed = 0}; }

}  // namespace

Piece cut_line(std::string_view in, size_t max_bytes) {
    // The '\n' of an acceptable line is within the first max_bytes + 2 bytes.
    // (max_bytes may be SIZE_MAX for "no limit", hence the careful min.)
    const size_t scan = max_bytes >= in.size() ? in.size() : std::min(in.size(), max_bytes + 2);
    const void* nl = scan == 0 ? nullptr : std::memchr(in.data(), '\n', scan);

    if (nl == nullptr) {
        // Nothing to cut yet. A trailing '\r' may turn out to be half of the
        // "\r\n", so it does not count against the limit: a line of exactly
        // max_bytes, cut between '\r' and '\n', is still Incomplete.
        const size_t pending = in.size() - (!in.empty() && in.back() == '\r' ? 1 : 0);
        return verdict(pending > max_bytes ? Cut::TooLarge : Cut::Incomplete);
    }

    const size_t newline = size_t(static_cast<const char*>(nl) - in.data());
    const size_t length = newline > 0 && in[newline - 1] == '\r' ? newline - 1 : newline;
    if (length > max_bytes) return verdict(Cut::TooLarge);
    return message(in.substr(0, length), newline + 1);
}

Piece cut_frame(std::string_view in, size_t max_bytes) {
    if (in.size() < kHeaderBytes) return verdict(Cut::Incomplete);

    const auto byte = [&](size_t i) { return uint32_t(static_cast<unsigned char>(in[i])); };
    const size_t length = size_t(byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3));

    // The length counts its own 4 bytes, so less than 4 cannot be a frame.
    if (length < kHeaderBytes) return verdict(Cut::Malformed);
    // Judged on the header alone: no need to wait for a payload we refuse.
    if (length - kHeaderBytes > max_bytes) return verdict(Cut::TooLarge);
    if (in.size() < length) return verdict(Cut::Incomplete);
    return message(in.substr(kHeaderBytes, length - kHeaderBytes), length);
}

void frame_header(size_t payload_len, char out[4]) {
    // The caller keeps payloads under its max_bytes, far below 4 GiB; a
    // longer one cannot be described by a 32-bit length at all.
    assert(payload_len <= UINT32_MAX - kHeaderBytes);
    const uint32_t length = uint32_t(payload_len + kHeaderBytes);
    out[0] = char(length >> 24);
    out[1] = char(length >> 16);
    out[2] = char(length >> 8);
    out[3] = char(length);
}

}  // namespace smooth::framing
