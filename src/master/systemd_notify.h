// systemd_notify: telling a service manager how the master is doing, without
// libsystemd.
//
// The whole protocol (sd_notify(3)): when $NOTIFY_SOCKET is set, send one
// datagram per state change to that AF_UNIX socket (a path, or "@name" for the
// abstract namespace), its payload newline-separated KEY=VALUE lines:
//
//   READY=1                     every worker is READY (start, or a reload's end)
//   RELOADING=1                 a reload began; with MONOTONIC_USEC=<now>, so
//   MONOTONIC_USEC=123456789    systemd can tell this reload from an older one
//   STOPPING=1                  a stop began
//   STATUS=...                  one line a person reads in `systemctl status`
//   MAINPID=4242                after an upgrade: the new master is the service
//
// Without $NOTIFY_SOCKET every call does nothing. A send that fails is logged
// once and never stops the server: systemd being gone is not our failure.
#pragma once

#include <string>
#include <sys/types.h>
#include <sys/un.h>

#include "core/fd.h"

namespace smooth {

class SystemdNotify {
public:
    // Reads $NOTIFY_SOCKET. Returns "" (also when it is unset) or what failed.
    std::string open_from_env();
    bool enabled() const { return bool(fd_); }

    void ready(const std::string& status);
    void reloading(const std::string& status);  // RELOADING=1 with MONOTONIC_USEC
    void stopping(const std::string& status);
    void status(const std::string& status);
    void main_pid(pid_t pid);
    // After an upgrade, the new master in one datagram: MAINPID first, so
    // systemd takes the READY=1 that follows as the new main process's.
    void took_over(pid_t pid, const std::string& status);

    // One datagram; public for the unit test.
    bool send(const std::string& state);

private:
    Fd fd_;
    sockaddr_un address_{};
    socklen_t address_len_ = 0;
    bool warned_ = false;
};

// "@name" or "/path" into a sockaddr_un; false if it does not fit or is empty.
bool notify_address(const std::string& value, sockaddr_un& out, socklen_t& len);

}  // namespace smooth
