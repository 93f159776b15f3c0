#include "core/listener.h"

#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <sys/socket.h>

namespace smooth {

Fd open_listener(const ListenAddress& address, std::string& error) {
    const std::string what = address.text();
    Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        error = "socket() failed for " + what + ": " + errno_text(errno);
        return Fd();
    }
    // A restarted server must be able to bind while old connections sit in
    // TIME_WAIT.
    int on = 1;
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1) {
        error = "setsockopt(SO_REUSEADDR) failed for " + what + ": " + errno_text(errno);
        return Fd();
    }
    struct sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(address.port);
    if (inet_pton(AF_INET, address.host.c_str(), &sa.sin_addr) != 1) {
        error = "bad IPv4 address in " + what;
        return Fd();
    }
    if (bind(fd.get(), reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) == -1) {
        error = "bind() failed for " + what + ": " + errno_text(errno);
        return Fd();
    }
    if (listen(fd.get(), kListenBacklog) == -1) {
        error = "listen() failed for " + what + ": " + errno_text(errno);
        return Fd();
    }
    return fd;
}

}  // namespace smooth
