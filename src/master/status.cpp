// status: how the master shows what it is doing: the table printed at start,
// `status` (for people and, with --json, for scripts) and `connections`.
// Counters come from the shared stats table, so no worker is asked anything.
#include <arpa/inet.h>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "worker/connection.h"
#include "core/log.h"
#include "master/master.h"

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

}  // namespace

void Master::report_started() {
    if (reported_) return;
    reported_ = true;
    if (start_report_timer_) loop_.cancel_timer(std::exchange(start_report_timer_, 0));
    std::ostringstream out;
    out << "smooth started: master pid " << getpid() << ", config "
        << (config_path_.empty() ? config_.source : config_path_) << "\n";
    char line[512];
    std::snprintf(line, sizeof line, "%-10s %-28s %-9s %-30s %s\n", "GROUP", "LISTEN", "WORKERS", "MODULE", "RELOADABLE");
    out << line;
    int not_ready = 0;
    for (size_t g = 0; g < groups_.size(); g++) {
        int ready = 0;
        for (const auto& [pid, w] : workers_)
            if (w.group == int(g) && w.state == WorkerState::Ready) ready++;
        not_ready += groups_[g].config.count - ready;
        const GroupConfig& c = groups_[g].config;
        std::string workers = std::to_string(ready) + "/" + std::to_string(c.count);
        std::string module = c.module + (c.preload ? " (preload)" : "");
        std::snprintf(line, sizeof line, "%-10s %-28s %-9s %-30s %s\n", c.name.c_str(), c.listen.text().c_str(),
                      workers.c_str(), module.c_str(), c.reloadable ? "yes" : "no");
        out << line;
    }
    if (not_ready > 0) out << "warning: " << not_ready << " workers not ready after start_timeout; see the log\n";
    std::string text = out.str();
    int fd = options_.report_fd >= 0 ? options_.report_fd : 1;
    if (::write(fd, text.data(), text.size()) == -1)
        log::warn("cannot print the start report: %s", errno_text(errno).c_str());
    if (options_.report_fd >= 0) {
        ::close(options_.report_fd);  // the waiting `start -d` sees EOF and exits
        options_.report_fd = -1;
    }
}

std::string Master::status_text() const {
    std::ostringstream out;
    out << "master pid " << getpid() << ", up " << duration_text(time(nullptr) - started_wall_) << ", config "
        << (config_path_.empty() ? config_.source : config_path_) << (stopping_ ? ", STOPPING" : "") << "\n";
    out << "reload: " << reload_.describe() << "\n";
    char line[512];
    std::snprintf(line, sizeof line, "%-8s %-10s %4s %4s %-9s %6s %10s %9s  %s\n", "PID", "GROUP", "SLOT", "GEN", "STATE",
                  "CONNS", "REQUESTS", "RSS", "MODULE");
    out << line;
    for (const auto& [pid, w] : workers_) {
        const WorkerRow& row = stats_.row(size_t(w.stats_row));
        std::string version = w.state == WorkerState::Starting ? "-" : row.module_version;
        std::string module = version + " (" + base_name(w.module) + ")";
        std::snprintf(line, sizeof line, "%-8d %-10s %4d %4llu %-9s %6u %10llu %9s  %s\n", int(pid),
                      groups_[size_t(w.group)].config.name.c_str(), w.slot, static_cast<unsigned long long>(w.generation),
                      worker_state_name(w.state), row.connections.load(),
                      static_cast<unsigned long long>(row.requests.load()), human_bytes(rss_bytes(pid)).c_str(),
                      module.c_str());
        out << line;
    }
    return out.str();
}

std::string Master::status_json() const {
    std::ostringstream out;
    out << "{\"master\": {\"pid\": " << getpid() << ", \"uptime_s\": " << (time(nullptr) - started_wall_)
        << ", \"config\": " << json_string(config_path_.empty() ? config_.source : config_path_)
        << ", \"stopping\": " << (stopping_ ? "true" : "false") << "},\n";
    out << " \"reload\": {\"state\": " << json_string(reload_.state_name())
        << ", \"description\": " << json_string(reload_.describe()) << "},\n";
    out << " \"generation\": " << generation_ << ",\n \"workers\": [";
    bool first = true;
    for (const auto& [pid, w] : workers_) {
        const WorkerRow& row = stats_.row(size_t(w.stats_row));
        out << (first ? "\n  " : ",\n  ") << "{\"pid\": " << pid << ", \"group\": "
            << json_string(groups_[size_t(w.group)].config.name) << ", \"slot\": " << w.slot
            << ", \"generation\": " << w.generation << ", \"state\": " << json_string(worker_state_name(w.state))
            << ", \"connections\": " << row.connections.load() << ", \"requests\": " << row.requests.load()
            << ", \"bytes_in\": " << row.bytes_in.load() << ", \"bytes_out\": " << row.bytes_out.load()
            << ", \"rss_bytes\": " << rss_bytes(pid) << ", \"module\": " << json_string(w.module)
            << ", \"version\": " << json_string(w.state == WorkerState::Starting ? "" : row.module_version) << "}";
        first = false;
    }
    out << "\n ]}\n";
    return out.str();
}

std::string Master::connections_text() const {
    std::ostringstream out;
    char line[512];
    std::snprintf(line, sizeof line, "%-8s %-10s %-21s %-6s %-10s %10s %10s %8s\n", "PID", "GROUP", "PEER", "PROTO", "STATE",
                  "BYTES_IN", "BYTES_OUT", "AGE");
    out << line;
    int64_t now_ms = EventLoop::wall_ms();
    size_t total = 0, unlisted = 0;
    for (const auto& [pid, w] : workers_) {
        const WorkerRow& row = stats_.row(size_t(w.stats_row));
        const GroupConfig& g = groups_[size_t(w.group)].config;
        unlisted += row.conn_overflow.load();
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
    if (unlisted) out << " (+" << unlisted << " opened while the table was full)";
    out << "\n";
    return out.str();
}

}  // namespace smooth
