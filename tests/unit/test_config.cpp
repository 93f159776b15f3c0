// test_config: the server.conf reader. Tables of whole files (good and bad),
// of listen addresses, durations and sizes, and a few real files on disk.
#include "config/config.h"

#include "check.h"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace smooth;

namespace {

const ConfigContext kCtx{"test.conf", "/srv/smooth", 4};

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// check.h prints values with <<, which an optional lacks.
template <typename T>
std::string shown(const std::optional<T>& v) {
    return v ? std::to_string(*v) : "nullopt";
}

// parse_config, as an optional: most tables below compare "a Config or not".
std::optional<Config> parse(std::string_view text, std::string& error) {
    Config c;
    error = parse_config(text, kCtx, c);
    if (!error.empty()) return std::nullopt;
    return c;
}

// A group with the two keys every group needs, for tests about other keys.
std::string group(std::string_view extra) {
    return "[group web]\nlisten = http://127.0.0.1:8080\nmodule = builtin:hello\n" + std::string(extra) + "\n";
}

void test_full_config() {
    const char* text =
        "# every key, set to something other than its default\n"
        "[server]\n"
        "run_dir = /var/run/smooth\n"
        "pid_file = pids/s.pid\n"
        "log_file = /var/log/smooth.log\n"
        "user = www-data\n"
        "group = www\n"
        "stop_timeout = 2s\n"
        "drain_timeout = 1m\n"
        "start_timeout = 1500ms\n"
        "reload_order = start_first\n"
        "\n"
        "[group web]\n"
        "listen = http://0.0.0.0:8080\n"
        "count = 8\n"
        "module = modules/hello.so\n"
        "preload = yes\n"
        "reloadable = off\n"
        "max_connections = 500\n"
        "max_request_bytes = 64k\n"
        "keepalive_timeout = 2.5\n"
        "keepalive_requests = 0\n"
        "request_timeout = 3s\n"
        "\n"
        "[group echo]\n"
        "listen = text://localhost:9000\n"
        "count = auto\n"
        "module = builtin:echo\n"
        "[group f]\n"
        "listen = frame://127.0.0.1:9001\n"
        "module = /opt/m/f.so\n"
        "[group t]\n"
        "listen = tcp://10.0.0.1:9002\n"
        "module = builtin:t\n";
    std::string error;
    std::optional<Config> c = parse(text, error);
    EXPECT_EQ(error, "");
    if (!c) return;
    EXPECT_EQ(c->source, "test.conf");
    EXPECT_EQ(c->server.run_dir, "/var/run/smooth");
    EXPECT_EQ(c->server.pid_file, "/srv/smooth/pids/s.pid");  // against base_dir, not run_dir
    EXPECT_EQ(c->server.log_file, "/var/log/smooth.log");
    EXPECT_EQ(c->server.user, "www-data");
    EXPECT_EQ(c->server.group, "www");
    EXPECT_EQ(c->server.stop_timeout_ms, 2000);
    EXPECT_EQ(c->server.drain_timeout_ms, 60000);
    EXPECT_EQ(c->server.start_timeout_ms, 1500);
    EXPECT(c->server.reload_order == ReloadOrder::StartFirst);

    EXPECT_EQ(c->groups.size(), size_t(4));
    if (c->groups.size() != 4) return;
    const GroupConfig& w = c->groups[0];
    EXPECT_EQ(w.name, "web");
    EXPECT_EQ(w.line, 13);
    EXPECT(w.listen.protocol == Protocol::Http);
    EXPECT_EQ(w.listen.host, "0.0.0.0");
    EXPECT_EQ(w.listen.port, 8080);
    EXPECT_EQ(w.count, 8);
    EXPECT_EQ(w.module, "/srv/smooth/modules/hello.so");
    EXPECT_EQ(w.preload, true);
    EXPECT_EQ(w.reloadable, false);
    EXPECT_EQ(w.max_connections, 500);
    EXPECT_EQ(w.max_request_bytes, size_t(65536));
    EXPECT_EQ(w.keepalive_timeout_ms, 2500);
    EXPECT_EQ(w.keepalive_requests, 0);  // no limit
    EXPECT_EQ(w.request_timeout_ms, 3000);
    EXPECT(!w.is_builtin());

    const GroupConfig& e = c->groups[1];
    EXPECT_EQ(e.listen.text(), "text://127.0.0.1:9000");  // localhost is 127.0.0.1
    EXPECT_EQ(e.count, 4);                                // auto: ctx.cores
    EXPECT_EQ(e.module, "builtin:echo");
    EXPECT(e.is_builtin());
    EXPECT_EQ(c->groups[2].listen.text(), "frame://127.0.0.1:9001");
    EXPECT_EQ(c->groups[2].module, "/opt/m/f.so");
    EXPECT_EQ(c->groups[3].listen.text(), "tcp://10.0.0.1:9002");

    EXPECT(c->find_group("echo") == &c->groups[1]);
    EXPECT(c->find_group("nope") == nullptr);
}

void test_defaults() {
    std::string error;
    std::optional<Config> c = parse(group(""), error);
    EXPECT_EQ(error, "");
    if (!c) return;
    EXPECT_EQ(c->server.run_dir, "/srv/smooth/run");
    EXPECT_EQ(c->server.pid_file, "/srv/smooth/run/smooth.pid");
    EXPECT_EQ(c->server.log_file, "/srv/smooth/run/smooth.log");
    EXPECT_EQ(c->server.user, "");
    EXPECT_EQ(c->server.group, "");
    EXPECT_EQ(c->server.stop_timeout_ms, 5000);
    EXPECT_EQ(c->server.drain_timeout_ms, 30000);
    EXPECT_EQ(c->server.start_timeout_ms, 10000);
    EXPECT(c->server.reload_order == ReloadOrder::StopFirst);
    const GroupConfig& g = c->groups.at(0);
    EXPECT_EQ(g.line, 1);
    EXPECT_EQ(g.count, 1);
    EXPECT_EQ(g.preload, false);
    EXPECT_EQ(g.reloadable, true);
    EXPECT_EQ(g.max_connections, 10000);
    EXPECT_EQ(g.max_request_bytes, size_t(1) << 20);
    EXPECT_EQ(g.keepalive_timeout_ms, 5000);
    EXPECT_EQ(g.keepalive_requests, 1000);
    EXPECT_EQ(g.request_timeout_ms, 10000);

    // pid_file and log_file follow a run_dir given in the file.
    c = parse("[server]\nrun_dir = state\n" + group(""), error);
    EXPECT_EQ(error, "");
    if (!c) return;
    EXPECT_EQ(c->server.run_dir, "/srv/smooth/state");
    EXPECT_EQ(c->server.pid_file, "/srv/smooth/state/smooth.pid");
    EXPECT_EQ(c->server.log_file, "/srv/smooth/state/smooth.log");
}

void test_default_config() {
    Config c = default_config("/opt/smooth");
    EXPECT_EQ(c.source, "<embedded default>");
    EXPECT_EQ(c.groups.size(), size_t(1));
    const GroupConfig* web = c.find_group("web");
    EXPECT(web != nullptr);
    if (!web) return;
    EXPECT_EQ(web->listen.text(), "http://127.0.0.1:8080");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    EXPECT_EQ(web->count, int(cores < 1 ? 1 : cores > 256 ? 256 : cores));
    EXPECT_EQ(web->module, "/opt/smooth/modules/hello.so");
    EXPECT_EQ(c.server.run_dir, "/opt/smooth/run");
    EXPECT_EQ(c.server.pid_file, "/opt/smooth/run/smooth.pid");
}

// The line syntax: comments, blank lines, spaces, quotes, CRLF.
void test_syntax() {
    struct Row {
        const char* line;  // one line inside [group web], after listen and module
        const char* want_module;
    };
    const Row rows[] = {
        {"module=m.so", "/srv/smooth/m.so"},
        {"   module   =   m.so   ", "/srv/smooth/m.so"},
        {"\tmodule\t=\tm.so\t", "/srv/smooth/m.so"},
        {"module = m.so # a comment", "/srv/smooth/m.so"},
        {"module = m.so\t# a comment", "/srv/smooth/m.so"},
        {"module = a#b.so", "/srv/smooth/a#b.so"},  // '#' not after whitespace: part of the value
        {"module = \"my mods/m.so\"", "/srv/smooth/my mods/m.so"},
        {"module = \"a # b.so\"  # quoted '#' stays", "/srv/smooth/a # b.so"},
        {"module = m.so\r", "/srv/smooth/m.so"},
    };
    for (const Row& r : rows) {
        std::string text = "# leading comment\n; another\n\n[group web]  # trailing\n"
                           "listen = http://127.0.0.1:1\n  # indented comment\n" +
                           std::string(r.line) + "\n";
        std::string error;
        std::optional<Config> c = parse(text, error);
        EXPECT_EQ_AT(error, "", r.line);
        if (c) EXPECT_EQ_AT(c->groups.at(0).module, r.want_module, r.line);
    }
    std::string error;
    std::optional<Config> c = parse("[server]\r\nuser = \"\"x\"\"\r\n" + group(""), error);
    EXPECT_EQ(error, "");
    if (c) EXPECT_EQ(c->server.user, "\"x\"");  // only the outer quotes go
}

// Bad files: the message names the file, the line, the section and the key.
void test_errors() {
    struct Row {
        const char* name;
        std::string text;
        int line;
        std::vector<const char*> parts;  // each must appear in the message
    };
    const Row rows[] = {
        {"unknown section", "[servers]\n", 1, {"unknown section [servers]"}},
        {"unterminated header", "[server\n", 1, {"[server"}},
        {"group without name", "[group]\n", 1, {"[group NAME]"}},
        {"bad group name", "[group a.b]\n", 1, {"[group a.b]", "letters"}},
        {"unknown server key", "[server]\nport = 80\n" + group(""), 2, {"[server] port: unknown key"}},
        {"unknown group key", group("colour = blue"), 4, {"[group web] colour: unknown key"}},
        {"negative keepalive_requests", group("keepalive_requests = -1"), 4,
         {"[group web] keepalive_requests: expected a whole number (0: no limit), got \"-1\""}},
        {"key outside section", "count = 2\n" + group(""), 1, {"count: ", "outside any section"}},
        {"line without =", group("count 4"), 4, {"[group web] ", "key = value", "\"count 4\""}},
        {"line with = but no key", group("= 4"), 4, {"key = value"}},
        {"duplicate key", group("count = 2\ncount = 3"), 5, {"[group web] count: ", "first on line 4"}},
        {"duplicate server key", "[server]\nuser = a\nuser = b\n" + group(""), 3, {"[server] user: ", "twice"}},
        {"duplicate group", group("") + group(""), 5, {"[group web]", "first on line 1"}},
        {"duplicate server", "[server]\n[server]\n" + group(""), 2, {"[server]", "first on line 1"}},
        {"no groups", "[server]\nuser = me\n", 2, {"no [group NAME]"}},
        {"empty file", "", 0, {"no [group NAME]"}},
        {"missing listen", "[server]\n\n[group web]\nmodule = builtin:x\n", 3, {"[group web] listen: missing"}},
        {"missing module", "[group web]\nlisten = tcp://127.0.0.1:1\n", 1, {"[group web] module: missing"}},
        {"missing listen, next group", "[group a]\nmodule = m.so\n[group b]\n", 1, {"[group a] listen: missing"}},
        {"same host:port",
         group("") + "[group api]\nmodule = m.so\nlisten = text://127.0.0.1:8080\n", 7,
         {"[group api] listen: ", "127.0.0.1:8080 is already used by [group web] (line 2)"}},
        {"0.0.0.0 takes every address",
         group("") + "[group api]\nmodule = m.so\nlisten = text://0.0.0.0:8080\n", 7, {"already used by [group web]"}},
        {"preload with builtin", group("preload = true"), 4, {"[group web] preload: ", "builtin"}},
        {"bad scheme", "[group web]\nlisten = udp://127.0.0.1:80\n", 2, {"listen: ", "http, ws, text, frame, tcp"}},
        {"count word", group("count = many"), 4,
         {"[group web] count: expected a whole number from 1 to 256", "got \"many\""}},
        {"count 0", group("count = 0"), 4, {"count: "}},
        {"count 257", group("count = 257"), 4, {"count: "}},
        {"count negative", group("count = -1"), 4, {"count: "}},
        {"module empty", "[group web]\nlisten = tcp://127.0.0.1:1\nmodule =\n", 3, {"module: "}},
        {"module builtin without name", "[group web]\nmodule = builtin:\n", 2, {"module: ", "builtin:NAME"}},
        {"preload word", group("preload = maybe"), 4, {"preload: ", "got \"maybe\""}},
        {"reloadable capital", group("reloadable = True"), 4, {"reloadable: "}},
        {"max_connections 0", group("max_connections = 0"), 4, {"max_connections: "}},
        {"max_connections too many", group("max_connections = 1000001"), 4, {"max_connections: "}},
        {"max_request_bytes 2g", group("max_request_bytes = 2g"), 4, {"max_request_bytes: "}},
        {"max_request_bytes 0", group("max_request_bytes = 0"), 4, {"max_request_bytes: "}},
        {"keepalive 0", group("keepalive_timeout = 0"), 4, {"keepalive_timeout: "}},
        {"request_timeout unit", group("request_timeout = 5h"), 4, {"request_timeout: ", "got \"5h\""}},
        {"stop_timeout over a day", "[server]\nstop_timeout = 1441m\n" + group(""), 2, {"[server] stop_timeout: "}},
        {"drain_timeout", "[server]\ndrain_timeout = soon\n" + group(""), 2, {"[server] drain_timeout: "}},
        {"start_timeout", "[server]\nstart_timeout = -1\n" + group(""), 2, {"[server] start_timeout: "}},
        {"reload_order", "[server]\nreload_order = random\n" + group(""), 2, {"[server] reload_order: ", "stop_first"}},
        {"user empty", "[server]\nuser = \"\"\n" + group(""), 2, {"[server] user: "}},
        {"group empty", "[server]\ngroup =\n" + group(""), 2, {"[server] group: "}},
        {"run_dir empty", "[server]\nrun_dir =\n" + group(""), 2, {"[server] run_dir: "}},
        {"pid_file empty", "[server]\npid_file = \"\"\n" + group(""), 2, {"[server] pid_file: "}},
        {"log_file empty", "[server]\nlog_file =\n" + group(""), 2, {"[server] log_file: "}},
        {"unclosed quote", "[server]\nuser = \"me\n" + group(""), 2, {"[server] user: ", "quote"}},
        {"first error wins", group("count = x\nbogus = 1"), 4, {"count: "}},
        {"link_secret_file empty", "[server]\nlink_secret_file =\n" + group(""), 2, {"[server] link_secret_file: "}},
        // Links from other hosts need a secret the operator gives both ends.
        {"business on another host without a secret",
         "[group biz]\nrole = business\nmodule = m.so\nlisten = tcp://10.0.0.5:9000\n", 4,
         {"[group biz] listen: 10.0.0.5 is not a loopback address", "set [server] link_secret_file = PATH"}},
        {"business on every address without a secret",
         group("") + "[group biz]\nrole = business\nlisten = tcp://0.0.0.0:9000\nmodule = m.so\n", 7,
         {"[group biz] listen: 0.0.0.0 is not a loopback address"}},
        {"gateway to another host without a secret",
         "[group gw]\nrole = gateway\nlisten = ws://127.0.0.1:8000\n\nbackend = tcp://192.168.1.20:9000\n", 5,
         {"[group gw] backend: 192.168.1.20 is not a loopback address", "link_secret_file"}},
    };
    for (const Row& r : rows) {
        std::string error;
        std::optional<Config> c = parse(r.text, error);
        EXPECT_EQ_AT(c.has_value(), false, r.name);
        std::string where = "test.conf:" + std::to_string(r.line) + ": ";
        EXPECT_EQ_AT(error.substr(0, where.size()), where, r.name);
        for (const char* part : r.parts)
            EXPECT_EQ_AT(contains(error, part), true, std::string(r.name) + ": \"" + part + "\" in " + error);
    }
}

// On loopback an instance links with a secret of its own (made by the
// master); with link_secret_file any address may link. parse_config() only
// takes the path: load_config_file() reads the file (test_secret_file).
void test_link_secret_rules() {
    const std::string business = "[group biz]\nrole = business\nmodule = m.so\nlisten = tcp://";
    const std::string gateway = "[group gw]\nrole = gateway\nlisten = ws://127.0.0.1:8000\nbackend = tcp://";
    const std::string secret = "[server]\nlink_secret_file = secrets/link\n";
    const std::string good[] = {
        business + "127.0.0.1:9000\n",
        business + "127.0.0.2:9000\n",
        business + "localhost:9000\n",
        gateway + "127.0.0.9:9000\n",
        secret + business + "10.0.0.5:9000\n",
        secret + business + "0.0.0.0:9000\n",
        secret + gateway + "192.168.1.20:9000\n",
        business + "10.0.0.5:9000\n" + secret,  // the [server] section may come last
    };
    for (const std::string& text : good) {
        std::string error;
        std::optional<Config> c = parse(text, error);
        EXPECT_EQ_AT(error, "", text);
        if (!c) continue;
        const bool has_secret = contains(text, "link_secret_file");
        EXPECT_EQ_AT(c->server.link_secret_file, std::string(has_secret ? "/srv/smooth/secrets/link" : ""), text);
        EXPECT_EQ_AT(c->server.link_secret_line, has_secret ? (text.starts_with("[server]") ? 2 : 6) : 0, text);
        EXPECT_EQ_AT(c->server.link_secret, std::string(), text);  // read by load_config_file, not here
    }
    EXPECT(is_loopback("127.0.0.1"));
    EXPECT(is_loopback("127.255.0.3"));
    EXPECT(!is_loopback("0.0.0.0"));
    EXPECT(!is_loopback("10.127.0.1"));
    EXPECT(!is_loopback("128.0.0.1"));
}

void test_listen() {
    struct Row {
        const char* value;
        const char* want;  // ListenAddress::text(), or nullptr for an error
    };
    const Row rows[] = {
        {"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
        {"http://localhost:80", "http://127.0.0.1:80"},
        {"tcp://0.0.0.0:65535", "tcp://0.0.0.0:65535"},
        {"text://255.255.255.255:1", "text://255.255.255.255:1"},
        {"frame://10.1.2.3:443", "frame://10.1.2.3:443"},
        {"ws://127.0.0.1:8090", "ws://127.0.0.1:8090"},
        {"http://127.0.0.1:0", nullptr},
        {"http://127.0.0.1:65536", nullptr},
        {"http://127.0.0.1:", nullptr},
        {"http://127.0.0.1", nullptr},
        {"http://:8080", nullptr},
        {"http://example.com:80", nullptr},
        {"http://256.0.0.1:80", nullptr},
        {"http://1.2.3:80", nullptr},
        {"http://1.2.3.4.5:80", nullptr},
        {"http://01.2.3.4:80", nullptr},
        {"http://[::1]:80", nullptr},
        {"http://127.0.0.1:8080/", nullptr},
        {"http://127.0.0.1:+80", nullptr},
        {"HTTP://127.0.0.1:80", nullptr},
        {"127.0.0.1:80", nullptr},
        {"wss://127.0.0.1:80", nullptr},
        {"", nullptr},
    };
    for (const Row& r : rows) {
        std::string error;
        std::string text = "[group g]\nmodule = m.so\nlisten = " + std::string(r.value) + "\n";
        std::optional<Config> c = parse(text, error);
        if (r.want) {
            EXPECT_EQ_AT(error, "", r.value);
            if (c) EXPECT_EQ_AT(c->groups.at(0).listen.text(), r.want, r.value);
        } else {
            EXPECT_EQ_AT(c.has_value(), false, r.value);
            EXPECT_EQ_AT(contains(error, "test.conf:3: [group g] listen: "), true, error);
        }
    }
    EXPECT_EQ(std::string(protocol_name(Protocol::Http)), "http");
    EXPECT_EQ(std::string(protocol_name(Protocol::Text)), "text");
    EXPECT_EQ(std::string(protocol_name(Protocol::Frame)), "frame");
    EXPECT_EQ(std::string(protocol_name(Protocol::Tcp)), "tcp");
}

void test_bools_and_counts() {
    const std::pair<const char*, bool> bools[] = {{"true", true}, {"yes", true}, {"on", true}, {"1", true},
                                                  {"false", false}, {"no", false}, {"off", false}, {"0", false}};
    for (auto [text, want] : bools) {
        std::string error;
        std::optional<Config> c = parse(group(std::string("reloadable = ") + text), error);
        EXPECT_EQ_AT(error, "", text);
        if (c) EXPECT_EQ_AT(c->groups.at(0).reloadable, want, text);
    }
    const std::pair<const char*, int> counts[] = {{"1", 1}, {"256", 256}, {"auto", 4}, {"007", 7}};
    for (auto [text, want] : counts) {
        std::string error;
        std::optional<Config> c = parse(group(std::string("count = ") + text), error);
        EXPECT_EQ_AT(error, "", text);
        if (c) EXPECT_EQ_AT(c->groups.at(0).count, want, text);
    }
    // auto never leaves 1..256, whatever the machine says.
    for (auto [cores, want] : {std::pair{0, 1}, std::pair{1000, 256}}) {
        Config c;
        if (parse_config(group("count = auto"), {"x", "/", cores}, c).empty())
            EXPECT_EQ_AT(c.groups.at(0).count, want, std::to_string(cores) + " cores");
    }
}

void test_durations() {
    struct Row {
        const char* text;
        std::optional<int> want;
    };
    const Row rows[] = {
        {"500ms", 500},   {"5s", 5000},          {"2m", 120000},      {"1.5", 1500},
        {"5", 5000},      {"0.25s", 250},        {"1.5m", 90000},     {"1ms", 1},
        {"0.001", 1},     {"1.0000000001", 1000}, {"86400", 86400000}, {"1440m", 86400000},
        {"86400000ms", 86400000},
        {"", {}},         {"5x", {}},            {"-1", {}},          {"1.5.2", {}},
        {"0", {}},        {"0ms", {}},           {"0.0001", {}},      {"86401", {}},
        {"1441m", {}},    {"86400001ms", {}},    {"ms", {}},          {"s", {}},
        {".5", {}},       {"5.", {}},            {"5 s", {}},         {" 5", {}},
        {"+5", {}},       {"1e3", {}},           {"5h", {}},          {"5S", {}},
        {"99999999999999999999999", {}},         {"1.99999999999999999999999999", 1999},
    };
    for (const Row& r : rows) EXPECT_EQ_AT(shown(parse_duration_ms(r.text)), shown(r.want), std::string("\"") + r.text + "\"");
}

void test_sizes() {
    struct Row {
        const char* text;
        std::optional<size_t> want;
    };
    const Row rows[] = {
        {"1", 1},           {"65536", 65536},       {"64k", 65536}, {"64K", 65536},
        {"1m", 1048576},    {"1M", 1048576},        {"1g", size_t(1) << 30}, {"2G", size_t(2) << 30},
        {"", {}},           {"5x", {}},             {"-1", {}},     {"1.5.2", {}},
        {"0", {}},          {"0k", {}},             {"k", {}},      {"1.5m", {}},
        {"64kb", {}},       {" 64", {}},            {"64 k", {}},   {"+1", {}},
        {"99999999999999999999999", {}},            {"99999999999g", {}},
    };
    for (const Row& r : rows) EXPECT_EQ_AT(shown(parse_size(r.text)), shown(r.want), std::string("\"") + r.text + "\"");
    // The key takes at most 1g.
    std::string error;
    std::optional<Config> c = parse(group("max_request_bytes = 1g"), error);
    EXPECT_EQ(error, "");
    if (c) EXPECT_EQ(c->groups.at(0).max_request_bytes, size_t(1) << 30);
}

void test_paths() {
    struct Row {
        const char* value;
        const char* want;
    };
    const Row rows[] = {
        {"m.so", "/srv/smooth/m.so"},
        {"./modules/./m.so", "/srv/smooth/modules/m.so"},
        {"../lib/m.so", "/srv/lib/m.so"},
        {"a/b/../../m.so", "/srv/smooth/m.so"},
        {"/abs/m.so", "/abs/m.so"},
        {"/abs//x/../m.so", "/abs/m.so"},
        {"builtin:hello", "builtin:hello"},
        {"builtin:a_b-1", "builtin:a_b-1"},
    };
    for (const Row& r : rows) {
        std::string error;
        std::string text = "[group g]\nlisten = tcp://127.0.0.1:1\nmodule = " + std::string(r.value) + "\n";
        std::optional<Config> c = parse(text, error);
        EXPECT_EQ_AT(error, "", r.value);
        if (c) EXPECT_EQ_AT(c->groups.at(0).module, r.want, r.value);
    }
    std::string error;
    std::optional<Config> c =
        parse("[server]\nrun_dir = ../state/\npid_file = /tmp/../p.pid\nlog_file = logs/s.log\n" + group(""), error);
    EXPECT_EQ(error, "");
    if (!c) return;
    EXPECT_EQ(c->server.run_dir, "/srv/state");
    EXPECT_EQ(c->server.pid_file, "/p.pid");
    EXPECT_EQ(c->server.log_file, "/srv/smooth/logs/s.log");

    // run_dir must leave room for the control socket's path, an upgrade's
    // run_dir/smooth.sock.new included (107 bytes at most).
    std::string longest = "/" + std::string(kMaxRunDirLength - 1, 'd');
    c = parse("[server]\nrun_dir = " + longest + "\n" + group(""), error);
    EXPECT_EQ(error, "");
    EXPECT((longest + "/smooth.sock.new").size() == 107);
    c = parse("[server]\nrun_dir = " + longest + "x\n" + group(""), error);
    EXPECT(!c);
    EXPECT(error.starts_with("test.conf:2: [server] run_dir: /ddd"));
    EXPECT(error.find("is 92 bytes; the control socket in it needs run_dir to be at most 91") != std::string::npos);
    ConfigContext deep{"deep.conf", "/" + std::string(90, 'p'), 1};  // the default, base_dir/run: 95 bytes
    Config unused;
    std::string deep_error = parse_config(group(""), deep, unused);
    EXPECT(deep_error.starts_with("deep.conf:0: run_dir: (default: the config's directory/run) /ppp"));
}

// A NUL byte in a line: refused with the file, the line and the key (a value
// cut at the NUL by every C function it reaches would run something else).
void test_nul_bytes() {
    struct Row {
        const char* name;
        std::string text;
        int line;
        std::vector<const char*> parts;
    };
    using namespace std::string_literals;
    const Row rows[] = {
        {"in a value", "[group web]\nlisten = http://127.0.0.1:8080\nmodule = builtin:hello\0/tmp/evil.so\n"s, 3,
         {"[group web] module: ", "NUL byte"}},
        {"in a path", "[server]\nrun_dir = /srv/run\0x\n"s + group(""), 2, {"[server] run_dir: ", "NUL byte"}},
        {"in a quoted value", "[server]\nuser = \"www\0root\"\n"s + group(""), 2, {"[server] user: ", "NUL byte"}},
        {"in a key", "[server]\nus\0er = me\n"s + group(""), 2, {"[server] ", "NUL byte"}},
        {"in a header", "[group w\0eb]\n"s, 1, {"NUL byte"}},
    };
    for (const Row& r : rows) {
        std::string error;
        std::optional<Config> c = parse(r.text, error);
        EXPECT_EQ_AT(c.has_value(), false, r.name);
        std::string where = "test.conf:" + std::to_string(r.line) + ": ";
        EXPECT_EQ_AT(error.substr(0, where.size()), where, r.name);
        for (const char* part : r.parts)
            EXPECT_EQ_AT(contains(error, part), true, std::string(r.name) + ": \"" + part + "\" in " + error);
    }
    std::string error;  // in a comment it harms nothing
    EXPECT(parse("# a \0 here\n"s + group(""), error).has_value());
    EXPECT_EQ(error, "");
}

// The total of `count` over all groups is bounded by what the server's
// tables hold (kMaxWorkers): a config asking for more is refused at the
// group that goes over, not run with groups left without a worker.
void test_total_workers() {
    auto groups = [](int n, int count) {
        std::string text;
        for (int i = 0; i < n; i++)
            text += "[group g" + std::to_string(i) + "]\nlisten = http://127.0.0.1:" + std::to_string(10000 + i) +
                    "\nmodule = builtin:hello\ncount = " + std::to_string(count) + "\n";
        return text;
    };
    std::string error;
    // Exactly the limit: fine.
    std::optional<Config> c = parse(groups(kMaxWorkers / 256, 256), error);
    EXPECT_EQ(error, "");
    if (c) EXPECT_EQ(total_workers(*c), kMaxWorkers);
    c = parse(groups(kMaxWorkers, 1), error);
    EXPECT_EQ(error, "");

    // One more: refused at the group that asks for it (its count line).
    c = parse(groups(kMaxWorkers / 256, 256) + "[group last]\nlisten = http://127.0.0.1:9999\nmodule = builtin:hello\ncount = 1\n",
              error);
    EXPECT(!c);
    int line = 4 * (kMaxWorkers / 256) + 4;
    EXPECT_EQ_AT(contains(error, "test.conf:" + std::to_string(line) + ": [group last] count: "), true, error);
    EXPECT_EQ_AT(contains(error, std::to_string(kMaxWorkers + 1) + " workers"), true, error);
    EXPECT_EQ_AT(contains(error, "at most " + std::to_string(kMaxWorkers)), true, error);

    // The review's case: 600 groups of one worker each.
    c = parse(groups(600, 1), error);
    EXPECT(!c);
    EXPECT_EQ_AT(contains(error, "[group g" + std::to_string(kMaxWorkers) + "] count: "), true, error);

    // Without a count line, the group's header line is named.
    std::string text = groups(kMaxWorkers, 1) + "[group extra]\nlisten = http://127.0.0.1:9999\nmodule = builtin:hello\n";
    c = parse(text, error);
    EXPECT(!c);
    EXPECT_EQ_AT(contains(error, "test.conf:" + std::to_string(4 * kMaxWorkers + 1) + ": [group extra] count: "), true,
                 error);
}

// load_config_file: a real file; relative paths start at its directory.
// health_path: accepted values, refused ones, and the groups that may have one.
void test_health_path() {
    std::string error;
    std::optional<Config> c = parse(group(""), error);
    EXPECT(c && c->groups[0].health_path.empty());  // none unless asked for

    for (const char* good : {"/healthz", "/", "/lb/health-check_1.txt", "/a/b/c"}) {
        c = parse(group(std::string("health_path = ") + good), error);
        EXPECT_EQ_AT(error, "", good);
        EXPECT_EQ_AT(c ? c->groups[0].health_path : "", std::string(good), good);
    }
    c = parse("[group chat]\nlisten = ws://127.0.0.1:8090\nmodule = builtin:hello\nhealth_path = /up\n", error);
    EXPECT_EQ(error, "");
    EXPECT_EQ(c ? c->groups[0].health_path : "", "/up");

    struct Row {
        const char* name;
        std::string text;
        int line;
        const char* part;
    };
    const Row bad[] = {
        {"relative", group("health_path = healthz"), 4, "health_path: expected a path like /healthz"},
        {"empty", group("health_path ="), 4, "health_path: "},
        {"query", group("health_path = /health?full=1"), 4, "health_path: "},
        {"fragment", group("health_path = \"/health#x\""), 4, "health_path: "},
        {"escape", group("health_path = /h%20"), 4, "health_path: "},
        {"space", group("health_path = \"/he alth\""), 4, "health_path: "},
        {"too long", group("health_path = /" + std::string(200, 'x')), 4, "health_path: "},
        {"text group", "[group t]\nlisten = text://127.0.0.1:9000\nmodule = builtin:echo\nhealth_path = /h\n", 4,
         "[group t] health_path: only an http:// or ws:// group"},
        {"tcp group", "[group t]\nlisten = tcp://127.0.0.1:9000\nhealth_path = /h\nmodule = builtin:echo\n", 3,
         "health_path: only an http:// or ws:// group"},
    };
    for (const Row& r : bad) {
        c = parse(r.text, error);
        EXPECT_EQ_AT(c.has_value(), false, r.name);
        std::string where = "test.conf:" + std::to_string(r.line) + ": ";
        EXPECT_EQ_AT(error.substr(0, where.size()), where, r.name);
        EXPECT_EQ_AT(contains(error, r.part), true, std::string(r.name) + ": \"" + r.part + "\" in " + error);
    }
}

// The bounds of long connections: defaults, values, and where each may go.
void test_connection_bounds() {
    std::string error;
    std::optional<Config> c = parse(group(""), error);
    EXPECT(c.has_value());
    if (c) {
        const GroupConfig& g = c->groups[0];
        EXPECT_EQ(g.max_unsent_bytes, size_t(4) << 20);
        EXPECT_EQ(g.message_timeout_ms, 60000);
        EXPECT_EQ(g.max_buffered_bytes, size_t(512) << 20);
        EXPECT_EQ(g.queue_limit_bytes, size_t(64) << 20);
    }
    c = parse(group("max_unsent_bytes = 256k\nmessage_timeout = 1.5s\nmax_buffered_bytes = 2g"), error);
    EXPECT_EQ(error, "");
    if (c) {
        EXPECT_EQ(c->groups[0].max_unsent_bytes, size_t(256) << 10);
        EXPECT_EQ(c->groups[0].message_timeout_ms, 1500);
        EXPECT_EQ(c->groups[0].max_buffered_bytes, size_t(2) << 30);
    }
    c = parse("[group g]\nlisten = ws://127.0.0.1:9000\nrole = gateway\nbackend = tcp://127.0.0.1:9100\n"
              "queue_limit_bytes = 1m\n", error);
    EXPECT_EQ(error, "");
    EXPECT_EQ(c ? c->groups[0].queue_limit_bytes : 0, size_t(1) << 20);

    struct Row {
        const char* name;
        std::string text;
        const char* part;
    };
    const Row bad[] = {
        {"unsent too small", group("max_unsent_bytes = 100"), "max_unsent_bytes: expected a size from 1k to 1g"},
        {"unsent not a size", group("max_unsent_bytes = lots"), "max_unsent_bytes: expected a size"},
        {"timeout zero", group("message_timeout = 0"), "message_timeout: expected"},
        {"buffered too small", group("max_buffered_bytes = 64k"), "max_buffered_bytes: expected a size from 1m"},
        {"queue bytes off a gateway", group("queue_limit_bytes = 1m"),
         "queue_limit_bytes: only a group with role = gateway takes it"},
    };
    for (const Row& r : bad) {
        c = parse(r.text, error);
        EXPECT_EQ_AT(c.has_value(), false, r.name);
        EXPECT_EQ_AT(contains(error, r.part), true, std::string(r.name) + ": \"" + r.part + "\" in " + error);
    }
}

// reloadable = handover: a gateway's, nobody else's.
void test_handover() {
    std::string error;
    const std::string gw = "[group gw]\nlisten = ws://127.0.0.1:9000\nrole = gateway\nbackend = tcp://127.0.0.1:9100\n";
    std::optional<Config> c = parse(gw + "reloadable = handover\n", error);
    EXPECT_EQ(error, "");
    EXPECT(c && c->groups[0].handover && c->groups[0].reloadable);
    c = parse(gw, error);
    EXPECT(c && !c->groups[0].handover && !c->groups[0].reloadable);  // the seed's gateway
    c = parse(gw + "reloadable = true\n", error);
    EXPECT(!c);
    EXPECT_EQ_AT(contains(error, "reloadable: a gateway is not restarted under its clients"), true, error);
    c = parse(group("reloadable = handover"), error);
    EXPECT(!c);
    EXPECT_EQ_AT(contains(error, "test.conf:4: [group web] reloadable: only a gateway hands its connections over"), true,
                 error);
}

void test_load_file() {
    char dir_template[] = "/tmp/test_config.XXXXXX";
    const char* dir = mkdtemp(dir_template);
    EXPECT(dir != nullptr);
    if (!dir) return;
    char real[PATH_MAX];
    EXPECT(realpath(dir, real) != nullptr);
    std::string file = std::string(dir) + "/server.conf";
    std::ofstream(file) << "[group web]\nlisten = http://127.0.0.1:8080\nmodule = modules/hello.so\n";

    // load_config_file as an optional, like parse() above.
    auto load = [](const std::string& path, std::string& error) -> std::optional<Config> {
        Config c;
        error = load_config_file(path, c);
        if (!error.empty()) return std::nullopt;
        return c;
    };
    std::string error;
    std::optional<Config> c = load(file, error);
    EXPECT_EQ(error, "");
    if (c) {
        EXPECT_EQ(c->source, file);
        EXPECT_EQ(c->groups.at(0).module, std::string(real) + "/modules/hello.so");
        EXPECT_EQ(c->server.run_dir, std::string(real) + "/run");
    }

    // A path relative to the working directory.
    char cwd[PATH_MAX];
    EXPECT(getcwd(cwd, sizeof cwd) != nullptr);
    EXPECT_EQ(chdir(dir), 0);
    c = load("server.conf", error);
    EXPECT_EQ(error, "");
    if (c) {
        EXPECT_EQ(c->source, "server.conf");
        EXPECT_EQ(c->groups.at(0).module, std::string(real) + "/modules/hello.so");
    }
    EXPECT_EQ(chdir(cwd), 0);

    // Errors name the file as it was given.
    std::ofstream(file) << "[group web]\nlisten = http://127.0.0.1:8080\ncount = many\n";
    c = load(file, error);
    EXPECT(!c);
    EXPECT_EQ_AT(contains(error, file + ":3: [group web] count: "), true, error);

    std::string missing = std::string(dir) + "/missing.conf";
    c = load(missing, error);
    EXPECT(!c);
    EXPECT_EQ(error, "cannot read " + missing + ": No such file or directory");

    c = load(dir, error);  // a directory
    EXPECT(!c);
    EXPECT_EQ_AT(contains(error, std::string("cannot read ") + dir + ": it is a directory, not a regular file"), true,
                 error);

    // A FIFO with no writer: opening it to read would wait forever for one.
    // The watchdog turns such a hang into a failure of this test.
    std::string fifo = std::string(dir) + "/fifo.conf";
    EXPECT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    alarm(10);
    c = load(fifo, error);
    alarm(0);
    EXPECT(!c);
    EXPECT_EQ(error, "cannot read " + fifo + ": it is a FIFO, not a regular file");
    EXPECT_EQ(std::remove(fifo.c_str()), 0);

    EXPECT_EQ(std::remove(file.c_str()), 0);
    EXPECT_EQ(rmdir(dir), 0);
}

}  // namespace

int main() {
    test_full_config();
    test_defaults();
    test_default_config();
    test_syntax();
    test_errors();
    test_link_secret_rules();
    test_listen();
    test_bools_and_counts();
    test_durations();
    test_sizes();
    test_paths();
    test_nul_bytes();
    test_total_workers();
    test_load_file();
    test_health_path();
    test_connection_bounds();
    test_handover();
    return check::summary("config");
}
