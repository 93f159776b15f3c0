// config.cpp: the server.conf reader (see config.h for the keys).
//
// One pass over the lines. A Reader knows the current section and the keys it
// has seen there; a group is checked as a whole when its section ends, so
// errors come out in line order. Every error names the file, the line, the
// section and the key:
//   server.conf:7: [group web] count: expected a whole number from 1 to 256 (or auto), got "many"
#include "config/config.h"

#include "config/secret_file.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

namespace smooth {

const char* protocol_name(Protocol p) {
    switch (p) {
        case Protocol::Http: return "http";
        case Protocol::Text: return "text";
        case Protocol::Frame: return "frame";
        case Protocol::Tcp: return "tcp";
        case Protocol::Ws: return "ws";
    }
    return "?";
}

const char* role_name(Role r) {
    switch (r) {
        case Role::Plain: return "plain";
        case Role::Gateway: return "gateway";
        case Role::Business: return "business";
    }
    return "?";
}

std::string ListenAddress::text() const {
    return std::string(protocol_name(protocol)) + "://" + host + ":" + std::to_string(port);
}

const GroupConfig* Config::find_group(std::string_view name) const {
    for (const GroupConfig& g : groups)
        if (g.name == name) return &g;
    return nullptr;
}

bool is_loopback(const std::string& host) { return host.starts_with("127."); }

int total_workers(const Config& config) {
    int total = 0;
    for (const GroupConfig& g : config.groups) total += g.count;
    return total;
}

// ---- values: pure functions from the text after '=' to a typed value ----

namespace {

constexpr int kDayMs = 24 * 60 * 60 * 1000;
constexpr size_t kGiB = size_t(1) << 30;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
}
bool all_digits(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_digit); }
bool is_name(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_name_char); }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Digits only: no sign, no spaces, no "0x"; nullopt on overflow too.
std::optional<uint64_t> parse_whole(std::string_view s) {
    uint64_t v = 0;
    if (!all_digits(s)) return std::nullopt;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<int> parse_int_in(std::string_view s, int lo, int hi) {
    std::optional<uint64_t> v = parse_whole(s);
    if (!v || *v < uint64_t(lo) || *v > uint64_t(hi)) return std::nullopt;
    return int(*v);
}

std::optional<size_t> size_in(std::string_view s, size_t lo, size_t hi) {
    std::optional<size_t> v = parse_size(s);
    if (!v || *v < lo || *v > hi) return std::nullopt;
    return v;
}

std::optional<int> parse_count(std::string_view s, int cores) {
    if (s == "auto") return std::clamp(cores, 1, 256);
    return parse_int_in(s, 1, 256);
}

std::optional<bool> parse_bool(std::string_view s) {
    if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
    if (s == "false" || s == "no" || s == "off" || s == "0") return false;
    return std::nullopt;
}

std::optional<ReloadOrder> parse_reload_order(std::string_view s) {
    if (s == "stop_first") return ReloadOrder::StopFirst;
    if (s == "start_first") return ReloadOrder::StartFirst;
    return std::nullopt;
}

std::optional<std::string> non_empty(std::string_view s) {
    if (s.empty()) return std::nullopt;
    return std::string(s);
}

// "127.0.0.1": four decimal parts 0..255. Leading zeros are refused because
// some resolvers read "010" as octal.
bool is_ipv4(std::string_view s) {
    int parts = 0;
    for (;;) {
        size_t dot = s.find('.');
        std::string_view part = s.substr(0, dot);
        std::optional<uint64_t> v = parse_whole(part);
        if (!v || *v > 255 || part.size() > 3 || (part.size() > 1 && part[0] == '0')) return false;
        ++parts;
        if (dot == std::string_view::npos) break;
        s.remove_prefix(dot + 1);
    }
    return parts == 4;
}

// "http://127.0.0.1:8080".
std::optional<ListenAddress> parse_listen(std::string_view s) {
    size_t sep = s.find("://");
    if (sep == std::string_view::npos) return std::nullopt;
    std::string_view scheme = s.substr(0, sep);
    std::string_view rest = s.substr(sep + 3);
    ListenAddress a;
    if (scheme == "http") a.protocol = Protocol::Http;
    else if (scheme == "text") a.protocol = Protocol::Text;
    else if (scheme == "frame") a.protocol = Protocol::Frame;
    else if (scheme == "tcp") a.protocol = Protocol::Tcp;
    else if (scheme == "ws") a.protocol = Protocol::Ws;
    else return std::nullopt;

    size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::string_view host = rest.substr(0, colon);
    std::optional<uint64_t> port = parse_whole(rest.substr(colon + 1));
    if (!port || *port < 1 || *port > 65535) return std::nullopt;
    if (host == "localhost") a.host = "127.0.0.1";
    else if (is_ipv4(host)) a.host = std::string(host);
    else return std::nullopt;
    a.port = uint16_t(*port);
    return a;
}

// Two groups collide when their port ranges overlap (a business group takes
// one port per worker) and their hosts are equal, or either is 0.0.0.0, which
// takes the port on every address.
bool same_socket(const GroupConfig& a, const GroupConfig& b) {
    const int a_end = a.listen.port + a.ports(), b_end = b.listen.port + b.ports();
    const bool overlap = a.listen.port < b_end && b.listen.port < a_end;
    return overlap && (a.listen.host == b.listen.host || a.listen.host == "0.0.0.0" || b.listen.host == "0.0.0.0");
}

// "/healthz": an absolute path as a request-target carries it, without a
// query or fragment (the worker compares it with the request's path), and
// nothing that would need escaping.
std::optional<std::string> parse_health_path(std::string_view s) {
    if (s.size() < 1 || s.size() > 200 || s[0] != '/') return std::nullopt;
    for (char c : s)
        if (c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '%') return std::nullopt;
    return std::string(s);
}

std::optional<Role> parse_role(std::string_view s) {
    if (s == "gateway") return Role::Gateway;
    if (s == "business") return Role::Business;
    return std::nullopt;
}

// Joins a relative path to `base` and tidies it ("a/./b/../c" -> "a/c"). The
// file need not exist: whoever opens it reports that.
std::string resolve_path(const std::string& base, std::string_view p) {
    std::filesystem::path path(p);
    if (path.is_relative()) path = std::filesystem::path(base) / path;
    std::string s = path.lexically_normal().string();
    if (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
}

// Cuts a trailing " # comment". The '#' must follow whitespace, so "a#b"
// stays whole, and a '#' inside double quotes is part of the value.
std::string_view strip_comment(std::string_view s) {
    bool quoted = false;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '"') quoted = !quoted;
        else if (s[i] == '#' && !quoted && i > 0 && is_space(s[i - 1])) return s.substr(0, i);
    }
    return s;
}

const char* const kDurationExpected =
    "a duration above 0 and up to 1 day, like 500ms, 5s, 2m or 1.5 (seconds)";

}  // namespace

std::optional<int> parse_duration_ms(std::string_view s) {
    static constexpr std::pair<std::string_view, int64_t> kUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60 * 1000}};
    int64_t unit = 1000;  // a bare number is seconds
    for (auto [suffix, ms] : kUnits) {
        if (s.ends_with(suffix)) {
            unit = ms;
            s.remove_suffix(suffix.size());
            break;
        }
    }

    size_t dot = s.find('.');
    std::optional<uint64_t> whole = parse_whole(s.substr(0, dot));
    std::string_view frac = dot == std::string_view::npos ? "" : s.substr(dot + 1);
    if (!whole || (dot != std::string_view::npos && !all_digits(frac))) return std::nullopt;
    if (*whole > uint64_t(kDayMs)) return std::nullopt;  // also keeps the sums below small

    // Nine fraction digits are more than a millisecond can show; the rest are dropped.
    frac = frac.substr(0, 9);
    int64_t scale = 1;
    for (size_t i = 0; i < frac.size(); ++i) scale *= 10;
    int64_t ms = int64_t(*whole) * unit + (frac.empty() ? 0 : int64_t(*parse_whole(frac)) * unit / scale);
    if (ms <= 0 || ms > kDayMs) return std::nullopt;
    return int(ms);
}

std::optional<size_t> parse_size(std::string_view s) {
    uint64_t unit = 1;
    switch (s.empty() ? '\0' : s.back()) {
        case 'k': case 'K': unit = uint64_t(1) << 10; break;
        case 'm': case 'M': unit = uint64_t(1) << 20; break;
        case 'g': case 'G': unit = uint64_t(1) << 30; break;
        default: break;
    }
    if (unit != 1) s.remove_suffix(1);
    std::optional<uint64_t> v = parse_whole(s);
    if (!v || *v == 0 || *v > SIZE_MAX / unit) return std::nullopt;
    return size_t(*v * unit);
}

// ---- the reader: lines, sections, keys ----

namespace {

class Reader {
public:
    Reader(const ConfigContext& ctx, std::string& error) : ctx_(ctx), error_(error) {}

    std::optional<Config> read(std::string_view text) {
        config_.source = ctx_.source_name;
        while (!text.empty()) {
            size_t nl = text.find('\n');
            std::string_view line = text.substr(0, nl);
            text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
            ++line_;
            if (!read_line(line)) return std::nullopt;
        }
        key_ = {};
        if (!close_section()) return std::nullopt;
        if (!resolve_backends()) return std::nullopt;
        if (!check_links_need_a_secret()) return std::nullopt;
        if (config_.groups.empty()) {
            fail("no [group NAME] section: there is nothing to run");
            return std::nullopt;
        }
        ServerConfig& s = config_.server;
        if (s.run_dir.empty()) s.run_dir = resolve_path(ctx_.base_dir, "run");
        if (s.run_dir.size() > kMaxRunDirLength) {
            section_ = run_dir_line_ ? Section::Server : Section::None;
            fail_at(run_dir_line_, "run_dir",
                    (run_dir_line_ ? "" : "(default: the config's directory/run) ") + s.run_dir + " is " +
                        std::to_string(s.run_dir.size()) + " bytes; the control socket in it needs run_dir to be at most " +
                        std::to_string(kMaxRunDirLength) + " (a Unix socket's path holds 107); set a shorter run_dir");
            return std::nullopt;
        }
        if (s.pid_file.empty()) s.pid_file = resolve_path(s.run_dir, "smooth.pid");
        if (s.log_file.empty()) s.log_file = resolve_path(s.run_dir, "smooth.log");
        return std::move(config_);
    }

private:
    enum class Section { None, Server, Group };

    bool read_line(std::string_view raw) {
        key_ = {};
        std::string_view line = trim(raw);
        if (line.empty() || line[0] == '#' || line[0] == ';') return true;
        line = trim(strip_comment(line));
        // A NUL byte would cut the value short in every C call it reaches
        // (dlopen, open, getpwnam): a different value from the one written.
        if (size_t nul = line.find('\0'); nul != std::string_view::npos) return fail_nul(line, nul);
        if (line[0] == '[') return open_section(line);

        size_t eq = line.find('=');
        if (eq == std::string_view::npos || trim(line.substr(0, eq)).empty())
            return fail("expected key = value or a [section] header, got " + quote(line));
        key_ = trim(line.substr(0, eq));
        value_ = trim(line.substr(eq + 1));
        if (section_ == Section::None)
            return fail("this key is outside any section; put it under [server] or [group NAME]");
        if (value_.starts_with('"')) {
            if (value_.size() < 2 || !value_.ends_with('"'))
                return fail("the value has no closing quote: " + std::string(value_));
            value_ = value_.substr(1, value_.size() - 2);
        }
        auto [first, fresh] = seen_.emplace(std::string(key_), line_);
        if (!fresh) return fail("set twice in this section (first on line " + std::to_string(first->second) + ")");
        return section_ == Section::Server ? set_server_key() : set_group_key();
    }

    bool fail_nul(std::string_view line, size_t nul) {
        const char* what = "a NUL byte (\\0) in this line; a config file is text";
        if (line[0] == '[') return close_section() && fail(what);
        size_t eq = line.find('=');
        if (eq == std::string_view::npos || nul < eq) return fail(what);
        key_ = trim(line.substr(0, eq));
        return fail("the value holds a NUL byte (\\0) after " + quote(trim(line.substr(eq + 1, nul - eq - 1))) +
                    "; a config file is text");
    }

    bool open_section(std::string_view header) {
        if (!close_section()) return false;
        if (!header.ends_with(']'))
            return fail("expected a section header like [server] or [group NAME], got " + quote(header));
        std::string_view inner = trim(header.substr(1, header.size() - 2));
        if (inner == "server") {
            if (server_line_ != 0)
                return fail("[server] appears twice (first on line " + std::to_string(server_line_) + ")");
            server_line_ = line_;
            section_ = Section::Server;
            return true;
        }
        if (inner.starts_with("group") && (inner.size() == 5 || is_space(inner[5]))) {
            std::string_view name = trim(inner.substr(5));
            if (!is_name(name))
                return fail("expected [group NAME] with NAME made of letters, digits, '_' or '-', got " +
                            std::string(header));
            if (const GroupConfig* other = config_.find_group(name))
                return fail("[group " + std::string(name) + "] appears twice (first on line " +
                            std::to_string(other->line) + ")");
            GroupConfig g;
            g.name = std::string(name);
            g.line = line_;
            config_.groups.push_back(std::move(g));
            section_ = Section::Group;
            return true;
        }
        return fail("unknown section " + std::string(header) + "; expected [server] or [group NAME]");
    }

    // A group is complete only when its section ends: listen and module may
    // come in any order, and a clash with an earlier group shows only then.
    bool close_section() {
        if (section_ == Section::Group && !check_group()) return false;
        section_ = Section::None;
        seen_.clear();
        return true;
    }

    bool check_group() {
        const GroupConfig& g = config_.groups.back();
        auto listen = seen_.find("listen");
        if (listen == seen_.end())
            return fail_at(g.line, "listen", "missing; every group needs one, e.g. listen = http://127.0.0.1:8080");
        if (seen_.find("module") == seen_.end()) {
            // A gateway's own module only answers plain HTTP requests (a page);
            // without one they get 404. Every other group needs its code.
            if (g.role != Role::Gateway)
                return fail_at(g.line, "module", "missing; every group needs one, e.g. module = modules/hello.so");
            config_.groups.back().module = "builtin:none";
        }
        if (!check_role(g)) return false;
        if (!g.health_path.empty() && g.listen.protocol != Protocol::Http && g.listen.protocol != Protocol::Ws)
            return fail_at(seen_.find("health_path")->second, "health_path",
                           "only an http:// or ws:// group answers health checks (this one listens on " +
                               g.listen.text() + ")");
        if (g.preload && g.is_builtin())
            return fail_at(seen_.find("preload")->second, "preload",
                           "a builtin module is part of the binary, there is nothing to preload; "
                           "preload = true is for .so modules");
        for (size_t i = 0; i + 1 < config_.groups.size(); ++i) {
            const GroupConfig& other = config_.groups[i];
            if (!same_socket(g, other)) continue;
            std::string theirs = other.listen.host + ":" + std::to_string(other.listen.port);
            std::string mine = g.listen.host + ":" + std::to_string(g.listen.port);
            return fail_at(listen->second, "listen",
                           mine + " is already used by [group " + other.name + "] (line " +
                               std::to_string(listen_lines_[i]) + (mine == theirs ? "" : ": " + theirs) + ")");
        }
        listen_lines_.push_back(listen->second);
        // What the server can run: see kMaxWorkers (config.h).
        total_workers_ += g.count;
        if (total_workers_ > kMaxWorkers) {
            auto count = seen_.find("count");
            return fail_at(count == seen_.end() ? g.line : count->second, "count",
                           "the groups ask for " + std::to_string(total_workers_) +
                               " workers in all; this server runs at most " + std::to_string(kMaxWorkers) +
                               " (its stats table holds each twice, for a reload's overlap); lower a count");
        }
        return true;
    }

    // The gateway pattern's rules for one group; the backend is resolved once
    // every group is read (resolve_backends).
    bool check_role(const GroupConfig& g) {
        auto line_of = [&](const char* key) {
            auto it = seen_.find(key);
            return it == seen_.end() ? g.line : it->second;
        };
        if (g.role != Role::Gateway) {
            for (const char* key : {"backend", "queue_limit", "queue_limit_bytes"})
                if (seen_.count(key)) return fail_at(line_of(key), key, "only a group with role = gateway takes it");
            if (g.handover)
                return fail_at(line_of("reloadable"), "reloadable",
                               "only a gateway hands its connections over (role = gateway); other groups are true or false");
        }
        if (g.role == Role::Gateway) {
            if (!seen_.count("backend"))
                return fail_at(g.line, "backend",
                               "missing; a gateway needs one: a business group's name, or tcp://HOST:PORT");
            const Protocol p = g.listen.protocol;
            if (p != Protocol::Ws && p != Protocol::Text && p != Protocol::Frame)
                return fail_at(line_of("listen"), "listen", "a gateway holds ws://, text:// or frame:// clients");
            // The seed's gateway is never reloaded: it holds the client
            // connections. Past the seed, a reload may replace its workers by
            // handing each one's connections to its successor.
            if (seen_.count("reloadable") && g.reloadable && !g.handover)
                return fail_at(line_of("reloadable"), "reloadable",
                               "a gateway is not restarted under its clients: false (the seed's answer: reload its "
                               "backend) or handover (a reload hands its connections to new workers)");
            if (!g.handover) config_.groups.back().reloadable = false;
            backend_lines_.emplace_back(config_.groups.size() - 1, line_of("backend"));
        }
        if (g.role == Role::Business) {
            if (g.listen.protocol != Protocol::Tcp)
                return fail_at(line_of("listen"), "listen", "a business group listens on tcp://HOST:PORT (its gateways connect there)");
            if (int(g.listen.port) + g.count - 1 > 65535)
                return fail_at(line_of("listen"), "listen",
                               "a business group takes one port per worker (port to port + count - 1): "
                               "too few left above " + std::to_string(g.listen.port));
            if (!g.reloadable)
                return fail_at(line_of("reloadable"), "reloadable", "a business group is what a reload replaces");
        }
        return true;
    }

    // backend = GROUP names a business group of this file; its listen is where
    // business worker 0 listens.
    bool resolve_backends() {
        for (auto [index, line] : backend_lines_) {
            GroupConfig& g = config_.groups[index];
            if (g.backend.starts_with("tcp://")) continue;  // parsed with the key
            const GroupConfig* b = config_.find_group(g.backend);
            section_ = Section::None;
            if (!b || b->role != Role::Business)
                return fail_at(line, "", "[group " + g.name + "] backend: " +
                                             (b ? "group " + g.backend + " has no role = business"
                                                : "no group named " + quote(g.backend)) +
                                             "; name a group with role = business, or tcp://HOST:PORT");
            g.backend_address = b->listen;
        }
        return true;
    }

    // A link to or from another host is proven with a secret the operator
    // gives both instances (config.h, docs/links.md): the one an instance
    // makes for itself is unknown to any other, and on an address others can
    // reach, anyone would otherwise be a gateway.
    bool check_links_need_a_secret() {
        if (!config_.server.link_secret_file.empty()) return true;
        section_ = Section::None;
        const std::string how = "; set [server] link_secret_file = PATH (a file of 16 or more secret bytes, mode 0600, "
                                "the same on every instance that links; see docs/links.md)";
        for (size_t i = 0; i < config_.groups.size(); i++) {
            const GroupConfig& g = config_.groups[i];
            if (g.role == Role::Business && !is_loopback(g.listen.host))
                return fail_at(listen_lines_[i], "",
                               "[group " + g.name + "] listen: " + g.listen.host +
                                   " is not a loopback address: gateways on other hosts link here, and without a "
                                   "link secret anyone who reaches the port would be a gateway" + how);
        }
        for (auto [index, line] : backend_lines_) {
            const GroupConfig& g = config_.groups[index];
            if (g.backend.starts_with("tcp://") && !is_loopback(g.backend_address.host))
                return fail_at(line, "",
                               "[group " + g.name + "] backend: " + g.backend_address.host +
                                   " is not a loopback address: a business instance on another host is linked with "
                                   "the secret both are given" + how);
        }
        return true;
    }

    bool set_server_key() {
        ServerConfig& s = config_.server;
        const std::string_view k = key_, v = value_;
        if (k == "run_dir") {
            run_dir_line_ = line_;
            return assign(s.run_dir, path(v), "a directory path");
        }
        if (k == "pid_file") return assign(s.pid_file, path(v), "a file path");
        if (k == "log_file") return assign(s.log_file, path(v), "a file path");
        if (k == "user") return assign(s.user, non_empty(v), "a user name");
        if (k == "group") return assign(s.group, non_empty(v), "a group name");
        if (k == "stop_timeout") return assign(s.stop_timeout_ms, parse_duration_ms(v), kDurationExpected);
        if (k == "drain_timeout") return assign(s.drain_timeout_ms, parse_duration_ms(v), kDurationExpected);
        if (k == "start_timeout") return assign(s.start_timeout_ms, parse_duration_ms(v), kDurationExpected);
        if (k == "reload_order") return assign(s.reload_order, parse_reload_order(v), "stop_first or start_first");
        if (k == "link_secret_file") {
            s.link_secret_line = line_;
            return assign(s.link_secret_file, path(v), "a file path");
        }
        return fail("unknown key; [server] takes pid_file, log_file, run_dir, user, group, "
                    "stop_timeout, drain_timeout, start_timeout, reload_order, link_secret_file");
    }

    bool set_group_key() {
        GroupConfig& g = config_.groups.back();
        const std::string_view k = key_, v = value_;
        if (k == "listen") {
            return assign(g.listen, parse_listen(v),
                          "SCHEME://HOST:PORT with SCHEME one of http, ws, text, frame, tcp, "
                          "HOST a numeric IPv4 address or localhost, PORT from 1 to 65535");
        }
        if (k == "count") return assign(g.count, parse_count(v, ctx_.cores), "a whole number from 1 to 256 (or auto)");
        if (k == "module") return assign(g.module, module(v), "a path to a .so file or builtin:NAME");
        if (k == "preload") return assign(g.preload, parse_bool(v), "true or false (or yes/no, on/off, 1/0)");
        if (k == "reloadable") {
            // handover: a gateway's own way of being reloadable (worker/handover.h).
            g.handover = v == "handover";
            if (g.handover) {
                g.reloadable = true;
                return true;
            }
            return assign(g.reloadable, parse_bool(v), "true or false (or yes/no, on/off, 1/0), or handover for a gateway");
        }
        if (k == "max_connections")
            return assign(g.max_connections, parse_int_in(v, 1, 1000000), "a whole number from 1 to 1000000");
        if (k == "max_request_bytes") {
            std::optional<size_t> size = parse_size(v);
            if (!size || *size > kGiB) return fail("expected a size from 1 byte to 1g, like 65536, 64k or 1m, got " + quote(v));
            g.max_request_bytes = *size;
            return true;
        }
        if (k == "keepalive_timeout") return assign(g.keepalive_timeout_ms, parse_duration_ms(v), kDurationExpected);
        if (k == "keepalive_requests")
            return assign(g.keepalive_requests, parse_int_in(v, 0, 1000000000), "a whole number (0: no limit)");
        if (k == "request_timeout") return assign(g.request_timeout_ms, parse_duration_ms(v), kDurationExpected);
        if (k == "health_path")
            return assign(g.health_path, parse_health_path(v),
                          "a path like /healthz (up to 200 characters, no spaces, query, fragment or %)");
        if (k == "role") return assign(g.role, parse_role(v), "gateway or business");
        if (k == "backend") {
            g.backend = std::string(v);
            if (!v.starts_with("tcp://")) return is_name(v) ? true : fail("expected a group name or tcp://HOST:PORT, got " + quote(v));
            return assign(g.backend_address, parse_listen(v), "tcp://HOST:PORT with HOST a numeric IPv4 address");
        }
        if (k == "queue_limit")
            return assign(g.queue_limit, parse_size(v), "a number of messages, like 10000 or 10k");
        if (k == "queue_limit_bytes") return assign(g.queue_limit_bytes, size_in(v, 1024, kGiB), "a size from 1k to 1g");
        if (k == "max_unsent_bytes") return assign(g.max_unsent_bytes, size_in(v, 1024, kGiB), "a size from 1k to 1g");
        if (k == "message_timeout") return assign(g.message_timeout_ms, parse_duration_ms(v), kDurationExpected);
        if (k == "max_buffered_bytes")
            return assign(g.max_buffered_bytes, size_in(v, 1 << 20, 64 * kGiB), "a size from 1m to 64g");
        return fail("unknown key; [group NAME] takes listen, count, module, preload, reloadable, "
                    "max_connections, max_request_bytes, keepalive_timeout, keepalive_requests, request_timeout, "
                    "health_path, max_unsent_bytes, message_timeout, max_buffered_bytes, role, backend, queue_limit, "
                    "queue_limit_bytes");
    }

    std::optional<std::string> path(std::string_view v) const {
        if (v.empty()) return std::nullopt;
        return resolve_path(ctx_.base_dir, v);
    }

    // "builtin:NAME" stays as it is; anything else is a path to a .so.
    std::optional<std::string> module(std::string_view v) const {
        if (!v.starts_with("builtin:")) return path(v);
        if (!is_name(v.substr(8))) return std::nullopt;
        return std::string(v);
    }

    template <typename T>
    bool assign(T& field, std::optional<T> parsed, std::string_view expected) {
        if (!parsed) return fail("expected " + std::string(expected) + ", got " + quote(value_));
        field = std::move(*parsed);
        return true;
    }

    bool fail(const std::string& message) { return fail_at(line_, key_, message); }

    // SOURCE:LINE: [group web] count: MESSAGE
    bool fail_at(int line, std::string_view key, const std::string& message) {
        error_ = ctx_.source_name + ":" + std::to_string(line) + ": ";
        if (section_ == Section::Server) error_ += "[server] ";
        if (section_ == Section::Group) error_ += "[group " + config_.groups.back().name + "] ";
        if (!key.empty()) error_ += std::string(key) + ": ";
        error_ += message;
        return false;
    }

    const ConfigContext& ctx_;
    std::string& error_;
    int run_dir_line_ = 0;  // where run_dir was set; 0: the default
    Config config_;
    Section section_ = Section::None;
    int line_ = 0;                // the line being read, from 1
    std::string_view key_;        // the key on that line, if any
    std::string_view value_;      // its value, trimmed and unquoted
    std::map<std::string, int, std::less<>> seen_;  // key -> line, in the current section
    int server_line_ = 0;
    std::vector<int> listen_lines_;  // per finished group, for the "already used" message
    std::vector<std::pair<size_t, int>> backend_lines_;  // gateway group index, line of its backend key
    int total_workers_ = 0;          // count summed over the finished groups
};

const char* file_type(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
    return "not a file";
}

std::string read_whole_file(const std::string& path, std::string& out) {
    // O_NONBLOCK: opening a FIFO to read waits for a writer, forever if none
    // comes (`check -c /tmp/fifo` hung); with it the open returns at once,
    // and the file is refused below. It changes nothing for a regular file.
    struct Closer {
        int fd;
        ~Closer() {
            if (fd >= 0) ::close(fd);  // read-only: nothing to lose on close
        }
    } f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
    struct stat st;
    if (f.fd < 0 || fstat(f.fd, &st) == -1) return "cannot read " + path + ": " + std::strerror(errno);
    if (!S_ISREG(st.st_mode))  // a FIFO, a device (/dev/zero), a directory...
        return "cannot read " + path + ": it is " + file_type(st.st_mode) + ", not a regular file";
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(f.fd, buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return "cannot read " + path + ": " + std::strerror(errno);
        if (n == 0) return "";
        out.append(buf, size_t(n));
        if (out.size() > (size_t(1) << 20)) return "cannot read " + path + ": larger than 1 MiB, not a config file";
    }
}

// The absolute directory a config file sits in; its relative paths start there.
std::string directory_of(const std::string& file) {
    std::filesystem::path dir = std::filesystem::path(file).parent_path();
    if (dir.empty()) dir = ".";
    std::error_code ec;  // canonical() is realpath(); absolute() is cwd + dir, if that fails
    std::filesystem::path real = std::filesystem::canonical(dir, ec);
    return ec ? std::filesystem::absolute(dir, ec).lexically_normal().string() : real.string();
}

}  // namespace

int online_cores() {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > INT_MAX ? INT_MAX : int(n);
}

std::string parse_config(std::string_view text, const ConfigContext& ctx, Config& out) {
    std::string error;
    std::optional<Config> read = Reader(ctx, error).read(text);
    if (!read) return error;
    out = std::move(*read);
    return "";
}

std::string load_config_file(const std::string& path, Config& out) {
    std::string text;
    if (std::string err = read_whole_file(path, text); !err.empty()) return err;
    ConfigContext ctx;
    ctx.source_name = path;
    ctx.base_dir = directory_of(path);
    ctx.cores = online_cores();
    Config config;
    if (std::string err = parse_config(text, ctx, config); !err.empty()) return err;
    ServerConfig& s = config.server;
    // Without link_secret_file the master makes the instance's own (config.h).
    if (!s.link_secret_file.empty())
        if (std::string err = read_secret_file(s.link_secret_file, s.link_secret); !err.empty())
            return path + ":" + std::to_string(s.link_secret_line) + ": [server] link_secret_file: " + err;
    out = std::move(config);
    return "";
}

}  // namespace smooth
