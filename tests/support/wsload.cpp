// wsload: a WebSocket load client for the gateway rows of tools/bench. It
// counts every round trip, every close and every error, as tests/support/loadgen does
// for HTTP.
//
// usage: wsload [options] ws://HOST:PORT/PATH      (HOST: 127.x.y.z or localhost)
//   --mode M          closed (default), open, idle or broadcast (below)
//   -c N              clients (connections), default 50
//   --threads T       closed / open: share the clients by min(N, T) threads
//                     (default 1); idle and broadcast use one thread
//   -d SECONDS        closed / open: stop starting round trips after this long
//   -n COUNT          closed / open: stop once COUNT round trips have started
//   -R MSG_PER_S      open: the fixed rate, over all clients
//   -t MS             a round trip's (or a handshake's) timeout, default 5000
//   --window W        connections being opened at once, default 256
//   --stop-file PATH  stop (closed / open) or let go (idle) once PATH exists
//   --ready-file PATH idle / broadcast: written once every client is connected;
//                     closed / open: once they are and the round trips start
//   --hello           idle: each client makes one round trip after its handshake
//   --reconnects K    idle: a client the server closes connects again (and with
//                     --hello makes its round trip again), at most K times
//                     (default 0: it stays closed)
//   --goodbye         idle: before letting go, each client makes one more round
//                     trip (proof that the connection is still served)
//   --retry           closed: a round trip cut off by the server's close (or an
//                     EOF, or a reset) is sent again, once, as soon as its
//                     client has connected again; its latency runs from the
//                     first send, as a user waiting for the answer sees it
//   --phases          closed / open: SIGUSR1 starts the next turn (see "Turns")
//   --broadcasts K    broadcast: K broadcasts one after the other (default 5)
//   --cpu-pids P,Q    broadcast: the CPU time of these processes (all their
//                     threads, /proc/PID/task/*/schedstat) over the broadcasts alone
//   -o FILE           the report to FILE instead of stdout
//
// The modes:
//   closed     each client sends "ping SEQ" and waits for its answer, then
//              sends the next: round trips per second (the clients connect
//              first, all of them, and the clock starts after: -d and the
//              rate do not include the handshakes)
//   open       "ping SEQ" on a fixed schedule, R a second over all clients,
//              each on a client that is not waiting (the clients are the
//              pool); a round trip's latency runs from when it was due, not
//              from when it went out, so a server that stalls is charged for
//              every message that should have gone meanwhile (no
//              "coordinated omission", as loadgen -R)
//   idle       opens N connections (each, with --hello, makes one round
//              trip), writes the ready file, holds them until the stop file
//              appears (or SIGTERM), then closes them. With --reconnects the
//              ready file is removed when the server closes one and written
//              again once every client is connected again, so whoever waits
//              for it knows when the crowd is whole
//   broadcast  opens N connections, writes the ready file; then, K times,
//              client 0 sends "say bench: bK" and every client waits for a
//              message that starts with "bench: bK": the time from the send
//              until the last client has it (and the first)
//
// Turns (--phases). One run can compare two conditions under the same load:
// whoever drives the run sends SIGUSR1 when the condition changes (say,
// steady, then reloading, then steady), and each round trip is also counted
// in the turn it started in (a retried one in its first send's turn). The
// whole run's figures are unchanged.
//
// An answer matches "ping SEQ" when it starts with "pong SEQ" or "ping SEQ"
// followed by the end or a space (smooth's chat module and GatewayWorker's
// Events say "pong SEQ [...]", an echo says "ping SEQ"). A broadcast matches
// when it starts with the text after "say ".
//
// The report is one JSON object on stdout:
//   closed / open  round_trips (finished, whatever their outcome), ok,
//                  closed_by_server (a close frame or an EOF while a client
//                  waited or was idle), refused, reset, handshake_failed,
//                  timeout, bad_answer (an answer that matched nothing, or
//                  came unasked), other_error, errors (round_trips - ok +
//                  what failed between round trips), connections, duration_s,
//                  rate (ok a second), latency_ms {p50, p90, p99, p999, max},
//                  with -R late (round trips that went out over 1 ms
//                  after they were due), with --retry retried (round trips
//                  sent again; each counts once, by its last outcome), with
//                  --phases turns [{ok, failed, retried, latency_ms}, ...] (at
//                  most 256, in order)
//   idle           connections (held), failed, hello_ok, closed_by_server
//                  (closes while held: close frames, EOFs, resets), closes
//                  {"1001": n, "eof": n, "reset": n} (by close code, or how
//                  the connection ended without one), reconnects (connections
//                  made again), open_at_end, first_close_at and all_back_at
//                  (CLOCK_MONOTONIC seconds, as Python's time.monotonic(): the
//                  first close, and the last time every client was connected
//                  again after one; null if none), with --goodbye goodbye_ok,
//                  open_s
//   broadcast      clients, broadcasts [{to_first_ms, to_last_ms, received}],
//                  missing (messages a client never got), cpu_s {pid: s}
// Exit status: 0 if the load ran (even with errors), 2 on a usage error, 1 if
// it could not run (idle / broadcast: not every client connected).
//
// build: make tests/support/wsload (one file and tests/support/histogram.h, as tests/support/loadgen)

#include <arpa/inet.h>
#include <dirent.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "histogram.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what, int err) {
    std::fprintf(stderr, "wsload: %s: %s\n", what.c_str(), std::strerror(err));
    std::exit(1);
}

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr,
                 "wsload: %s\n"
                 "usage: wsload [--mode closed|open|idle|broadcast] [-c N] [--threads T] [-d S] [-n COUNT]\n"
                 "              [-R MSG_PER_S] [-t MS] [--window W] [--stop-file PATH] [--ready-file PATH]\n"
                 "              [--hello] [--reconnects K] [--goodbye] [--retry] [--phases]\n"
                 "              [--broadcasts K] [--cpu-pids P,Q] [-o FILE] ws://HOST:PORT/PATH\n",
                 message.c_str());
    std::exit(2);
}

// ------------------------------------------------------------------ options

enum class Mode { Closed, Open, Idle, Broadcast };

struct Options {
    Mode mode = Mode::Closed;
    int clients = 50;
    int threads = 1;
    double duration_s = 0;
    long count = 0;
    double rate = 0;
    long timeout_ms = 5000;
    int window = 256;
    std::string stop_file, ready_file, output;
    bool hello = false;
    int reconnects = 0;    // idle: times a closed client connects again
    bool goodbye = false;  // idle: one more round trip each before letting go
    bool retry = false;    // closed: a round trip cut off by a close goes again
    bool phases = false;   // closed / open: SIGUSR1 starts the next turn
    int broadcasts = 5;
    std::vector<int> cpu_pids;
    sockaddr_in addr{};
    std::string authority, path;
};

long parse_long(const char* text, long min, long max, const char* option) {
    char* end = nullptr;
    errno = 0;
    long value = std::strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
        usage_error(std::string(option) + " wants an integer in [" + std::to_string(min) + ", " +
                    std::to_string(max) + "], got '" + text + "'");
    return value;
}

double parse_positive(const char* text, const char* option) {
    char* end = nullptr;
    double v = std::strtod(text, &end);
    if (end == text || *end != '\0' || !(v > 0 && v < 1e9))
        usage_error(std::string(option) + " wants a positive number, got '" + text + "'");
    return v;
}

void parse_url(std::string_view url, Options& opt) {
    constexpr std::string_view scheme = "ws://";
    if (!url.starts_with(scheme)) usage_error("the URL must start with ws://");
    url.remove_prefix(scheme.size());
    size_t slash = url.find('/');
    opt.authority = std::string(url.substr(0, slash));
    opt.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
    if (opt.path.find_first_of(" \t\r\n") != std::string::npos) usage_error("the URL path must not contain blanks");
    size_t colon = opt.authority.rfind(':');
    std::string host = opt.authority.substr(0, colon);
    long port = colon == std::string::npos ? 80 : parse_long(opt.authority.c_str() + colon + 1, 1, 65535, "the port");
    if (host == "localhost") host = "127.0.0.1";
    in_addr address{};
    if (inet_pton(AF_INET, host.c_str(), &address) != 1) usage_error("the host must be a numeric IPv4 address");
    // A load generator must never be pointed at someone else's host.
    if ((ntohl(address.s_addr) >> 24) != 127) usage_error("refusing to load " + host + ": loopback (127.0.0.0/8) only");
    opt.addr.sin_family = AF_INET;
    opt.addr.sin_port = htons(static_cast<uint16_t>(port));
    opt.addr.sin_addr = address;
}

Options parse_options(int argc, char** argv) {
    enum { kMode = 1000, kThreads, kWindow, kStopFile, kReadyFile, kHello, kBroadcasts, kCpuPids, kReconnects,
           kGoodbye, kRetry, kPhases };
    static const option longs[] = {
        {"mode", required_argument, nullptr, kMode},          {"threads", required_argument, nullptr, kThreads},
        {"window", required_argument, nullptr, kWindow},      {"stop-file", required_argument, nullptr, kStopFile},
        {"ready-file", required_argument, nullptr, kReadyFile}, {"hello", no_argument, nullptr, kHello},
        {"broadcasts", required_argument, nullptr, kBroadcasts}, {"cpu-pids", required_argument, nullptr, kCpuPids},
        {"reconnects", required_argument, nullptr, kReconnects}, {"goodbye", no_argument, nullptr, kGoodbye},
        {"retry", no_argument, nullptr, kRetry},              {"phases", no_argument, nullptr, kPhases},
        {nullptr, 0, nullptr, 0},
    };
    Options opt;
    int c;
    while ((c = getopt_long(argc, argv, "c:d:n:R:t:o:", longs, nullptr)) != -1) {
        switch (c) {
        case 'c': opt.clients = int(parse_long(optarg, 1, 200000, "-c")); break;
        case 'd': opt.duration_s = parse_positive(optarg, "-d"); break;
        case 'n': opt.count = parse_long(optarg, 1, 1L << 62, "-n"); break;
        case 'R': opt.rate = parse_positive(optarg, "-R"); break;
        case 't': opt.timeout_ms = parse_long(optarg, 1, 86400000, "-t"); break;
        case 'o': opt.output = optarg; break;
        case kMode: {
            std::string_view m = optarg;
            if (m == "closed") opt.mode = Mode::Closed;
            else if (m == "open") opt.mode = Mode::Open;
            else if (m == "idle") opt.mode = Mode::Idle;
            else if (m == "broadcast") opt.mode = Mode::Broadcast;
            else usage_error("--mode wants closed, open, idle or broadcast");
            break;
        }
        case kThreads: opt.threads = int(parse_long(optarg, 1, 64, "--threads")); break;
        case kWindow: opt.window = int(parse_long(optarg, 1, 100000, "--window")); break;
        case kStopFile: opt.stop_file = optarg; break;
        case kReadyFile: opt.ready_file = optarg; break;
        case kHello: opt.hello = true; break;
        case kReconnects: opt.reconnects = int(parse_long(optarg, 0, 1000, "--reconnects")); break;
        case kGoodbye: opt.goodbye = true; break;
        case kRetry: opt.retry = true; break;
        case kPhases: opt.phases = true; break;
        case kBroadcasts: opt.broadcasts = int(parse_long(optarg, 1, 1000, "--broadcasts")); break;
        case kCpuPids: {
            std::string_view list = optarg;
            while (!list.empty()) {
                size_t comma = list.find(',');
                std::string one(list.substr(0, comma));
                opt.cpu_pids.push_back(int(parse_long(one.c_str(), 1, 1 << 30, "--cpu-pids")));
                list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
            }
            break;
        }
        default: usage_error("unknown option");
        }
    }
    if (optind != argc - 1) usage_error("exactly one URL is needed");
    parse_url(argv[optind], opt);
    bool loop = opt.mode == Mode::Closed || opt.mode == Mode::Open;
    if (loop && opt.duration_s == 0 && opt.count == 0 && opt.stop_file.empty())
        usage_error("closed / open: give -d SECONDS, -n COUNT or --stop-file");
    if ((opt.mode == Mode::Open) != (opt.rate > 0)) usage_error("-R goes with --mode open, and only with it");
    if ((opt.reconnects || opt.goodbye) && opt.mode != Mode::Idle) usage_error("--reconnects and --goodbye go with --mode idle");
    if (opt.retry && opt.mode != Mode::Closed) usage_error("--retry goes with --mode closed");
    if (opt.phases && !loop) usage_error("--phases goes with --mode closed or open");
    if (!loop) opt.threads = 1;
    return opt;
}

// ------------------------------------------------------------------ statistics

enum Outcome { kOk, kClosedByServer, kRefused, kReset, kHandshakeFailed, kTimeout, kBadAnswer, kOtherError, kOutcomes };
const char* const kOutcomeNames[kOutcomes] = {"ok",       "closed_by_server", "refused",    "reset",
                                              "handshake_failed", "timeout", "bad_answer", "other_error"};

// --phases: the round trips that started in one turn.
struct Turn {
    uint64_t ok = 0, failed = 0, retried = 0;
    Histogram latency;
    void merge(const Turn& o) {
        ok += o.ok;
        failed += o.failed;
        retried += o.retried;
        latency.merge(o.latency);
    }
};
constexpr unsigned kMaxTurns = 256;

struct Stats {
    uint64_t outcome[kOutcomes] = {};
    uint64_t round_trips = 0;  // finished, whatever their outcome
    uint64_t connections = 0, late = 0, hello_ok = 0, goodbye_ok = 0, retried = 0, reconnects = 0;
    std::map<std::string, uint64_t> errno_counts;
    std::map<std::string, uint64_t> closes;  // idle: "1001", "eof", "reset"... -> how many
    Histogram latency;
    std::vector<Turn> turns;  // --phases: grown as they come
    Turn& turn(unsigned t) {
        t = std::min(t, kMaxTurns - 1);
        if (turns.size() <= t) turns.resize(t + 1);
        return turns[t];
    }
    void merge(const Stats& o) {
        for (int i = 0; i < kOutcomes; ++i) outcome[i] += o.outcome[i];
        round_trips += o.round_trips;
        connections += o.connections;
        late += o.late;
        hello_ok += o.hello_ok;
        goodbye_ok += o.goodbye_ok;
        retried += o.retried;
        reconnects += o.reconnects;
        for (const auto& [k, n] : o.errno_counts) errno_counts[k] += n;
        for (const auto& [k, n] : o.closes) closes[k] += n;
        latency.merge(o.latency);
        for (unsigned t = 0; t < o.turns.size(); ++t) turn(t).merge(o.turns[t]);
    }
};

Outcome outcome_of_errno(int err) {
    if (err == ECONNREFUSED) return kRefused;
    if (err == ECONNRESET || err == EPIPE) return kReset;
    return kOtherError;
}

// ------------------------------------------------------------------ frames

// A client frame: FIN + opcode, the length (7 or 7+16 bits: the bench's
// messages are short), the mask and the masked payload. One write each.
std::string client_frame(uint8_t opcode, std::string_view payload, uint32_t mask) {
    std::string f;
    f.reserve(payload.size() + 8);
    f += char(0x80 | opcode);
    if (payload.size() < 126) {
        f += char(0x80 | payload.size());
    } else {
        f += char(0x80 | 126);
        f += char(payload.size() >> 8);
        f += char(payload.size() & 0xff);
    }
    unsigned char m[4] = {uint8_t(mask >> 24), uint8_t(mask >> 16), uint8_t(mask >> 8), uint8_t(mask)};
    f.append(reinterpret_cast<const char*>(m), 4);
    for (size_t i = 0; i < payload.size(); ++i) f += char(payload[i] ^ m[i & 3]);
    return f;
}

// One frame at the front of data: 0 = need more, -1 = bad, else its length
// (and opcode, fin, payload set). Server frames are not masked; a masked one
// is unmasked all the same.
long parse_frame(std::string& data, size_t at, uint8_t& opcode, bool& fin, std::string_view& payload) {
    size_t avail = data.size() - at;
    if (avail < 2) return 0;
    auto* p = reinterpret_cast<unsigned char*>(data.data() + at);
    fin = p[0] & 0x80;
    opcode = p[0] & 0x0f;
    bool masked = p[1] & 0x80;
    uint64_t len = p[1] & 0x7f;
    size_t head = 2;
    if (len == 126) {
        if (avail < 4) return 0;
        len = uint64_t(p[2]) << 8 | p[3];
        head = 4;
    } else if (len == 127) {
        if (avail < 10) return 0;
        len = 0;
        for (int i = 0; i < 8; ++i) len = len << 8 | p[2 + i];
        head = 10;
        if (len > (64u << 20)) return -1;
    }
    if (masked) head += 4;
    if (avail < head + len) return 0;
    if (masked)
        for (uint64_t i = 0; i < len; ++i) p[head + i] ^= p[head - 4 + (i & 3)];
    payload = std::string_view(data.data() + at + head, len);
    return long(head + len);
}

// ------------------------------------------------------------------ the ready file

void write_ready(const Options& opt) {
    if (opt.ready_file.empty()) return;
    FILE* f = std::fopen(opt.ready_file.c_str(), "w");
    if (!f || std::fclose(f) != 0) die("cannot write the ready file " + opt.ready_file, errno);
}

void remove_ready(const Options& opt) {
    if (opt.ready_file.empty()) return;
    if (unlink(opt.ready_file.c_str()) == -1 && errno != ENOENT) die("cannot remove the ready file " + opt.ready_file, errno);
}

// ------------------------------------------------------------------ clients

std::atomic<bool> g_stop{false};
volatile sig_atomic_t g_signal = 0;
void on_signal(int signo) { g_signal = signo; }  // only records; the loops look

// --phases: SIGUSR1 adds one; a round trip belongs to the turn it started in.
// A lock-free atomic, so the handler may write it while the threads read.
std::atomic<unsigned> g_turn{0};
static_assert(std::atomic<unsigned>::is_always_lock_free);
void on_next_turn(int) { g_turn.fetch_add(1, std::memory_order_relaxed); }

// closed / open: every thread connects its clients first; once all have
// (connected == threads), main sets begin and end and then go, and the round
// trips start: the handshakes are not in the rate, and an open loop's
// schedule does not fall behind while the connections are made.
struct Shared {
    Shared(const Options& o, std::string h) : opt(o), handshake(std::move(h)) {}
    const Options& opt;
    std::string handshake;
    Clock::time_point begin, end = Clock::time_point::max();
    std::atomic<long> started{0};
    std::atomic<int> connected{0};
    std::atomic<bool> go{false};
    bool stopping() const { return g_stop.load(std::memory_order_relaxed) || Clock::now() >= end; }
    bool may_start() {
        if (stopping()) return false;
        return opt.count == 0 || started.fetch_add(1, std::memory_order_relaxed) < opt.count;
    }
};

// One connection, an explicit state machine (only Worker::set_state moves it):
//
//   Down ─> Connecting ─> Upgrading ─> Open ─(send)─> Waiting ─(answer)─> Open
//     ^──────────────(failure, closed by the server: counted)──────────────┘
//
// A client is ready once it is Open and its --hello (if any) was answered;
// the idle crowd is whole when every client is ready.
struct Client {
    enum class State { Down, Connecting, Upgrading, Open, Waiting, Done };
    State state = State::Down;
    int fd = -1;
    uint32_t watching = 0;
    uint32_t mask = 0;
    uint64_t seq = 0;
    std::string expect;          // "pong SEQ" / "ping SEQ" without the first 4 bytes: " SEQ"
    std::string in, out;         // bytes read and not yet parsed; bytes still to write
    std::string message;         // a fragmented message being assembled
    Clock::time_point started, deadline;
    // idle: the round trip it waits for is outside the figures: its --hello, or its --goodbye
    enum class Aside { None, Hello, Goodbye } aside = Aside::None;
    bool ready = false;          // counted in Worker::ready_
    bool resend = false;         // --retry: its round trip was cut off; sent again once Open
    unsigned turn = 0;           // --phases: the turn its round trip started in
    int reconnects = 0;          // idle --reconnects: connections made again so far
    int got_broadcast = -1;      // broadcast: the last broadcast it has
};

class Worker {
public:
    // first_due: this thread's first -R slot after shared.begin (its offset).
    Worker(Shared& shared, int first, int n, Clock::duration first_due, double interval_s)
        : shared_(shared), due_offset_(first_due), interval_s_(interval_s) {
        epoll_ = epoll_create1(EPOLL_CLOEXEC);
        if (epoll_ == -1) die("epoll_create1() failed", errno);
        clients_.resize(size_t(n));
        for (int i = 0; i < n; ++i) clients_[size_t(i)].mask = 0x9e3779b9u * uint32_t(first + i + 1);
    }
    ~Worker() {
        for (Client& c : clients_) close_fd(c);
        close(epoll_);
    }
    void run_loop();      // closed / open
    bool connect_all();   // idle / broadcast: true once every client is Open
    void hold();          // idle: until the stop file or a signal
    uint64_t goodbye();   // idle --goodbye: one more round trip each; how many answered
    void broadcasts();    // broadcast: opt.broadcasts of them
    Stats& stats() { return stats_; }
    Clock::time_point finished_at() const { return finished_at_; }
    size_t open_count() const {
        return size_t(std::count_if(clients_.begin(), clients_.end(), [](const Client& c) {
            return c.state == Client::State::Open || c.state == Client::State::Waiting;
        }));
    }
    struct Broadcast { double to_first_ms, to_last_ms; size_t received; };
    std::vector<Broadcast> broadcast_results;
    uint64_t broadcast_missing = 0;
    double connect_s = 0;
    // idle: the first close by the server, and the last time every client
    // was ready again after one (time_point{} if not).
    Clock::time_point first_close_at, all_back_at;

private:
    using State = Client::State;
    void set_state(Client& c, State s);
    void watch(Client& c, uint32_t events);
    void close_fd(Client& c) {
        if (c.fd >= 0) close(c.fd);  // also leaves the epoll set
        if (c.ready) {
            c.ready = false;
            --ready_;
        }
        c.fd = -1;
        c.watching = 0;
        c.in.clear();
        c.out.clear();
        c.message.clear();
    }
    void start_connect(Client& c);
    void on_event(Client& c, uint32_t events);
    void read_some(Client& c);
    void upgraded(Client& c);
    void on_message(Client& c, std::string_view msg);
    void send(Client& c, uint8_t opcode, std::string_view payload);
    void flush(Client& c);
    void send_ping(Client& c, Clock::time_point started);
    void fail(Client& c, Outcome o, int err = 0);
    void closed_by_server(Client& c, Outcome o, const std::string& how);
    void io_failed(Client& c, int err, Outcome otherwise);
    void mark_ready(Client& c);
    int wait(epoll_event* ev, int max, std::chrono::nanoseconds limit);
    Clock::time_point due() const {
        return first_due_ + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(interval_s_ * double(scheduled_)));
    }
    void poll_once(std::chrono::nanoseconds limit);

    Shared& shared_;
    int epoll_ = -1;
    std::vector<Client> clients_;
    Stats stats_;
    Clock::duration due_offset_;
    Clock::time_point first_due_, finished_at_;
    double interval_s_;
    uint64_t scheduled_ = 0;
    int current_broadcast_ = -1;
    std::string broadcast_tag_;
    size_t broadcast_received_ = 0;
    Clock::time_point broadcast_sent_, broadcast_first_, broadcast_last_;
    int connecting_ = 0;
    size_t ready_ = 0;     // clients ready (Client::ready)
    bool whole_ = false;   // idle: every client ready, the ready file written
    bool holding_ = false; // idle: in hold(), where a closed client may connect again
    std::vector<Client*> to_reconnect_;  // idle --reconnects: closed, with tries left
    char buf_[64 * 1024];
};

void Worker::watch(Client& c, uint32_t want) {
    if (want == c.watching || c.fd < 0) return;
    epoll_event ev{};
    ev.events = want;
    ev.data.ptr = &c;
    if (epoll_ctl(epoll_, c.watching ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c.fd, &ev) == -1)
        die("epoll_ctl() failed for fd " + std::to_string(c.fd), errno);
    c.watching = want;
}

// Connecting waits for writability; every other live state reads, and writes
// only while bytes wait (out not empty).
void Worker::set_state(Client& c, State s) {
    if ((c.state == State::Connecting || c.state == State::Upgrading) &&
        (s != State::Connecting && s != State::Upgrading))
        --connecting_;
    c.state = s;
    if (s == State::Connecting) watch(c, EPOLLOUT);
    else if (s != State::Down && s != State::Done) watch(c, EPOLLIN | (c.out.empty() ? 0u : uint32_t(EPOLLOUT)));
}

void Worker::start_connect(Client& c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) return fail(c, kOtherError, errno);
    c.fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.deadline = Clock::now() + std::chrono::milliseconds(shared_.opt.timeout_ms);
    ++connecting_;
    c.state = State::Connecting;
    if (connect(fd, reinterpret_cast<const sockaddr*>(&shared_.opt.addr), sizeof shared_.opt.addr) == 0 ||
        errno == EINPROGRESS) {
        set_state(c, State::Connecting);
        return;
    }
    --connecting_;
    c.state = State::Down;
    fail(c, outcome_of_errno(errno), errno);
}

void Worker::fail(Client& c, Outcome o, int err) {
    if (c.state == State::Connecting || c.state == State::Upgrading) --connecting_;
    bool waiting = c.state == State::Waiting || c.resend;  // a round trip ends here
    ++stats_.outcome[o];
    if (o == kOtherError && err) ++stats_.errno_counts[strerrorname_np(err) ? strerrorname_np(err) : "?"];
    if (waiting) {
        ++stats_.round_trips;
        if (shared_.opt.phases) ++stats_.turn(c.turn).failed;
    }
    c.resend = false;
    c.aside = Client::Aside::None;
    close_fd(c);
    c.state = State::Down;
    if (holding_ && c.reconnects < shared_.opt.reconnects) to_reconnect_.push_back(&c);
}

// The server ended an open connection: a close frame (how: its code), an EOF
// or a reset. Idle: counted by how, and the crowd is no longer whole. With
// --retry, a round trip it cut off waits for the next connection (once).
void Worker::closed_by_server(Client& c, Outcome o, const std::string& how) {
    if (shared_.opt.mode == Mode::Idle) {
        ++stats_.closes[how];
        if (first_close_at == Clock::time_point{}) first_close_at = Clock::now();
        if (whole_) {
            whole_ = false;
            remove_ready(shared_.opt);  // written again once every client is back
        }
    }
    if (shared_.opt.retry && c.state == State::Waiting && !c.resend) {
        c.resend = true;
        ++stats_.retried;
        if (shared_.opt.phases) ++stats_.turn(c.turn).retried;
        close_fd(c);
        c.state = State::Down;  // run_loop connects it again, and upgraded() sends
        return;
    }
    fail(c, o);
}

// A send or a receive failed. On an open connection a reset (or EPIPE) is the
// server's doing: it closed, or its process went away.
void Worker::io_failed(Client& c, int err, Outcome otherwise) {
    bool open = c.state == State::Open || c.state == State::Waiting;
    if (open && (err == ECONNRESET || err == EPIPE)) return closed_by_server(c, kReset, "reset");
    fail(c, otherwise, err);
}

void Worker::mark_ready(Client& c) {
    if (c.ready) return;
    c.ready = true;
    ++ready_;
}

void Worker::send(Client& c, uint8_t opcode, std::string_view payload) {
    c.out += client_frame(opcode, payload, c.mask);
    flush(c);
}

void Worker::flush(Client& c) {
    while (!c.out.empty()) {
        ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n > 0) {
            c.out.erase(0, size_t(n));
        } else if (errno == EAGAIN) {
            watch(c, EPOLLIN | EPOLLOUT);
            return;
        } else if (errno != EINTR) {
            return io_failed(c, errno, outcome_of_errno(errno));
        }
    }
    if (c.watching & EPOLLOUT) watch(c, EPOLLIN);
}

void Worker::send_ping(Client& c, Clock::time_point started) {
    char text[32];
    auto [end, ec] = std::to_chars(text, text + sizeof text, ++c.seq);
    (void)ec;  // 20 digits at most: always fits
    c.expect.assign(" ");
    c.expect.append(text, end);
    c.started = started;
    if (!c.resend) c.turn = g_turn.load(std::memory_order_relaxed);  // a resent one keeps its first turn
    c.deadline = Clock::now() + std::chrono::milliseconds(shared_.opt.timeout_ms);
    set_state(c, State::Waiting);
    std::string msg = "ping" + c.expect;
    send(c, 0x1, msg);
}

void Worker::on_event(Client& c, uint32_t events) {
    if (c.fd < 0) return;  // closed earlier in this batch
    if (c.state == State::Connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) err = errno;
        if (err) return fail(c, outcome_of_errno(err), err);
        ++stats_.connections;
        c.out = shared_.handshake;
        set_state(c, State::Upgrading);
        flush(c);
        return;
    }
    if (events & EPOLLOUT) {
        flush(c);
        if (c.fd < 0) return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_some(c);
}

void Worker::read_some(Client& c) {
    for (;;) {
        ssize_t n = recv(c.fd, buf_, sizeof buf_, 0);
        if (n == 0) {
            if (c.state == State::Upgrading) return fail(c, kHandshakeFailed);
            return closed_by_server(c, kClosedByServer, "eof");
        }
        if (n < 0) {
            if (errno == EAGAIN) break;
            if (errno == EINTR) continue;
            return io_failed(c, errno, c.state == State::Upgrading ? kHandshakeFailed : outcome_of_errno(errno));
        }
        c.in.append(buf_, size_t(n));
        if (size_t(n) < sizeof buf_) break;  // drained: level-triggered epoll calls again
    }
    if (c.state == State::Upgrading) {
        size_t end = c.in.find("\r\n\r\n");
        if (end == std::string::npos) {
            if (c.in.size() > 16384) fail(c, kHandshakeFailed);
            return;
        }
        if (!c.in.starts_with("HTTP/1.1 101")) return fail(c, kHandshakeFailed);
        c.in.erase(0, end + 4);
        upgraded(c);
        if (c.fd < 0) return;
    }
    size_t at = 0;
    while (c.fd >= 0) {
        uint8_t opcode;
        bool fin;
        std::string_view payload;
        long used = parse_frame(c.in, at, opcode, fin, payload);
        if (used == 0) break;
        if (used < 0) return fail(c, kBadAnswer);
        at += size_t(used);
        if (opcode == 0x8) {  // the server's close: counted by its code, then we close
            auto* p = reinterpret_cast<const unsigned char*>(payload.data());
            return closed_by_server(c, kClosedByServer,
                                    payload.size() >= 2 ? std::to_string(p[0] << 8 | p[1]) : "no code");
        }
        if (opcode == 0x9) {                                  // a ping: answer it
            send(c, 0xA, payload);
            continue;
        }
        if (opcode == 0xA) continue;
        if (!fin || opcode == 0x0) {  // a fragment: assemble
            c.message.append(payload);
            if (!fin) continue;
            std::string whole = std::move(c.message);
            c.message.clear();
            on_message(c, whole);
            continue;
        }
        on_message(c, payload);
    }
    if (c.fd >= 0) c.in.erase(0, at);
}

void Worker::upgraded(Client& c) {
    set_state(c, State::Open);
    if (c.resend) return send_ping(c, c.started);  // --retry: the round trip a close cut off
    if (shared_.opt.mode == Mode::Idle && shared_.opt.hello) {
        c.aside = Client::Aside::Hello;
        return send_ping(c, Clock::now());
    }
    mark_ready(c);
}

void Worker::on_message(Client& c, std::string_view msg) {
    Mode mode = shared_.opt.mode;
    if (mode == Mode::Broadcast) {
        if (current_broadcast_ >= 0 && c.got_broadcast < current_broadcast_ && msg.starts_with(broadcast_tag_)) {
            c.got_broadcast = current_broadcast_;
            auto now = Clock::now();
            if (broadcast_received_++ == 0) broadcast_first_ = now;
            broadcast_last_ = now;
        }
        return;  // anything else (a join, another's chatter) is not ours to judge
    }
    bool matches = c.state == State::Waiting && msg.size() >= 4 + c.expect.size() &&
                   (msg.starts_with("pong") || msg.starts_with("ping")) &&
                   msg.substr(4, c.expect.size()) == c.expect &&
                   (msg.size() == 4 + c.expect.size() || msg[4 + c.expect.size()] == ' ');
    if (!matches) return fail(c, kBadAnswer);  // counted as a round trip there if one was waiting
    auto us = uint64_t(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - c.started).count()));
    set_state(c, State::Open);
    c.resend = false;
    if (c.aside != Client::Aside::None) {
        if (c.aside == Client::Aside::Hello) {
            ++stats_.hello_ok;
            mark_ready(c);
        } else {
            ++stats_.goodbye_ok;
        }
        c.aside = Client::Aside::None;
        return;
    }
    stats_.latency.record(us);
    if (shared_.opt.phases) {
        Turn& t = stats_.turn(c.turn);
        t.latency.record(us);
        ++t.ok;
    }
    ++stats_.outcome[kOk];
    ++stats_.round_trips;
}

int Worker::wait(epoll_event* ev, int max, std::chrono::nanoseconds limit) {
    limit = std::max(limit, std::chrono::nanoseconds(0));
    timespec t{time_t(limit.count() / 1000000000), long(limit.count() % 1000000000)};
    return epoll_pwait2(epoll_, ev, max, &t, nullptr);
}

void Worker::poll_once(std::chrono::nanoseconds limit) {
    epoll_event ev[256];
    int n = wait(ev, 256, limit);
    if (n == -1 && errno != EINTR) die("epoll_pwait2() failed", errno);
    for (int i = 0; i < n; ++i) on_event(*static_cast<Client*>(ev[i].data.ptr), ev[i].events);
    if (g_signal) g_stop = true;
}

// closed / open. A client that is Down connects (within the window); an Open
// one sends the next ping (closed) or waits for a due one (open). Timeouts
// are swept every 10 ms.
void Worker::run_loop() {
    const bool open_loop = shared_.opt.mode == Mode::Open;
    if (open_loop && prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) == -1) die("prctl(PR_SET_TIMERSLACK) failed", errno);
    connect_all();  // a client that failed to connect is retried in the loop below
    shared_.connected.fetch_add(1);
    while (!shared_.go.load()) poll_once(std::chrono::milliseconds(1));
    first_due_ = shared_.begin + due_offset_;
    auto last_sweep = Clock::now();
    bool stopping = false;
    for (;;) {
        stopping = stopping || shared_.stopping() || (shared_.opt.count && shared_.started.load() >= shared_.opt.count);
        size_t busy = 0;
        for (Client& c : clients_) {
            // a round trip to resend goes even after the stop: it was started before
            if (c.state == State::Down && (!stopping || c.resend) && connecting_ < shared_.opt.window)
                start_connect(c);
            if (c.state == State::Open && !open_loop && !stopping) {
                if (shared_.may_start()) send_ping(c, Clock::now());
                else stopping = true;
            }
            if (c.state == State::Connecting || c.state == State::Upgrading || c.state == State::Waiting || c.resend)
                ++busy;
        }
        auto limit = std::chrono::nanoseconds(std::chrono::milliseconds(10));
        if (open_loop && !stopping) {
            auto now = Clock::now();
            for (Client& c : clients_) {
                if (due() > now) break;
                if (c.state != State::Open) continue;
                if (!shared_.may_start()) {
                    stopping = true;
                    break;
                }
                Clock::time_point when = due();
                ++scheduled_;
                if (now - when > std::chrono::milliseconds(1)) ++stats_.late;
                send_ping(c, when);
                ++busy;
            }
            limit = std::min(limit, std::chrono::duration_cast<std::chrono::nanoseconds>(due() - Clock::now()));
        }
        if (stopping && busy == 0) break;
        poll_once(limit);
        auto now = Clock::now();
        if (now - last_sweep >= std::chrono::milliseconds(10)) {
            last_sweep = now;
            for (Client& c : clients_)
                if ((c.state == State::Waiting || c.state == State::Connecting || c.state == State::Upgrading) &&
                    now >= c.deadline)
                    fail(c, c.state == State::Waiting ? kTimeout : kHandshakeFailed);
        }
    }
    finished_at_ = Clock::now();
    for (Client& c : clients_) {
        if (c.fd >= 0) {
            std::string bye = client_frame(0x8, std::string_view("\x03\xe8", 2), c.mask);  // 1000, normal
            (void)::send(c.fd, bye.data(), bye.size(), MSG_NOSIGNAL | MSG_DONTWAIT);  // best effort: we leave
        }
        close_fd(c);
        c.state = State::Done;
    }
}

// idle / broadcast: every client connected (and with --hello answered once);
// a client that fails is not retried: the figure would not be about N.
bool Worker::connect_all() {
    auto t0 = Clock::now();
    size_t next = 0;
    for (;;) {
        while (next < clients_.size() && connecting_ < shared_.opt.window) start_connect(clients_[next++]);
        size_t ready = 0, down = 0;
        for (const Client& c : clients_) {
            if (c.state == State::Open && c.aside == Client::Aside::None) ++ready;
            if (c.state == State::Down && &c < &clients_[next]) ++down;
        }
        if (ready + down == clients_.size() && next == clients_.size()) break;
        if (g_signal) return false;
        poll_once(std::chrono::milliseconds(10));
        auto now = Clock::now();
        for (Client& c : clients_)
            if (c.state != State::Down && c.state != State::Open && now >= c.deadline)
                fail(c, c.state == State::Waiting ? kTimeout : kHandshakeFailed);
    }
    connect_s = std::chrono::duration<double>(Clock::now() - t0).count();
    return open_count() == clients_.size();
}

// idle. With --reconnects, a client the server closes connects again (at
// most `window` at once); once every client is ready again the ready file is
// written again. Timeouts of what is in flight are swept every 100 ms.
void Worker::hold() {
    holding_ = true;
    whole_ = ready_ == clients_.size();
    auto last_sweep = Clock::now();
    while (!g_signal && (shared_.opt.stop_file.empty() || access(shared_.opt.stop_file.c_str(), F_OK) != 0)) {
        size_t next = 0;
        while (next < to_reconnect_.size() && connecting_ < shared_.opt.window) {
            Client& c = *to_reconnect_[next++];
            ++c.reconnects;
            ++stats_.reconnects;
            start_connect(c);  // a failure here queues it again, while it has tries left
        }
        to_reconnect_.erase(to_reconnect_.begin(), to_reconnect_.begin() + long(next));
        poll_once(std::chrono::milliseconds(10));
        auto now = Clock::now();
        if (!whole_ && ready_ == clients_.size()) {
            whole_ = true;
            all_back_at = now;
            write_ready(shared_.opt);
        }
        if (!whole_ && now - last_sweep >= std::chrono::milliseconds(100)) {
            last_sweep = now;
            for (Client& c : clients_)
                if (c.state != State::Down && c.state != State::Open && now >= c.deadline)
                    fail(c, c.state == State::Waiting ? kTimeout : kHandshakeFailed);
        }
    }
    holding_ = false;
}

// --goodbye: every client still open makes one more round trip, outside the
// figures: a connection that is open but no longer served fails it.
uint64_t Worker::goodbye() {
    for (Client& c : clients_) {
        if (c.state != State::Open) continue;
        c.aside = Client::Aside::Goodbye;
        send_ping(c, Clock::now());
    }
    auto deadline = Clock::now() + std::chrono::milliseconds(shared_.opt.timeout_ms);
    auto waiting = [&] {
        return std::any_of(clients_.begin(), clients_.end(), [](const Client& c) { return c.state == State::Waiting; });
    };
    while (!g_signal && Clock::now() < deadline && waiting()) poll_once(std::chrono::milliseconds(10));
    return stats_.goodbye_ok;
}

void Worker::broadcasts() {
    Client& sender = clients_[0];
    for (int k = 0; k < shared_.opt.broadcasts && !g_signal; ++k) {
        current_broadcast_ = k;
        broadcast_tag_ = "bench: b" + std::to_string(k);
        broadcast_received_ = 0;
        broadcast_sent_ = Clock::now();
        send(sender, 0x1, "say " + broadcast_tag_);
        auto deadline = broadcast_sent_ + std::chrono::milliseconds(shared_.opt.timeout_ms);
        while (broadcast_received_ < clients_.size() && Clock::now() < deadline && !g_signal)
            poll_once(std::chrono::milliseconds(10));
        auto ms = [&](Clock::time_point t) { return std::chrono::duration<double, std::milli>(t - broadcast_sent_).count(); };
        broadcast_results.push_back({broadcast_received_ ? ms(broadcast_first_) : -1.0,
                                     broadcast_received_ == clients_.size() ? ms(broadcast_last_) : -1.0,
                                     broadcast_received_});
        broadcast_missing += clients_.size() - broadcast_received_;
        // a pause between two: the last one's writes are all out of the server
        auto quiet = Clock::now() + std::chrono::milliseconds(100);
        while (Clock::now() < quiet) poll_once(std::chrono::milliseconds(10));
    }
}

// ------------------------------------------------------------------ report

std::string fmt(const char* f, double v) {
    char t[64];
    std::snprintf(t, sizeof t, f, v);
    return t;
}

std::string latency_json(const Histogram& h) {
    return "{\"p50\": " + fmt("%.3f", h.percentile_ms(0.50)) + ", \"p90\": " + fmt("%.3f", h.percentile_ms(0.90)) +
           ", \"p99\": " + fmt("%.3f", h.percentile_ms(0.99)) + ", \"p999\": " + fmt("%.3f", h.percentile_ms(0.999)) +
           ", \"max\": " + fmt("%.3f", h.max_ms()) + "}";
}

// {"key": n, ...}
std::string counts_json(const std::map<std::string, uint64_t>& counts) {
    std::string out = "{";
    for (const auto& [key, n] : counts) out += (out.size() > 1 ? ", \"" : "\"") + key + "\": " + std::to_string(n);
    return out + "}";
}

// A moment as CLOCK_MONOTONIC seconds (steady_clock's epoch here, and Python's
// time.monotonic()), or null for none.
std::string stamp_json(Clock::time_point t) {
    if (t == Clock::time_point{}) return "null";
    return fmt("%.6f", std::chrono::duration<double>(t.time_since_epoch()).count());
}

// CPU time of a process, all its threads, in seconds: the first field of
// /proc/PID/task/TID/schedstat (nanoseconds on a CPU), summed. Exact, where
// utime+stime in /proc/PID/stat comes in ticks (10 ms): a broadcast to
// 10,000 clients takes a few of them.
double cpu_seconds(int pid) {
    std::string dir = "/proc/" + std::to_string(pid) + "/task";
    std::vector<std::string> tids;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.') tids.emplace_back(e->d_name);
        closedir(d);
    }
    double total = 0;
    for (const std::string& tid : tids) {
        FILE* f = std::fopen((dir + "/" + tid + "/schedstat").c_str(), "r");
        if (!f) continue;  // a thread that just ended
        unsigned long long ns = 0;
        if (std::fscanf(f, "%llu", &ns) == 1) total += double(ns) / 1e9;
        std::fclose(f);
    }
    return total;
}

void raise_fd_limit(int clients) {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == -1) die("getrlimit(RLIMIT_NOFILE) failed", errno);
    rlim_t need = rlim_t(clients) + 64;
    if (lim.rlim_cur >= need) return;
    lim.rlim_cur = std::min(need, lim.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &lim) == -1) die("setrlimit(RLIMIT_NOFILE) failed", errno);
}

}  // namespace

int main(int argc, char** argv) {
    Options opt = parse_options(argc, argv);
    raise_fd_limit(opt.clients);
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigfillset(&sa.sa_mask);
    for (int s : {SIGINT, SIGTERM})
        if (sigaction(s, &sa, nullptr) == -1) die("sigaction() failed", errno);
    if (opt.phases) {  // installed before any thread starts, long before a driver signals
        sa.sa_handler = on_next_turn;
        if (sigaction(SIGUSR1, &sa, nullptr) == -1) die("sigaction(SIGUSR1) failed", errno);
    }
    signal(SIGPIPE, SIG_IGN);

    Shared shared{opt, "GET " + opt.path + " HTTP/1.1\r\nHost: " + opt.authority +
                           "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"};
    auto begin = Clock::now();
    std::string json;

    if (opt.mode == Mode::Idle || opt.mode == Mode::Broadcast) {
        Worker w(shared, 0, opt.clients, Clock::duration::zero(), 0);
        bool all = w.connect_all();
        Stats& s = w.stats();
        if (!all) {
            std::fprintf(stderr, "wsload: %zu of %d clients connected (refused %llu, reset %llu, handshake %llu, "
                                 "timeout %llu, other %llu)\n", w.open_count(), opt.clients,
                         (unsigned long long)s.outcome[kRefused], (unsigned long long)s.outcome[kReset],
                         (unsigned long long)s.outcome[kHandshakeFailed], (unsigned long long)s.outcome[kTimeout],
                         (unsigned long long)s.outcome[kOtherError]);
            return 1;
        }
        write_ready(opt);
        if (opt.mode == Mode::Idle) {
            size_t before = w.open_count();
            w.hold();
            size_t open_at_end = w.open_count();
            std::string goodbye = opt.goodbye ? ",\n  \"goodbye_ok\": " + std::to_string(w.goodbye()) : "";
            uint64_t closes = 0;
            for (const auto& [how, n] : s.closes) closes += n;
            json = "{\n  \"mode\": \"idle\",\n  \"connections\": " + std::to_string(before) +
                   ",\n  \"failed\": " + std::to_string(opt.clients - int(before)) +
                   ",\n  \"hello_ok\": " + std::to_string(s.hello_ok) +
                   ",\n  \"closed_by_server\": " + std::to_string(closes) +
                   ",\n  \"closes\": " + counts_json(s.closes) +
                   ",\n  \"reconnects\": " + std::to_string(s.reconnects) +
                   ",\n  \"open_at_end\": " + std::to_string(open_at_end) +
                   ",\n  \"first_close_at\": " + stamp_json(w.first_close_at) +
                   ",\n  \"all_back_at\": " + stamp_json(w.all_back_at) + goodbye +
                   ",\n  \"open_s\": " + fmt("%.3f", w.connect_s) + "\n}\n";
        } else {
            std::vector<double> cpu0;
            for (int pid : opt.cpu_pids) cpu0.push_back(cpu_seconds(pid));
            w.broadcasts();
            std::string cpu = "{";
            for (size_t i = 0; i < opt.cpu_pids.size(); ++i)
                cpu += (i ? ", \"" : "\"") + std::to_string(opt.cpu_pids[i]) + "\": " +
                       fmt("%.3f", cpu_seconds(opt.cpu_pids[i]) - cpu0[i]);
            cpu += "}";
            std::string list = "[";
            for (size_t i = 0; i < w.broadcast_results.size(); ++i) {
                const auto& b = w.broadcast_results[i];
                list += std::string(i ? ", " : "") + "{\"to_first_ms\": " + fmt("%.3f", b.to_first_ms) +
                        ", \"to_last_ms\": " + fmt("%.3f", b.to_last_ms) + ", \"received\": " + std::to_string(b.received) + "}";
            }
            json = "{\n  \"mode\": \"broadcast\",\n  \"clients\": " + std::to_string(opt.clients) +
                   ",\n  \"broadcasts\": " + list + "],\n  \"missing\": " + std::to_string(w.broadcast_missing) +
                   ",\n  \"closed_by_server\": " + std::to_string(s.outcome[kClosedByServer]) +
                   ",\n  \"cpu_s\": " + cpu + ",\n  \"open_s\": " + fmt("%.3f", w.connect_s) + "\n}\n";
        }
    } else {
        int nthreads = std::min(opt.clients, opt.threads);
        double slot_s = opt.rate > 0 ? 1.0 / opt.rate : 0;
        std::vector<std::unique_ptr<Worker>> workers;
        int first = 0;
        for (int i = 0; i < nthreads; ++i) {
            int n = opt.clients / nthreads + (i < opt.clients % nthreads);
            auto offset = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(slot_s * i));
            workers.push_back(std::make_unique<Worker>(shared, first, n, offset, slot_s * nthreads));
            first += n;
        }
        std::atomic<int> running{nthreads};
        std::vector<std::thread> threads;
        try {
            for (auto& w : workers) threads.emplace_back([&w, &running] { w->run_loop(); --running; });
        } catch (const std::system_error& e) {
            die("starting a thread failed", e.code().value());
        }
        while (shared.connected.load() < nthreads && !g_signal)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        begin = Clock::now();
        shared.begin = begin;
        if (opt.duration_s > 0)
            shared.end = begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.duration_s));
        shared.go = true;
        write_ready(opt);
        while (running.load() > 0) {
            if (g_signal || (!opt.stop_file.empty() && access(opt.stop_file.c_str(), F_OK) == 0)) g_stop = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        for (auto& t : threads) t.join();
        Stats total;
        Clock::time_point end = begin;
        for (auto& w : workers) {
            total.merge(w->stats());
            end = std::max(end, w->finished_at());
        }
        double dur = std::chrono::duration<double>(end - begin).count();
        uint64_t failed = 0;
        for (int i = 1; i < kOutcomes; ++i) failed += total.outcome[i];
        json = "{\n  \"mode\": \"" + std::string(opt.mode == Mode::Open ? "open" : "closed") + "\",\n";
        json += "  \"round_trips\": " + std::to_string(total.round_trips) + ",\n";
        for (int i = 0; i < kOutcomes; ++i)
            json += "  \"" + std::string(kOutcomeNames[i]) + "\": " + std::to_string(total.outcome[i]) + ",\n";
        json += "  \"errors\": " + std::to_string(failed) + ",\n";
        json += "  \"errno_counts\": " + counts_json(total.errno_counts) + ",\n";
        json += "  \"connections\": " + std::to_string(total.connections) + ",\n";
        json += "  \"duration_s\": " + fmt("%.3f", dur) + ",\n";
        json += "  \"rate\": " + fmt("%.1f", dur > 0 ? double(total.outcome[kOk]) / dur : 0) + ",\n";
        if (opt.mode == Mode::Open)
            json += "  \"target_rate\": " + fmt("%.1f", opt.rate) + ",\n  \"late\": " + std::to_string(total.late) + ",\n";
        if (opt.retry) json += "  \"retried\": " + std::to_string(total.retried) + ",\n";
        if (opt.phases) {
            json += "  \"turns\": [";
            for (size_t t = 0; t < total.turns.size(); ++t) {
                const Turn& turn = total.turns[t];
                json += std::string(t ? ",\n    " : "\n    ") + "{\"ok\": " + std::to_string(turn.ok) +
                        ", \"failed\": " + std::to_string(turn.failed) + ", \"retried\": " +
                        std::to_string(turn.retried) + ", \"latency_ms\": " + latency_json(turn.latency) + "}";
            }
            json += "],\n";
        }
        json += "  \"latency_ms\": " + latency_json(total.latency) + "\n}\n";
    }
    FILE* out = opt.output.empty() ? stdout : std::fopen(opt.output.c_str(), "w");
    if (!out) die("cannot open " + opt.output, errno);
    if (std::fwrite(json.data(), 1, json.size(), out) != json.size() || std::fclose(out) != 0)
        die("writing the report failed", errno);
    return 0;
}
