// fuzz_handover: handover::parse() on any bytes, frame after frame the way a
// successor reads the stream until one is not whole, under the default
// limit and a small one; each frame read written back with its write_*.
//
// Invariants (handover.h):
//   - Incomplete: nothing consumed, and the frame is not all in: fewer than
//     the 5 header bytes, or fewer than the 4 + length its header declares;
//   - Error: nothing consumed, a reason; the same Error with bytes appended;
//   - Complete: consumed = 4 + the declared length, within the input and the
//     limit; the consumed bytes alone parse the same frame; every strict
//     prefix of them is Incomplete;
//   - what write_*() makes of a frame's fields is byte for byte the frame:
//     the format has one spelling for each state (so what a successor reads
//     is what its predecessor meant), and LINK and CLIENT (but a CLIENT whose
//     connection has closed), the frames that take a descriptor, are exactly
//     the ones takes_fd() names;
//   - parsing the same bytes twice gives the same answer.
#include <cstdint>
#include <string>

#include "fuzz.h"
#include "protocol/handover.h"

using namespace smooth::handover;
using fuzz::require;

namespace {

std::string written(const Frame& f) {
    std::string out;
    switch (f.type) {
        case Type::Hello: write_hello(out, f.version); break;
        case Type::Link: write_link(out, f.link); break;
        case Type::Client: write_client(out, f.client); break;
        case Type::End: write_end(out, f.end); break;
        case Type::Commit: write_commit(out); break;
        case Type::Confirm: write_confirm(out, f.count); break;
        case Type::Refuse: write_refuse(out, f.reason); break;
    }
    return out;
}

void check_stream(std::string_view in, size_t limit) {
    while (true) {
        Frame f;
        Result r = parse(in, f, limit);
        Frame again;
        Result r2 = parse(in, again, limit);
        require(r.status == r2.status && r.consumed == r2.consumed, "the same bytes, the same answer");
        if (r.status == Parse::Incomplete) {
            require(r.consumed == 0, "Incomplete consumes nothing");
            if (in.size() >= kHeaderBytes) {
                uint64_t length = 0;
                for (size_t i = 0; i < 4; i++) length = length << 8 | static_cast<unsigned char>(in[i]);
                require(in.size() < length + 4, "Incomplete only while the frame is not all in");
            }
            return;
        }
        if (r.status == Parse::Error) {
            require(r.consumed == 0 && *r.error, "an Error consumes nothing and says why");
            std::string longer(in);
            longer += "appended";
            Frame g;
            require(parse(longer, g, limit).status == Parse::Error, "an Error stays an Error with bytes appended");
            return;
        }
        require(r.consumed <= in.size() && r.consumed <= limit, "consumed lies within the input and the limit");
        const std::string_view bytes = in.substr(0, r.consumed);
        const fuzz::Exact exact(bytes);
        Frame alone;
        require(parse(exact.view(), alone, limit).consumed == r.consumed, "the frame's bytes alone parse the same");
        for (size_t k : fuzz::prefixes_of(bytes, bytes.size())) {
            const fuzz::Exact prefix(bytes.substr(0, k));
            Frame p;
            require(parse(prefix.view(), p, limit).status == Parse::Incomplete, "every strict prefix is Incomplete");
        }
        require(written(f) == bytes, "written back, the frame is the same bytes");
        require(f.takes_fd() == (f.type == Type::Link ||
                                 (f.type == Type::Client && f.client.conn_state != kConnectionClosed)),
                "LINK and CLIENT take a descriptor, but a CLIENT whose connection has closed");
        in.remove_prefix(r.consumed);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    check_stream(in, kMaxFrame);
    check_stream(in, 256);
    return 0;
}
