// worker_logs: see worker_logs.h.
#include "worker/worker_logs.h"

#include <cerrno>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "worker/connection.h"

namespace smooth {

WorkerLogs::WorkerLogs(Fd access_log) {
    if (access_log) access_ = std::make_unique<AccessLog>(std::move(access_log));
}

void WorkerLogs::start(EventLoop& loop) {
    if (!access_) return;
    loop.add_timer(AccessLog::kFlushEveryMs, [this] {
        flush();
        return int64_t(AccessLog::kFlushEveryMs);
    });
}

namespace {

const char* stream_name(Protocol p) {
    switch (p) {
        case Protocol::Text: return "TEXT";
        case Protocol::Frame: return "FRAME";
        case Protocol::Tcp: return "TCP";
        case Protocol::Ws: return "WS";
        case Protocol::Http: break;
    }
    return "HTTP";
}

}  // namespace

void WorkerLogs::connection_closed(Connection& c, pid_t pid, const std::string& version, int64_t now_ms) {
    if (!access_ || c.speaks() == Protocol::Http) return;
    const bool ws = c.speaks() == Protocol::Ws;
    std::string peer = c.peer();
    access_->add(AccessEntry{peer, ws ? std::string_view(c.log_request()) : stream_name(c.speaks()), ws ? 101 : 0,
                             c.sent_bytes(), now_ms - c.opened_ms(), pid, version},
                 wall_clock_ms());
}

void WorkerLogs::reopen(std::string_view message, std::vector<Fd> fds) {
    std::string_view which = message.substr(1);
    if (which.size() != fds.size()) {
        log::error("reopen: the master sent %zu files for \"%.*s\"; keeping ours", fds.size(), int(which.size()),
                   which.data());
        return;
    }
    for (size_t i = 0; i < fds.size(); i++) {
        if (which[i] == 'l') {
            // fd 1 too: a module's printf goes where the log goes.
            if (dup2(fds[i].get(), 2) == -1 || dup2(fds[i].get(), 1) == -1)
                log::error("reopen: dup2() of the new log file failed: %s", errno_text(errno).c_str());
        } else if (which[i] == 'a' && access_) {
            access_->reopen(std::move(fds[i]));
        }
    }
    log::info("reopened: %s", which == "l" ? "the log" : which == "a" ? "the access log" : "the log and the access log");
}

}  // namespace smooth
