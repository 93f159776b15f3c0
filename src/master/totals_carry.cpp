// totals_carry: see totals_carry.h.
#include "master/totals_carry.h"

#include <charconv>
#include <cstring>

namespace smooth {

namespace {

std::vector<std::string_view> words(std::string_view s) {
    std::vector<std::string_view> out;
    while (!s.empty()) {
        size_t sp = s.find(' ');
        if (sp != 0) out.push_back(s.substr(0, sp));
        if (sp == std::string_view::npos) break;
        s.remove_prefix(sp + 1);
    }
    return out;
}

bool number(std::string_view s, uint64_t& out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
}

template <typename Name>
void read_fields(const std::vector<std::string_view>& w, size_t from, size_t n, Name name, uint64_t* out) {
    for (size_t i = from; i < w.size(); i++) {
        size_t eq = w[i].find('=');
        uint64_t v;
        if (eq == std::string_view::npos || !number(w[i].substr(eq + 1), v)) continue;
        for (size_t f = 0; f < n; f++)
            if (w[i].substr(0, eq) == name(f)) out[f] = v;
    }
}

Protocol protocol_named(std::string_view s) {
    for (Protocol p : {Protocol::Http, Protocol::Text, Protocol::Frame, Protocol::Tcp, Protocol::Ws})
        if (s == protocol_name(p)) return p;
    return Protocol::Tcp;
}

Role role_named(std::string_view s) {
    for (Role r : {Role::Plain, Role::Gateway, Role::Business})
        if (s == role_name(r)) return r;
    return Role::Plain;
}

}  // namespace

std::vector<std::string> carry_messages(const TotalsSnapshot& s) {
    std::vector<std::string> out;
    for (const TotalsSnapshot::Group& g : s.groups) {
        std::string m = "carry group " + g.name + " " + protocol_name(g.protocol) + " " + role_name(g.role);
        for (size_t f = 0; f < kGroupFields; f++)
            if (g.counts[f]) m += " " + std::string(group_field_name(f)) + "=" + std::to_string(g.counts[f]);
        out.push_back(std::move(m));
    }
    std::string server = "carry server";
    for (size_t f = 0; f < kServerFields; f++) server += " " + std::string(server_field_name(f)) + "=" + std::to_string(s.server[f]);
    out.push_back(std::move(server));
    for (size_t h = 0; h < kHistograms; h++) {
        const HistogramSpec& spec = histogram_spec(Hist(h));
        std::string m = "carry hist " + std::string(spec.name);
        for (size_t b = 0; b < spec.buckets; b++) m += " " + std::string(spec.bounds_text[b]) + "=" + std::to_string(s.hist[h][b]);
        m += " count=" + std::to_string(s.hist[h][kHistCount]) + " sum=" + std::to_string(s.hist[h][kHistSum]);
        out.push_back(std::move(m));
    }
    out.push_back("carry end");
    return out;
}

bool CarryReader::feed(std::string_view message) {
    std::vector<std::string_view> w = words(message);
    if (w.size() < 2 || w[0] != kCarryKind) return false;
    if (w[1] == "end") {
        done_ = std::move(building_);
        building_ = TotalsSnapshot();
        return true;
    }
    if (w[1] == "group" && w.size() >= 5) {
        if (building_.groups.size() >= kTotalsGroups || w[2].size() > kMaxGroupName) return false;
        TotalsSnapshot::Group& g = building_.group(w[2]);
        g.protocol = protocol_named(w[3]);
        g.role = role_named(w[4]);
        read_fields(w, 5, kGroupFields, group_field_name, g.counts.data());
    } else if (w[1] == "server") {
        read_fields(w, 2, kServerFields, server_field_name, building_.server.data());
    } else if (w[1] == "hist" && w.size() >= 3) {
        for (size_t h = 0; h < kHistograms; h++) {
            const HistogramSpec& spec = histogram_spec(Hist(h));
            if (w[2] != spec.name) continue;
            auto slot_name = [&spec](size_t i) -> std::string_view {
                return i < spec.buckets ? spec.bounds_text[i] : i == kHistCount ? "count" : i == kHistSum ? "sum" : "";
            };
            read_fields(w, 3, kHistSlots, slot_name, building_.hist[h].data());
        }
    }
    return false;
}

}  // namespace smooth
