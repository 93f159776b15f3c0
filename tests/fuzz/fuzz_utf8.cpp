// fuzz_utf8: utf8::Validator on any bytes, fed whole, one byte at a time
// and in pieces cut where the input says, against a plain transcription of
// the Unicode table (utf8_reference.h); and utf8::truncate().
//
// Invariants (utf8.h):
//   - fed whole, in pieces or byte by byte, the final status is the same,
//     and it is the reference's; is_valid() is true exactly for Valid;
//   - status() is what feed() last returned; Invalid, once returned, stays;
//   - at every cut of an input up to 512 bytes (at a few of a longer one),
//     the status so far is the reference's for that prefix (a character
//     cut in two is Incomplete);
//   - truncate(s, n) is a prefix of s of at most n bytes; for valid UTF-8
//     it is valid and drops at most the 3 bytes of one cut character.
#include <algorithm>
#include <vector>

#include "fuzz.h"
#include "protocol/utf8.h"
#include "utf8_reference.h"

using namespace smooth::utf8;
using fuzz::require;

namespace {

// Feeds `in` cut at `cuts` and returns the final status, checking on the way.
Status feed_in_pieces(std::string_view in, const std::vector<size_t>& cuts) {
    Validator v;
    require(v.status() == Status::Valid, "a new Validator is Valid");
    Status last = Status::Valid;
    size_t from = 0;
    for (size_t i = 0; i <= cuts.size(); ++i) {
        const size_t to = i < cuts.size() ? cuts[i] : in.size();
        const fuzz::Exact piece(in.substr(from, to - from));
        const Status s = v.feed(piece.view());
        require(s == v.status(), "status() is what feed() last returned");
        require(last != Status::Invalid || s == Status::Invalid, "Invalid stays Invalid");
        last = s;
        from = to;
    }
    return last;
}

std::vector<size_t> every_byte(size_t n) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < n; ++i) cuts.push_back(i);
    return cuts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const Status want = fuzz::reference_utf8(in);

    require(feed_in_pieces(in, {}) == want, "fed whole, the reference's status");
    require(feed_in_pieces(in, fuzz::cuts_from(in)) == want, "fed in pieces, the same status as whole");
    require(feed_in_pieces(in, every_byte(in.size())) == want, "fed byte by byte, the same status as whole");
    require(is_valid(in) == (want == Status::Valid), "is_valid() is true exactly for Valid");

    // The status part way: a prefix, then the rest.
    for (size_t k : fuzz::prefixes_of(in, in.size())) {
        Validator v;
        require(v.feed(in.substr(0, k)) == fuzz::reference_utf8(in.substr(0, k)), "a prefix has the reference's status");
        require(v.feed(in.substr(k)) == want, "the rest after a prefix ends in the status of the whole");
    }

    for (size_t n : fuzz::prefixes_of(in, in.size() + 2)) {
        const std::string_view t = truncate(in, n);
        require(t.data() == in.data() && t.size() <= n && (n < in.size() || t.size() == in.size()),
                "truncate() gives a prefix of at most n bytes, all of a string that fits");
        if (want == Status::Valid)
            require(is_valid(t) && t.size() + 3 >= std::min(n, in.size()),
                    "truncate() keeps valid UTF-8 valid, dropping at most one character's bytes");
    }
    return 0;
}
