// fuzz_framing: cut_line() and cut_frame() on any bytes, with limits from
// none at all to none (SIZE_MAX), cutting message after message the way a
// connection does until one is not whole.
//
// Invariants (framing.h):
//   - Message: consumed within the input and more than zero (so a
//     connection always moves on); the payload lies in the consumed bytes
//     and within the limit; a line holds no '\n'; a frame's header is
//     frame_header() of its payload's length;
//   - anything else: nothing consumed, no payload;
//   - Message: the consumed bytes alone cut the same; every strict prefix
//     of them is Incomplete (all of them up to 512 bytes, then a few);
//   - TooLarge and Malformed: the same with bytes appended (the verdict
//     is final).
#include <cstdint>
#include <string>

#include "fuzz.h"
#include "protocol/framing.h"

using namespace smooth::framing;
using fuzz::inside;
using fuzz::require;

namespace {

using Cutter = Piece (*)(std::string_view, size_t);

void check_piece(std::string_view in, size_t max_bytes, Cutter cut, bool is_line) {
    const Piece p = cut(in, max_bytes);
    if (p.status != Cut::Message) {
        require(p.consumed == 0 && p.payload.empty(), "anything but a Message consumes nothing and has no payload");
        if (p.status == Cut::Incomplete) return;
        std::string more(in);
        more.append("\n\n\0\0\0\x08" "abcd", 10);  // two newlines, then a whole 4-byte frame
        require(cut(more, max_bytes).status == p.status, "TooLarge and Malformed stay so with bytes appended");
        return;
    }

    require(p.consumed > 0 && p.consumed <= in.size(), "a Message consumes bytes within the input, at least one");
    const std::string_view consumed = in.substr(0, p.consumed);
    require(inside(p.payload, consumed), "the payload lies in the consumed bytes");
    require(p.payload.size() <= max_bytes, "the payload is within the limit");
    if (is_line) {
        require(p.payload.find('\n') == std::string_view::npos, "a line holds no newline");
        require(p.consumed == p.payload.size() + 1 || p.consumed == p.payload.size() + 2,
                "a line's newline is \"\\n\" or \"\\r\\n\"");
    } else {
        char header[4];
        frame_header(p.payload.size(), header);
        require(p.consumed == p.payload.size() + 4 && consumed.substr(0, 4) == std::string_view(header, 4),
                "a frame is frame_header() of its payload, then the payload");
    }

    const fuzz::Exact copy(consumed);
    const Piece again = cut(copy.view(), max_bytes);
    require(again.status == Cut::Message && again.consumed == p.consumed && again.payload == p.payload &&
                inside(again.payload, copy.view()),
            "the consumed bytes alone cut the same message");
    for (size_t k : fuzz::prefixes_of(in, p.consumed)) {
        const fuzz::Exact prefix(in.substr(0, k));
        require(cut(prefix.view(), max_bytes).status == Cut::Incomplete,
                "every strict prefix of a Message is Incomplete");
    }
}

// Message after message, as a connection reads them, until one is not whole.
void check_stream(std::string_view in, size_t max_bytes, Cutter cut, bool is_line) {
    while (true) {
        check_piece(in, max_bytes, cut, is_line);
        const Piece p = cut(in, max_bytes);
        if (p.status != Cut::Message) return;
        in.remove_prefix(p.consumed);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    for (size_t max_bytes : {size_t(0), size_t(1), size_t(8), size_t(300), size_t(1) << 20, SIZE_MAX}) {
        check_stream(in, max_bytes, cut_line, true);
        check_stream(in, max_bytes, cut_frame, false);
    }
    return 0;
}
