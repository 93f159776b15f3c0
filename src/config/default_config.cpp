// default_config: what ./server runs when no config file is given, written as
// the config file it would be, so a learner can copy it into server.conf and
// start changing values. Relative paths resolve against the directory of the
// ./server binary (so `make run` finds modules/hello.so from anywhere).
#include <cstdio>
#include <cstdlib>

#include "config/config.h"

namespace smooth {

namespace {

// The default, written as a config file would be. Relative paths resolve
// against the directory of the ./server binary.
constexpr std::string_view kDefaultConfig = R"(# smooth: the built-in configuration, used when no config file is given.

[server]
# run_dir = run               # pid_file and log_file go here by default
# stop_timeout = 5s           # then SIGKILL
# drain_timeout = 30s         # how long an old worker may finish its requests
# start_timeout = 10s         # how long a new worker may take to be ready
# reload_order = stop_first   # or start_first
# link_secret_file = /etc/smooth/link.secret   # gateway <-> business links: docs/links.md

[group web]
listen = http://127.0.0.1:8080
count = auto                  # one worker per core
module = modules/hello.so
# reloadable = true
# max_connections = 10000
# max_request_bytes = 1m
# keepalive_timeout = 5s
# request_timeout = 10s
)";


}  // namespace

Config default_config(const std::string& base_dir) {
    ConfigContext ctx;
    ctx.source_name = "<embedded default>";
    ctx.base_dir = base_dir;
    ctx.cores = online_cores();
    Config config;
    if (std::string error = parse_config(kDefaultConfig, ctx, config); !error.empty()) {
        // The text above is wrong: a bug in this file, not the user's.
        std::fprintf(stderr, "smooth: the embedded default config does not parse: %s\n", error.c_str());
        std::abort();
    }
    return config;
}

}  // namespace smooth
