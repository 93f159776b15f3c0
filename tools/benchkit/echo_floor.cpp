// echo_floor: the simplest fast HTTP/1.1 echo server we could write, as a floor
// for smooth's echo module. It answers every request with its own body:
//
//   HTTP/1.1 200 OK
//   Content-Type: application/octet-stream
//   Content-Length: N
//
//   <the N bytes of the request's body, as they came>
//
// usage: echo_floor PORT [WORKERS]     (listens on 127.0.0.1:PORT; 1 worker by default)
//
// Why it exists. An echo server must take each byte of the body out of the
// kernel (read: the kernel copies it from its socket buffer into ours) and hand
// it back (write: the kernel copies it from ours into the socket's send
// buffer). Those two copies, and the system calls around them, are the least an
// echo can cost, and memcpy alone does not say what they cost: the bytes go
// through the kernel's socket buffers, page by page, with the TCP stack's
// bookkeeping in between. So rather than a formula, `tools/bench` runs this
// program next to smooth, with the same clients, and compares: it is "what
// copying the bytes twice costs on this machine". What smooth does beyond that
// (parsing HTTP properly, limits, timeouts, the module interface, reloads) is
// what the difference pays for.
//
// What it does, and nothing more:
//   - one listening socket, opened before fork() and shared by WORKERS
//     processes; each worker has its own epoll loop over its own connections
//   - every socket is nonblocking and registered once, edge-triggered, for both
//     reading and writing: epoll says "something changed", and the connection
//     goes as far as it can (no epoll_ctl per request)
//   - one fixed buffer per connection, taken when it is accepted and reused
//     for every request on it (its pages are touched once, not per request).
//     A request's head and body are read into it where they land, and the
//     answer is one writev() of a small head (kept in the connection) and the
//     body, straight from that buffer: the two copies the kernel makes are the
//     only ones
//   - parsing: find the end of the head ("\r\n\r\n"), find Content-Length in
//     it. That is all. No chunked bodies, no Expect, no Connection: close (the
//     client closes when it is done; so do we when it has)
//
// It is a measuring tool, not a server: it trusts its client (only 127.0.0.1),
// has no timeouts, and answers a head or body over its limits with a 4xx and a
// close.
//
// Stopping: SIGTERM or SIGINT to the parent stops the workers and exits 0;
// the workers also stop if the parent dies (PR_SET_PDEATHSIG).

#include <arpa/inet.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

constexpr size_t kMaxHead = 16 * 1024;         // a request head larger than this gets 431
constexpr size_t kMaxBody = 2 * 1024 * 1024;   // a body larger than this gets 413 (the bench sends 1 MiB)
constexpr size_t kBufSize = kMaxHead + kMaxBody;

// One client connection. Its life is a loop of two states:
//
//   Reading ──(head and whole body are in buf)──> Writing ──(all sent)──┐
//      ^───────────────────────────────────────────────────────────────┘
//
// buf[0, filled) holds what has been read and not yet answered: the current
// request, and possibly the start of the next one if the client pipelined.
struct Conn {
    int fd = -1;
    char* buf = nullptr;     // kBufSize bytes, for the connection's life
    size_t filled = 0;       // bytes of buf in use
    bool writing = false;    // Writing: an answer is (partly) out
    bool drained = false;    // the last read emptied the socket: wait for the next event

    // Set when a request is complete, used while Writing:
    size_t request_len = 0;  // head + body: what to drop from buf once answered
    char head[128];          // the response head
    iovec iov[2];            // {head, body}: what is still to send
    bool close_after = false;  // an error answer: close once it is out
};

// ------------------------------------------------------------------ parsing

// Content-Length of a complete head (head_len bytes, ending in "\r\n\r\n"):
// its value, 0 if there is none, -1 if it is not a number.
long content_length(const char* head, size_t head_len) {
    const char* end = head + head_len;
    // Each header line starts right after a "\r\n"; the first line (the
    // request line) is skipped by starting the search at the first "\r\n".
    for (const char* p = static_cast<const char*>(memmem(head, head_len, "\r\n", 2)); p && p + 2 < end;
         p = static_cast<const char*>(memmem(p + 2, size_t(end - p - 2), "\r\n", 2))) {
        const char* line = p + 2;
        static const char kName[] = "content-length:";
        constexpr size_t kNameLen = sizeof kName - 1;
        if (size_t(end - line) < kNameLen || strncasecmp(line, kName, kNameLen) != 0) continue;
        const char* v = line + kNameLen;
        while (v < end && (*v == ' ' || *v == '\t')) ++v;
        if (v == end || *v < '0' || *v > '9') return -1;
        long n = 0;
        for (; v < end && *v >= '0' && *v <= '9'; ++v) {
            n = n * 10 + (*v - '0');
            if (n > long(kMaxBody) + 1) return long(kMaxBody) + 1;  // too large either way; no overflow
        }
        return n;
    }
    return 0;
}

// ------------------------------------------------------------------ the loop

class Worker {
public:
    explicit Worker(int listen_fd) : listen_fd_(listen_fd) {}
    void run();

private:
    void accept_one();
    void drive(Conn* c, uint32_t events);  // go as far as the socket allows
    bool read_more(Conn* c);               // false: the connection is gone
    bool request_complete(Conn* c);        // true: c is now Writing
    bool write_more(Conn* c);              // true: the answer is all out; false: wait, or gone
    void answer_error(Conn* c, const char* status);
    void close_conn(Conn* c);

    int listen_fd_;
    int epfd_ = -1;
};

void Worker::run() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ == -1) { perror("echo_floor: epoll_create1"); exit(1); }
    // The listener is level-triggered and exclusive: a new connection wakes one
    // worker (not all of them), and each wake-up accepts one connection, so
    // that a burst of connections spreads over the workers that are free.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.ptr = nullptr;  // nullptr: the listener; anything else is a Conn
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, listen_fd_, &ev) == -1) { perror("echo_floor: epoll_ctl"); exit(1); }

    epoll_event events[64];
    for (;;) {
        int n = epoll_wait(epfd_, events, 64, -1);
        if (n == -1) {
            if (errno == EINTR) continue;
            perror("echo_floor: epoll_wait");
            exit(1);
        }
        for (int i = 0; i < n; ++i) {
            if (events[i].data.ptr == nullptr) accept_one();
            else drive(static_cast<Conn*>(events[i].data.ptr), events[i].events);
        }
    }
}

void Worker::accept_one() {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd == -1) return;  // another worker took it (EAGAIN), or the client left
    int one = 1;
    // The answer goes out in one writev; do not let Nagle hold back its tail.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    Conn* c = new Conn;
    c->fd = fd;
    c->buf = static_cast<char*>(malloc(kBufSize));
    if (c->buf == nullptr) { close(fd); delete c; return; }
    // Registered once, for both directions, edge-triggered: an event means
    // "there may be more to read, or room to write"; drive() finds out which.
    // Adding it reports what is already there (the request, room to write)
    // as a first event, so there is nothing to do until then.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == -1) close_conn(c);
}

// Edge-triggered: an event comes when something changes, not while something
// is there, so a connection goes as far as it can each time. It stops when the
// kernel has no more for it: a read or a write that did less than asked (for a
// TCP socket that means "empty" or "full" as surely as EAGAIN does, and the
// next change brings the next event; nginx relies on the same).
void Worker::drive(Conn* c, uint32_t events) {
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->drained = false;  // something came
    for (;;) {
        if (c->writing) {
            if (!write_more(c)) return;          // the send buffer is full: wait for room (or gone)
            if (c->close_after) return close_conn(c);
            // Answered: drop the request; a pipelined next one moves to the front.
            c->filled -= c->request_len;
            if (c->filled > 0) memmove(c->buf, c->buf + c->request_len, c->filled);
            c->writing = false;
        }
        if (request_complete(c)) continue;       // now Writing
        if (c->drained) return;                  // the rest of the request is still on its way
        if (!read_more(c)) return;               // gone
    }
}

// Reads what the socket has into the free end of the buffer, in one read():
// the body goes where it will be written from. False: the connection is gone.
bool Worker::read_more(Conn* c) {
    size_t room = kBufSize - c->filled;
    ssize_t n = read(c->fd, c->buf + c->filled, room);
    if (n > 0) {
        c->filled += size_t(n);
        c->drained = size_t(n) < room;  // less than asked: the socket is empty now
        return true;
    }
    if (n == -1 && errno == EAGAIN) {
        c->drained = true;
        return true;
    }
    if (n == -1 && errno == EINTR) return true;
    close_conn(c);  // 0: the client closed; anything else: an error
    return false;
}

// Is buf a whole request (head and Content-Length bytes of body)? If so, the
// answer is prepared and the connection switches to Writing.
bool Worker::request_complete(Conn* c) {
    size_t scan = c->filled < kMaxHead ? c->filled : kMaxHead;
    const char* end = static_cast<const char*>(memmem(c->buf, scan, "\r\n\r\n", 4));
    if (end == nullptr) {
        if (c->filled >= kMaxHead) answer_error(c, "431 Request Header Fields Too Large");
        return c->writing;
    }
    size_t head_len = size_t(end - c->buf) + 4;
    long body_len = content_length(c->buf, head_len);
    if (body_len < 0) { answer_error(c, "400 Bad Request"); return true; }
    if (size_t(body_len) > kMaxBody) { answer_error(c, "413 Content Too Large"); return true; }
    if (c->filled < head_len + size_t(body_len)) return false;  // the body is still coming

    int n = snprintf(c->head, sizeof c->head,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %ld\r\n\r\n",
                     body_len);
    c->iov[0] = {c->head, size_t(n)};
    c->iov[1] = {c->buf + head_len, size_t(body_len)};  // the body, where it was read: no copy
    c->request_len = head_len + size_t(body_len);
    c->writing = true;
    return true;
}

// writev() what is left of the answer. True once it is all out.
bool Worker::write_more(Conn* c) {
    for (;;) {
        size_t left = c->iov[0].iov_len + c->iov[1].iov_len;
        if (left == 0) return true;
        int first = c->iov[0].iov_len > 0 ? 0 : 1;  // the head is out: the body alone
        ssize_t n = writev(c->fd, c->iov + first, 2 - first);
        if (n == -1) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) close_conn(c);  // the client is gone
            return false;
        }
        // Advance over what went out: first the head, then the body.
        size_t sent = size_t(n);
        for (iovec& v : c->iov) {
            size_t k = sent < v.iov_len ? sent : v.iov_len;
            v.iov_base = static_cast<char*>(v.iov_base) + k;
            v.iov_len -= k;
            sent -= k;
        }
        if (size_t(n) < left) return false;  // the send buffer is full: EPOLLOUT comes with room
    }
}

void Worker::answer_error(Conn* c, const char* status) {
    int n = snprintf(c->head, sizeof c->head, "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
    c->iov[0] = {c->head, size_t(n)};
    c->iov[1] = {nullptr, 0};
    c->request_len = c->filled;
    c->writing = true;
    c->close_after = true;
}

void Worker::close_conn(Conn* c) {
    close(c->fd);  // also takes it out of the epoll set
    c->fd = -1;
    free(c->buf);
    delete c;
}

// ------------------------------------------------------------------ main

int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) { perror("echo_floor: socket"); exit(2); }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == -1) { perror("echo_floor: bind"); exit(2); }
    if (listen(fd, 1024) == -1) { perror("echo_floor: listen"); exit(2); }
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: echo_floor PORT [WORKERS]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int workers = argc > 2 ? atoi(argv[2]) : 1;
    if (port <= 0 || port > 65535 || workers <= 0 || workers > 256) {
        fprintf(stderr, "echo_floor: PORT must be 1-65535 and WORKERS 1-256\n");
        return 2;
    }
    int listen_fd = listen_on(port);

    // The parent only starts the workers and waits for a signal to stop them.
    // The signals are blocked before fork() so that none is lost in between;
    // each worker unblocks them again and dies of SIGTERM as any process does.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGCHLD);
    sigprocmask(SIG_BLOCK, &stop, nullptr);
    pid_t parent = getpid();
    std::vector<pid_t> kids;
    for (int i = 0; i < workers; ++i) {
        pid_t pid = fork();
        if (pid == -1) {
            perror("echo_floor: fork");
            for (pid_t kid : kids) kill(kid, SIGTERM);
            return 2;
        }
        if (pid == 0) {
            sigprocmask(SIG_UNBLOCK, &stop, nullptr);
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent) _exit(0);  // the parent died before prctl
            signal(SIGPIPE, SIG_IGN);           // a client that left: writev's EPIPE is enough
            Worker(listen_fd).run();
            _exit(0);
        }
        kids.push_back(pid);
    }
    fprintf(stderr, "echo_floor: 127.0.0.1:%d, %zu workers\n", port, kids.size());

    int sig = 0;
    sigwait(&stop, &sig);  // SIGTERM/SIGINT: asked to stop; SIGCHLD: a worker died
    for (pid_t pid : kids) kill(pid, SIGTERM);
    for (pid_t pid : kids) waitpid(pid, nullptr, 0);
    return sig == SIGCHLD ? 1 : 0;
}
