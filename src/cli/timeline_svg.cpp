// timeline_svg: see timeline_svg.h. Geometry first, then lanes (with their
// connection counts), then the rate.
#include "cli/timeline_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace smooth {

namespace {

// The page, in SVG user units (pixels at 100%).
constexpr double kWidth = 960;
constexpr double kLeft = 120;        // lane names
constexpr double kRight = 24;
constexpr double kTitleLine = 19;    // the summary, wrapped...
constexpr size_t kTitleChars = 105;  // ...at "; " or a space before this many characters
constexpr double kLaneHeight = 38;
constexpr double kBarHeight = 12;
constexpr double kConnsHeight = 34;  // a lane's connection counts, under its bars
constexpr double kRateHeight = 110;
constexpr double kBottom = 64;       // axis labels and legend
constexpr double kLegendLine = 16;   // each further line of the legend
constexpr int64_t kSmoothMs = 50;    // the rate is averaged over this window
constexpr double kMinMarginMs = 150; // shown before and after the reload, at least

const char* const kOld = "#8d99a6";
const char* const kDraining = "#f0a030";
const char* const kStarting = "#b7e4c7";
const char* const kServing = "#2d9d5a";
const char* const kFailed = "#d64545";
const char* const kRollback = "#4a7bd0";
const char* const kHandover = "#8e5cc2";
const char* const kOldConns = "#9a3412";
const char* const kNewConns = "#0e7490";

std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string num(double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", v);
    return text;
}

// Maps milliseconds since the reload began to x.
struct Axis {
    double t0, t1;
    double x(double t) const { return kLeft + (t - t0) / (t1 - t0) * (kWidth - kLeft - kRight); }
};

std::string rect(double x0, double x1, double y, double h, const char* fill, const std::string& title) {
    return "<rect x=\"" + num(x0) + "\" y=\"" + num(y) + "\" width=\"" + num(std::max(x1 - x0, 1.0)) + "\" height=\"" +
           num(h) + "\" fill=\"" + fill + "\"><title>" + escape(title) + "</title></rect>\n";
}

std::string text(double x, double y, const std::string& s, const char* extra = "") {
    return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" " + extra + ">" + escape(s) + "</text>\n";
}

std::string line(double x0, double y0, double x1, double y1, const char* stroke, const char* extra = "") {
    return "<line x1=\"" + num(x0) + "\" y1=\"" + num(y0) + "\" x2=\"" + num(x1) + "\" y2=\"" + num(y1) +
           "\" stroke=\"" + stroke + "\" " + extra + "/>\n";
}

// The reload, with a margin on each side in proportion to its length (the
// samples before and after it show the rate it started from and came back to).
Axis make_axis(const ReloadTimeline& t) {
    const double margin = std::max(kMinMarginMs, double(t.finished_ms) / 2);
    double first = 0, last = double(t.finished_ms);
    for (const ReloadTimeline::Sample& s : t.rate) {
        first = std::min(first, double(s.t_ms));
        last = std::max(last, double(s.t_ms));
    }
    double t0 = std::max(first, -margin);
    double t1 = std::min(last, double(t.finished_ms) + margin);
    for (const ReloadTimeline::Lane& l : t.lanes)  // a retired worker may exit after the end: keep it in view
        for (int64_t v : {l.drain_ms, l.exit_ms, l.fork_ms, l.ready_ms, l.failed_ms}) t1 = std::max(t1, double(v));
    if (t1 - t0 < 10) t1 = t0 + 10;
    double pad = (t1 - t0) * 0.02;
    return {t0 - pad, t1 + pad};
}

// A lane is drawn with its connection counts when some worker of it had a
// connection; a slot nobody was connected to keeps the short lane.
bool has_connections(const ReloadTimeline::Lane& l) {
    for (const ReloadTimeline::Lane::Connections& c : l.connections)
        if (c.old_count > 0 || c.new_count > 0) return true;
    return false;
}

double lane_height(const ReloadTimeline::Lane& l) { return kLaneHeight + (has_connections(l) ? kConnsHeight : 0); }

// The old worker's bar from its drain (or hand-over) on, and its label.
std::string draw_old_leaving(const ReloadTimeline::Lane& l, const Axis& ax, double upper, double gone,
                             const std::string& who) {
    const double drain = double(l.drain_ms);
    std::string took = l.exit_ms >= 0 ? std::to_string(l.exit_ms - l.drain_ms) + " ms" : "not exited";
    if (l.handover_ms < 0) {
        return rect(ax.x(drain), ax.x(gone), upper, kBarHeight, kDraining, who + ": draining, " + took) +
               text(ax.x(gone) + 4, upper + 10, "drain " + took, "font-size=\"10\"");
    }
    // Handing its connections over until its word, then draining what
    // stays (plain HTTP); or, the hand-over failed, serving on.
    const double ended = l.handover_end_ms >= 0 ? double(l.handover_end_ms) : gone;
    std::string span =
        l.handover_end_ms >= 0 ? std::to_string(l.handover_end_ms - l.handover_ms) + " ms" : "unfinished";
    std::string out = rect(ax.x(drain), ax.x(ended), upper, kBarHeight, kHandover,
                           who + ": handing its connections to new pid " + std::to_string(l.new_pid) + ", " + span);
    if (l.handover_end_ms >= 0 && !l.handover_ok) {
        out += rect(ax.x(ended), ax.x(gone), upper, kBarHeight, kOld, who + ": the hand-over failed: serving on");
        return out + text(ax.x(ended) + 4, upper + 10, "hand-over failed", "font-size=\"10\" fill=\"#d64545\"");
    }
    out += rect(ax.x(ended), ax.x(gone), upper, kBarHeight, kDraining,
                who + ": handed over; draining what stays, exit " + took);
    return out + text(ax.x(gone) + 4, upper + 10, "hand-over " + span, "font-size=\"10\"");
}

// The span of a hand-over, across the whole lane: from 'H' to the old
// worker's word (the data-* attributes are its times, for a reader of the file).
std::string draw_handover_span(const ReloadTimeline::Lane& l, const Axis& ax, double y, double height) {
    if (l.handover_ms < 0) return "";
    const double from = double(l.handover_ms);
    const double to = l.handover_end_ms >= 0 ? double(l.handover_end_ms) : ax.t1;
    const double x0 = ax.x(from), x1 = std::max(ax.x(to), x0 + 2);  // a hand-over of 1 ms still shows
    std::string what = "hand-over: old pid " + std::to_string(l.old_pid) + " to new pid " + std::to_string(l.new_pid) +
                       (l.handover_end_ms < 0 ? ", unfinished"
                                              : (l.handover_ok ? ", " : ", failed after ") +
                                                    std::to_string(l.handover_end_ms - l.handover_ms) + " ms");
    return "<rect class=\"handover\" data-from=\"" + std::to_string(l.handover_ms) + "\" data-to=\"" +
           std::to_string(l.handover_end_ms) + "\" data-ok=\"" + std::to_string(l.handover_ok) + "\" x=\"" + num(x0) +
           "\" y=\"" + num(y) + "\" width=\"" + num(x1 - x0) + "\" height=\"" + num(height) + "\" fill=\"" + kHandover +
           "\" fill-opacity=\"0.22\"><title>" + escape(what) + "</title></rect>\n";
}

// One worker's count as a line (one polyline per stretch it was there and
// in the picture), scaled to `peak`; every sample of it, "t:count ...", in
// data-counts, those outside the picture too.
std::string draw_count(const ReloadTimeline::Lane& l, const Axis& ax, double top, double height, int32_t peak,
                       bool old) {
    const pid_t pid = old ? l.old_pid : l.new_pid;
    const char* color = old ? kOldConns : kNewConns;
    std::string counts, polylines, points;
    auto flush = [&] {
        if (!points.empty())
            polylines += "<polyline fill=\"none\" stroke=\"" + std::string(color) +
                         "\" stroke-width=\"1.5\" stroke-linejoin=\"round\" points=\"" + points + "\"/>\n";
        points.clear();
    };
    for (const ReloadTimeline::Lane::Connections& c : l.connections) {
        const int32_t n = old ? c.old_count : c.new_count;
        if (n >= 0) counts += (counts.empty() ? "" : " ") + std::to_string(c.t_ms) + ":" + std::to_string(n);
        if (n < 0 || double(c.t_ms) < ax.t0 || double(c.t_ms) > ax.t1) {  // not there then, or out of the picture
            flush();
            continue;
        }
        points += num(ax.x(double(c.t_ms))) + "," + num(top + height - double(n) / double(peak) * height) + " ";
    }
    flush();
    if (counts.empty()) return "";
    return "<g class=\"connections\" data-worker=\"" + std::string(old ? "old" : "new") + "\" data-pid=\"" +
           std::to_string(pid) + "\" data-counts=\"" + counts + "\"><title>" + (old ? "old" : "new") + " pid " +
           std::to_string(pid) + ": open connections</title>\n" + polylines + "</g>\n";
}

// Under the bars: the old and the new worker's open connections, both
// scaled to the lane's peak, so a hand-over is one line falling to 0 as
// the other rises, and a drain one falling while the other rises only as
// clients come back.
std::string draw_connections(const ReloadTimeline::Lane& l, const Axis& ax, double y) {
    const double top = y + kLaneHeight - 2, height = kConnsHeight - 8;
    int32_t peak = 1;
    for (const ReloadTimeline::Lane::Connections& c : l.connections) peak = std::max({peak, c.old_count, c.new_count});
    std::string out = line(kLeft, top + height, kWidth - kRight, top + height, "#ddd");
    out += text(8, top + height - 2, "connections", "font-size=\"10\" fill=\"#666\"");
    out += text(kLeft - 6, top + 8, std::to_string(peak), "font-size=\"10\" text-anchor=\"end\"");
    out += text(kLeft - 6, top + height, "0", "font-size=\"10\" text-anchor=\"end\"");
    return out + draw_count(l, ax, top, height, peak, true) + draw_count(l, ax, top, height, peak, false);
}

// One lane: the old worker on the upper half, the new one on the lower,
// and under them, if any were open, the two workers' connections.
std::string draw_lane(const ReloadTimeline::Lane& l, const Axis& ax, double y) {
    std::string out = "<g class=\"lane\" data-slot=\"" + escape(l.slot) + "\" data-kind=\"" + escape(l.kind) + "\">\n";
    const double end = ax.t1;
    const double upper = y + 4, lower = y + 6 + kBarHeight;
    out += draw_handover_span(l, ax, y, lane_height(l));
    out += text(8, y + kLaneHeight / 2, l.slot, "font-weight=\"bold\"");
    out += text(8, y + kLaneHeight / 2 + 13, l.kind, "fill=\"#666\" font-size=\"11\"");
    if (l.old_pid) {
        double gone = l.exit_ms >= 0 ? double(l.exit_ms) : end;
        double drain = l.drain_ms >= 0 ? double(l.drain_ms) : gone;
        std::string who = "old pid " + std::to_string(l.old_pid);
        out += rect(ax.x(ax.t0), ax.x(drain), upper, kBarHeight, kOld, who + ": serving");
        if (l.drain_ms >= 0) out += draw_old_leaving(l, ax, upper, gone, who);
        out += text(ax.x(ax.t0) + 4, upper + 10, who, "font-size=\"10\" fill=\"white\"");
    }
    if (l.new_pid || l.fork_ms >= 0) {
        std::string who = l.new_pid ? "new pid " + std::to_string(l.new_pid) : "fork failed";
        double fork = l.fork_ms >= 0 ? double(l.fork_ms) : 0;
        const char* serving = l.kind == "rollback" ? kRollback : kServing;
        if (l.failed_ms >= 0 && l.ready_ms < 0) {
            out += rect(ax.x(fork), ax.x(double(l.failed_ms)), lower, kBarHeight, kFailed,
                        who + ": never READY, given up after " + std::to_string(l.failed_ms - l.fork_ms) + " ms");
            out += text(ax.x(double(l.failed_ms)) + 4, lower + 10, "failed: abort", "font-size=\"10\" fill=\"#d64545\"");
        } else {
            double ready = l.ready_ms >= 0 ? double(l.ready_ms) : end;
            out += rect(ax.x(fork), ax.x(ready), lower, kBarHeight, kStarting, who + ": starting (" + l.version + ")");
            if (l.ready_ms >= 0) {
                out += rect(ax.x(ready), ax.x(end), lower, kBarHeight, serving,
                            who + ": READY after " + std::to_string(l.ready_ms - l.fork_ms) + " ms, serving " + l.version);
                // The gate: from here this slot answers with the new version.
                out += line(ax.x(ready), y, ax.x(ready), y + kLaneHeight, "#111", "stroke-width=\"2\"");
                out += text(ax.x(ready) + 4, lower + 10, who + (l.kind == "rollback" ? " (rollback)" : ""),
                            "font-size=\"10\" fill=\"white\"");
            }
        }
    }
    if (has_connections(l)) out += draw_connections(l, ax, y);
    return out + "</g>\n";
}

// The largest power of ten at or below x (for x > 0), for the axes' round
// numbers. A loop, not pow(10, floor(log10(x))): those two are the only calls
// ./server made into libm, and without them the dynamic loader has one
// library less to map at every exec of the command line.
double decade_of(double x) {
    if (!(x > 0)) return 1;
    double p = 1;
    while (p * 10 <= x) p *= 10;
    while (p > x) p /= 10;
    return p;
}

// Requests per second from the cumulative counts, averaged over kSmoothMs.
std::string draw_rate(const ReloadTimeline& t, const Axis& ax, double y) {
    std::vector<std::pair<double, double>> points;
    size_t back = 0;
    for (size_t i = 1; i < t.rate.size(); i++) {
        while (back + 1 < i && t.rate[i].t_ms - t.rate[back + 1].t_ms >= kSmoothMs) back++;
        double dt = double(t.rate[i].t_ms - t.rate[back].t_ms);
        if (dt <= 0) continue;
        double served = double(t.rate[i].requests - std::min(t.rate[i].requests, t.rate[back].requests));
        if (double(t.rate[i].t_ms) >= ax.t0 && double(t.rate[i].t_ms) <= ax.t1)
            points.push_back({double(t.rate[i].t_ms), served * 1000.0 / dt});
    }
    std::string out;
    out += line(kLeft, y + kRateHeight, kWidth - kRight, y + kRateHeight, "#999");
    out += text(8, y + kRateHeight / 2, "requests/s", "font-weight=\"bold\"");
    if (points.empty()) {
        out += text(kLeft + 8, y + kRateHeight / 2, "(no samples)", "fill=\"#666\"");
        return out;
    }
    double peak = 1;
    for (auto& p : points) peak = std::max(peak, p.second);
    double top = decade_of(peak);
    top = std::ceil(peak / top) * top;  // a round number at or above the peak
    std::string poly;
    for (auto& [ms, rps] : points) poly += num(ax.x(ms)) + "," + num(y + kRateHeight - rps / top * kRateHeight) + " ";
    out += "<polyline fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"1.5\" points=\"" + poly + "\"/>\n";
    out += line(kLeft, y, kWidth - kRight, y, "#ddd");
    out += text(kLeft - 6, y + 10, std::to_string(int64_t(top)), "font-size=\"10\" text-anchor=\"end\"");
    out += text(kLeft - 6, y + kRateHeight, "0", "font-size=\"10\" text-anchor=\"end\"");
    return out;
}

std::string draw_time_axis(const Axis& ax, double y) {
    std::string out;
    double span = ax.t1 - ax.t0;
    double step = decade_of(span / 5);
    if (span / step > 10) step *= 2;
    if (span / step > 10) step *= 2.5;
    for (double t = std::ceil(ax.t0 / step) * step; t <= ax.t1; t += step) {
        out += line(ax.x(t), y, ax.x(t), y + 4, "#999");
        out += text(ax.x(t), y + 16, num(t).substr(0, num(t).size() - 2) + " ms", "font-size=\"10\" text-anchor=\"middle\"");
    }
    return out;
}

// What each colour means; the hand-over and the connection lines only when
// the picture has them. Placed in lines that fit the page, the first at y.
struct LegendItem {
    const char* color;
    const char* what;
    bool line;  // a line's colour, not a bar's
};

std::vector<LegendItem> legend_items(const ReloadTimeline& t) {
    std::vector<LegendItem> items = {{kOld, "old worker serving", false},   {kDraining, "draining (SIGQUIT)", false},
                                     {kStarting, "new worker starting", false}, {kServing, "READY, serving", false},
                                     {kFailed, "never READY", false},          {kRollback, "rollback", false}};
    if (std::any_of(t.lanes.begin(), t.lanes.end(), [](const auto& l) { return l.handover_ms >= 0; }))
        items.push_back({kHandover, "hand-over ('H' to its word)", false});
    if (std::any_of(t.lanes.begin(), t.lanes.end(), has_connections)) {
        items.push_back({kOldConns, "old worker's connections", true});
        items.push_back({kNewConns, "new worker's connections", true});
    }
    return items;
}

double legend_width(const LegendItem& item) { return 24 + 6.2 * double(std::string(item.what).size()); }

int legend_lines(const std::vector<LegendItem>& items) {
    int lines = 1;
    double x = kLeft;
    for (const LegendItem& item : items) {
        if (x + legend_width(item) > kWidth - kRight && x > kLeft) x = kLeft, lines++;
        x += legend_width(item);
    }
    return lines;
}

std::string legend(const std::vector<LegendItem>& items, double y) {
    std::string out;
    double x = kLeft;
    for (const LegendItem& item : items) {
        if (x + legend_width(item) > kWidth - kRight && x > kLeft) x = kLeft, y += kLegendLine;
        if (item.line)
            out += line(x, y - 5, x + 12, y - 5, item.color, "stroke-width=\"2\"");
        else
            out += rect(x, x + 12, y - 10, 10, item.color, item.what);
        out += text(x + 16, y, item.what, "font-size=\"11\"");
        x += legend_width(item);
    }
    return out;
}

// The summary in lines short enough for the page, cut after "; " where it can.
std::vector<std::string> wrap(const std::string& s) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (s.size() - start > kTitleChars) {
        size_t cut = s.rfind("; ", start + kTitleChars);
        if (cut == std::string::npos || cut <= start) cut = s.rfind(' ', start + kTitleChars);
        if (cut == std::string::npos || cut <= start) cut = start + kTitleChars;
        lines.push_back(s.substr(start, cut - start + (s[cut] == ';' ? 1 : 0)));
        start = cut + (s[cut] == ';' ? 2 : 1);
    }
    lines.push_back(s.substr(start));
    return lines;
}

}  // namespace

std::string timeline_svg(const ReloadTimeline& t) {
    const Axis ax = make_axis(t);
    const std::vector<std::string> title = wrap(t.summary);
    const std::vector<LegendItem> items = legend_items(t);
    const double lanes_top = 30 + kTitleLine * double(title.size()) + 22;
    double lanes_height = 0;
    for (const ReloadTimeline::Lane& l : t.lanes) lanes_height += lane_height(l);
    const double rate_top = lanes_top + lanes_height + 16;
    const double legend_top = rate_top + kRateHeight + kBottom - 12;
    const double height = legend_top + 12 + kLegendLine * double(legend_lines(items) - 1);

    std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kWidth) + "\" height=\"" + num(height) +
           "\" viewBox=\"0 0 " + num(kWidth) + " " + num(height) +
           "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
    out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    for (size_t i = 0; i < title.size(); i++)
        out += text(8, 22 + kTitleLine * double(i), title[i], "font-size=\"15\" font-weight=\"bold\"");
    out += text(8, 22 + kTitleLine * double(title.size()) + 2,
                std::string("generation ") + std::to_string(t.generation) + ", " +
                    (t.start_first ? "start_first" : "stop_first") + ", one lane per worker slot; t = 0 when the reload began",
                "fill=\"#555\"");

    // The reload's span, behind everything.
    out += rect(ax.x(0), ax.x(double(t.finished_ms)), lanes_top - 6, rate_top + kRateHeight - lanes_top + 6,
                t.ok ? "#f3f7fb" : "#fbf1f1", "the reload");
    out += line(ax.x(0), lanes_top - 6, ax.x(0), rate_top + kRateHeight, "#555", "stroke-dasharray=\"4 3\"");
    out += line(ax.x(double(t.finished_ms)), lanes_top - 6, ax.x(double(t.finished_ms)), rate_top + kRateHeight,
                t.ok ? "#555" : kFailed, "stroke-dasharray=\"4 3\"");
    out += text(ax.x(double(t.finished_ms)) + 4, lanes_top - 10, t.ok ? "complete" : "aborted, rolled back",
                t.ok ? "font-size=\"11\"" : "font-size=\"11\" fill=\"#d64545\"");

    double y = lanes_top;
    for (const ReloadTimeline::Lane& l : t.lanes) {
        out += draw_lane(l, ax, y);
        y += lane_height(l);
    }
    out += draw_rate(t, ax, rate_top);
    out += draw_time_axis(ax, rate_top + kRateHeight);
    out += legend(items, legend_top);
    out += "</svg>\n";
    return out;
}

}  // namespace smooth
