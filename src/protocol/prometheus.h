// prometheus: the Prometheus text exposition format, version 0.0.4, written.
//
//   # HELP smooth_http_requests_total HTTP requests answered, by status class.
//   # TYPE smooth_http_requests_total counter
//   smooth_http_requests_total{group="web",code="2xx"} 15201
//
// A metric family is opened once (its HELP and TYPE lines), then its samples
// follow, all together: the format wants a family's lines in one block. Label
// values are escaped (\\, \", \n), HELP text too (\\, \n); counts are
// written as integers, a histogram's sum as a decimal. What a name or a
// label name may be is the caller's business (they are constants in
// worker/metrics_page.cpp).
//
// Pure: text in, text out (protocol/ does no I/O).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace smooth::prom {

inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

using Label = std::pair<std::string_view, std::string_view>;

class Writer {
public:
    // "counter", "gauge", "histogram" (or "untyped").
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, std::initializer_list<Label> labels, uint64_t value);
    // A histogram's samples: `buckets` one by one (not cumulative) against
    // their le labels, then +Inf (= count), _sum (millionths, written as a
    // decimal) and _count. `labels` go in front of le.
    void histogram(std::string_view name, std::initializer_list<Label> labels, const char* const* bounds_text,
                   const uint64_t* buckets, size_t n, uint64_t count, uint64_t sum_millionths);

    const std::string& text() const { return out_; }
    std::string take() { return std::move(out_); }

private:
    void labels(std::initializer_list<Label> labels, std::string_view le = {});
    std::string out_;
};

// Escaping, exposed for the unit test.
std::string escape_label_value(std::string_view v);
std::string escape_help(std::string_view v);
// 1500000 -> "1.5", 0 -> "0", 1 -> "0.000001".
std::string millionths_text(uint64_t millionths);

}  // namespace smooth::prom
