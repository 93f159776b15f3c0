#include "core/listener.h"

#include <arpa/inet.h>
#include <cerrno>
#include <linux/filter.h>
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

std::string refuse_new_connections(int listener_fd) {
    // Classic BPF. TCP runs a listener's filter on every packet that reaches
    // it (tcp_filter in tcp_v4_rcv) with the TCP header at offset 0, so byte
    // 13 holds the flags. A SYN: keep 0 bytes (drop it); anything else (the
    // last ACK of a handshake under way): keep it whole.
    constexpr uint32_t kTcpFlagsOffset = 13, kSyn = 0x02;
    sock_filter drop_syn[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kTcpFlagsOffset),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, kSyn, 0, 1),  // SYN set: next; else skip one
        BPF_STMT(BPF_RET | BPF_K, 0),
        BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
    };
    sock_fprog program = {sizeof drop_syn / sizeof drop_syn[0], drop_syn};
    if (setsockopt(listener_fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) == -1)
        return "setsockopt(SO_ATTACH_FILTER) failed: " + errno_text(errno);
    return "";
}

}  // namespace smooth
