// test_listener: the listening socket and its door (listener.h), on loopback.
// A stop shuts the door: a connection already queued must still be there to
// accept, and a new client's SYN must not become a queued connection (which
// would be reset when the last copy of the listener closes).
#include "core/listener.h"

#include "check.h"

#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace smooth;

namespace {

uint16_t port_of(int fd) {
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    return ntohs(sa.sin_port);
}

// A non-blocking connect to 127.0.0.1:port; the handshake goes on in the kernel.
Fd start_connect(uint16_t port) {
    Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    EXPECT(rc == 0 || errno == EINPROGRESS);
    return fd;
}

// Whether the handshake completed within `ms` (the socket became writable
// without an error).
bool connected_within(int fd, int ms) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, ms) != 1) return false;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return err == 0;
}

// Accepts one connection if one is queued (the listener is non-blocking).
Fd accept_one(int listener) { return Fd(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC)); }

void test_the_door_keeps_the_queue_and_lets_nothing_new_in() {
    Fd listener;
    EXPECT_EQ(open_listener({Protocol::Http, "127.0.0.1", 0}, listener), "");  // port 0: the kernel picks
    if (!listener) return;
    uint16_t port = port_of(listener.get());

    Fd queued = start_connect(port);
    EXPECT(connected_within(queued.get(), 2000));  // handshake done: it waits in the queue

    EXPECT_EQ(refuse_new_connections(listener.get()), "");

    Fd late = start_connect(port);
    // The late client's SYN is dropped: no handshake (it would retry after a
    // second, far beyond this window).
    EXPECT(!connected_within(late.get(), 300));

    Fd first = accept_one(listener.get());
    EXPECT(bool(first));  // the connection queued before the door is still there
    Fd second = accept_one(listener.get());
    EXPECT(!second);      // and nothing behind it
    EXPECT_EQ(errno, EAGAIN);

    // The accepted connection works both ways: the door is only the listener's.
    EXPECT_EQ(::write(queued.get(), "ping", 4), 4);
    char buf[8] = {};
    pollfd p{first.get(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 2000), 1);
    EXPECT_EQ(::read(first.get(), buf, sizeof buf), 4);
    EXPECT_EQ(std::string(buf), "ping");
}

}  // namespace

int main() {
    alarm(20);  // a watchdog: a hang is a failure (SIGALRM's default action), not a stuck CI job
    test_the_door_keeps_the_queue_and_lets_nothing_new_in();
    return check::summary("test_listener");
}
