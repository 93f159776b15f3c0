// control_client: the CLI's end of the master's control socket (master/control.h).
//
// One command line out; the master's answer comes back as lines, handed to
// `on_line` as they arrive (a `reload` sends one per replaced worker, then its
// summary). The master closes the connection when it has said everything.
#pragma once

#include <functional>
#include <string>

namespace smooth {

// Returns "" or why the master could not be reached.
std::string control_call(const std::string& socket_path, const std::string& command,
                         const std::function<void(const std::string& line)>& on_line);

}  // namespace smooth
