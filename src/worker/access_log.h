// access_log: one line per HTTP request, and per long connection at its
// close, in a file the group names (config: access_log; off by default).
//
//   2026-11-21T14:00:00.123+0100 127.0.0.1:51234 "GET /cart?id=7 HTTP/1.1" 200 43 0.003 4133 "hello 2"
//   2026-11-21T14:00:09.870+0100 127.0.0.1:51240 "GET /chat HTTP/1.1" 101 5120 9.412 4133 "chat 2"
//   2026-11-21T14:00:10.002+0100 127.0.0.1:51302 "TEXT" - 96 0.250 4134 "echo 1"
//
// time (local, ms), peer, the request line ("TEXT", "FRAME", "TCP" for a
// stream connection), status ("-" for none), bytes sent (an HTTP response's
// body; a long connection's bytes over its life), seconds taken (from the
// request's first byte to its answer; a long connection's life), the worker's
// pid and its module's version: a reload can be followed line by line, the
// old version's lines ending as the new one's begin. The request line is
// escaped as nginx does (\", \\, \xHH for control and non-ASCII bytes) and
// cut at kMaxTarget bytes (then "..." ends it).
//
// Each worker buffers its lines (kBufferBytes) and writes whole lines only,
// in one write() to a file opened with O_APPEND: lines of several workers
// never interleave. It writes when the buffer would overflow, at least once
// a second (the worker's timer), when the worker drains and when it exits,
// and before it switches to a reopened file (`./server reopen`): no line is
// split across the old and new file, none is lost. The master opens the file
// (the worker may run as a user who cannot) and hands it over at fork and at
// each reopen (master/log_files.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "core/fd.h"

namespace smooth {

struct AccessEntry {
    std::string_view peer;        // "127.0.0.1:51234"
    std::string_view request;     // the request line as received ("GET / HTTP/1.1"), or "TEXT"
    int status = 0;               // 0: none ("-")
    uint64_t bytes = 0;
    int64_t duration_ms = 0;
    pid_t pid = 0;
    std::string_view version;     // "hello 2"
};

class AccessLog {
public:
    static constexpr size_t kBufferBytes = 64 << 10;
    static constexpr size_t kMaxTarget = 4096;      // of the request line, escaped; then "..."
    static constexpr size_t kMaxLine = kMaxTarget + 512;
    static constexpr int kFlushEveryMs = 1000;

    explicit AccessLog(Fd fd) : fd_(std::move(fd)) {}
    ~AccessLog() { flush(); }

    // One line, stamped with `wall_ms` (ms since the epoch).
    void add(const AccessEntry& e, int64_t wall_ms);
    // Whole lines out, in one write (the rest again after a short one).
    void flush();
    // Lines so far go to the old file, the next ones to `fd`.
    void reopen(Fd fd);
    size_t buffered() const { return buf_.size(); }
    uint64_t dropped() const { return dropped_; }

private:
    std::string_view time_text(int64_t wall_ms);

    Fd fd_;
    std::string buf_;
    uint64_t dropped_ = 0;   // lines lost to a failed write (disk full): logged
    int64_t second_ = -1;    // time_text's cache: the second it formatted...
    char stamp_[40] = {};    // ..."2026-11-21T14:00:00" and the zone
    size_t stamp_len_ = 0;
    char zone_[8] = {};
};

// The line for `e` into `out` (at least kMaxLine bytes), ending in '\n';
// its length. `time` is the formatted timestamp. Pure, for the unit test.
size_t format_access_line(const AccessEntry& e, std::string_view time, char* out);

}  // namespace smooth
