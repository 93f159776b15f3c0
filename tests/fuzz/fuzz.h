// fuzz.h: what every harness in tests/fuzz/ shares.
//
// A harness is a libFuzzer entry point, LLVMFuzzerTestOneInput(data, size),
// that hands the bytes to a parser and then checks what the parser answered
// against the contract in its header. libFuzzer and the sanitizers find the
// crashes, overreads and undefined behaviour by themselves; the checks here
// find the answers that are wrong without crashing:
//
//   require()     an invariant; when it does not hold: a message and abort(),
//                 so libFuzzer stops and keeps the input as a finding
//   inside()      a string_view the parser returned lies in the input
//                 (by address: a copy with the same text is not inside)
//   Exact         a prefix copied to a buffer of exactly its size, so that
//                 AddressSanitizer catches a parser reading past the prefix
//                 (a view of libFuzzer's buffer would let it read on)
//   cuts_from()   where to cut the input into pieces, read from the input
//                 itself: the fuzzer steers the cuts, and an input always
//                 cuts the same way, so a finding reproduces
//   prefixes_of() the prefix lengths worth checking: every one of a short
//                 input, a few of a long one (also chosen by the input)
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace fuzz {

inline void require(bool holds, const char* invariant) {
    if (holds) return;
    std::fprintf(stderr, "invariant violated: %s\n", invariant);
    std::abort();
}

// An empty view points nowhere in particular (a parser may well return a
// default one), so it counts as inside anything.
inline bool inside(std::string_view part, std::string_view whole) {
    if (part.empty()) return true;
    const auto p = reinterpret_cast<uintptr_t>(part.data());
    const auto w = reinterpret_cast<uintptr_t>(whole.data());
    return p >= w && p - w <= whole.size() && part.size() <= whole.size() - (p - w);
}

class Exact {
public:
    explicit Exact(std::string_view bytes) : size_(bytes.size()), data_(std::make_unique<char[]>(bytes.size())) {
        if (size_ > 0) std::memcpy(data_.get(), bytes.data(), size_);
    }
    std::string_view view() const { return {data_.get(), size_}; }

private:
    size_t size_;
    std::unique_ptr<char[]> data_;
};

// A cheap mix of the input's bytes, to pick positions from.
inline uint64_t digest(std::string_view in) {
    uint64_t h = 1469598103934665603u;  // FNV-1a
    for (char c : in) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211u;
    return h;
}

// Increasing offsets in (0, in.size()): piece lengths of 1 to 8 bytes, each
// read from the byte where the piece starts.
inline std::vector<size_t> cuts_from(std::string_view in) {
    std::vector<size_t> cuts;
    for (size_t at = 1 + (static_cast<unsigned char>(in.empty() ? 0 : in[0]) & 7); at < in.size();
         at += 1 + (static_cast<unsigned char>(in[at]) & 7))
        cuts.push_back(at);
    return cuts;
}

// Prefix lengths below n, for "every strict prefix is Incomplete": all of
// them up to kEveryPrefixUpTo, where the cost (n parses of up to n bytes)
// is still small; above it four, so that long inputs keep the fuzzer fast:
// the longest and the shortest (where an off-by-one hides), the middle, and
// one the input chooses.
inline constexpr size_t kEveryPrefixUpTo = 512;

inline std::vector<size_t> prefixes_of(std::string_view in, size_t n) {
    if (n == 0) return {};
    if (n <= kEveryPrefixUpTo) {
        std::vector<size_t> every(n);
        for (size_t k = 0; k < n; k++) every[k] = k;
        return every;
    }
    return {0, n - 1, n / 2, size_t(digest(in) % n)};
}

}  // namespace fuzz
