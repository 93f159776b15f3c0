// worker_logs: a worker's two files, its log (stderr) and its group's access
// log, and how they are reopened.
//
// The master opens both (at start, and again on `./server reopen` or
// SIGRTMIN+1, after logrotate has renamed them) and hands them to each
// worker, at fork and then over the worker's channel (SCM_RIGHTS): a worker
// that runs as another user never opens a file in the log directory itself.
// The message is kMsgReopen and a letter per descriptor that comes with it,
// in order: 'l' the log, 'a' the access log.
//
// The log: every line is one write() to fd 2 (core/log.h), and dup2() puts
// the new file there in one step: a line goes wholly to the old file or
// wholly to the new one. The access log: the buffered lines go to the old
// file first (access_log.h).
#pragma once

#include <memory>
#include <string>
#include <sys/types.h>
#include <string_view>
#include <vector>

#include "core/event_loop.h"
#include "core/fd.h"
#include "worker/access_log.h"

namespace smooth {

class Connection;

inline constexpr char kMsgReopen = 'O';  // master -> worker: here are the reopened files

class WorkerLogs {
public:
    // `access_log`: the group's access log as inherited, or none (off).
    explicit WorkerLogs(Fd access_log);

    // The flush timer (AccessLog::kFlushEveryMs), once the loop is open.
    void start(EventLoop& loop);
    AccessLog* access() { return access_.get(); }
    void flush() {
        if (access_) access_->flush();
    }
    // A long connection's line, at its close (an HTTP request has its own:
    // http_session.cpp). `now_ms` on the loop's clock.
    void connection_closed(Connection& c, pid_t pid, const std::string& version, int64_t now_ms);
    // A kMsgReopen message and the descriptors that came with it.
    void reopen(std::string_view message, std::vector<Fd> fds);

private:
    std::unique_ptr<AccessLog> access_;
};

}  // namespace smooth
