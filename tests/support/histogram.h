// histogram.h: the latency histogram tests/support/loadgen and tests/support/wsload share.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

// A log-linear latency histogram in microseconds, HdrHistogram-style: values
// under 128 us have a bucket each; above, each power of two is cut into 64
// buckets. A percentile is within 1/64 (1.6%) of the truth, and the memory is
// fixed however many requests are recorded.
class Histogram {
public:
    void record(uint64_t us) {
        ++counts_[index(us)];
        ++total_;
        max_ = std::max(max_, us);
    }
    void merge(const Histogram& other) {
        for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
        total_ += other.total_;
        max_ = std::max(max_, other.max_);
    }
    double percentile_ms(double p) const {
        uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(p * static_cast<double>(total_) + 0.999999));
        uint64_t seen = 0;
        for (size_t i = 0; i < counts_.size() && total_ > 0; ++i) {
            seen += counts_[i];
            if (seen >= rank) return static_cast<double>(std::min(middle(i), max_)) / 1000.0;
        }
        return 0;
    }
    double max_ms() const { return static_cast<double>(max_) / 1000.0; }

private:
    static constexpr uint64_t kSub = 64;
    static size_t index(uint64_t v) {
        if (v < 2 * kSub) return v;
        uint64_t shift = static_cast<uint64_t>(std::bit_width(v)) - 7;  // v >> shift is in [64, 128)
        return 2 * kSub + (shift - 1) * kSub + ((v >> shift) - kSub);
    }
    static uint64_t middle(size_t i) {
        if (i < 2 * kSub) return i;
        uint64_t shift = (i - 2 * kSub) / kSub + 1;
        return (((i - 2 * kSub) % kSub + kSub) << shift) + (uint64_t{1} << shift) / 2;
    }
    std::vector<uint64_t> counts_ = std::vector<uint64_t>(2 * kSub + 58 * kSub);
    uint64_t total_ = 0, max_ = 0;
};
