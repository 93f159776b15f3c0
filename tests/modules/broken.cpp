// broken: a module whose on_worker_start fails, like a deploy that cannot
// start (a missing config file, a database it cannot reach). Reloading onto it
// must be refused: the reload aborts and the previous version keeps serving.
//
// Two variants for tests, chosen at build time:
//   -DBROKEN_ONLY_SLOT=3   fails only in worker slot 3, serves elsewhere (a
//                          deploy that breaks halfway through a rollout)
//   -DBROKEN_HANG_MS=5000  hangs that long in on_worker_start, then fails (a
//                          deploy that never becomes ready: start_timeout)
//   -DBROKEN_ON_HOST='"h2"' fails only where the server's environment says
//                          FLEET_HOST=h2, serves elsewhere (a release that breaks
//                          on one host of a fleet: examples/fleet names its hosts
//                          so; tests/integration/test_fleet.py)
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "smooth/module.h"

namespace {

int on_worker_start(smooth_worker* w) {
#ifdef BROKEN_ONLY_SLOT
    if (smooth_whoami(w).worker_id != BROKEN_ONLY_SLOT) return 0;
#endif
#ifdef BROKEN_ON_HOST
    const char* host = std::getenv("FLEET_HOST");
    if (host == nullptr || std::strcmp(host, BROKEN_ON_HOST) != 0) return 0;
#endif
#ifdef BROKEN_HANG_MS
    struct timespec left = {BROKEN_HANG_MS / 1000, (BROKEN_HANG_MS % 1000) * 1000000L};
    while (nanosleep(&left, &left) == -1) {
    }
#endif
    smooth_log(w, "broken: on_worker_start refuses to start (this module exists to test a failed deploy)");
    return -1;
}

void on_message(smooth_worker* w, smooth_conn_id conn, const smooth_message*) {
    smooth_http_respond(w, conn, 200, "text/plain", "hello from module broken\n", 25);
}

}  // namespace

SMOOTH_MODULE(broken) {
    static const smooth_module m = {
        SMOOTH_API_VERSION, "broken", "1", on_worker_start, nullptr, nullptr, nullptr, on_message, nullptr,
    };
    return &m;
}
