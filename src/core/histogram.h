// histogram: the distributions the master keeps (reload and drain durations,
// what a worker still had when told to drain), in Prometheus' shape.
//
//   bounds (le):   0.05   0.1   0.25  ...  300   +Inf
//   bucket[i]:     how many observations v fell in (bounds[i-1], bounds[i]]
//   count, sum:    all observations, and their total
//
// Buckets are kept one by one (not cumulative) and added up when written
// out, so folding one histogram into another is adding slot by slot. Values
// are whole millionths (a second is 1,000,000 µs; a count of 3 is 3,000,000),
// so the shared table holds integers only and no float is ever torn.
//
// Pure: no I/O, no shared memory; core/stats_totals.h keeps them shared.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace smooth {

enum class Hist : uint8_t { ReloadSeconds, DrainSeconds, DrainConnections, DrainRequests, Count };
inline constexpr size_t kHistograms = size_t(Hist::Count);
inline constexpr size_t kMaxBuckets = 12;
// A histogram's slots in a flat array: its buckets, then its count, then its sum.
inline constexpr size_t kHistCount = kMaxBuckets;
inline constexpr size_t kHistSum = kMaxBuckets + 1;
inline constexpr size_t kHistSlots = kMaxBuckets + 2;
inline constexpr uint64_t kMillion = 1000000;

struct HistogramSpec {
    const char* name;   // "smooth_reload_duration_seconds"
    const char* help;
    const char* const* bounds_text;  // the le labels, as written ("0.05")
    const uint64_t* bounds;          // the same in millionths, ascending
    size_t buckets;                  // at most kMaxBuckets
};

const HistogramSpec& histogram_spec(Hist h);

using HistCounts = std::array<uint64_t, kHistSlots>;

// The bucket an observation of `millionths` falls in; spec.buckets for +Inf only.
size_t histogram_bucket(const HistogramSpec& spec, uint64_t millionths);

// Adds one observation to `h`.
void histogram_observe(const HistogramSpec& spec, HistCounts& h, uint64_t millionths);

}  // namespace smooth
