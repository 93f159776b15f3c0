// hello: the demo module. Its reply names its version and the worker's pid, so
// a rebuild plus a reload is visible from a client:
//
//   $ curl 127.0.0.1:8080/
//   hello from module hello version 2, pid 4242
//
// Build a new version with `make modules HELLO_VERSION=2`, then `./server reload`.
// The same file is compiled into ./server as `builtin:hello` (-DSMOOTH_BUILTIN):
// that copy answers "builtin hello" and no reload can change it.
#include <cstdio>

#include "smooth/module.h"

#ifndef HELLO_VERSION
#define HELLO_VERSION "dev"
#endif

#ifdef SMOOTH_BUILTIN
#define HELLO_KIND "builtin hello"
#else
#define HELLO_KIND "module hello"
#endif

namespace {

void on_message(smooth_worker* w, smooth_conn_id conn, const smooth_message* msg) {
    char body[128];
    int n = std::snprintf(body, sizeof body, "hello from " HELLO_KIND " version " HELLO_VERSION ", pid %d\n",
                          smooth_whoami(w).pid);
    if (msg->protocol == SMOOTH_HTTP)
        smooth_http_respond(w, conn, 200, "text/plain", body, size_t(n));
    else
        smooth_send(w, conn, body, size_t(n) - 1);  // the protocol adds its own framing
}

}  // namespace

SMOOTH_MODULE(hello) {
    static const smooth_module m = {
        SMOOTH_API_VERSION, "hello", HELLO_VERSION, nullptr, nullptr, nullptr, nullptr, on_message, nullptr,
    };
    return &m;
}
