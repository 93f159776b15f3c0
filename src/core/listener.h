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
// the last of them closes it (Workers::stop_all).
#pragma once

#include <string>

#include "config/config.h"
#include "core/fd.h"

namespace smooth {

inline constexpr int kListenBacklog = 4096;
// What the queue can hold: Linux counts it full only once it holds *more*
// than the backlog, so one more than that.
inline constexpr int kMaxQueued = kListenBacklog + 1;

// socket + SO_REUSEADDR + bind + listen(kListenBacklog), non-blocking and
// close-on-exec. On failure returns an empty Fd and sets `error`.
Fd open_listener(const ListenAddress& address, std::string& error);

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

}  // namespace smooth
