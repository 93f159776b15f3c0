// config: the server.conf reader (INI style) and the embedded default.
//
//   [server]        pid_file, log_file, run_dir, user, group, stop_timeout,
//                   drain_timeout, start_timeout, reload_order, link_secret_file
//   [group NAME]    listen, count, module, preload, reloadable,
//                   max_connections, max_request_bytes, keepalive_timeout,
//                   keepalive_requests, request_timeout, health_path (http:// and ws://),
//                   max_unsent_bytes, message_timeout, max_buffered_bytes; for the
//                   gateway pattern role, backend, queue_limit, queue_limit_bytes
//
// link_secret_file = PATH: the secret that gateway and business workers prove
// to each other on every link (protocol/link.h, docs/links.md); the same
// file's content on every instance that links to another. Without it each
// instance makes its own (run_dir/link.secret, at the first start), which
// links its own gateway and business groups only; a business group listening
// on an address other than loopback (127.0.0.0/8), or a gateway whose backend
// is tcp:// to one, is a config error without it.
//
// parse_config() is pure: text in, Config or an error out. The error names the
// file, the line and the key, e.g.
//   server.conf:7: [group web] count: expected a whole number from 1 to 256, got "many"
// load_config_file() reads the file, and the link secret file if one is set
// (config/secret_file.h: its rules), with errors in the same shape.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smooth {

enum class Protocol { Http, Text, Frame, Tcp, Ws };
enum class ReloadOrder { StopFirst, StartFirst };
// The gateway pattern (worker/gateway.h): a gateway group holds the client
// connections and is never reloaded; it passes every event to the business
// group behind it, whose workers are reloaded.
enum class Role { Plain, Gateway, Business };

const char* protocol_name(Protocol p);
const char* role_name(Role r);  // "plain", "gateway", "business"  // "http", "text", ...; "ws": HTTP with the WebSocket upgrade

struct ListenAddress {
    Protocol protocol = Protocol::Http;
    std::string host;       // numeric IPv4 address, e.g. "127.0.0.1" or "0.0.0.0"
    uint16_t port = 0;
    std::string text() const;  // "http://127.0.0.1:8080"
    bool operator==(const ListenAddress&) const = default;
};

struct GroupConfig {
    std::string name;
    ListenAddress listen;
    int count = 1;
    std::string module;              // absolute path to a .so, or "builtin:NAME"
    bool preload = false;
    bool reloadable = true;
    // reloadable = handover (gateways only): a reload replaces the group's
    // workers one at a time, each handing its connections to its successor
    // (worker/handover.h) instead of closing them.
    bool handover = false;
    int max_connections = 10000;
    size_t max_request_bytes = 1 << 20;
    int keepalive_timeout_ms = 5000;
    int keepalive_requests = 1000;   // then the connection closes, as in nginx (0: no limit)
    int request_timeout_ms = 10000;  // a started request must be complete by then: 408
    // http:// and ws://: a path the worker answers itself, for a load
    // balancer (worker/health.h): 200 while it serves, 503 once it drains.
    std::string health_path;         // "" = none
    Role role = Role::Plain;
    // role = gateway: where business worker 0 listens (worker k: port + k),
    // from `backend = GROUP` (that group's listen) or `backend = tcp://HOST:PORT`.
    std::string backend;             // as written
    ListenAddress backend_address;
    size_t queue_limit = 10000;      // gateway: events waiting for a business worker, per gateway worker
    size_t queue_limit_bytes = 64 << 20;  // gateway: and their bytes (waiting and in flight), per gateway worker
    // The bounds of a long connection (ws, text, frame, tcp; docs/limits.md):
    // output a client has not read past this, and it is closed (a WebSocket
    // with 1008); a message begun must be whole within message_timeout.
    size_t max_unsent_bytes = 4 << 20;
    int message_timeout_ms = 60000;
    // What one worker of the group holds in connection buffers, all together;
    // past it the largest holders are closed first (worker.cpp, sweep).
    size_t max_buffered_bytes = size_t(512) << 20;
    int line = 0;                    // where its [group] header is, for messages

    bool is_builtin() const { return module.rfind("builtin:", 0) == 0; }
    // Ports this group listens on: one, or one per worker for a business group.
    int ports() const { return role == Role::Business ? count : 1; }
    bool operator==(const GroupConfig&) const = default;
};

// The control socket lives in run_dir (run_dir/smooth.sock, and during an
// upgrade the new master's run_dir/smooth.sock.new: master/control.h), and a
// Unix socket's path holds at most 107 bytes: run_dir may be this long.
inline constexpr size_t kMaxRunDirLength = 107 - sizeof("/smooth.sock.new") + 1;

struct ServerConfig {
    std::string run_dir;     // absolute, at most kMaxRunDirLength bytes
    std::string pid_file;    // absolute; default run_dir/smooth.pid
    std::string log_file;    // absolute; default run_dir/smooth.log
    std::string user;        // empty: keep the current user
    std::string group;
    int stop_timeout_ms = 5000;
    int drain_timeout_ms = 30000;
    int start_timeout_ms = 10000;
    ReloadOrder reload_order = ReloadOrder::StopFirst;
    std::string link_secret_file;  // absolute; "" = the instance's own run_dir/link.secret
    int link_secret_line = 0;      // where link_secret_file is set, for messages
    // The secret's bytes: read from link_secret_file by load_config_file(), or
    // made (or read) by the master in run_dir at its start. Workers inherit
    // them at fork and never open a secret file themselves.
    std::string link_secret;
};

struct Config {
    std::string source;      // the file's path, or "<embedded default>"
    ServerConfig server;
    std::vector<GroupConfig> groups;

    const GroupConfig* find_group(std::string_view name) const;
};

struct ConfigContext {
    std::string source_name;  // used in error messages
    std::string base_dir;     // relative paths (module, run_dir, ...) resolve against it
    int cores = 1;            // what `count = auto` means
};

// The most workers a config may ask for: the total of `count` over all its
// groups. The master's stats table has a row per worker process, and it is
// sized from this (core/stats.h: kStatsRows, with the reasoning); a config
// the table cannot hold is refused here, instead of leaving groups without a
// worker at run time while their ports accept.
inline constexpr int kMaxWorkers = 512;

// The total of `count` over the groups.
int total_workers(const Config& config);

// 127.0.0.0/8: an address only this host reaches.
bool is_loopback(const std::string& host);

// Parses `text` into `out`. "" or what is wrong, with the source, the line
// and the key (core/error.h's convention; config/ includes nothing else).
std::string parse_config(std::string_view text, const ConfigContext& ctx, Config& out);

// Reads and parses a file (relative paths resolve against the file's
// directory), then reads link_secret_file if it is set (secret_file.h).
std::string load_config_file(const std::string& path, Config& out);

// The embedded default: one http group on 127.0.0.1:8080, one worker per core,
// the demo hello module; relative paths resolve against `base_dir` (the
// directory of the ./server binary).
Config default_config(const std::string& base_dir);

// sysconf(_SC_NPROCESSORS_ONLN), at least 1: what `count = auto` becomes.
int online_cores();

// Durations in the file: "500ms", "5s", "2m", or a bare number of seconds ("1.5").
// Sizes: "64k", "1m", or a bare number of bytes. Exposed for the unit test.
std::optional<int> parse_duration_ms(std::string_view text);
std::optional<size_t> parse_size(std::string_view text);

}  // namespace smooth
