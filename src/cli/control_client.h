// control_client: the CLI's end of the master's control socket (master/control.h).
//
// One command line out; the master's answer comes back as lines, handed to
// `on_line` as they arrive (a `reload` sends one per replaced worker, then its
// summary). The master closes the connection when it has said everything.
//
// The connection is the one check_master() (master/pidfile.h) proved: the
// command goes to the very process whose pid the pid file names.
#pragma once

#include <functional>
#include <string>

namespace smooth {

// Returns "" or what went wrong on the connection.
std::string control_call(int fd, const std::string& command, const std::function<void(const std::string& line)>& on_line);

}  // namespace smooth
