// lifecycle: a module that shows when its worker's lifecycle callbacks run,
// for tests and for watching a reload or a stop by hand. The module API has
// no settings of its own, so the file it writes to comes from the
// environment, which the master and its workers inherit:
//
//   $ SMOOTH_LIFECYCLE_FILE=/tmp/events ./server start
//
// Each callback appends one line to that file (nothing when it is unset):
//
//   start PID SLOT GENERATION      on_worker_start
//   reload PID                     on_worker_reload (a group not reloadable)
//   stop PID                       on_worker_stop
//
// and says the same in the server's log. Each line is one write() to a file
// opened with O_APPEND, so lines from several workers never interleave.
//
// HTTP: GET / answers "lifecycle pid PID"; GET /hold never answers (a request
// that stays in flight until the worker closes it: a drain_timeout).
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <string_view>
#include <unistd.h>

#include "smooth/module.h"

namespace {

void record(smooth_worker* w, const char* line, int n) {
    smooth_log(w, "lifecycle: %.*s", n - 1, line);  // without its newline
    const char* path = std::getenv("SMOOTH_LIFECYCLE_FILE");
    if (!path || !*path) return;
    int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) {
        smooth_log(w, "lifecycle: cannot open %s", path);
        return;
    }
    if (::write(fd, line, size_t(n)) != n) smooth_log(w, "lifecycle: cannot write to %s", path);
    ::close(fd);
}

int on_worker_start(smooth_worker* w) {
    const smooth_worker_info me = smooth_whoami(w);
    char line[96];
    int n = std::snprintf(line, sizeof line, "start %d %d %llu\n", me.pid, me.worker_id,
                          static_cast<unsigned long long>(me.generation));
    record(w, line, n);
    return 0;
}

void on_worker_reload(smooth_worker* w) {
    char line[48];
    record(w, line, std::snprintf(line, sizeof line, "reload %d\n", smooth_whoami(w).pid));
}

void on_worker_stop(smooth_worker* w) {
    char line[48];
    record(w, line, std::snprintf(line, sizeof line, "stop %d\n", smooth_whoami(w).pid));
}

void on_message(smooth_worker* w, smooth_conn_id conn, const smooth_message* msg) {
    if (msg->protocol != SMOOTH_HTTP) return;
    if (std::string_view(msg->http->path.data, msg->http->path.len) == "/hold") return;  // answered never
    char body[64];
    int n = std::snprintf(body, sizeof body, "lifecycle pid %d\n", smooth_whoami(w).pid);
    smooth_http_respond(w, conn, 200, "text/plain", body, size_t(n));
}

}  // namespace

SMOOTH_MODULE(lifecycle) {
    static const smooth_module m = {
        SMOOTH_API_VERSION, "lifecycle", "1", on_worker_start, on_worker_reload, on_worker_stop, nullptr, on_message,
        nullptr,
    };
    return &m;
}
