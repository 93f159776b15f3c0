#include "master/pidfile.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <csignal>
#include <unistd.h>

#include "core/log.h"
#include "master/run_dir.h"

namespace smooth {

namespace {

pid_t read_pid(int fd) {
    char text[32] = {};
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    if (n <= 0) return 0;
    long pid = std::strtol(text, nullptr, 10);
    return pid > 0 && pid < INT_MAX ? pid_t(pid) : 0;
}

std::string exe_of(const std::string& proc_exe) {
    char target[PATH_MAX];
    ssize_t n = readlink(proc_exe.c_str(), target, sizeof target - 1);
    if (n <= 0) return "";
    std::string path(target, size_t(n));
    // A binary rebuilt while the master runs shows as "... (deleted)"; it is
    // still the same program for our purpose.
    const std::string deleted = " (deleted)";
    if (path.size() > deleted.size() && path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0)
        path.resize(path.size() - deleted.size());
    return path;
}

// Seconds since the epoch at which `pid` started: its start time in clock
// ticks after boot, plus the boot time from /proc/stat.
double start_time_of(pid_t pid) {
    std::string ticks = proc_stat_field(pid, 22);
    std::ifstream boot("/proc/stat");
    std::string key;
    long long btime = -1;
    while (boot >> key)
        if (key == "btime") {
            boot >> btime;
            break;
        }
    if (ticks.empty() || btime < 0) return -1;
    return double(btime) + double(std::stoll(ticks)) / double(sysconf(_SC_CLK_TCK));
}

}  // namespace

std::string PidFile::acquire(const std::string& path) {
    std::string error;
    fd_ = open_private_file(path, O_RDWR | O_CREAT, 0644, "pid file", error);  // a link there is refused
    if (!fd_) return error;
    if (flock(fd_.get(), LOCK_EX | LOCK_NB) == -1) {
        int err = errno;
        pid_t other = read_pid(fd_.get());
        fd_.reset();
        if (err == EWOULDBLOCK)
            return "already running: pid " + std::to_string(other) + " holds the lock on " + path;
        return "cannot lock pid file " + path + ": " + errno_text(err);
    }
    if (pid_t stale = read_pid(fd_.get()); stale > 0)
        log::warn("pid file %s named pid %d, which does not hold its lock: stale, replacing it", path.c_str(), int(stale));
    std::string text = std::to_string(getpid()) + "\n";
    if (ftruncate(fd_.get(), 0) == -1 || pwrite(fd_.get(), text.data(), text.size(), 0) != ssize_t(text.size())) {
        std::string err = "cannot write pid file " + path + ": " + errno_text(errno);
        fd_.reset();
        return err;
    }
    path_ = path;
    return "";
}

void PidFile::release() {
    if (!fd_) return;
    // Unlink before unlocking: a new master that takes the lock after us must
    // never have its fresh file removed by us.
    if (unlink(path_.c_str()) == -1) log::warn("cannot remove pid file %s: %s", path_.c_str(), errno_text(errno).c_str());
    fd_.reset();
}

std::string proc_stat_field(pid_t pid, int n) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return "";
    size_t paren = line.rfind(')');  // field 2, the command name, may contain spaces
    if (paren == std::string::npos || n < 3) return "";
    std::istringstream fields(line.substr(paren + 1));
    std::string field;
    for (int i = 3; i <= n; i++)
        if (!(fields >> field)) return "";
    return field;
}

bool process_gone(pid_t pid) {
    if (kill(pid, 0) == -1 && errno == ESRCH) return true;
    std::string state = proc_stat_field(pid, 3);
    return state.empty() || state == "Z";
}

MasterCheck check_master(const std::string& pid_file) {
    MasterCheck check;
    Fd fd(::open(pid_file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        check.why_not = errno == ENOENT ? "no pid file at " + pid_file
                        : errno == ELOOP ? "pid file " + pid_file + " is a symbolic link: not trusted"
                                         : "cannot open " + pid_file + ": " + errno_text(errno);
        return check;
    }
    check.pid = read_pid(fd.get());
    if (check.pid <= 0) {
        check.why_not = "pid file " + pid_file + " holds no pid";
        return check;
    }
    // 1. The lock: if we can take it, nobody holds it.
    if (flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
        flock(fd.get(), LOCK_UN);
        check.why_not = "stale pid file " + pid_file + ": no process holds its lock (pid " + std::to_string(check.pid) +
                        " is not our master)";
        return check;
    }
    // 2. The binary.
    std::string theirs = exe_of("/proc/" + std::to_string(check.pid) + "/exe");
    std::string ours = exe_of("/proc/self/exe");
    if (theirs.empty() || theirs != ours) {
        check.why_not = "pid " + std::to_string(check.pid) + " in " + pid_file + " is not this server (" +
                        (theirs.empty() ? "no such process" : theirs) + ")";
        return check;
    }
    // 3. The start time, against the file's mtime. 2 s of slack: the boot time
    // in /proc/stat is whole seconds, the start time is in clock ticks.
    struct stat st;
    double started = start_time_of(check.pid);
    if (fstat(fd.get(), &st) == -1 || started < 0 || started > double(st.st_mtime) + 2.0) {
        check.why_not = "pid " + std::to_string(check.pid) + " started after " + pid_file + " was written: a reused pid";
        return check;
    }
    check.running = true;
    return check;
}

}  // namespace smooth
