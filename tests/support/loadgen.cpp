// loadgen: an HTTP/1.1 load generator that counts every outcome, so a test can
// prove that a server dropped no request while it reloaded.
//
// usage: loadgen [options] http://HOST:PORT/PATH     (HOST: 127.x.y.z or localhost)
//   -c N              concurrent clients (default 8), shared by min(N, 4) threads
//   --threads T       share them by min(N, T) threads instead: an open-loop run
//                     (-R) measuring latency on a small machine may want 1, so
//                     that the client itself takes as little CPU as it can
//   -d SECONDS        stop starting requests after this long (may be fractional)
//   -n COUNT          stop starting requests once COUNT have been started
//                     (at least one of -d / -n; with both, whichever comes first)
//   -k                keep-alive: reuse each connection for many requests
//   -t MS             per-request timeout (default 5000), from the connect (or the
//                     send, on a reused connection) to the complete response
//   -H 'Name: value'  extra request header (repeatable)
//   --body-tally / --no-tally   tally response bodies (default on)
//   --tally-prefix N  tally the first N bytes of each body (default 200)
//   --stop-file PATH  stop starting requests once PATH exists
//   -o FILE           write the report to FILE instead of stdout
//
// Client behaviours (each off by default; they combine):
//   --slow-send MS    send each request in 4 pieces, MS/3 apart: the last piece
//                     goes out about MS after the first, so the server holds a
//                     partly received request for that long
//   --slow-read BYTES read the response at most BYTES per recv(), and pause 10 ms
//                     after each read that did not complete it
//   --think MS        (with -k) between two requests of a client (also after a
//                     failed one), stay idle for a random time in [MS/2, MS*3/2],
//                     the connection kept open (if the server kept it): the
//                     sparse traffic of browsers, where a server may close an idle
//                     connection just as the client reuses it
//   --retry           retry once, on a new connection, a request that failed on a
//                     reused keep-alive connection before any byte of the response
//                     arrived with a reset or an early EOF, as browsers retry an
//                     idempotent request (see "Retries" below)
//   --body-size BYTES send POST requests with a body of BYTES bytes (Content-Length)
//                     instead of GETs without one
//   -R REQ_PER_S      open loop: start requests on a fixed schedule, REQ_PER_S a
//                     second over all clients (see "Open loop" below), instead of
//                     each client starting its next request when the last one ended
//   --ramp MS         each client starts its first request at a random time in
//                     the first MS ms, not all at once: clients whose requests
//                     all take as long (--slow-send) do not move in lockstep
//   --phases          SIGUSR1 switches between two phases, a and b (a first); the
//                     report also has each phase's latency (see "Phases" below)
// Pauses (slow send, slow read) are part of the request and count against -t;
// thinking is between requests and does not. Pause and think times are checked
// every 10 ms, which is their precision.
//
// Stopping (-d over, -n reached, the stop file, SIGINT or SIGTERM) only stops new
// requests: one in flight may finish (within its timeout), so the stop itself is
// never counted as an error. A thinking client stops at once.
//
// The report is one JSON object and the only thing written to stdout:
//   requests        finished requests, whatever their outcome
//   ok              complete responses with a 2xx/3xx status
//   bad_status      complete responses with a 4xx/5xx status
//   refused         connect() failed with ECONNREFUSED
//   reset           ECONNRESET or EPIPE at any point (unless --retry retried it)
//   early_eof       the server closed before the response was complete, also on
//                   a reused connection before any byte of the response came
//                   (unless --retry retried it)
//   timeout         no complete response within -t
//   other_error     anything else; other_error_counts maps errno names to counts
//                   (EPROTO: the response could not be parsed)
//   retried         requests that failed as --retry describes and then succeeded on
//                   their retry: counted in ok, not in any failure (always 0
//                   without --retry)
//   retried_by_cause  {"reset": n, "early_eof": n}: the retried requests by what
//                   their first attempt met
//   reused          complete responses that came on a reused (kept-alive)
//                   connection: with -k, how much keep-alive the server allowed
//   errors          requests - ok
//   status_counts   {"200": n, ...} over complete responses
//   bodies          {"first N bytes of the body, trailing whitespace trimmed": n}
//                   over complete responses; at most 1000 distinct bodies, the
//                   responses beyond that are counted in bodies_overflow
//   duration_s, rps (ok per second), latency_ms {p50, p90, p99, p999, max} over
//   complete responses, connections (TCP connections established)
//   rate            only with -R: {"target_rps": R, "late": n}, n = requests that
//                   started over 1 ms after their scheduled time (no connection
//                   was free, or the client itself was late)
//   phases          only with --phases: {"switches": n, "a": {...}, "b": {...},
//                   "turns": [{"phase": "a", "ok": n, "p99": ms}, ...]}: a and b
//                   each have requests, ok, the failure counts above, retried,
//                   retried_by_cause, reused and latency_ms; the turns are the
//                   phases one by one, in order (a, b, a, b...; at most 256,
//                   later ones count in the last)
// Exit status: 0 if the load ran (even with errors), 2 on a usage error, 1 if it
// could not run (e.g. epoll_create1 failed).
//
// A keep-alive connection the server closed after a complete response is not an
// error: before reusing one, the client peeks for the server's FIN and reconnects
// if it is there. If the FIN only arrives after the next request went out, that
// request is an early_eof: a client cannot know whether the server saw it.
//
// Open loop (-R). Request k of a thread is due at begin + k / (R / threads) (the
// threads' schedules interleave); at its time it goes out on an idle client (-c is
// the pool of connections), or waits for the first client to become free. Its
// latency runs from the time it was due, not from when it went out, so a server
// that stalls is charged for every request that should have started meanwhile
// (no "coordinated omission"); -t still runs from when it went out. With -k the
// connections are kept and reused. The schedule is kept to the microsecond
// (epoll_pwait2), so -c must hold the requests in flight at once: R times the
// latency, with room to spare.
//
// Retries (--retry). A request that fails with a reset or an early EOF on a
// reused connection before any byte of its response came is tried once more on a
// new connection, at once and even after the stop (it was started before). If
// the retry gets a complete response, the request counts once, in ok (and its
// status and body), and in retried; its latency runs from the first attempt, and
// the retry has its own -t. If the retry fails too, the request counts once, as
// the retry's failure. Other failures (refused, timeout, a failure on a new
// connection or after a byte of the response) are never retried: a timeout may
// mean the server is working on the request, and a browser does not resend then.
//
// Phases (--phases). One run can compare two conditions under the same load and
// the same machine noise: whoever drives the run sends SIGUSR1 when the
// condition changes (say, steady and then reloading, back and forth), and each
// request is also counted in the phase its request was due in (or started in,
// without -R), whatever its outcome: a, b, a, b... A retry belongs to its
// request's phase. The whole run's figures are unchanged.
//
// build: g++ -std=c++20 -O2 -g -Wall -Wextra -Werror -o tests/support/loadgen tests/support/loadgen.cpp -pthread

#include <arpa/inet.h>
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
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <random>
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
    std::fprintf(stderr, "loadgen: %s: %s\n", what.c_str(), std::strerror(err));
    std::exit(1);
}

std::string errno_name(int err) {
    const char* name = strerrorname_np(err);
    return name ? name : "errno " + std::to_string(err);
}

class Fd {
public:
    Fd() = default;
    ~Fd() { reset(); }
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) reset(std::exchange(other.fd_, -1));
        return *this;
    }
    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    // close() errors are not actionable: the descriptor is gone either way.
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

// ------------------------------------------------------------------ options

struct Options {
    int clients = 8;
    int threads = 4;         // at most this many threads share the clients
    double duration_s = 0;  // 0: no time limit
    long count = 0;         // 0: no count limit
    bool keep_alive = false;
    long timeout_ms = 5000;
    std::vector<std::string> headers;
    bool tally = true;
    long tally_prefix = 200;
    std::string stop_file;
    std::string output;
    long slow_send_ms = 0;   // 0: send the request at once
    long slow_read = 0;      // 0: read as much as there is
    long think_ms = 0;       // 0: the next request at once
    long ramp_ms = 0;        // 0: every client starts at once
    bool retry = false;
    long body_size = -1;     // -1: GET without a body; else POST with this many bytes
    double rate = 0;         // -R: requests per second over all clients; 0: closed loop
    bool phases = false;     // --phases: SIGUSR1 switches phase a <-> b
    sockaddr_in addr{};
    std::string authority;  // "HOST:PORT" as written in the URL, for Host:
    std::string path;
};

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr,
                 "loadgen: %s\n"
                 "usage: loadgen [-c N] [--threads T] [-d SECONDS] [-n COUNT] [-k] [-t MS] [-H 'Name: value']\n"
                 "               [--no-tally] [--tally-prefix N] [--stop-file PATH] [-o FILE]\n"
                 "               [--slow-send MS] [--slow-read BYTES] [--think MS] [--retry]\n"
                 "               [--body-size BYTES] [-R REQ_PER_S] [--ramp MS] [--phases]\n"
                 "               http://HOST:PORT/PATH\n",
                 message.c_str());
    std::exit(2);
}

long parse_long(const char* text, long min, long max, const char* option) {
    char* end = nullptr;
    errno = 0;
    long value = std::strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
        usage_error(std::string(option) + " wants an integer in [" + std::to_string(min) + ", " +
                    std::to_string(max) + "], got '" + text + "'");
    return value;
}

void parse_url(std::string_view url, Options& opt) {
    constexpr std::string_view scheme = "http://";
    if (!url.starts_with(scheme)) usage_error("the URL must start with http://");
    url.remove_prefix(scheme.size());
    size_t slash = url.find('/');
    opt.authority = std::string(url.substr(0, slash));
    opt.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
    if (opt.path.find_first_of(" \t\r\n") != std::string::npos)
        usage_error("the URL path must not contain blanks or line breaks");

    size_t colon = opt.authority.rfind(':');
    std::string host = opt.authority.substr(0, colon);
    long port = 80;
    if (colon != std::string::npos)
        port = parse_long(opt.authority.c_str() + colon + 1, 1, 65535, "the URL port");
    if (host == "localhost") host = "127.0.0.1";
    in_addr address{};
    if (inet_pton(AF_INET, host.c_str(), &address) != 1)
        usage_error("the URL host must be a numeric IPv4 address or localhost, got '" + host + "'");
    // This tool generates load; it must never be pointed at someone else's host.
    if ((ntohl(address.s_addr) >> 24) != 127)
        usage_error("refusing to load " + host + ": loadgen only targets loopback (127.0.0.0/8)");
    opt.addr.sin_family = AF_INET;
    opt.addr.sin_port = htons(static_cast<uint16_t>(port));
    opt.addr.sin_addr = address;
}

Options parse_options(int argc, char** argv) {
    enum { kBodyTally = 1000, kNoTally, kTallyPrefix, kStopFile, kSlowSend, kSlowRead, kThink, kRetry, kBodySize, kPhases, kThreads, kRamp, kHelp };
    static const option longs[] = {
        {"body-tally", no_argument, nullptr, kBodyTally},
        {"no-tally", no_argument, nullptr, kNoTally},
        {"tally-prefix", required_argument, nullptr, kTallyPrefix},
        {"stop-file", required_argument, nullptr, kStopFile},
        {"slow-send", required_argument, nullptr, kSlowSend},
        {"slow-read", required_argument, nullptr, kSlowRead},
        {"think", required_argument, nullptr, kThink},
        {"retry", no_argument, nullptr, kRetry},
        {"body-size", required_argument, nullptr, kBodySize},
        {"phases", no_argument, nullptr, kPhases},
        {"threads", required_argument, nullptr, kThreads},
        {"ramp", required_argument, nullptr, kRamp},
        {"help", no_argument, nullptr, kHelp},
        {nullptr, 0, nullptr, 0},
    };
    Options opt;
    int c;
    while ((c = getopt_long(argc, argv, "c:d:n:kt:H:o:R:", longs, nullptr)) != -1) {
        switch (c) {
        case 'c': opt.clients = static_cast<int>(parse_long(optarg, 1, 100000, "-c")); break;
        case 'd': {
            char* end = nullptr;
            opt.duration_s = std::strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(opt.duration_s > 0 && opt.duration_s < 1e7))
                usage_error(std::string("-d wants a positive number of seconds, got '") + optarg + "'");
            break;
        }
        case 'R': {
            char* end = nullptr;
            opt.rate = std::strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(opt.rate > 0 && opt.rate <= 1e8))
                usage_error(std::string("-R wants a positive number of requests per second, got '") + optarg + "'");
            break;
        }
        case 'n': opt.count = parse_long(optarg, 1, 1L << 62, "-n"); break;
        case 'k': opt.keep_alive = true; break;
        case 't': opt.timeout_ms = parse_long(optarg, 1, 86400000, "-t"); break;
        case 'H': {
            std::string header = optarg;
            size_t colon = header.find(':');
            if (colon == 0 || colon == std::string::npos || header.find_first_of("\r\n") != std::string::npos)
                usage_error("-H wants 'Name: value' on one line, got '" + header + "'");
            opt.headers.push_back(header);
            break;
        }
        case 'o': opt.output = optarg; break;
        case kBodyTally: opt.tally = true; break;
        case kNoTally: opt.tally = false; break;
        case kTallyPrefix: opt.tally_prefix = parse_long(optarg, 0, 1 << 20, "--tally-prefix"); break;
        case kStopFile: opt.stop_file = optarg; break;
        case kSlowSend: opt.slow_send_ms = parse_long(optarg, 1, 60000, "--slow-send"); break;
        case kSlowRead: opt.slow_read = parse_long(optarg, 1, 1 << 20, "--slow-read"); break;
        case kThink: opt.think_ms = parse_long(optarg, 1, 600000, "--think"); break;
        case kRetry: opt.retry = true; break;
        case kBodySize: opt.body_size = parse_long(optarg, 0, 1L << 30, "--body-size"); break;
        case kPhases: opt.phases = true; break;
        case kThreads: opt.threads = static_cast<int>(parse_long(optarg, 1, 64, "--threads")); break;
        case kRamp: opt.ramp_ms = parse_long(optarg, 1, 600000, "--ramp"); break;
        case kHelp: usage_error("help");
        default: usage_error("unknown option");  // getopt_long has said which
        }
    }
    if (optind != argc - 1) usage_error("exactly one URL is needed");
    if (opt.duration_s == 0 && opt.count == 0) usage_error("give -d SECONDS or -n COUNT (or both)");
    if (opt.think_ms > 0 && !opt.keep_alive) usage_error("--think needs -k: it is the idle time on a kept connection");
    if (opt.think_ms > 0 && opt.rate > 0) usage_error("--think and -R exclude each other: -R sets when requests start");
    if (opt.ramp_ms > 0 && opt.rate > 0) usage_error("--ramp and -R exclude each other: -R sets when requests start");
    parse_url(argv[optind], opt);
    return opt;
}

std::string build_request(const Options& opt) {
    bool post = opt.body_size >= 0;
    std::string request = (post ? "POST " : "GET ") + opt.path + " HTTP/1.1\r\nHost: " + opt.authority + "\r\n";
    for (const std::string& header : opt.headers) request += header + "\r\n";
    if (!opt.keep_alive) request += "Connection: close\r\n";
    if (!post) return request + "\r\n";
    request += "Content-Type: application/octet-stream\r\nContent-Length: " + std::to_string(opt.body_size) + "\r\n\r\n";
    // A body that is not all one byte, so that a server mixing it up can be seen.
    for (long i = 0; i < opt.body_size; ++i) request += "0123456789abcdef"[i % 16];
    return request;
}

// ------------------------------------------------------------------ response parser

// An incremental HTTP/1.x response parser. It does no I/O: the client feeds it
// whatever recv() returned, and it answers "need more", "done" or "error".
//
//   Head ─┬─> Length (Content-Length) ─────────────────────────────┬─> Done
//         ├─> ChunkSize ─> ChunkData ─> ChunkEnd ─┐                  │
//         │     ^─────────────────────────────────┘                  │
//         │   ChunkSize (0) ─> Trailers ─────────────────────────────┤
//         └─> UntilEof (no length given: the body ends at close) ────┘
// A 1xx interim response goes back to Head; 204, 304 and length 0 go to Done.
class ResponseParser {
public:
    enum class Result { NeedMore, Done, Error };

    explicit ResponseParser(size_t keep_body) : keep_body_(keep_body) {}

    void reset() {
        phase_ = Phase::Head;
        head_.clear();
        line_.clear();
        body_.clear();
        status_ = 0;
        keep_alive_ = false;
    }

    Result feed(std::string_view data);

    // The peer closed: that completes the response only if its body runs to EOF.
    Result finish_at_eof() {
        if (phase_ != Phase::UntilEof) return Result::Error;
        phase_ = Phase::Done;
        return Result::Done;
    }

    int status() const { return status_; }
    bool keep_alive() const { return keep_alive_; }  // may the connection carry another request?
    const std::string& body_prefix() const { return body_; }

private:
    enum class Phase { Head, Length, ChunkSize, ChunkData, ChunkEnd, Trailers, UntilEof, Done };
    static constexpr size_t kMaxHead = 64 * 1024;
    static constexpr size_t kMaxLine = 8 * 1024;

    bool parse_head();
    // Moves the bytes up to '\n' from data into line_; true once the line is whole.
    bool take_line(std::string_view& data) {
        size_t newline = data.find('\n');
        line_.append(data.substr(0, newline));
        data.remove_prefix(newline == std::string_view::npos ? data.size() : newline + 1);
        if (newline == std::string_view::npos) return false;
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        return true;
    }
    void take_body(std::string_view& data) {
        size_t n = std::min<uint64_t>(remaining_, data.size());
        if (body_.size() < keep_body_) body_.append(data.substr(0, std::min(n, keep_body_ - body_.size())));
        data.remove_prefix(n);
        remaining_ -= n;
    }

    size_t keep_body_;
    Phase phase_ = Phase::Head;
    std::string head_;
    std::string line_;
    std::string body_;  // the first keep_body_ bytes of the body
    uint64_t remaining_ = 0;
    int status_ = 0;
    bool keep_alive_ = false;
};

std::string lowercase(std::string_view text) {
    std::string out(text);
    for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

ResponseParser::Result ResponseParser::feed(std::string_view data) {
    while (!data.empty()) {
        switch (phase_) {
        case Phase::Head: {
            size_t old_size = head_.size();
            head_.append(data);
            size_t end = head_.find("\r\n\r\n", old_size < 3 ? 0 : old_size - 3);
            if (end == std::string::npos) {
                if (head_.size() > kMaxHead) return Result::Error;
                return Result::NeedMore;
            }
            data.remove_prefix(end + 4 - old_size);  // what follows the head stays in data
            head_.resize(end + 2);                   // keep one CRLF: each line ends with one
            if (!parse_head()) return Result::Error;
            break;
        }
        case Phase::Length:
        case Phase::ChunkData:
            take_body(data);
            if (remaining_ == 0) phase_ = phase_ == Phase::Length ? Phase::Done : Phase::ChunkEnd;
            break;
        case Phase::ChunkSize: {
            if (!take_line(data)) return line_.size() > kMaxLine ? Result::Error : Result::NeedMore;
            std::string_view size = trim(std::string_view(line_).substr(0, line_.find(';')));
            auto [end, err] = std::from_chars(size.data(), size.data() + size.size(), remaining_, 16);
            if (err != std::errc() || end != size.data() + size.size()) return Result::Error;
            phase_ = remaining_ == 0 ? Phase::Trailers : Phase::ChunkData;
            line_.clear();
            break;
        }
        case Phase::ChunkEnd:
        case Phase::Trailers: {
            if (!take_line(data)) return line_.size() > kMaxLine ? Result::Error : Result::NeedMore;
            bool empty = line_.empty();
            line_.clear();
            if (phase_ == Phase::ChunkEnd) {
                if (!empty) return Result::Error;  // chunk data must end with CRLF
                phase_ = Phase::ChunkSize;
            } else if (empty) {
                phase_ = Phase::Done;
            }
            break;
        }
        case Phase::UntilEof:
            remaining_ = data.size();
            take_body(data);
            break;
        case Phase::Done:
            return Result::Error;  // bytes after the response: nothing was pipelined
        }
    }
    return phase_ == Phase::Done ? Result::Done : Result::NeedMore;
}

bool ResponseParser::parse_head() {
    // "HTTP/1.1 200 OK": version, space, three digits, then a space or the end.
    std::string_view head = head_;
    std::string_view status_line = head.substr(0, head.find("\r\n"));
    if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.") || status_line[8] != ' ' ||
        (status_line.size() > 12 && status_line[12] != ' '))
        return false;
    auto [end, err] = std::from_chars(status_line.data() + 9, status_line.data() + 12, status_);
    if (err != std::errc() || end != status_line.data() + 12 || status_ < 100) return false;
    head.remove_prefix(status_line.size() + 2);

    bool http10 = status_line[7] == '0', chunked = false, close = false, keep_alive = false;
    std::optional<uint64_t> length;
    while (!head.empty()) {
        std::string_view line = head.substr(0, head.find("\r\n"));
        head.remove_prefix(line.size() + 2);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) return false;
        std::string name = lowercase(line.substr(0, colon));
        std::string value = lowercase(trim(line.substr(colon + 1)));
        if (name == "content-length") {
            uint64_t n = 0;
            auto [vend, verr] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (verr != std::errc() || vend != value.data() + value.size() || (length && *length != n))
                return false;
            length = n;
        } else if (name == "transfer-encoding") {
            chunked = value.find("chunked") != std::string::npos;
        } else if (name == "connection") {
            if (value.find("close") != std::string::npos) close = true;
            if (value.find("keep-alive") != std::string::npos) keep_alive = true;
        }
    }
    keep_alive_ = !close && (!http10 || keep_alive);  // HTTP/1.0 closes unless asked not to
    head_.clear();
    if (status_ < 200) {  // 100 Continue, 103 Early Hints: the real response follows
        phase_ = Phase::Head;
    } else if (status_ == 204 || status_ == 304) {
        phase_ = Phase::Done;
    } else if (chunked) {
        phase_ = Phase::ChunkSize;
    } else if (length) {
        remaining_ = *length;
        phase_ = remaining_ == 0 ? Phase::Done : Phase::Length;
    } else {
        phase_ = Phase::UntilEof;
        keep_alive_ = false;
    }
    return true;
}

// ------------------------------------------------------------------ statistics

enum class Outcome { Ok, BadStatus, Refused, Reset, EarlyEof, Timeout, OtherError };
constexpr int kOutcomes = 7;

Outcome outcome_of_errno(int err) {
    if (err == ECONNREFUSED) return Outcome::Refused;
    if (err == ECONNRESET || err == EPIPE) return Outcome::Reset;
    return Outcome::OtherError;
}

// The outcomes of a set of requests: the whole run's, or one phase's (--phases).
struct Tally {
    uint64_t outcomes[kOutcomes] = {};  // indexed by Outcome
    uint64_t retried = 0;
    uint64_t retried_after[2] = {};  // retried, by the first attempt's failure: [0] reset, [1] early EOF
    uint64_t reused = 0;             // complete responses that came on a reused (kept-alive) connection
    Histogram latency;               // over complete responses

    uint64_t& operator[](Outcome o) { return outcomes[static_cast<int>(o)]; }
    uint64_t operator[](Outcome o) const { return outcomes[static_cast<int>(o)]; }
    uint64_t requests() const {
        uint64_t n = 0;
        for (uint64_t k : outcomes) n += k;
        return n;
    }
    void merge(const Tally& other) {
        for (int i = 0; i < kOutcomes; ++i) outcomes[i] += other.outcomes[i];
        retried += other.retried;
        for (int i = 0; i < 2; ++i) retried_after[i] += other.retried_after[i];
        reused += other.reused;
        latency.merge(other.latency);
    }
};

// What one thread saw; the threads' Stats are merged once they have all ended.
struct Stats {
    static constexpr size_t kMaxBodies = 1000;
    Tally all;
    uint64_t connections = 0, bodies_overflow = 0;
    uint64_t late = 0;  // -R: requests that went out over 1 ms after they were due
    std::map<int, uint64_t> status_counts;
    std::map<std::string, uint64_t> other_error_counts;
    std::map<std::string, uint64_t> bodies;
    Tally phase[2];  // --phases: the same, per phase (a, b)
    std::vector<Histogram> turn_latency;  // --phases: per turn (a, b, a...), grown as they come
    std::vector<uint64_t> turn_ok;
    static constexpr size_t kMaxTurns = 256;

    void record_turn(unsigned turn, uint64_t us, bool ok) {
        size_t t = std::min<size_t>(turn, kMaxTurns - 1);
        if (turn_latency.size() <= t) {
            turn_latency.resize(t + 1);
            turn_ok.resize(t + 1);
        }
        turn_latency[t].record(us);
        if (ok) ++turn_ok[t];
    }

    void tally_body(const std::string& body, uint64_t n) {
        auto it = bodies.find(body);
        if (it != bodies.end()) it->second += n;
        else if (bodies.size() < kMaxBodies) bodies.emplace(body, n);
        else bodies_overflow += n;
    }
    void merge(const Stats& other) {
        all.merge(other.all);
        connections += other.connections;
        late += other.late;
        bodies_overflow += other.bodies_overflow;
        for (const auto& [status, n] : other.status_counts) status_counts[status] += n;
        for (const auto& [name, n] : other.other_error_counts) other_error_counts[name] += n;
        for (const auto& [body, n] : other.bodies) tally_body(body, n);
        for (int p = 0; p < 2; ++p) phase[p].merge(other.phase[p]);
        if (turn_latency.size() < other.turn_latency.size()) {
            turn_latency.resize(other.turn_latency.size());
            turn_ok.resize(other.turn_ok.size());
        }
        for (size_t t = 0; t < other.turn_latency.size(); ++t) {
            turn_latency[t].merge(other.turn_latency[t]);
            turn_ok[t] += other.turn_ok[t];
        }
    }
};

// ------------------------------------------------------------------ clients

// --phases: SIGUSR1 adds one; a request belongs to phase a when it is even.
// A lock-free atomic, so the handler may write it while the threads read.
std::atomic<unsigned> g_phase_switches{0};
static_assert(std::atomic<unsigned>::is_always_lock_free);

unsigned current_turn() { return g_phase_switches.load(std::memory_order_relaxed); }

// What every thread reads; only the two atomics change while the load runs.
struct Shared {
    const Options& opt;
    std::string request;
    Clock::time_point end;              // the -d deadline, or max()
    std::atomic<long> started{0};       // requests claimed, for -n
    std::atomic<bool> stop{false};      // set by main: stop file or signal

    bool stopping() const { return stop.load(std::memory_order_relaxed) || Clock::now() >= end; }
    bool exhausted() const { return opt.count != 0 && started.load(std::memory_order_relaxed) >= opt.count; }
    bool may_start() {
        if (stopping()) return false;
        return opt.count == 0 || started.fetch_add(1, std::memory_order_relaxed) < opt.count;
    }
};

// One simulated user, an explicit state machine (only Worker::set_state moves it):
//
//   Idle ─> Connecting ─> Sending ─> Receiving ─> Idle   (then the next request)
//     └────(reused connection)───^                 └──> Thinking ─> Idle   (--think)
//   Idle ─> Done once no further request may start.
//
// A slow client (--slow-send, --slow-read) pauses inside Sending and Receiving:
// `paused` is set, the fd is not watched, and the 10 ms sweep resumes it at
// resume_at. A failure on a reused connection that --retry may repeat goes back
// to Idle with retry_pending set, and the next start is that retry.
struct Client {
    enum class State { Idle, Thinking, Connecting, Sending, Receiving, Done };
    explicit Client(size_t keep_body) : parser(keep_body) {}
    State state = State::Idle;
    Fd fd;
    uint32_t watching = 0;  // the epoll events registered for fd, 0 if none
    size_t sent = 0;        // bytes of the request sent so far
    int pieces = 0;         // --slow-send: pieces of the request sent so far
    Clock::time_point started, deadline;
    bool paused = false;             // a slow client's pause inside Sending or Receiving
    Clock::time_point resume_at;     // the end of a pause, or of Thinking
    bool reused = false;             // this attempt went out on a kept-alive connection
    bool response_began = false;     // a byte of the response has arrived
    bool retry_pending = false;      // the next start is the retry of the last request
    bool retrying = false;           // this attempt is a retry
    Outcome retry_cause = Outcome::Reset;  // why the first attempt of a retried request failed
    unsigned turn = 0;               // --phases: the turn the request was due in (even: a, odd: b)
    ResponseParser parser;
};

// One thread: an epoll loop driving its share of the clients until all are Done.
class Worker {
public:
    // first_due and interval: this thread's -R schedule (unused without -R).
    Worker(Shared& shared, int nclients, unsigned seed, Clock::time_point first_due, double interval_s)
        : shared_(shared), random_(seed), first_due_(first_due), interval_s_(interval_s) {
        epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
        if (!epoll_) die("epoll_create1() failed while setting up a worker", errno);
        clients_.reserve(static_cast<size_t>(nclients));  // no reallocation: epoll holds Client*
        for (int i = 0; i < nclients; ++i) {
            clients_.emplace_back(static_cast<size_t>(shared.opt.tally_prefix));
            idle_.push_back(&clients_.back());
        }
    }
    void run();
    const Stats& stats() const { return stats_; }
    Clock::time_point finished_at() const { return finished_at_; }

private:
    using State = Client::State;
    static constexpr int kSlowPieces = 4;  // --slow-send cuts a request in this many pieces
    static constexpr auto kSlowReadPause = std::chrono::milliseconds(10);

    void set_state(Client& c, State state);
    void watch(Client& c, uint32_t events);
    void unwatch(Client& c);
    void start_request(Client& c, std::optional<Clock::time_point> due = std::nullopt);
    void start_due();
    Clock::time_point due() const {
        return first_due_ + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(interval_s_ * static_cast<double>(scheduled_)));
    }
    int wait_for_events(epoll_event* events, int max);
    void finish(Client& c) {  // no further request for this client
        close_connection(c);
        set_state(c, State::Done);
        ++done_;
    }
    void on_event(Client& c);
    void send_some(Client& c);
    void receive_some(Client& c);
    void pause(Client& c, Clock::duration how_long);
    void resume(Client& c);
    void sweep(Clock::time_point now);
    void complete(Client& c);
    void fail(Client& c, Outcome outcome, int err);
    bool may_retry(const Client& c, Outcome outcome) const;
    void next_request(Client& c);
    void close_connection(Client& c) {
        c.fd.reset();  // closing also removes it from the epoll set
        c.watching = 0;
    }

    Shared& shared_;
    Fd epoll_;
    std::vector<Client> clients_;
    // Clients between two requests. They start their next request at the top of
    // the loop, never from inside an event: no fd is opened while a batch of
    // events (which may name a just-closed fd number) is being handled, and an
    // immediate refusal cannot recurse.
    std::vector<Client*> idle_, starting_;
    Stats stats_;
    std::mt19937 random_;            // think times
    Clock::time_point finished_at_;  // when the last client of this thread was Done
    size_t done_ = 0;                // clients Done
    Clock::time_point first_due_;    // -R: when this thread's first request is due
    double interval_s_;              // -R: seconds between two of this thread's requests
    uint64_t scheduled_ = 0;         // -R: requests of this thread started on the schedule
    std::vector<char> recv_buf_ = std::vector<char>(256 * 1024);  // large responses in few recv()s
};

// Connecting waits for writability, Receiving for readability. Sending watches
// nothing new: the request is sent at once and only an EAGAIN asks for EPOLLOUT,
// so a request on a kept-alive connection costs no epoll_ctl() at all. Thinking
// watches nothing: level-triggered, the FIN of an idle connection the server
// closed would wake the loop on every wait until the think time is over.
void Worker::set_state(Client& c, State state) {
    c.state = state;
    if (state == State::Connecting) watch(c, EPOLLOUT);
    if (state == State::Receiving) watch(c, EPOLLIN);
    if (state == State::Thinking) unwatch(c);
}

void Worker::watch(Client& c, uint32_t want) {
    if (want == c.watching) return;
    epoll_event ev{};
    ev.events = want;
    ev.data.ptr = &c;
    if (epoll_ctl(epoll_.get(), c.watching ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c.fd.get(), &ev) == -1)
        die("epoll_ctl() failed while watching fd " + std::to_string(c.fd.get()), errno);
    c.watching = want;
}

// EPOLL_CTL_DEL rather than a MOD to no events: epoll reports EPOLLHUP and
// EPOLLERR whatever the mask, and a reset connection would wake the loop for nothing.
void Worker::unwatch(Client& c) {
    if (c.watching == 0) return;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr) == -1)
        die("epoll_ctl(EPOLL_CTL_DEL) failed for fd " + std::to_string(c.fd.get()), errno);
    c.watching = 0;
}

void Worker::run() {
    bool open_loop = shared_.opt.rate > 0;
    // -R: wake-ups on time to the microsecond, not the default 50 us timer slack.
    if (open_loop && prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) == -1)
        die("prctl(PR_SET_TIMERSLACK) failed in a worker", errno);
    auto last_sweep = Clock::now();
    if (shared_.opt.ramp_ms > 0) {  // each client thinks until its first start, as between two requests
        for (Client* c : idle_) {
            long ms = std::uniform_int_distribution<long>(0, shared_.opt.ramp_ms - 1)(random_);
            c->resume_at = last_sweep + std::chrono::milliseconds(ms);
            set_state(*c, State::Thinking);
        }
        idle_.clear();
    }
    epoll_event events[256];
    while (done_ < clients_.size()) {
        starting_.swap(idle_);
        for (Client* c : starting_) {
            if (c->retry_pending) {  // a retry was started before the stop
                start_request(*c);
            } else if (open_loop && !shared_.stopping() && !shared_.exhausted()) {
                idle_.push_back(c);  // waits for the next request that is due
            } else if (!open_loop && shared_.may_start()) {
                start_request(*c);
            } else {
                finish(*c);
            }
        }
        starting_.clear();
        if (open_loop) start_due();
        if (done_ == clients_.size()) break;

        int n = wait_for_events(events, 256);
        if (n == -1 && errno != EINTR) die("epoll_wait() failed in a worker", errno);
        for (int i = 0; i < n; ++i) on_event(*static_cast<Client*>(events[i].data.ptr));

        // Timeouts, pauses and think times are swept every 10 ms, which is their precision.
        auto now = Clock::now();
        if (now - last_sweep < std::chrono::milliseconds(10)) continue;
        last_sweep = now;
        sweep(now);
    }
    finished_at_ = Clock::now();
}

void Worker::sweep(Clock::time_point now) {
    bool stopping = shared_.stopping();
    for (Client& c : clients_) {
        switch (c.state) {
        case State::Thinking:  // a stop ends the thinking at once: no new request follows it
            if (now >= c.resume_at || stopping) {
                set_state(c, State::Idle);
                idle_.push_back(&c);
            }
            break;
        case State::Connecting:
        case State::Sending:
        case State::Receiving:
            if (now >= c.deadline) fail(c, Outcome::Timeout, 0);
            else if (c.paused && now >= c.resume_at) resume(c);
            break;
        case State::Idle:
        case State::Done: break;
        }
    }
}

// -R: every request that is due goes out now, each on an idle client, with its
// latency counted from when it was due. A due request without an idle client
// waits for one (the loop comes back here as soon as a client is free).
void Worker::start_due() {
    auto now = Clock::now();
    while (!idle_.empty() && due() <= now) {
        Client* c = idle_.back();
        idle_.pop_back();
        if (!shared_.may_start()) {  // -n reached, or the stop came
            finish(*c);
            continue;
        }
        Clock::time_point when = due();
        ++scheduled_;
        if (now - when > std::chrono::milliseconds(1)) ++stats_.late;
        start_request(*c, when);
    }
}

// Closed loop: wait 10 ms at most (the sweep), not at all if a client is idle.
// Open loop: an idle client waits for the next due time, to the microsecond.
int Worker::wait_for_events(epoll_event* events, int max) {
    if (shared_.opt.rate <= 0) return epoll_wait(epoll_.get(), events, max, idle_.empty() ? 10 : 0);
    auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::milliseconds(10));
    if (!idle_.empty())
        wait = std::clamp(std::chrono::duration_cast<std::chrono::nanoseconds>(due() - Clock::now()),
                          std::chrono::nanoseconds(0), wait);
    timespec timeout{static_cast<time_t>(wait.count() / 1000000000), static_cast<long>(wait.count() % 1000000000)};
    return epoll_pwait2(epoll_.get(), events, max, &timeout, nullptr);
}

void Worker::start_request(Client& c, std::optional<Clock::time_point> due) {
    auto now = Clock::now();
    c.parser.reset();
    c.sent = 0;
    c.pieces = 0;
    c.paused = false;
    c.response_began = false;
    c.retrying = std::exchange(c.retry_pending, false);
    if (!c.retrying) {  // a retried request's latency (and phase) are its first attempt's
        c.started = due.value_or(now);
        c.turn = current_turn();
    }
    c.deadline = now + std::chrono::milliseconds(shared_.opt.timeout_ms);
    c.reused = false;
    if (c.fd) {
        // The server may have closed this kept-alive connection after the last
        // response (its FIN or RST is already queued): reconnect, no request lost.
        char byte;
        ssize_t n = recv(c.fd.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)) close_connection(c);
    }
    if (c.fd) {
        c.reused = true;
        set_state(c, State::Sending);
        send_some(c);
        return;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) return fail(c, Outcome::OtherError, errno);  // EMFILE and the like
    c.fd.reset(fd);
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == -1)
        return fail(c, Outcome::OtherError, errno);
    const auto* addr = reinterpret_cast<const sockaddr*>(&shared_.opt.addr);
    if (connect(fd, addr, sizeof shared_.opt.addr) == 0) {
        ++stats_.connections;
        set_state(c, State::Sending);
        send_some(c);
    } else if (errno == EINPROGRESS) {
        set_state(c, State::Connecting);
    } else {
        fail(c, outcome_of_errno(errno), errno);
    }
}

void Worker::on_event(Client& c) {
    if (c.paused) return;  // queued before the pause began: the sweep resumes it
    switch (c.state) {
    case State::Connecting: {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) == -1) err = errno;
        if (err != 0) return fail(c, outcome_of_errno(err), err);
        ++stats_.connections;
        set_state(c, State::Sending);
        return send_some(c);
    }
    case State::Sending: return send_some(c);
    case State::Receiving: return receive_some(c);
    case State::Idle:
    case State::Thinking:
    case State::Done: return;  // an event that was already queued: nothing to do
    }
}

// Sends what is left of the request, or with --slow-send what is left of its
// current piece, then pauses until the next piece is due.
void Worker::send_some(Client& c) {
    const std::string& request = shared_.request;
    size_t until = request.size();
    if (shared_.opt.slow_send_ms > 0) {
        size_t piece = (request.size() + kSlowPieces - 1) / kSlowPieces;
        until = std::min(request.size(), piece * static_cast<size_t>(c.pieces + 1));
    }
    while (c.sent < until) {
        ssize_t n = send(c.fd.get(), request.data() + c.sent, until - c.sent, MSG_NOSIGNAL);
        if (n >= 0) {
            c.sent += static_cast<size_t>(n);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return watch(c, EPOLLOUT);  // the socket buffer is full: wait for room
        } else if (errno != EINTR) {
            return fail(c, outcome_of_errno(errno), errno);
        }
    }
    if (c.sent < request.size()) {  // a piece is out: the next one after MS / (pieces - 1)
        ++c.pieces;
        return pause(c, std::chrono::milliseconds(shared_.opt.slow_send_ms) / (kSlowPieces - 1));
    }
    set_state(c, State::Receiving);
}

void Worker::receive_some(Client& c) {
    char* buf = recv_buf_.data();
    size_t want = recv_buf_.size();
    if (shared_.opt.slow_read > 0) want = std::min(want, static_cast<size_t>(shared_.opt.slow_read));
    for (;;) {
        ssize_t n = recv(c.fd.get(), buf, want, 0);
        if (n > 0) {
            c.response_began = true;
            auto result = c.parser.feed(std::string_view(buf, static_cast<size_t>(n)));
            if (result == ResponseParser::Result::Done) return complete(c);
            if (result == ResponseParser::Result::Error) return fail(c, Outcome::OtherError, EPROTO);
            if (shared_.opt.slow_read > 0) return pause(c, kSlowReadPause);
            if (static_cast<size_t>(n) < want) return;  // drained; level-triggered epoll calls again
        } else if (n == 0) {
            if (c.parser.finish_at_eof() == ResponseParser::Result::Done) return complete(c);
            return fail(c, Outcome::EarlyEof, 0);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        } else if (errno != EINTR) {
            return fail(c, outcome_of_errno(errno), errno);
        }
    }
}

// A slow client's pause inside Sending or Receiving; the sweep resumes it.
void Worker::pause(Client& c, Clock::duration how_long) {
    unwatch(c);
    c.paused = true;
    c.resume_at = Clock::now() + how_long;
}

void Worker::resume(Client& c) {
    c.paused = false;
    if (c.state == State::Sending) return send_some(c);
    watch(c, EPOLLIN);
    receive_some(c);
}

void Worker::complete(Client& c) {
    auto us = static_cast<uint64_t>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - c.started).count()));
    int status = c.parser.status();
    auto count = [&](Tally& t) {
        t.latency.record(us);
        ++t[status < 400 ? Outcome::Ok : Outcome::BadStatus];
        if (c.reused) ++t.reused;
        if (c.retrying) {
            ++t.retried;
            ++t.retried_after[c.retry_cause == Outcome::Reset ? 0 : 1];
        }
    };
    count(stats_.all);
    if (shared_.opt.phases) {
        count(stats_.phase[c.turn & 1]);
        stats_.record_turn(c.turn, us, status < 400);
    }
    ++stats_.status_counts[status];
    if (shared_.opt.tally) {
        std::string body = c.parser.body_prefix();
        while (!body.empty() && std::strchr(" \t\r\n", body.back()) != nullptr) body.pop_back();
        stats_.tally_body(body, 1);
    }
    if (!shared_.opt.keep_alive || !c.parser.keep_alive()) close_connection(c);
    next_request(c);
}

void Worker::fail(Client& c, Outcome outcome, int err) {
    c.paused = false;
    close_connection(c);
    if (may_retry(c, outcome)) {  // not counted: the retry's outcome is the request's
        c.retry_pending = true;
        c.retry_cause = outcome;
        set_state(c, State::Idle);
        idle_.push_back(&c);
        return;
    }
    ++stats_.all[outcome];
    if (shared_.opt.phases) ++stats_.phase[c.turn & 1][outcome];
    if (outcome == Outcome::OtherError) ++stats_.other_error_counts[errno_name(err)];
    next_request(c);
}

// The browser's rule for an idempotent request: the server closed a reused
// connection under it before answering a byte, so it may never have seen it.
bool Worker::may_retry(const Client& c, Outcome outcome) const {
    return shared_.opt.retry && c.reused && !c.retrying && !c.response_began &&
           (outcome == Outcome::Reset || outcome == Outcome::EarlyEof);
}

// Between two requests of a client: with --think it stays idle for a random
// time in [MS/2, MS*3/2], else the next request starts at the top of the loop.
void Worker::next_request(Client& c) {
    if (shared_.opt.think_ms > 0) {
        long ms = std::uniform_int_distribution<long>(shared_.opt.think_ms / 2, shared_.opt.think_ms * 3 / 2)(random_);
        c.resume_at = Clock::now() + std::chrono::milliseconds(ms);
        return set_state(c, State::Thinking);
    }
    set_state(c, State::Idle);
    idle_.push_back(&c);
}

// ------------------------------------------------------------------ report

// A JSON string literal. Invalid UTF-8 (a body is arbitrary bytes, and the tally
// prefix may cut a character in two) becomes U+FFFD, so the report always decodes.
std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (size_t i = 0; i < s.size();) {
        auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            if (b == '"' || b == '\\') out += {'\\', static_cast<char>(b)};
            else if (b < 0x20) { char esc[8]; std::snprintf(esc, sizeof esc, "\\u%04x", b); out += esc; }
            else out += static_cast<char>(b);
            ++i;
            continue;
        }
        // Lead byte -> sequence length, and the range of the second byte that
        // excludes overlong forms, surrogates and code points above U+10FFFF.
        size_t len = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
        unsigned lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
        unsigned hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
        bool valid = len != 0 && i + len <= s.size();
        for (size_t k = 1; valid && k < len; ++k) {
            auto next = static_cast<unsigned char>(s[i + k]);
            valid = k == 1 ? next >= lo && next <= hi : next >= 0x80 && next <= 0xBF;
        }
        out += valid ? s.substr(i, len) : std::string_view("\\ufffd");
        i += valid ? len : 1;
    }
    return out + "\"";
}

std::string format(const char* fmt, double value) {
    char text[64];
    std::snprintf(text, sizeof text, fmt, value);
    return text;
}

template <typename Map, typename KeyText>
std::string json_counts(const Map& counts, KeyText key_text) {
    std::string out = "{";
    for (const auto& [key, n] : counts)
        out += (out.size() > 1 ? ", " : "") + json_string(key_text(key)) + ": " + std::to_string(n);
    return out + "}";
}

std::string latency_json(const Histogram& h) {
    return "{\"p50\": " + format("%.3f", h.percentile_ms(0.50)) + ", \"p90\": " + format("%.3f", h.percentile_ms(0.90)) +
           ", \"p99\": " + format("%.3f", h.percentile_ms(0.99)) +
           ", \"p999\": " + format("%.3f", h.percentile_ms(0.999)) + ", \"max\": " + format("%.3f", h.max_ms()) + "}";
}

// Retried requests by what their first attempt met: a reset, or an early EOF.
std::string retry_causes_json(const Tally& t) {
    return "{\"reset\": " + std::to_string(t.retried_after[0]) +
           ", \"early_eof\": " + std::to_string(t.retried_after[1]) + "}";
}

// A phase's figures: its requests by outcome, its retries by cause, its
// responses on reused connections and its latency.
std::string tally_json(const Tally& t) {
    auto n = [](uint64_t v) { return std::to_string(v); };
    return "{\"requests\": " + n(t.requests()) + ", \"ok\": " + n(t[Outcome::Ok]) +
           ", \"bad_status\": " + n(t[Outcome::BadStatus]) + ", \"refused\": " + n(t[Outcome::Refused]) +
           ", \"reset\": " + n(t[Outcome::Reset]) + ", \"early_eof\": " + n(t[Outcome::EarlyEof]) +
           ", \"timeout\": " + n(t[Outcome::Timeout]) + ", \"other_error\": " + n(t[Outcome::OtherError]) +
           ", \"retried\": " + n(t.retried) + ", \"retried_by_cause\": " + retry_causes_json(t) +
           ", \"reused\": " + n(t.reused) + ", \"latency_ms\": " + latency_json(t.latency) + "}";
}

std::string report(Stats& s, double duration_s, const Options& opt) {
    const Tally& all = s.all;
    uint64_t requests = all.requests();
    uint64_t ok = all[Outcome::Ok];
    auto same = [](const std::string& text) { return text; };
    auto field = [](const char* name, const std::string& value) {
        return std::string("  \"") + name + "\": " + value;
    };
    auto count = [&](const char* name, uint64_t n) { return field(name, std::to_string(n)) + ",\n"; };
    std::string turns = "[";
    for (size_t t = 0; t < s.turn_latency.size(); ++t)
        turns += std::string(t ? ", " : "") + "{\"phase\": \"" + (t & 1 ? "b" : "a") + "\", \"ok\": " +
                 std::to_string(s.turn_ok[t]) + ", \"p99\": " + format("%.3f", s.turn_latency[t].percentile_ms(0.99)) + "}";
    turns += "]";
    return "{\n" + count("requests", requests) + count("ok", ok) +
           count("bad_status", all[Outcome::BadStatus]) + count("refused", all[Outcome::Refused]) +
           count("reset", all[Outcome::Reset]) + count("early_eof", all[Outcome::EarlyEof]) +
           count("timeout", all[Outcome::Timeout]) + count("other_error", all[Outcome::OtherError]) +
           count("retried", all.retried) + field("retried_by_cause", retry_causes_json(all)) + ",\n" +
           count("reused", all.reused) + count("errors", requests - ok) +
           field("status_counts", json_counts(s.status_counts, [](int st) { return std::to_string(st); })) + ",\n" +
           field("other_error_counts", json_counts(s.other_error_counts, same)) + ",\n" +
           field("bodies", json_counts(s.bodies, same)) + ",\n" + count("bodies_overflow", s.bodies_overflow) +
           field("duration_s", format("%.3f", duration_s)) + ",\n" +
           field("rps", format("%.1f", duration_s > 0 ? static_cast<double>(ok) / duration_s : 0)) + ",\n" +
           field("latency_ms", latency_json(all.latency)) + ",\n" + field("connections", std::to_string(s.connections)) +
           (opt.rate > 0 ? ",\n" + field("rate", "{\"target_rps\": " + format("%.1f", opt.rate) +
                                                    ", \"late\": " + std::to_string(s.late) + "}")
                         : std::string()) +
           (opt.phases ? ",\n" + field("phases", "{\"switches\": " + std::to_string(g_phase_switches.load()) +
                                                      ", \"a\": " + tally_json(s.phase[0]) +
                                                      ", \"b\": " + tally_json(s.phase[1]) +
                                                      ", \"turns\": " + turns + "}")
                       : std::string()) +
           "\n}\n";
}

// ------------------------------------------------------------------ main

volatile sig_atomic_t g_stop_signal = 0;

void on_stop_signal(int signo) { g_stop_signal = signo; }  // only records; main acts

void on_phase_signal(int) { g_phase_switches.fetch_add(1, std::memory_order_relaxed); }

// Any thread may take a signal: its epoll wait ends early with EINTR, which
// the loop treats as a wake-up with no events.
void install_signals(const Options& opt) {
    struct sigaction sa{};
    sa.sa_handler = on_stop_signal;
    sigfillset(&sa.sa_mask);
    for (int signo : {SIGINT, SIGTERM})
        if (sigaction(signo, &sa, nullptr) == -1) die("sigaction() failed for the stop signals", errno);
    if (!opt.phases) return;
    sa.sa_handler = on_phase_signal;
    if (sigaction(SIGUSR1, &sa, nullptr) == -1) die("sigaction() failed for SIGUSR1 (--phases)", errno);
}

// Each client holds one socket: make room for -c of them.
void raise_fd_limit(int clients) {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == -1) die("getrlimit(RLIMIT_NOFILE) failed", errno);
    rlim_t need = static_cast<rlim_t>(clients) + 64;
    if (limit.rlim_cur >= need) return;
    limit.rlim_cur = std::min(need, limit.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &limit) == -1)
        std::fprintf(stderr, "loadgen: setrlimit(RLIMIT_NOFILE) failed, connects may fail with EMFILE: %s\n",
                     std::strerror(errno));
}

}  // namespace

int main(int argc, char** argv) {
    Options opt = parse_options(argc, argv);
    raise_fd_limit(opt.clients);
    install_signals(opt);

    auto begin = Clock::now();
    Shared shared{opt, build_request(opt), Clock::time_point::max()};
    if (opt.duration_s > 0)
        shared.end = begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.duration_s));

    int nthreads = std::min(opt.clients, opt.threads);
    // -R: each thread takes every nthreads-th slot of one schedule of R a second.
    double slot_s = opt.rate > 0 ? 1.0 / opt.rate : 0;
    std::vector<std::unique_ptr<Worker>> workers;
    for (int i = 0; i < nthreads; ++i) {
        auto first_due = begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(slot_s * i));
        workers.push_back(std::make_unique<Worker>(shared, opt.clients / nthreads + (i < opt.clients % nthreads),
                                                   static_cast<unsigned>(begin.time_since_epoch().count()) + i,
                                                   first_due, slot_s * nthreads));
    }
    std::atomic<int> running{nthreads};
    std::vector<std::thread> threads;
    try {
        for (auto& worker : workers)
            threads.emplace_back([&worker, &running] { worker->run(); --running; });
    } catch (const std::system_error& e) {
        die("starting a worker thread failed", e.code().value());
    }

    // The workers end on their own at -d or -n; the stop file and the signals are
    // noticed here, every 10 ms, and stop new requests in all threads at once.
    while (running.load() > 0) {
        if (g_stop_signal != 0 || (!opt.stop_file.empty() && access(opt.stop_file.c_str(), F_OK) == 0))
            shared.stop = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (std::thread& t : threads) t.join();

    Stats total;
    Clock::time_point end = begin;
    for (const auto& worker : workers) {
        total.merge(worker->stats());
        end = std::max(end, worker->finished_at());
    }
    double duration_s = std::chrono::duration<double>(end - begin).count();
    std::string json = report(total, duration_s, opt);
    FILE* out = opt.output.empty() ? stdout : std::fopen(opt.output.c_str(), "w");
    if (out == nullptr) die("cannot open " + opt.output + " for the report", errno);
    if (std::fwrite(json.data(), 1, json.size(), out) != json.size() || std::fclose(out) != 0)
        die("writing the report to " + (opt.output.empty() ? std::string("stdout") : opt.output) + " failed", errno);
    return 0;
}
