// systemd_notify: see systemd_notify.h.
#include "master/systemd_notify.h"

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sys/socket.h>

#include "core/log.h"

namespace smooth {

bool notify_address(const std::string& value, sockaddr_un& out, socklen_t& len) {
    if (value.size() < 2 || (value[0] != '/' && value[0] != '@') || value.size() >= sizeof out.sun_path) return false;
    std::memset(&out, 0, sizeof out);
    out.sun_family = AF_UNIX;
    std::memcpy(out.sun_path, value.data(), value.size());
    // The abstract namespace: a leading NUL, and the length says where the name ends.
    if (value[0] == '@') out.sun_path[0] = '\0';
    len = socklen_t(offsetof(sockaddr_un, sun_path) + value.size() + (value[0] == '/' ? 1 : 0));
    return true;
}

std::string SystemdNotify::open_from_env() {
    const char* value = std::getenv("NOTIFY_SOCKET");
    if (!value || !*value) return "";
    if (!notify_address(value, address_, address_len_))
        return std::string("NOTIFY_SOCKET=") + value + ": not a socket path or @abstract name";
    fd_.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd_) return "socket(AF_UNIX, SOCK_DGRAM) failed for NOTIFY_SOCKET: " + errno_text(errno);
    return "";
}

bool SystemdNotify::send(const std::string& state) {
    if (!fd_) return false;
    ssize_t n;
    do n = ::sendto(fd_.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&address_),
                    address_len_);
    while (n == -1 && errno == EINTR);
    if (n == ssize_t(state.size())) return true;
    if (!warned_) {  // once: a service manager that went away must not flood the log
        log::warn("cannot notify the service manager (NOTIFY_SOCKET): %s", errno_text(errno).c_str());
        warned_ = true;
    }
    return false;
}

void SystemdNotify::ready(const std::string& status) { send("READY=1\nSTATUS=" + status); }

void SystemdNotify::reloading(const std::string& status) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    unsigned long long usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ull + now.tv_nsec / 1000;
    send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=" + status);
}

void SystemdNotify::stopping(const std::string& status) { send("STOPPING=1\nSTATUS=" + status); }

void SystemdNotify::status(const std::string& status) { send("STATUS=" + status); }

void SystemdNotify::main_pid(pid_t pid) { send("MAINPID=" + std::to_string(pid)); }

void SystemdNotify::took_over(pid_t pid, const std::string& status) {
    send("MAINPID=" + std::to_string(pid) + "\nREADY=1\nSTATUS=" + status);
}

}  // namespace smooth
