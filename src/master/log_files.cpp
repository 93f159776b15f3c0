// log_files: see log_files.h.
#include "master/log_files.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "master/run_dir.h"
#include "master/worker_table.h"
#include "worker/worker_logs.h"

namespace smooth {

std::string open_log_file(const std::string& path, const std::string& what, Fd& out) {
    Fd fd;
    if (std::string err = open_private_file(path, O_WRONLY | O_APPEND | O_CREAT, 0644, what, fd); !err.empty()) return err;
    // Someone else's file at our path (made while the directory was
    // writable by them, or a hard link to theirs): not ours to write.
    struct stat st;
    if (fstat(fd.get(), &st) == -1) return "cannot stat " + what + " " + path + ": " + errno_text(errno);
    if (st.st_uid != geteuid())
        return what + " " + path + " is owned by uid " + std::to_string(st.st_uid) + ", not by this server's user (uid " +
               std::to_string(geteuid()) + "); fix: rm " + path;
    out = std::move(fd);
    return "";
}

std::string LogFiles::start(bool daemon) {
    // An upgrade's new master has the old one's stderr: the log, if it is
    // the very file log_file names.
    struct stat err_st, log_st;
    log_is_file_ = daemon || (fstat(2, &err_st) == 0 && stat(config_.server.log_file.c_str(), &log_st) == 0 &&
                              err_st.st_dev == log_st.st_dev && err_st.st_ino == log_st.st_ino);
    return follow_config();
}

std::string LogFiles::open_access_log(size_t g) {
    const GroupConfig& gc = config_.groups[g];
    Fd fd;
    if (!gc.access_log.empty())
        if (std::string err = open_log_file(gc.access_log, "access log", fd); !err.empty()) return "group " + gc.name + ": " + err;
    table_.set_access_log(int(g), std::move(fd), gc.access_log);
    return "";
}

std::string LogFiles::follow_config() {
    for (size_t g = 0; g < config_.groups.size(); g++) {
        const bool open = g < table_.groups().size() && bool(table_.groups()[g].access_log);
        const std::string& had = g < table_.groups().size() ? table_.groups()[g].access_log_path : "";
        if (open == !config_.groups[g].access_log.empty() && had == config_.groups[g].access_log) continue;
        if (std::string err = open_access_log(g); !err.empty()) return err;
    }
    return "";
}

std::string LogFiles::reopen(bool& ok) {
    ok = true;
    std::string answer;
    std::string done;
    // The log first: opened, then put under fds 1 and 2 at once.
    Fd log_fd;
    if (!log_is_file_) {
        answer += "reopen: the log goes to this master's stderr, not to log_file (it was not started with -d): left as it is\n";
    } else if (std::string err = open_log_file(config_.server.log_file, "log file", log_fd); !err.empty()) {
        ok = false;
        answer += "reopen: " + err + "; keeping the old log file\n";
        log_fd.reset();
    } else if (dup2(log_fd.get(), 1) == -1 || dup2(log_fd.get(), 2) == -1) {
        ok = false;
        answer += "reopen: dup2() failed for the new log file: " + errno_text(errno) + "; keeping the old one\n";
        log_fd.reset();
    } else {
        done += "log file " + config_.server.log_file;
    }
    int told = 0;
    for (size_t g = 0; g < config_.groups.size() && g < table_.groups().size(); g++) {
        std::string which;
        std::vector<int> fds;
        if (log_fd) {
            which += 'l';
            fds.push_back(log_fd.get());
        }
        const std::string& path = config_.groups[g].access_log;
        if (!path.empty()) {
            Fd fd;
            if (std::string err = open_log_file(path, "access log", fd); !err.empty()) {
                ok = false;
                answer += "reopen: group " + config_.groups[g].name + ": " + err + "; keeping the old access log\n";
            } else {
                done += (done.empty() ? "" : ", ") + std::string("access log ") + path + " (group " + config_.groups[g].name + ")";
                table_.set_access_log(int(g), std::move(fd), path);  // what workers forked from now on get
                which += 'a';
                fds.push_back(table_.groups()[g].access_log.get());
            }
        }
        if (!fds.empty()) told += table_.tell_group(int(g), std::string(1, kMsgReopen) + which, fds);
    }
    // The workers of groups no longer in the config (a reload keeps them) write to what they have.
    log::info("reopened: %s; %d workers told", done.empty() ? "nothing" : done.c_str(), told);
    answer += (ok ? "reopened: " : "reopened only: ") + (done.empty() ? std::string("nothing") : done) + "; " +
              std::to_string(told) + " workers told\n";
    return answer;
}

}  // namespace smooth
