// ws_floor: the simplest fast WebSocket echo server we could write, as the
// floor of the gateway rows of tools/bench (as tools/benchkit/echo_floor is for bodies).
//
// usage: ws_floor PORT            (listens on 127.0.0.1:PORT; one process)
//
// Every text or binary message comes back as it came (a "ping SEQ" is
// answered "ping SEQ"); a text message "say TEXT" goes instead, as TEXT, to
// every connection (the broadcast row). A ping frame gets its pong, a close
// frame its close.
//
// Why it exists. A WebSocket round trip through any server costs at least a
// read of the client's frame and a write of the answer, plus the wake-up that
// says the frame is there: the kernel's part of the work. smooth's gateway
// does that twice more (the hop to a business worker and back), and more
// besides (limits, ordering, the business's reloads). This program does the
// least: one epoll loop, one process, no hop; its figures are what this
// machine allows, and smooth's rows are printed as a ratio to them.
//
// What it does, and nothing more:
//   - one listening socket, one epoll loop; every connection nonblocking,
//     registered once, edge-triggered, for reading and writing
//   - one read buffer for the loop: a connection keeps bytes of its own only
//     while a frame is cut in two (so an idle connection holds no buffer)
//   - the answers to all the frames of one read leave in one write
//   - the handshake: Sec-WebSocket-Key in, Sec-WebSocket-Accept out; nothing
//     else of HTTP is checked
//
// A measuring tool, not a server: it trusts its client (127.0.0.1 only), has
// no timeouts, and closes a connection that sends what it does not expect.
// SIGTERM or SIGINT stops it.

#include <arpa/inet.h>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <string_view>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

// ------------------------------------------------------------------ the handshake's arithmetic

// SHA-1 (FIPS 180-4), only for Sec-WebSocket-Accept.
void sha1(const unsigned char* data, size_t len, unsigned char out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    std::string msg(reinterpret_cast<const char*>(data), len);
    msg += char(0x80);
    while (msg.size() % 64 != 56) msg += char(0);
    uint64_t bits = uint64_t(len) * 8;
    for (int i = 7; i >= 0; --i) msg += char(bits >> (i * 8));
    auto rol = [](uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
    for (size_t off = 0; off < msg.size(); off += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; ++i)
            w[i] = uint32_t(uint8_t(msg[off + 4 * i])) << 24 | uint32_t(uint8_t(msg[off + 4 * i + 1])) << 16 |
                   uint32_t(uint8_t(msg[off + 4 * i + 2])) << 8 | uint32_t(uint8_t(msg[off + 4 * i + 3]));
        for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; ++i) {
            uint32_t f, k;
            if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
            else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
            else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
            else f = b ^ c ^ d, k = 0xCA62C1D6;
            uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d, d = c, c = rol(b, 30), b = a, a = t;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
    }
    for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 4; ++j) out[4 * i + j] = uint8_t(h[i] >> (24 - 8 * j));
}

std::string base64(const unsigned char* p, size_t n) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = uint32_t(p[i]) << 16 | (i + 1 < n ? uint32_t(p[i + 1]) << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        out += t[v >> 18 & 63];
        out += t[v >> 12 & 63];
        out += i + 1 < n ? t[v >> 6 & 63] : '=';
        out += i + 2 < n ? t[v & 63] : '=';
    }
    return out;
}

// ------------------------------------------------------------------ connections

struct Conn {
    int fd = -1;
    bool open = false;     // the handshake is done
    size_t index = 0;      // in Loop::conns_
    std::string partial;   // a frame (or handshake) cut in two; empty while idle
    std::string unsent;    // what a full send buffer did not take
};

// A server frame (not masked), appended to out.
void frame(std::string& out, uint8_t opcode, std::string_view payload) {
    out += char(0x80 | opcode);
    if (payload.size() < 126) {
        out += char(payload.size());
    } else if (payload.size() < 65536) {
        out += char(126);
        out += char(payload.size() >> 8);
        out += char(payload.size() & 0xff);
    } else {
        out += char(127);
        for (int i = 7; i >= 0; --i) out += char(uint64_t(payload.size()) >> (i * 8));
    }
    out += payload;
}

class Loop {
public:
    explicit Loop(int listen_fd) : listen_fd_(listen_fd) {}
    void run();

private:
    void accept_all();
    void drive(Conn* c, uint32_t events);
    bool handle(Conn* c, char* data, size_t len);  // false: close it
    bool handshake(Conn* c, std::string_view head);
    void send_to(Conn* c, std::string_view bytes);
    void close_conn(Conn* c);

    int listen_fd_, epfd_ = -1;
    std::vector<Conn*> conns_;
    std::string out_;            // the answers of one read, for one connection
    std::vector<Conn*> closing_;
    char buf_[256 * 1024];
};

void Loop::run() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ == -1) { perror("ws_floor: epoll_create1"); exit(1); }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the listener
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, listen_fd_, &ev) == -1) { perror("ws_floor: epoll_ctl"); exit(1); }
    epoll_event events[256];
    for (;;) {
        int n = epoll_wait(epfd_, events, 256, -1);
        if (n == -1) {
            if (errno == EINTR) continue;
            perror("ws_floor: epoll_wait");
            exit(1);
        }
        for (int i = 0; i < n; ++i) {
            if (events[i].data.ptr == nullptr) accept_all();
            else drive(static_cast<Conn*>(events[i].data.ptr), events[i].events);
        }
        // Freed after the batch: a later event of the same batch may name one.
        for (Conn* c : closing_) delete c;
        closing_.clear();
    }
}

void Loop::accept_all() {
    for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) return;  // EAGAIN: all taken (or EMFILE: the next event retries)
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        Conn* c = new Conn;
        c->fd = fd;
        c->index = conns_.size();
        conns_.push_back(c);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = c;
        if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == -1) close_conn(c);
    }
}

// Edge-triggered: read until a read returns less than asked (the socket is
// empty), answering what each read brought in one write.
void Loop::drive(Conn* c, uint32_t events) {
    if (c->fd < 0) return;
    if ((events & EPOLLOUT) && !c->unsent.empty()) {
        std::string rest = std::move(c->unsent);
        c->unsent.clear();
        send_to(c, rest);
        if (c->fd < 0) return;
    }
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    for (;;) {
        size_t have = c->partial.size();
        if (have) memcpy(buf_, c->partial.data(), have);  // a cut frame: its start goes first
        ssize_t n = read(c->fd, buf_ + have, sizeof buf_ - have);
        if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) return close_conn(c);
        if (n == -1) return;
        c->partial.clear();
        if (!handle(c, buf_, have + size_t(n))) return close_conn(c);
        if (size_t(n) < sizeof buf_ - have) return;
    }
}

// The frames in data, answered; a cut one is kept in partial.
bool Loop::handle(Conn* c, char* data, size_t len) {
    size_t at = 0;
    if (!c->open) {
        std::string_view all(data, len);
        size_t end = all.find("\r\n\r\n");
        if (end == std::string_view::npos) {
            if (len > 8192) return false;
            c->partial.assign(data, len);
            return true;
        }
        if (!handshake(c, all.substr(0, end + 2))) return false;
        at = end + 4;
    }
    out_.clear();
    bool close_after = false;
    while (at < len && !close_after) {
        auto* p = reinterpret_cast<unsigned char*>(data + at);
        size_t avail = len - at;
        if (avail < 2) break;
        uint8_t opcode = p[0] & 0x0f;
        if (!(p[0] & 0x80) || !(p[1] & 0x80)) return false;  // fragments, or an unmasked client frame
        uint64_t plen = p[1] & 0x7f;
        size_t head = 2;
        if (plen == 126) {
            if (avail < 4) break;
            plen = uint64_t(p[2]) << 8 | p[3];
            head = 4;
        } else if (plen == 127) {
            if (avail < 10) break;
            plen = 0;
            for (int i = 0; i < 8; ++i) plen = plen << 8 | p[2 + i];
            head = 10;
        }
        if (plen > sizeof buf_ / 2) return false;
        head += 4;
        if (avail < head + plen) break;
        unsigned char* m = p + head - 4;
        char* payload = data + at + head;
        for (uint64_t i = 0; i < plen; ++i) payload[i] ^= m[i & 3];
        std::string_view msg(payload, plen);
        at += head + plen;
        if (opcode == 0x8) {  // close: answered with the same code, then closed
            frame(out_, 0x8, msg.substr(0, 2));
            close_after = true;
        } else if (opcode == 0x9) {
            frame(out_, 0xA, msg);
        } else if (opcode == 0x1 && msg.starts_with("say ")) {
            std::string one;
            frame(one, 0x1, msg.substr(4));
            // Backwards: a send that fails closes its connection, and the last one takes its place.
            for (size_t i = conns_.size(); i-- > 0;)
                if (i < conns_.size() && conns_[i]->open && conns_[i] != c) send_to(conns_[i], one);
            out_ += one;
        } else if (opcode == 0x1 || opcode == 0x2) {
            frame(out_, opcode, msg);
        }
    }
    if (at < len && !close_after) c->partial.assign(data + at, len - at);
    if (!out_.empty()) send_to(c, out_);
    return !close_after && c->fd >= 0;
}

bool Loop::handshake(Conn* c, std::string_view head) {
    static const char kName[] = "\r\nsec-websocket-key:";
    size_t at = std::string_view::npos;
    for (size_t i = 0; i + sizeof kName - 1 <= head.size(); ++i)
        if (strncasecmp(head.data() + i, kName, sizeof kName - 1) == 0) { at = i + sizeof kName - 1; break; }
    if (at == std::string_view::npos) return false;
    size_t eol = head.find("\r\n", at);
    std::string_view key = head.substr(at, eol - at);
    while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
    while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
    std::string in = std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[20];
    sha1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
    std::string answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: " + base64(digest, 20) + "\r\n\r\n";
    c->open = true;
    send_to(c, answer);
    return c->fd >= 0;
}

// One write; what the send buffer does not take waits for EPOLLOUT.
void Loop::send_to(Conn* c, std::string_view bytes) {
    if (!c->unsent.empty()) {
        c->unsent.append(bytes);
        return;
    }
    while (!bytes.empty()) {
        ssize_t n = write(c->fd, bytes.data(), bytes.size());
        if (n > 0) {
            bytes.remove_prefix(size_t(n));
        } else if (errno == EAGAIN) {
            c->unsent.assign(bytes);
            return;
        } else if (errno != EINTR) {
            return close_conn(c);
        }
    }
}

void Loop::close_conn(Conn* c) {
    if (c->fd < 0) return;
    close(c->fd);  // also leaves the epoll set
    c->fd = -1;
    c->open = false;
    Conn* last = conns_.back();
    conns_[c->index] = last;
    last->index = c->index;
    conns_.pop_back();
    closing_.push_back(c);
}

}  // namespace

int main(int argc, char** argv) {
    int port = argc == 2 ? atoi(argv[1]) : 0;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "usage: ws_floor PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);  // a client that left: write's EPIPE is enough
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) { perror("ws_floor: socket"); return 2; }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == -1) { perror("ws_floor: bind"); return 2; }
    if (listen(fd, 4096) == -1) { perror("ws_floor: listen"); return 2; }
    fprintf(stderr, "ws_floor: 127.0.0.1:%d\n", port);
    static Loop loop(fd);  // its read buffer is large: not on the stack
    loop.run();
}
