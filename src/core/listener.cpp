#include "core/listener.h"

#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace smooth {

std::string open_listener(const ListenAddress& address, Fd& out) {
    const std::string what = address.text();
    Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return "socket() failed for " + what + ": " + errno_text(errno);
    // A restarted server must be able to bind while old connections sit in
    // TIME_WAIT.
    int on = 1;
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1)
        return "setsockopt(SO_REUSEADDR) failed for " + what + ": " + errno_text(errno);
    struct sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(address.port);
    if (inet_pton(AF_INET, address.host.c_str(), &sa.sin_addr) != 1) return "bad IPv4 address in " + what;
    if (bind(fd.get(), reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) == -1)
        return "bind() failed for " + what + ": " + errno_text(errno);
    if (listen(fd.get(), kListenBacklog) == -1) return "listen() failed for " + what + ": " + errno_text(errno);
    out = std::move(fd);
    return "";
}

std::string defer_accept_until_data(int listener_fd, int seconds) {
    if (setsockopt(listener_fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof seconds) == -1)
        return "setsockopt(TCP_DEFER_ACCEPT) failed: " + errno_text(errno);
    return "";
}

int handshakes_under_way(const sockaddr_in& local) {
    Fd diag(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!diag) return -1;
    timeval patience{0, 100 * 1000};  // the kernel answers at once; never hang the master on it
    if (setsockopt(diag.get(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience) == -1) return -1;

    // "Every IPv4 TCP socket in a handshake": SYN_RECV, and NEW_SYN_RECV (12,
    // the request sockets a listener holds; not in every libc's enum).
    constexpr unsigned kNewSynRecv = 12;
    struct {
        nlmsghdr header;
        inet_diag_req_v2 request;
    } ask{};
    ask.header.nlmsg_len = sizeof ask;
    ask.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    ask.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    ask.request.sdiag_family = AF_INET;
    ask.request.sdiag_protocol = IPPROTO_TCP;
    ask.request.idiag_states = (1u << TCP_SYN_RECV) | (1u << kNewSynRecv);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(diag.get(), &ask, sizeof ask, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) !=
        static_cast<ssize_t>(sizeof ask))
        return -1;

    // The answer: one message per socket, in as many datagrams as it takes,
    // then NLMSG_DONE.
    int count = 0;
    alignas(nlmsghdr) char buffer[16384];
    for (;;) {
        ssize_t n = recv(diag.get(), buffer, sizeof buffer, 0);
        if (n == -1 && errno == EINTR) continue;
        if (n <= 0) return -1;
        int left = static_cast<int>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_type == NLMSG_DONE) return count;
            if (h->nlmsg_type == NLMSG_ERROR) return -1;
            const auto* sock = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
            bool same_port = sock->id.idiag_sport == local.sin_port;
            bool same_address = local.sin_addr.s_addr == htonl(INADDR_ANY) || sock->id.idiag_src[0] == local.sin_addr.s_addr;
            if (same_port && same_address) count++;
        }
    }
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

namespace {

bool parse_int(const char* s, int& out) {
    if (!s || !*s) return false;
    const char* end = s;
    while (*end) end++;
    auto [ptr, ec] = std::from_chars(s, end, out);
    return ec == std::errc() && ptr == end;
}

}  // namespace

std::string InheritedListeners::take_from_env() {
    const char* pid = std::getenv("LISTEN_PID");
    const char* fds = std::getenv("LISTEN_FDS");
    const char* names_env = std::getenv("LISTEN_FDNAMES");
    std::string names = names_env ? names_env : "";
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    int for_pid = 0, count = 0;
    if (!fds) return "";
    if (!parse_int(fds, count) || count < 0 || count > 1024) return std::string("LISTEN_FDS=") + fds + ": not a count";
    // Meant for another process (a parent that did not unset them): not ours.
    if (!parse_int(pid, for_pid) || for_pid != int(getpid())) return "";
    return adopt(3, count, names);  // SD_LISTEN_FDS_START
}

std::string InheritedListeners::adopt(int first_fd, int count, const std::string& names) {
    size_t name_start = 0;
    for (int i = 0; i < count; i++) {
        int fd = first_fd + i;
        size_t colon = names.find(':', name_start);
        std::string name = name_start <= names.size() ? names.substr(name_start, colon - name_start) : "";
        name_start = colon == std::string::npos ? names.size() + 1 : colon + 1;
        Socket s;
        s.fd.reset(fd);  // ours from here, whatever happens below
        s.name = name.empty() ? "fd " + std::to_string(fd) : name;
        int listening = 0, type = 0;
        socklen_t len = sizeof listening;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == -1)
            return "inherited " + s.name + ": getsockopt() failed: " + errno_text(errno);
        len = sizeof type;
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);  // SO_ACCEPTCONN worked: so does this
        sockaddr_in sa{};
        len = sizeof sa;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == -1)
            return "inherited " + s.name + ": getsockname() failed: " + errno_text(errno);
        if (!listening || type != SOCK_STREAM || sa.sin_family != AF_INET)
            return "inherited " + s.name + " is not a listening IPv4 TCP socket";
        char host[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
        s.host = host;
        s.port = ntohs(sa.sin_port);
        // Inherited descriptors come without our flags: the event loop needs
        // non-blocking, and a process we exec must not keep the port open.
        int fl = fcntl(fd, F_GETFL);
        if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 || fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
            return "inherited " + s.name + ": fcntl() failed: " + errno_text(errno);
        sockets_.push_back(std::move(s));
    }
    return "";
}

Fd InheritedListeners::take(const ListenAddress& address) {
    for (auto it = sockets_.begin(); it != sockets_.end(); ++it) {
        if (it->host != address.host || it->port != address.port) continue;
        Fd fd = std::move(it->fd);
        sockets_.erase(it);
        return fd;
    }
    return Fd();
}

std::vector<std::string> InheritedListeners::close_leftovers() {
    std::vector<std::string> names;
    for (const Socket& s : sockets_) names.push_back(s.name + " (" + s.host + ":" + std::to_string(s.port) + ")");
    sockets_.clear();
    return names;
}

}  // namespace smooth
