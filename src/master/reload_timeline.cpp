// reload_timeline: see reload_timeline.h for the text form.
#include "master/reload_timeline.h"

#include <charconv>
#include <map>
#include <string_view>

namespace smooth {

namespace {

// "key=value key=value ..."; the value of `last_key`, if present, runs to the
// end of the line (a version file name may hold spaces).
std::map<std::string, std::string, std::less<>> fields(std::string_view line, std::string_view last_key) {
    std::map<std::string, std::string, std::less<>> out;
    while (!line.empty()) {
        while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        size_t eq = line.find('=');
        if (eq == std::string_view::npos) break;
        std::string_view key = line.substr(0, eq);
        line.remove_prefix(eq + 1);
        size_t end = key == last_key ? line.size() : std::min(line.find(' '), line.size());
        out.emplace(std::string(key), std::string(line.substr(0, end)));
        line.remove_prefix(end);
    }
    return out;
}

template <typename T>
bool number(const std::map<std::string, std::string, std::less<>>& f, std::string_view key, T& out) {
    auto it = f.find(key);
    if (it == f.end()) return false;
    const std::string& s = it->second;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
}

// A key a newer master added: absent, `out` keeps its default.
template <typename T>
bool optional_number(const std::map<std::string, std::string, std::less<>>& f, std::string_view key, T& out) {
    return f.find(key) == f.end() || number(f, key, out);
}

}  // namespace

ReloadTimeline::Lane* ReloadTimeline::lane_of_new(pid_t pid) {
    for (Lane& l : lanes)
        if (pid > 0 && l.new_pid == pid) return &l;
    return nullptr;
}

ReloadTimeline::Lane* ReloadTimeline::lane_of_old(pid_t pid) {
    for (Lane& l : lanes)
        if (pid > 0 && l.old_pid == pid) return &l;
    return nullptr;
}

std::string ReloadTimeline::to_text() const {
    std::string out = "reload ok=" + std::to_string(ok) + " start_first=" + std::to_string(start_first) +
                      " generation=" + std::to_string(generation) + " finished=" + std::to_string(finished_ms) +
                      " after=" + std::to_string(after_ms) + "\n";
    out += "summary " + summary + "\n";
    for (const Lane& l : lanes)
        out += "lane slot=" + l.slot + " kind=" + l.kind + " old=" + std::to_string(l.old_pid) +
               " new=" + std::to_string(l.new_pid) + " drain=" + std::to_string(l.drain_ms) +
               " exit=" + std::to_string(l.exit_ms) + " fork=" + std::to_string(l.fork_ms) +
               " ready=" + std::to_string(l.ready_ms) + " failed=" + std::to_string(l.failed_ms) +
               " handover=" + std::to_string(l.handover_ms) + " handover_end=" + std::to_string(l.handover_end_ms) +
               " handover_ok=" + std::to_string(l.handover_ok) + " version=" + l.version + "\n";
    for (const Sample& s : rate) out += "rate t=" + std::to_string(s.t_ms) + " requests=" + std::to_string(s.requests) + "\n";
    for (size_t i = 0; i < lanes.size(); i++)
        for (const Lane::Connections& c : lanes[i].connections)
            out += "conns lane=" + std::to_string(i) + " t=" + std::to_string(c.t_ms) + " old=" +
                   std::to_string(c.old_count) + " new=" + std::to_string(c.new_count) + "\n";
    return out;
}

std::string ReloadTimeline::from_text(const std::string& text, ReloadTimeline& out) {
    if (text.rfind("error:", 0) == 0) return text.substr(0, text.find('\n'));  // the master had no timeline to give
    ReloadTimeline t;
    bool header = false;
    size_t start = 0;
    int line_no = 0;
    while (start < text.size()) {
        size_t nl = std::min(text.find('\n', start), text.size());
        std::string_view line(text.data() + start, nl - start);
        start = nl + 1;
        line_no++;
        if (line.empty()) continue;
        size_t sp = std::min(line.find(' '), line.size());
        std::string_view kind = line.substr(0, sp);
        std::string_view rest = line.substr(std::min(sp + 1, line.size()));
        bool ok = true;
        if (kind == "reload") {
            auto f = fields(rest, "");
            int okv = 0, sf = 0;
            ok = number(f, "ok", okv) && number(f, "start_first", sf) && number(f, "generation", t.generation) &&
                 number(f, "finished", t.finished_ms) && number(f, "after", t.after_ms);
            t.ok = okv != 0;
            t.start_first = sf != 0;
            header = ok;
        } else if (kind == "summary") {
            t.summary = std::string(rest);
        } else if (kind == "lane") {
            auto f = fields(rest, "version");
            Lane l;
            l.slot = f["slot"];
            l.kind = f["kind"];
            l.version = f["version"];
            int handover_ok = 0;
            ok = !l.slot.empty() && number(f, "old", l.old_pid) && number(f, "new", l.new_pid) &&
                 number(f, "drain", l.drain_ms) && number(f, "exit", l.exit_ms) && number(f, "fork", l.fork_ms) &&
                 number(f, "ready", l.ready_ms) && number(f, "failed", l.failed_ms) &&
                 optional_number(f, "handover", l.handover_ms) && optional_number(f, "handover_end", l.handover_end_ms) &&
                 optional_number(f, "handover_ok", handover_ok);
            l.handover_ok = handover_ok != 0;
            t.lanes.push_back(std::move(l));
        } else if (kind == "rate") {
            auto f = fields(rest, "");
            Sample s{};
            ok = number(f, "t", s.t_ms) && number(f, "requests", s.requests);
            t.rate.push_back(s);
        } else if (kind == "conns") {
            auto f = fields(rest, "");
            size_t lane = 0;
            Lane::Connections c{};
            ok = number(f, "lane", lane) && lane < t.lanes.size() && number(f, "t", c.t_ms) &&
                 number(f, "old", c.old_count) && number(f, "new", c.new_count);
            if (ok) t.lanes[lane].connections.push_back(c);
        } else {
            ok = false;
        }
        if (!ok) return "line " + std::to_string(line_no) + ": cannot read \"" + std::string(line.substr(0, 80)) + "\"";
    }
    if (!header) return "no \"reload\" line: not a timeline";
    out = std::move(t);
    return "";
}

}  // namespace smooth
