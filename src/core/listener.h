// listener: the listening sockets, opened by the master before it forks.
//
// Why the master: the listening socket and its queue of not-yet-accepted
// connections belong to whoever holds a descriptor for it. Because the master
// opens it and keeps it open for its whole life, a worker that drains and exits
// closes only its own copy: connections waiting in the queue stay there for
// the other workers, or for the replacement, instead of being reset.
//
// A listener may also be inherited at exec instead of opened: from systemd's
// socket activation (sd_listen_fds(3): LISTEN_PID is our pid, LISTEN_FDS says
// how many descriptors follow fd 3, LISTEN_FDNAMES names them), or from the
// master before us in a binary upgrade, which hands its sockets over the same
// way. A group whose `listen` matches an inherited socket's address uses it
// and binds nothing, so not one queued connection is lost in the hand-over.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "core/fd.h"

namespace smooth {

inline constexpr int kListenBacklog = 4096;

// socket + SO_REUSEADDR + bind + listen(kListenBacklog), non-blocking and
// close-on-exec. On failure returns an empty Fd and sets `error`.
Fd open_listener(const ListenAddress& address, std::string& error);

class InheritedListeners {
public:
    // Reads LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES and unsets them (a process we
    // fork or exec must never take them for its own). Returns "" (also when
    // there are none, or they are meant for another pid) or what is wrong.
    std::string take_from_env();
    // The same from given descriptors [first_fd, first_fd + count): each must
    // be a listening TCP socket; it becomes non-blocking and close-on-exec.
    std::string adopt(int first_fd, int count, const std::string& names);

    // The inherited socket listening on this address, handed over (then it is
    // no longer in the list); an empty Fd if there is none.
    Fd take(const ListenAddress& address);
    // What no group took: "name (127.0.0.1:8080)" each. They are closed.
    std::vector<std::string> close_leftovers();
    size_t size() const { return sockets_.size(); }

private:
    struct Socket {
        Fd fd;
        std::string name;
        std::string host;  // numeric IPv4, as the config writes it
        uint16_t port = 0;
    };
    std::vector<Socket> sockets_;
};

}  // namespace smooth
