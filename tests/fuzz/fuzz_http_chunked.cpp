// fuzz_http_chunked: ChunkedDecoder on any bytes, fed whole, one byte at a
// time (up to 1 KiB), and cut into pieces at places read from the input,
// the way a connection feeds it (what was consumed is dropped at once, the
// rest is fed again with the next read). With a large body limit and a
// small one.
//
// Invariants (chunked_decoder.h):
//   - every feed() consumes bytes within what it was given; Incomplete
//     consumes all of them; after Complete or Error, feed() repeats the
//     result and consumes nothing;
//   - in pieces, the outcome equals the outcome whole: the same status, the
//     same error status, and for Complete the same bytes consumed and the
//     same body;
//   - the body is within the body limit, and what was consumed within the
//     body plus framing_limit();
//   - Complete: decoding the consumed bytes again gives the same body; every
//     strict prefix of them is Incomplete (all of them up to 512 bytes,
//     then a few);
//     parse_chunked() agrees;
//   - Error: still an Error with more bytes appended.
#include <string>
#include <vector>

#include "fuzz.h"
#include "protocol/chunked_decoder.h"

using namespace smooth::http;
using fuzz::require;

namespace {

struct Outcome {
    Parse status = Parse::Incomplete;
    int error_status = 0;
    size_t consumed = 0;  // over all calls
    std::string body;
};

// Feeds `in` cut at `cuts` (increasing offsets), as a connection would.
Outcome feed_in_pieces(std::string_view in, const std::vector<size_t>& cuts, size_t max_body) {
    ChunkedDecoder decoder(max_body);
    Outcome out;
    std::string pending;
    size_t from = 0;
    for (size_t i = 0; i <= cuts.size(); ++i) {
        const size_t to = i < cuts.size() ? cuts[i] : in.size();
        pending.append(in.substr(from, to - from));
        from = to;
        const fuzz::Exact read(pending);  // exactly the bytes on hand: an overread is caught
        const Result r = decoder.feed(read.view(), out.body);
        require(r.consumed <= pending.size(), "feed() consumes bytes within its input");
        out.consumed += r.consumed;
        out.status = r.status;
        out.error_status = r.error_status;
        if (r.status == Parse::Incomplete) {
            require(r.consumed == pending.size(), "Incomplete consumes everything it was given");
            pending.clear();
            continue;
        }
        // Done or failed: the decoder says the same again and takes nothing.
        std::string ignored;
        const Result again = decoder.feed(read.view().substr(r.consumed), ignored);
        require(again.status == r.status && again.error_status == r.error_status && again.consumed == 0 &&
                    ignored.empty(),
                "after Complete or Error, feed() repeats the result and consumes nothing");
        return out;
    }
    return out;
}

std::vector<size_t> every_byte(size_t n) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < n; ++i) cuts.push_back(i);
    return cuts;
}

void check(std::string_view in, size_t max_body) {
    const Outcome whole = feed_in_pieces(in, {}, max_body);
    require(whole.body.size() <= max_body, "the body is within the body limit");
    if (whole.status != Parse::Error)
        require(whole.consumed <= whole.body.size() + ChunkedDecoder(max_body).framing_limit(),
                "what is consumed is the body plus at most framing_limit() of framing");
    if (whole.status == Parse::Error)
        require(whole.error_status == 400 || whole.error_status == 413 || whole.error_status == 431,
                "an Error answers 400, 413 or 431");

    // Byte by byte only for short inputs: a long one costs an allocation
    // per byte, and the input's own cuts already make many 1-byte pieces.
    for (const auto& cuts : {fuzz::cuts_from(in), in.size() <= 1024 ? every_byte(in.size()) : std::vector<size_t>{}}) {
        const Outcome pieces = feed_in_pieces(in, cuts, max_body);
        require(pieces.status == whole.status && pieces.error_status == whole.error_status,
                "in pieces, the same status as whole");
        if (whole.status == Parse::Complete)
            require(pieces.consumed == whole.consumed && pieces.body == whole.body,
                    "in pieces, a Complete body consumes the same bytes and decodes the same");
    }

    std::string body;
    const Result r = parse_chunked(in, max_body, body);
    require(r.status == whole.status && r.error_status == whole.error_status, "parse_chunked() agrees with the decoder");

    if (whole.status == Parse::Error) {
        std::string more(in);
        more += "0\r\n\r\n";
        require(feed_in_pieces(more, {}, max_body).status == Parse::Error, "an Error stays an Error with bytes appended");
        return;
    }
    if (whole.status != Parse::Complete) return;

    require(r.consumed == whole.consumed && body == whole.body, "parse_chunked() decodes the same body");
    const std::string_view consumed = in.substr(0, whole.consumed);
    const Outcome again = feed_in_pieces(consumed, {}, max_body);
    require(again.status == Parse::Complete && again.consumed == whole.consumed && again.body == whole.body,
            "the consumed bytes alone decode again to the same body");
    for (size_t k : fuzz::prefixes_of(in, whole.consumed))
        require(feed_in_pieces(consumed.substr(0, k), {}, max_body).status == Parse::Incomplete,
                "every strict prefix of a Complete body is Incomplete");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    check(in, 1 << 20);
    check(in, 16);  // small: the 413 for the decoded size is a few bytes away
    return 0;
}
