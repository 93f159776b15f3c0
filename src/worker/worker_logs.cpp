// worker_logs: see worker_logs.h.
#include "worker/worker_logs.h"

#include <cerrno>
#include <unistd.h>

#include "core/log.h"

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
