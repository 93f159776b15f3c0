#include "master/pidfile.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <ctime>
#include <fstream>
#include <sstream>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <csignal>
#include <unistd.h>

#include "core/log.h"
#include "master/control.h"
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

}  // namespace

std::string PidFile::acquire(const std::string& path) {
    // A link there is refused.
    if (std::string err = open_private_file(path, O_RDWR | O_CREAT, 0644, "pid file", fd_); !err.empty()) return err;
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

std::string PidFile::prepare_beside(const std::string& path) {
    // Rule 3 of run_dir.h: the pid file may sit in a directory others can
    // write to, so the new file gets mkostemp()'s random name, created with
    // O_EXCL: nothing can be waiting there for us to write through.
    std::string temp = path + ".new.XXXXXX";
    Fd fd(mkostemp(temp.data(), O_CLOEXEC));
    if (!fd) return "cannot create a pid file like " + temp + ": " + errno_text(errno);
    std::string text = std::to_string(getpid()) + "\n";
    // Locked before the rename can make it visible: there is no moment when
    // the path names an unlocked file.
    if (fchmod(fd.get(), 0644) == -1 || flock(fd.get(), LOCK_EX | LOCK_NB) == -1 ||
        pwrite(fd.get(), text.data(), text.size(), 0) != ssize_t(text.size())) {
        std::string err = "cannot prepare pid file " + temp + ": " + errno_text(errno);
        unlink(temp.c_str());
        return err;
    }
    temp_fd_ = std::move(fd);
    temp_path_ = temp;
    target_ = path;
    return "";
}

std::string PidFile::install() {
    if (!temp_fd_) return "no pid file prepared";
    // One rename: before it the path names the old file (and the old lock),
    // after it ours. No reader ever finds no file, or an unlocked one.
    if (rename(temp_path_.c_str(), target_.c_str()) == -1)
        return "rename(" + temp_path_ + ", " + target_ + ") failed: " + errno_text(errno);
    fd_ = std::move(temp_fd_);  // a file of ours that no path names any more closes here, lock and all
    path_ = target_;
    temp_path_.clear();
    return "";
}

bool PidFile::names_us() const {
    struct stat at_path, ours;
    if (!fd_ || path_.empty() || stat(path_.c_str(), &at_path) == -1 || fstat(fd_.get(), &ours) == -1) return false;
    return at_path.st_dev == ours.st_dev && at_path.st_ino == ours.st_ino;
}

void PidFile::release() {
    // Unlink before unlocking: a new master that takes the lock after us must
    // never have its fresh file removed by us.
    if (fd_ && !path_.empty() && unlink(path_.c_str()) == -1)
        log::warn("cannot remove pid file %s: %s", path_.c_str(), errno_text(errno).c_str());
    if (temp_fd_ && unlink(temp_path_.c_str()) == -1)
        log::warn("cannot remove pid file %s: %s", temp_path_.c_str(), errno_text(errno).c_str());
    fd_.reset();
    temp_fd_.reset();
    path_.clear();
    temp_path_.clear();
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

namespace {

// How long a check keeps looking when the pid file and the control socket
// name two different masters: an upgrade renames them a moment apart.
constexpr int kProofAttempts = 50;
constexpr int kProofRetryMs = 20;

std::string connect_control(const std::string& path, Fd& out) {
    sockaddr_un sa;
    if (!control_address(path, sa)) return "control socket path too long: " + path;
    // Non-blocking for the connect only: a listener that never accepts (not
    // ours, or hung) has a full queue, and a blocking connect would wait for
    // it forever; this one says EAGAIN at once.
    Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return "socket(AF_UNIX) failed: " + errno_text(errno);
    int rc;
    do rc = connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    while (rc == -1 && errno == EINTR);
    if (rc == -1) return "its control socket " + path + " does not answer (" + errno_text(errno) + ")";
    int flags = fcntl(fd.get(), F_GETFL);
    if (flags == -1 || fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) == -1)
        return "fcntl() failed on the control connection: " + errno_text(errno);
    out = std::move(fd);
    return "";
}

// One look. `again` is set when a second look may find otherwise: the lock is
// held but the socket is missing or someone else's (an upgrade between its two
// renames, a master between its pid file and its socket at start).
MasterCheck check_once(const std::string& pid_file, const std::string& control_socket, bool& again) {
    MasterCheck check;
    again = false;
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
    // 2. The control socket, and who created it.
    Fd control;
    if (std::string error = connect_control(control_socket, control); !error.empty()) {
        again = true;
        check.why_not = "pid " + std::to_string(check.pid) + " holds the lock on " + pid_file + ", but " + error +
                        ": not trusted";
        return check;
    }
    struct ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(control.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
        check.why_not = "getsockopt(SO_PEERCRED) failed on " + control_socket + ": " + errno_text(errno);
        return check;
    }
    if (cred.pid != check.pid) {
        again = true;
        check.why_not = "pid file " + pid_file + " names pid " + std::to_string(check.pid) + ", but the control socket " +
                        control_socket + " belongs to pid " + std::to_string(cred.pid) + ": not trusted";
        return check;
    }
    check.running = true;
    check.control = std::move(control);
    return check;
}

}  // namespace

MasterCheck check_master(const std::string& pid_file, const std::string& control_socket) {
    for (int attempt = 1;; attempt++) {
        bool again = false;
        MasterCheck check = check_once(pid_file, control_socket, again);
        if (check.running || !again || attempt == kProofAttempts) return check;
        struct timespec pause = {0, kProofRetryMs * 1000000L};
        nanosleep(&pause, nullptr);
    }
}

}  // namespace smooth
