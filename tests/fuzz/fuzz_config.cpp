// fuzz_config: parse_config() on any text, and the value parsers it
// exposes, parse_duration_ms() and parse_size(), on any bytes.
//
// Invariants (config.h):
//   - either "" and a Config, or an error (and the Config left alone) that starts
//     with "SOURCE:LINE: ", LINE a line of the text (0 only for a text with
//     no lines, which has no group);
//   - a Config is one the server can run: at least one group, group names
//     unique, no two groups on the same socket, every count 1-256, every
//     listen port 1-65535, a module per group, absolute paths for run_dir,
//     pid_file, log_file and every .so module;
//   - parsing the same text again gives the same answer;
//   - a duration is 1 ms to 1 day, a size above 0.
#include <string>

#include "config/config.h"
#include "fuzz.h"

using namespace smooth;
using fuzz::require;

namespace {

constexpr std::string_view kSource = "fuzz.conf";

// The lines the reader counts: cut at '\n', the last one only if not empty.
size_t count_lines(std::string_view text) {
    size_t lines = 0;
    for (char c : text) lines += c == '\n';
    return lines + (!text.empty() && text.back() != '\n');
}

void check_error(std::string_view text, const std::string& error) {
    require(error.starts_with(std::string(kSource) + ":"), "an error starts with the source name and ':'");
    size_t i = kSource.size() + 1, line = 0;
    const size_t digits_start = i;
    while (i < error.size() && error[i] >= '0' && error[i] <= '9' && i - digits_start < 10)
        line = line * 10 + size_t(error[i++] - '0');
    require(i > digits_start && error.compare(i, 2, ": ") == 0, "then a line number and \": \"");
    require(line <= count_lines(text), "the line number is a line of the text");
    require(line > 0 || count_lines(text) == 0, "line 0 only for a text with no lines");
    require(error.size() > i + 2, "then a message");
}

bool absolute(const std::string& path) { return path.starts_with('/'); }

void check_config(const Config& c) {
    require(c.source == kSource, "the Config names its source");
    require(!c.groups.empty(), "a Config has at least one group");
    require(absolute(c.server.run_dir) && absolute(c.server.pid_file) && absolute(c.server.log_file),
            "run_dir, pid_file and log_file are absolute");
    for (size_t i = 0; i < c.groups.size(); ++i) {
        const GroupConfig& g = c.groups[i];
        require(!g.name.empty() && c.find_group(g.name) == &g, "group names are unique and not empty");
        require(g.count >= 1 && g.count <= 256, "count is 1-256");
        require(g.listen.port >= 1, "a listen port is 1-65535");
        require(!g.listen.host.empty(), "a listen address has a host");
        require(g.is_builtin() || absolute(g.module), "a module is builtin:NAME or an absolute path");
        require(g.max_connections >= 1 && g.max_request_bytes >= 1, "limits are at least 1");
        require(g.keepalive_timeout_ms >= 1 && g.request_timeout_ms >= 1, "timeouts are at least 1 ms");
        for (size_t j = 0; j < i; ++j) {
            const ListenAddress& a = c.groups[j].listen;
            require(!(a.port == g.listen.port &&
                      (a.host == g.listen.host || a.host == "0.0.0.0" || g.listen.host == "0.0.0.0")),
                    "no two groups listen on the same socket");
        }
    }
}

bool same_config(const Config& a, const Config& b) {
    const ServerConfig &x = a.server, &y = b.server;
    return a.source == b.source && a.groups == b.groups && x.run_dir == y.run_dir && x.pid_file == y.pid_file &&
           x.log_file == y.log_file && x.user == y.user && x.group == y.group &&
           x.stop_timeout_ms == y.stop_timeout_ms && x.drain_timeout_ms == y.drain_timeout_ms &&
           x.start_timeout_ms == y.start_timeout_ms && x.reload_order == y.reload_order;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const ConfigContext ctx{.source_name = std::string(kSource), .base_dir = "/srv/smooth", .cores = 4};

    Config parsed;
    const std::string error = parse_config(text, ctx, parsed);
    const bool ok = error.empty();
    if (ok)
        check_config(parsed);
    else
        check_error(text, error);

    Config parsed2;
    const std::string error2 = parse_config(text, ctx, parsed2);
    require(error == error2 && (!ok || same_config(parsed, parsed2)), "parsing the same text again gives the same answer");

    if (const std::optional<int> ms = parse_duration_ms(text))
        require(*ms >= 1 && *ms <= 24 * 60 * 60 * 1000, "a duration is 1 ms to 1 day");
    if (const std::optional<size_t> bytes = parse_size(text)) require(*bytes > 0, "a size is above 0");
    return 0;
}
