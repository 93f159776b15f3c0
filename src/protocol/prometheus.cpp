// prometheus: see prometheus.h.
#include "protocol/prometheus.h"

#include <cstdio>

namespace smooth::prom {

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string escape_help(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string millionths_text(uint64_t millionths) {
    char text[32];
    int n = std::snprintf(text, sizeof text, "%llu.%06llu", static_cast<unsigned long long>(millionths / 1000000),
                          static_cast<unsigned long long>(millionths % 1000000));
    std::string s(text, size_t(n));
    while (s.back() == '0') s.pop_back();  // "1.500000" -> "1.5", "0.000000" -> "0."
    if (s.back() == '.') s.pop_back();
    return s;
}

void Writer::family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
}

void Writer::labels(std::initializer_list<Label> labels, std::string_view le) {
    if (labels.size() == 0 && le.empty()) return;
    out_ += '{';
    bool first = true;
    for (const Label& l : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += l.first;
        out_ += "=\"";
        out_ += escape_label_value(l.second);
        out_ += '"';
    }
    if (!le.empty()) {
        if (!first) out_ += ',';
        out_ += "le=\"";
        out_ += le;
        out_ += '"';
    }
    out_ += '}';
}

void Writer::sample(std::string_view name, std::initializer_list<Label> l, uint64_t value) {
    out_ += name;
    labels(l);
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
}

void Writer::histogram(std::string_view name, std::initializer_list<Label> l, const char* const* bounds_text,
                       const uint64_t* buckets, size_t n, uint64_t count, uint64_t sum_millionths) {
    const std::string bucket = std::string(name) + "_bucket";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < n; i++) {
        cumulative += buckets[i];
        out_ += bucket;
        labels(l, bounds_text[i]);
        out_ += ' ' + std::to_string(cumulative) + '\n';
    }
    out_ += bucket;
    labels(l, "+Inf");
    out_ += ' ' + std::to_string(count) + '\n';
    out_ += name;
    out_ += "_sum";
    labels(l);
    out_ += ' ' + millionths_text(sum_millionths) + '\n';
    out_ += name;
    out_ += "_count";
    labels(l);
    out_ += ' ' + std::to_string(count) + '\n';
}

}  // namespace smooth::prom
