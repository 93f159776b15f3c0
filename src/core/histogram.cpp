// histogram: see histogram.h.
#include "core/histogram.h"

namespace smooth {

namespace {

constexpr uint64_t ms(uint64_t n) { return n * 1000; }
constexpr uint64_t s(uint64_t n) { return n * kMillion; }

// A reload: from a few hundred ms (a handful of idle workers) to minutes
// (many workers, each draining long requests).
const char* const kReloadText[] = {"0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "120", "300"};
const uint64_t kReload[] = {ms(100), ms(250), ms(500), s(1), ms(2500), s(5), s(10), s(30), s(60), s(120), s(300)};
// A drain: about nothing when idle, up to drain_timeout (30 s by default).
const char* const kDrainText[] = {"0.005", "0.01", "0.05", "0.1", "0.5", "1", "2.5", "5", "10", "30", "60"};
const uint64_t kDrain[] = {ms(5), ms(10), ms(50), ms(100), ms(500), s(1), ms(2500), s(5), s(10), s(30), s(60)};
// What a worker held when told to drain: connections, and requests being handled.
const char* const kCountText[] = {"0", "1", "2", "5", "10", "20", "50", "100", "500", "1000", "5000", "10000"};
const uint64_t kCount[] = {s(0), s(1), s(2), s(5), s(10), s(20), s(50), s(100), s(500), s(1000), s(5000), s(10000)};

template <size_t N>
constexpr size_t count_of(const uint64_t (&)[N]) {
    static_assert(N <= kMaxBuckets);
    return N;
}

const HistogramSpec kSpecs[kHistograms] = {
    {"smooth_reload_duration_seconds", "Rolling reloads that began, from step 2 done to the last slot READY (or the abort).",
     kReloadText, kReload, count_of(kReload)},
    {"smooth_drain_duration_seconds", "Workers told to drain, from SIGQUIT to their exit, as each measured it.",
     kDrainText, kDrain, count_of(kDrain)},
    {"smooth_drain_connections", "Connections a worker had open when it was told to drain.", kCountText, kCount,
     count_of(kCount)},
    {"smooth_drain_requests", "Requests a worker was handling (received, not yet answered) when it was told to drain.",
     kCountText, kCount, count_of(kCount)},
};

}  // namespace

const HistogramSpec& histogram_spec(Hist h) { return kSpecs[size_t(h)]; }

size_t histogram_bucket(const HistogramSpec& spec, uint64_t millionths) {
    size_t i = 0;
    while (i < spec.buckets && millionths > spec.bounds[i]) i++;
    return i;
}

void histogram_observe(const HistogramSpec& spec, HistCounts& h, uint64_t millionths) {
    size_t b = histogram_bucket(spec, millionths);
    if (b < spec.buckets) h[b]++;
    h[kHistCount]++;
    h[kHistSum] += millionths;
}

}  // namespace smooth
