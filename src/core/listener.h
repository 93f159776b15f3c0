// listener: the listening sockets, opened by the master before it forks.
//
// Why the master: the listening socket and its queue of not-yet-accepted
// connections belong to whoever holds a descriptor for it. Because the master
// opens it and keeps it open until the server stops, a worker that drains and
// exits closes only its own copy: connections waiting in the queue stay there
// for the other workers, or for the replacement, instead of being reset.
//
// The other side of the same rule: when the last copy closes, whatever is
// still queued is reset. So a stop first refuses new connections, then the
// master closes its copy, and the workers' last passes empty the queue before
// the last of them closes it (WorkerTable::stop_all).
//
// A listener may also be inherited at exec instead of opened: from systemd's
// socket activation (sd_listen_fds(3): LISTEN_PID is our pid, LISTEN_FDS says
// how many descriptors follow fd 3, LISTEN_FDNAMES names them), or from the
// master before us in a binary upgrade, which hands its sockets over the same
// way. A group whose `listen` matches an inherited socket's address uses it
// and binds nothing, so not one queued connection is lost in the hand-over.
#pragma once

#include <netinet/in.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "core/fd.h"

namespace smooth {

inline constexpr int kListenBacklog = 4096;
// What the queue can hold: Linux counts it full only once it holds *more*
// than the backlog, so one more than that.
inline constexpr int kMaxQueued = kListenBacklog + 1;

// socket + SO_REUSEADDR + bind + listen(kListenBacklog), non-blocking and
// close-on-exec, into `out`. "" or what failed (core/error.h).
std::string open_listener(const ListenAddress& address, Fd& out);

// For a protocol whose client speaks first (HTTP, WebSocket): the kernel
// hands a connection to accept() only once its first bytes have arrived
// (TCP_DEFER_ACCEPT), so one wake-up accepts it, reads the request and
// answers it, where otherwise the handshake wakes the worker once and the
// request again. A client that connects and sends nothing for `seconds` is
// handed over anyway, and then has keepalive_timeout to speak. "" or what failed.
std::string defer_accept_until_data(int listener_fd, int seconds);

// How long an HTTP listener keeps a silent client's handshake before handing
// it over anyway (defer_accept_until_data): the kernel sends its SYN-ACK again
// after this, and the client's answer queues the connection.
inline constexpr int kDeferAcceptSeconds = 1;

// Handshakes the kernel holds for a listening address and has not queued
// yet: a SYN answered whose last ACK is still on its way, or (TCP_DEFER_ACCEPT)
// a handshake complete whose first bytes have not come. Each reaches accept()
// later, if a copy of the listener is still open then; if not, the client is
// reset. Counted by asking the kernel (sock_diag over netlink, what
// `ss state syn-recv` shows) for the request sockets of `local` (an address
// of 0.0.0.0 stands for every local address). -1 if the kernel cannot tell.
int handshakes_under_way(const sockaddr_in& local);

// Shuts the door of a listening socket, for a stop: no new connection enters
// its queue from now on, while the connections already queued stay there to
// be accepted. It attaches a socket filter that drops every SYN: a new
// client's first packet never reaches the listener (the client sends it again
// a second later, and by then finds the port closed: refused). A handshake
// already past its SYN still completes, so a client that has seen our SYN-ACK
// is queued and served rather than left hanging; a connection already queued
// is a socket of its own, which the filter does not see. The door stays shut
// for every copy of the socket, in every process. Returns "" or what failed.
std::string refuse_new_connections(int listener_fd);

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
