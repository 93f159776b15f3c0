// log_files: the files the server writes its lines to, opened by the master
// only, and reopened when logrotate has moved them (`./server reopen`, or
// SIGRTMIN+1).
//
//   the log          log_file: the master's and every worker's stderr (and
//                    stdout), in daemon mode (`start -d`)
//   access logs      each group's access_log (worker/access_log.h), if on
//
// Opened with the same checks as at start (run_dir.h's rule 2, and the
// owner): O_APPEND | O_CREAT, never through a symbolic link, a regular file
// owned by this server's user. A reopen opens every file anew first; one
// that cannot be opened (its directory became unwritable, a link planted at
// its path) keeps the old one, the server serves on, and the answer says
// which and why. Then the master puts the new log on its own fds 1 and 2
// (dup2: a line goes wholly to one file or the other) and hands the files to
// each worker over its channel (SCM_RIGHTS, worker/worker_logs.h): a worker
// that runs as another user needs no right on the log directory.
//
// Whether the master's stderr is the log file is decided at start: in daemon
// mode it is; a master started by an upgrade inherits the old master's
// stderr, and it is the log if it is the same file as log_file.
#pragma once

#include <csignal>
#include <string>

#include "config/config.h"
#include "core/fd.h"

namespace smooth {

class WorkerTable;

// The signal that asks for a reopen: SIGRTMIN+1, which nothing sends
// unasked (docs/operating.md says why not another).
inline const int kReopenSignal = SIGRTMIN + 1;

// Opens a log file as at start (see above), into `out`. "" or why not.
std::string open_log_file(const std::string& path, const std::string& what, Fd& out);

class LogFiles {
public:
    LogFiles(const Config& config, WorkerTable& table) : config_(config), table_(table) {}

    // At start, before the first fork: whether stderr is the log file, and
    // each group's access log opened into the table (WorkerTable::Group).
    std::string start(bool daemon);
    // After a reload's config is applied: a group's access log that is new
    // or moved is opened (the rest keep theirs). "" or why the reload is refused.
    std::string follow_config();
    // Everything reopened and handed to the workers. The answer's lines; `ok`
    // false if a file kept its old self.
    std::string reopen(bool& ok);

private:
    std::string open_access_log(size_t group);

    const Config& config_;
    WorkerTable& table_;
    bool log_is_file_ = false;
};

}  // namespace smooth
