// status: see status.h.
#include "master/status.h"

#include <arpa/inet.h>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "worker/connection.h"

namespace smooth {

namespace {

long long rss_bytes(pid_t pid) {
    std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
    long long size = 0, resident = 0;
    if (!(statm >> size >> resident)) return 0;
    return resident * sysconf(_SC_PAGESIZE);
}

std::string human_bytes(long long n) {
    char text[32];
    if (n >= (1 << 20))
        std::snprintf(text, sizeof text, "%.1f MiB", double(n) / double(1 << 20));
    else
        std::snprintf(text, sizeof text, "%lld KiB", n / 1024);
    return text;
}

std::string duration_text(long long seconds) {
    char text[32];
    if (seconds >= 3600)
        std::snprintf(text, sizeof text, "%lldh%02lldm", seconds / 3600, seconds / 60 % 60);
    else
        std::snprintf(text, sizeof text, "%lldm%02llds", seconds / 60, seconds % 60);
    return text;
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) {
            char esc[8];
            std::snprintf(esc, sizeof esc, "\\u%04x", c);
            out += esc;
            continue;
        }
        out += c;
    }
    return out + "\"";
}

std::string base_name(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

// A worker's state as status shows it: a draining worker that is handing
// its connections over says so (worker/handover.h).
const char* state_of(const WorkerProcess& w) { return w.handing_over ? "handing" : worker_state_name(w.state); }

}  // namespace

std::string start_report(const MasterView& m) {
    std::ostringstream out;
    out << "smooth started: master pid " << m.pid << ", build " << m.build << ", config " << m.config_name << "\n";
    char line[512];
    std::snprintf(line, sizeof line, "%-10s %-28s %-9s %-30s %s\n", "GROUP", "LISTEN", "WORKERS", "MODULE", "RELOADABLE");
    out << line;
    int not_ready = 0;
    for (size_t g = 0; g < m.config.groups.size(); g++) {
        const GroupConfig& c = m.config.groups[g];
        int ready = m.workers.ready_count(int(g));
        not_ready += c.count - ready;
        std::string workers = std::to_string(ready) + "/" + std::to_string(c.count);
        std::string module = c.module + (c.preload ? " (preload)" : "");
        std::snprintf(line, sizeof line, "%-10s %-28s %-9s %-30s %s\n", c.name.c_str(), c.listen.text().c_str(),
                      workers.c_str(), module.c_str(), c.handover ? "handover" : c.reloadable ? "yes" : "no");
        out << line;
    }
    if (not_ready > 0) out << "warning: " << not_ready << " workers not ready after start_timeout; see the log\n";
    return out.str();
}

std::string status_text(const MasterView& m) {
    std::ostringstream out;
    out << "master pid " << m.pid << ", build " << m.build << ", up " << duration_text(time(nullptr) - m.started_wall)
        << ", config " << m.config_name << (m.stopping ? ", STOPPING" : "") << "\n";
    out << "reload: " << m.reload.describe() << "\n";
    out << "upgrade: " << m.upgrade.describe() << "\n";
    char line[512];
    for (const GroupConfig& c : m.config.groups) {
        std::string role = c.role == Role::Gateway    ? ", gateway to " + c.backend
                           : c.role == Role::Business ? ", business (worker k on port + k)"
                                                      : "";
        std::snprintf(line, sizeof line, "group %-10s %-28s count %-3d %s%s\n", c.name.c_str(), c.listen.text().c_str(),
                      c.count,
                      c.handover     ? "reloadable by hand-over (its connections move to the new workers)"
                      : c.reloadable ? "reloadable"
                                     : "not reloadable (a reload leaves it running)",
                      role.c_str());
        out << line;
    }
    std::snprintf(line, sizeof line, "%-8s %-10s %4s %4s %-9s %6s %10s %9s  %s\n", "PID", "GROUP", "SLOT", "GEN", "STATE",
                  "CONNS", "REQUESTS", "RSS", "MODULE");
    out << line;
    for (const auto& [pid, w] : m.workers.processes()) {
        const WorkerRow& row = m.stats.row(size_t(w.stats_row));
        std::string version = w.state == WorkerState::Starting ? "-" : row.module_version;
        std::string module = version + " (" + base_name(w.version) + ")";
        std::snprintf(line, sizeof line, "%-8d %-10s %4d %4llu %-9s %6u %10llu %9s  %s\n", int(pid),
                      m.config.groups[size_t(w.group)].name.c_str(), w.slot,
                      static_cast<unsigned long long>(w.generation), state_of(w), row.connections.load(),
                      static_cast<unsigned long long>(row.requests.load()), human_bytes(rss_bytes(pid)).c_str(),
                      module.c_str());
        out << line;
    }
    return out.str();
}

std::string status_json(const MasterView& m) {
    std::ostringstream out;
    out << "{\"master\": {\"pid\": " << m.pid << ", \"build\": " << json_string(m.build) << ", \"uptime_s\": " << (time(nullptr) - m.started_wall)
        << ", \"config\": " << json_string(m.config_name) << ", \"stopping\": " << (m.stopping ? "true" : "false")
        << "},\n";
    out << " \"reload\": {\"state\": " << json_string(m.reload.state_name())
        << ", \"description\": " << json_string(m.reload.describe()) << "},\n";
    out << " \"upgrade\": {\"state\": " << json_string(Upgrade::phase_name(m.upgrade.phase()))
        << ", \"new_pid\": " << m.upgrade.new_pid() << ", \"description\": " << json_string(m.upgrade.describe())
        << "},\n";
    out << " \"generation\": " << m.generation << ",\n \"groups\": [";
    for (size_t g = 0; g < m.config.groups.size(); g++) {
        const GroupConfig& c = m.config.groups[g];
        out << (g ? ",\n  " : "\n  ") << "{\"name\": " << json_string(c.name) << ", \"listen\": "
            << json_string(c.listen.text()) << ", \"count\": " << c.count << ", \"role\": " << json_string(role_name(c.role))
            << ", \"reloadable\": " << (c.reloadable ? "true" : "false")
            << ", \"handover\": " << (c.handover ? "true" : "false") << ", \"module\": " << json_string(c.module)
            << "}";
    }
    out << "\n ],\n \"workers\": [";
    bool first = true;
    for (const auto& [pid, w] : m.workers.processes()) {
        const WorkerRow& row = m.stats.row(size_t(w.stats_row));
        out << (first ? "\n  " : ",\n  ") << "{\"pid\": " << pid << ", \"group\": "
            << json_string(m.config.groups[size_t(w.group)].name) << ", \"slot\": " << w.slot
            << ", \"generation\": " << w.generation << ", \"state\": " << json_string(state_of(w))
            << ", \"connections\": " << row.connections.load() << ", \"requests\": " << row.requests.load()
            << ", \"bytes_in\": " << row.bytes_in.load() << ", \"bytes_out\": " << row.bytes_out.load()
            << ", \"links\": " << row.links.load() << ", \"queued\": " << row.queued.load()
            << ", \"rss_bytes\": " << rss_bytes(pid) << ", \"module\": " << json_string(w.version)
            << ", \"version\": " << json_string(w.state == WorkerState::Starting ? "" : row.module_version) << "}";
        first = false;
    }
    out << "\n ]}\n";
    return out.str();
}

std::string connections_text(const MasterView& m) {
    std::ostringstream out;
    char line[512];
    std::snprintf(line, sizeof line, "%-8s %-10s %-21s %-6s %-10s %10s %10s %8s\n", "PID", "GROUP", "PEER", "PROTO",
                  "STATE", "BYTES_IN", "BYTES_OUT", "AGE");
    out << line;
    int64_t now_ms = wall_clock_ms();
    size_t total = 0, unlisted = 0;
    for (const auto& [pid, w] : m.workers.processes()) {
        const WorkerRow& row = m.stats.row(size_t(w.stats_row));
        const GroupConfig& g = m.config.groups[size_t(w.group)];
        unlisted += row.conn_unlisted.load();
        for (const ConnRecord& c : row.conns) {
            if (c.id.load() == 0) continue;
            in_addr addr{c.peer_ip.load()};
            char ip[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &addr, ip, sizeof ip);
            std::string peer = std::string(ip) + ":" + std::to_string(c.peer_port.load());
            double age = double(now_ms - c.opened_ms.load()) / 1000.0;
            std::snprintf(line, sizeof line, "%-8d %-10s %-21s %-6s %-10s %10llu %10llu %7.1fs\n", int(pid),
                          g.name.c_str(), peer.c_str(), protocol_name(g.listen.protocol),
                          Connection::state_name(Connection::State(c.state.load())),
                          static_cast<unsigned long long>(c.bytes_in.load()),
                          static_cast<unsigned long long>(c.bytes_out.load()), age);
            out << line;
            total++;
        }
    }
    out << total << " connections";
    if (unlisted)
        out << " (+" << unlisted << " open now but not listed: the table holds " << kConnRecords << " per worker)";
    out << "\n";
    return out.str();
}

}  // namespace smooth
