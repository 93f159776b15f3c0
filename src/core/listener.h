// listener: the listening sockets, opened by the master before it forks.
//
// Why the master: the listening socket and its queue of not-yet-accepted
// connections belong to whoever holds a descriptor for it. Because the master
// opens it and keeps it open for its whole life, a worker that drains and exits
// closes only its own copy: connections waiting in the queue stay there for
// the other workers, or for the replacement, instead of being reset.
#pragma once

#include <string>

#include "config/config.h"
#include "core/fd.h"

namespace smooth {

inline constexpr int kListenBacklog = 4096;

// socket + SO_REUSEADDR + bind + listen(kListenBacklog), non-blocking and
// close-on-exec. On failure returns an empty Fd and sets `error`.
Fd open_listener(const ListenAddress& address, std::string& error);

}  // namespace smooth
