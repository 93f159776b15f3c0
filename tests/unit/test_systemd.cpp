// test_systemd: the two pieces of the systemd protocol smooth speaks without
// libsystemd: notifications (a datagram to $NOTIFY_SOCKET, here received by
// a socket of the test's own) and inherited listeners (LISTEN_FDS), here
// real listening sockets moved to high descriptor numbers.
#include "core/listener.h"
#include "master/systemd_notify.h"

#include "check.h"

#include <arpa/inet.h>
#include <cstdlib>
#include <fcntl.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace smooth;

namespace {

std::string receive(int fd) {
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, size_t(n)) : "";
}

void test_addresses() {
    sockaddr_un sa;
    socklen_t len = 0;
    EXPECT(notify_address("/run/systemd/notify", sa, len));
    EXPECT_EQ(std::string(sa.sun_path), std::string("/run/systemd/notify"));
    EXPECT(notify_address("@abstract", sa, len));
    EXPECT_EQ(sa.sun_path[0], '\0');  // the abstract namespace
    EXPECT_EQ(std::string(sa.sun_path + 1, 8), std::string("abstract"));
    EXPECT(!notify_address("", sa, len));
    EXPECT(!notify_address("relative/path", sa, len));
    EXPECT(!notify_address("/" + std::string(200, 'x'), sa, len));
}

void notify_through(const std::string& value, int receiver) {
    setenv("NOTIFY_SOCKET", value.c_str(), 1);
    SystemdNotify n;
    EXPECT_EQ(n.open_from_env(), std::string());
    EXPECT(n.enabled());
    n.ready("serving: 2 workers ready");
    EXPECT_EQ(receive(receiver), std::string("READY=1\nSTATUS=serving: 2 workers ready"));
    n.reloading("reloading");
    std::string r = receive(receiver);
    EXPECT_EQ(r.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), size_t(0));
    EXPECT(r.find("\nSTATUS=reloading") != std::string::npos);
    n.stopping("stopping");
    EXPECT_EQ(receive(receiver), std::string("STOPPING=1\nSTATUS=stopping"));
    n.main_pid(4242);
    EXPECT_EQ(receive(receiver), std::string("MAINPID=4242"));
    n.took_over(4243, "serving: 2 workers ready");
    EXPECT_EQ(receive(receiver), std::string("MAINPID=4243\nREADY=1\nSTATUS=serving: 2 workers ready"));
}

void test_notify() {
    // A path socket, as systemd's own /run/systemd/notify.
    std::string path = "/tmp/smooth-test-notify-" + std::to_string(getpid());
    int receiver = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa;
    socklen_t len = 0;
    notify_address(path, sa, len);
    unlink(path.c_str());
    EXPECT_EQ(bind(receiver, reinterpret_cast<sockaddr*>(&sa), len), 0);
    notify_through(path, receiver);
    close(receiver);
    unlink(path.c_str());

    // An abstract one, as in containers.
    std::string name = "@smooth-test-notify-" + std::to_string(getpid());
    receiver = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    notify_address(name, sa, len);
    EXPECT_EQ(bind(receiver, reinterpret_cast<sockaddr*>(&sa), len), 0);
    notify_through(name, receiver);
    close(receiver);

    // Without the variable: nothing, quietly.
    unsetenv("NOTIFY_SOCKET");
    SystemdNotify off;
    EXPECT_EQ(off.open_from_env(), std::string());
    EXPECT(!off.enabled());
    EXPECT(!off.send("READY=1"));
    setenv("NOTIFY_SOCKET", "not-a-path", 1);
    EXPECT(SystemdNotify().open_from_env().find("NOTIFY_SOCKET=not-a-path") != std::string::npos);
    unsetenv("NOTIFY_SOCKET");
}

// A listening socket on a free loopback port, moved to descriptor `at`.
uint16_t listening_at(int at, bool listen_too = true) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);  // blocking, inheritable: as a parent hands it over
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    if (listen_too) listen(fd, 16);
    socklen_t len = sizeof sa;
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    dup2(fd, at);
    close(fd);
    return ntohs(sa.sin_port);
}

ListenAddress loopback(uint16_t port) {
    ListenAddress a;
    a.host = "127.0.0.1";
    a.port = port;
    return a;
}

void test_inherited() {
    uint16_t web = listening_at(200), api = listening_at(201), spare = listening_at(202);
    InheritedListeners in;
    EXPECT_EQ(in.adopt(200, 3, "web:api"), std::string());
    EXPECT_EQ(in.size(), size_t(3));
    EXPECT(!in.take(loopback(1)));  // nobody listens there
    Fd fd = in.take(loopback(api));
    EXPECT(bool(fd));
    EXPECT_EQ(fd.get(), 201);
    EXPECT(fcntl(201, F_GETFL) & O_NONBLOCK);
    EXPECT(fcntl(201, F_GETFD) & FD_CLOEXEC);
    EXPECT(!in.take(loopback(api)));  // handed over once
    EXPECT(bool(in.take(loopback(web))));
    std::vector<std::string> left = in.close_leftovers();
    EXPECT_EQ(left.size(), size_t(1));
    EXPECT_EQ(left.empty() ? "" : left[0], "fd 202 (127.0.0.1:" + std::to_string(spare) + ")");
    EXPECT_EQ(fcntl(202, F_GETFD), -1);  // closed

    // A socket that does not listen is refused, by name.
    listening_at(203, false);
    InheritedListeners bad;
    EXPECT(bad.adopt(203, 1, "odd").find("inherited odd is not a listening IPv4 TCP socket") != std::string::npos);

    // Variables meant for another process are not ours, and are cleared.
    setenv("LISTEN_PID", "1", 1);
    setenv("LISTEN_FDS", "1", 1);
    InheritedListeners other;
    EXPECT_EQ(other.take_from_env(), std::string());
    EXPECT_EQ(other.size(), size_t(0));
    EXPECT(getenv("LISTEN_FDS") == nullptr && getenv("LISTEN_PID") == nullptr);
    setenv("LISTEN_FDS", "many", 1);
    EXPECT(InheritedListeners().take_from_env().find("not a count") != std::string::npos);
}

}  // namespace

int main() {
    test_addresses();
    test_notify();
    test_inherited();
    return check::summary("systemd");
}
