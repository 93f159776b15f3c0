#include "cli/control_client.h"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>

#include "core/buffer.h"
#include "core/fd.h"

namespace smooth {

std::string control_call(int fd, const std::string& command,
                         const std::function<void(const std::string& line)>& on_line) {
    std::string request = command + "\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != ssize_t(request.size()))
        return "cannot send to the control socket: " + errno_text(errno);
    Buffer in;
    for (;;) {
        ssize_t n = in.read_from(fd, 4096);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return "reading from the control socket failed: " + errno_text(errno);
        for (size_t nl; (nl = in.readable().find('\n')) != std::string_view::npos;) {
            on_line(std::string(in.readable().substr(0, nl)));
            in.consume(nl + 1);
        }
        if (n == 0) break;
    }
    if (!in.empty()) on_line(std::string(in.readable()));
    return "";
}

}  // namespace smooth
