// slow: an HTTP module that answers late on request, for in-flight tests.
//
//   GET /?delay=1500   answers after 1.5 s (from a timer: the worker keeps
//                      serving other connections meanwhile)
//   GET /?block=3000   blocks the whole worker for 3 s before answering: a
//                      module stuck in a loop, which not even a drain deadline
//                      inside the worker can interrupt (the master's SIGKILL can)
//   GET /              answers at once
//
// The reply names the version and pid, like hello's:
//   slow reply after 1500 ms from module slow version 1, pid 4242
//
// A variant for tests, chosen at build time:
//   -DSLOW_START_MS=1500   on_worker_start takes that long, then succeeds: a
//                          release that is slow to become READY
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>

#include "smooth/module.h"

#ifndef HELLO_VERSION
#define HELLO_VERSION "dev"
#endif

namespace {

struct Pending {
    smooth_conn_id conn;
    unsigned long delay_ms;
};

void reply(smooth_worker* w, smooth_conn_id conn, unsigned long delay_ms) {
    char body[160];
    int n = std::snprintf(body, sizeof body, "slow reply after %lu ms from module slow version " HELLO_VERSION ", pid %d\n",
                          delay_ms, smooth_whoami(w).pid);
    smooth_http_respond(w, conn, 200, "text/plain", body, size_t(n));  // -1 if the client left: fine
}

void on_timer(smooth_worker* w, void* arg) {
    std::unique_ptr<Pending> p(static_cast<Pending*>(arg));  // the timer owned it; now we do
    reply(w, p->conn, p->delay_ms);
}

unsigned long query_number(smooth_str query, const char* key) {
    // The query is not NUL-terminated: copy what we look at.
    char q[64] = {};
    if (query.len == 0) return 0;
    std::memcpy(q, query.data, query.len < sizeof q - 1 ? query.len : sizeof q - 1);
    const char* at = std::strstr(q, key);
    return at ? std::strtoul(at + std::strlen(key), nullptr, 10) : 0;
}

void on_message(smooth_worker* w, smooth_conn_id conn, const smooth_message* msg) {
    if (msg->protocol != SMOOTH_HTTP) return;
    if (unsigned long block = query_number(msg->http->query, "block=")) {
        // Sleep through signals too (a signal cuts usleep short): truly stuck.
        struct timespec left = {time_t(block / 1000), long(block % 1000) * 1000000};
        while (nanosleep(&left, &left) == -1) {
        }
        reply(w, conn, block);
        return;
    }
    unsigned long delay = query_number(msg->http->query, "delay=");
    if (delay == 0) {
        reply(w, conn, 0);
        return;
    }
    smooth_timer_add(w, delay, on_timer, std::make_unique<Pending>(Pending{conn, delay}).release());
}

#ifdef SLOW_START_MS
int on_worker_start(smooth_worker*) {
    struct timespec left = {SLOW_START_MS / 1000, (SLOW_START_MS % 1000) * 1000000L};
    while (nanosleep(&left, &left) == -1) {
    }
    return 0;
}
#else
constexpr int (*on_worker_start)(smooth_worker*) = nullptr;
#endif

}  // namespace

SMOOTH_MODULE(slow) {
    static const smooth_module m = {
        SMOOTH_API_VERSION, "slow", HELLO_VERSION, on_worker_start, nullptr, nullptr, nullptr, on_message, nullptr,
    };
    return &m;
}
