#include "cli/control_client.h"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>

#include "core/buffer.h"
#include "core/fd.h"
#include "master/control.h"

namespace smooth {

std::string control_call(const std::string& socket_path, const std::string& command,
                         const std::function<void(const std::string& line)>& on_line) {
    sockaddr_un sa;
    if (!control_address(socket_path, sa)) return "control socket path too long: " + socket_path;
    Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return "socket(AF_UNIX) failed: " + errno_text(errno);
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == -1)
        return "cannot connect to " + socket_path + ": " + errno_text(errno);
    std::string request = command + "\n";
    if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != ssize_t(request.size()))
        return "cannot send to " + socket_path + ": " + errno_text(errno);
    Buffer in;
    for (;;) {
        ssize_t n = in.read_from(fd.get(), 4096);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return "reading from " + socket_path + " failed: " + errno_text(errno);
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
